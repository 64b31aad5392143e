"""Comments, reactions, join refusals and moderation in a live room, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from fanout import RoomConfig
from tests.media.peers import Viewer, wait_for
from tests.server import (
    RunningServer,
    SocketClient,
    WhepRefused,
    go_live,
    running_server,
    server_config,
)
from tests.test_cobroadcast import sign_in


@pytest.fixture
async def room_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    room = RoomConfig(max_guests=1, comments_per_window=3, reactions_per_window=2)
    # A long count interval, so three joins in a row fall within one batch however slow.
    config = replace(server_config(tmp_path), room=room, viewer_count_interval=3.0)
    async with running_server(config) as running:
        yield running


async def in_room(server: RunningServer, user: str, live_id: str) -> SocketClient:
    socket = await server.socket(user)
    joined = await socket.request({"type": "room.join", "live_id": live_id})
    assert joined["type"] == "room.joined", joined
    return socket


def comments_seen(socket: SocketClient) -> list[tuple[int, str, str]]:
    return [
        (int(str(m["seq"])), str(m["user"]), str(m["text"]))
        for m in socket.messages
        if m.get("type") == "comment.new"
    ]


async def test_comments_reach_every_viewer_in_the_same_order(room_server: RunningServer) -> None:
    server = room_server
    await sign_in(server, "alice", "bob", "carol", "dave", "erin")
    live_id, host_pc = await go_live(server, "alice")
    alice = await server.socket("alice")
    viewers = [await in_room(server, u, live_id) for u in ("bob", "carol", "dave")]
    try:
        await asyncio.gather(
            *(
                v.send({"type": "comment", "live_id": live_id, "text": f"{v_i}-{n}"})
                for n in range(3)
                for v_i, v in enumerate(viewers)
            )
        )
        everyone = [alice, *viewers]
        await wait_for(lambda: all(len(comments_seen(s)) == 9 for s in everyone), 10, "9 comments")
        orders = [comments_seen(s) for s in everyone]
        assert all(order == orders[0] for order in orders)
        assert [seq for seq, _, _ in orders[0]] == list(range(1, 10))
        assert {user for _, user, _ in orders[0]} == {"bob", "carol", "dave"}

        over = await viewers[0].request({"type": "comment", "live_id": live_id, "text": "4th"})
        assert (over["type"], over["code"]) == ("error", "rate_limited")
        liked = await viewers[1].request({"type": "reaction", "live_id": live_id, "kind": "like"})
        assert liked["type"] == "reaction.ok"
        for socket in everyone:
            await socket.next_of("reaction.new", live_id=live_id, user="carol", kind="like")
        bad = await viewers[1].request({"type": "reaction", "live_id": live_id, "kind": "meh"})
        assert bad["code"] == "bad_reaction"

        late = await in_room(server, "erin", live_id)
        recent = await late.request({"type": "comments.recent", "live_id": live_id, "limit": 5})
        listed = recent["comments"]
        assert isinstance(listed, list)
        assert [c["seq"] for c in listed] == [5, 6, 7, 8, 9]
        await late.close()
    finally:
        for socket in (alice, *viewers):
            await socket.close()
        await host_pc.close()


async def test_host_moderates_comments_and_viewers(room_server: RunningServer) -> None:
    server = room_server
    await sign_in(server, "alice", "bob", "carol")
    live_id, host_pc = await go_live(server, "alice")
    alice = await server.socket("alice")
    bob, carol = await in_room(server, "bob", live_id), await in_room(server, "carol", live_id)
    carol_media = Viewer(audio=False)
    try:
        posted = await bob.request({"type": "comment", "live_id": live_id, "text": "spam"})
        removed = await alice.request(
            {"type": "comment.remove", "live_id": live_id, "comment_id": posted["comment_id"]}
        )
        assert removed["type"] == "comment.remove.ok"
        await carol.next_of("comment.removed", comment_id=posted["comment_id"])
        recent = await carol.request({"type": "comments.recent", "live_id": live_id})
        assert recent["comments"] == []
        not_host = await bob.request(
            {"type": "comment.remove", "live_id": live_id, "comment_id": "x"}
        )
        assert not_host["code"] == "not_host"

        off = await alice.request({"type": "live.settings", "live_id": live_id, "comments": False})
        assert off["comments"] is False
        await bob.next_of("live.settings", live_id=live_id, comments=False)
        refused = await bob.request({"type": "comment", "live_id": live_id, "text": "hi"})
        assert refused["code"] == "comments_off"
        host_comment = await alice.request({"type": "comment", "live_id": live_id, "text": "mine"})
        assert host_comment["type"] == "comment.ok"

        async def carol_watches(sdp: str) -> str:
            _, answer = await server.whep("carol", live_id, sdp)
            return answer

        await carol_media.watch(carol_watches)
        await wait_for(lambda: len(carol_media.received.counters) >= 5, 15, "carol watches")
        kicked = await alice.request({"type": "viewer.remove", "live_id": live_id, "user": "carol"})
        assert kicked["type"] == "viewer.remove.ok"
        evicted = await carol.next_of("live.evicted", live_id=live_id)
        assert evicted["code"] == "removed_by_host"
        await wait_for(lambda: carol_media.pc.connectionState == "closed", 10, "carol cut off")
        again = await carol.request({"type": "room.join", "live_id": live_id})
        assert again["code"] == "removed_by_host"
        offer = carol_media.pc.localDescription
        assert offer is not None
        with pytest.raises(WhepRefused) as whep:
            await server.whep("carol", live_id, offer.sdp)
        assert (whep.value.status, whep.value.code) == (403, "removed_by_host")
    finally:
        for socket in (alice, bob, carol):
            await socket.close()
        await carol_media.close()
        await host_pc.close()


async def test_join_requests_refused_with_precise_codes(room_server: RunningServer) -> None:
    server = room_server
    await sign_in(server, "alice", "bob", "carol", "dave", "erin", "frank")
    live_id, host_pc = await go_live(server, "alice")
    alice = await server.socket("alice")
    sockets = {u: await server.socket(u) for u in ("bob", "carol", "dave", "erin", "frank")}

    async def ask(user: str) -> dict[str, object]:
        return await sockets[user].request({"type": "join.request", "live_id": live_id})

    try:
        assert (await ask("bob"))["status"] == "requested"
        assert (await ask("bob"))["code"] == "already_requested"
        assert (await ask("carol"))["status"] == "requested"
        not_host = await sockets["carol"].request(
            {"type": "join.accept", "live_id": live_id, "user": "bob"}
        )
        assert not_host["code"] == "not_host"
        declined = await alice.request(
            {"type": "join.decline", "live_id": live_id, "user": "carol"}
        )
        assert declined["type"] == "join.decline.ok"
        await sockets["carol"].next_of("join.declined", live_id=live_id)
        publish = await sockets["carol"].request(
            {"type": "live.publish", "live_id": live_id, "sdp": "v=0\r\nm=video 9 x 96\r\n"}
        )
        assert publish["code"] == "not_guest"

        await alice.request({"type": "join.accept", "live_id": live_id, "user": "bob"})
        assert (await ask("dave"))["code"] == "guests_full"  # max_guests=1 in this server

        async with server.http.post(
            f"{server.url}/api/users/erin/block", headers=server.auth("alice")
        ) as r:
            assert r.status == 200
        assert (await ask("erin"))["code"] == "blocked"

        await alice.request({"type": "live.settings", "live_id": live_id, "joins": False})
        assert (await ask("frank"))["code"] == "joins_off"
        room = await alice.request({"type": "ping"})
        assert room["type"] == "pong"
    finally:
        await alice.close()
        for socket in sockets.values():
            await socket.close()
        await host_pc.close()


async def test_viewer_counts_are_batched(room_server: RunningServer) -> None:
    server = room_server
    await sign_in(server, "alice", "bob", "carol", "dave")
    live_id, host_pc = await go_live(server, "alice")
    alice = await server.socket("alice")
    bob = await in_room(server, "bob", live_id)
    viewers = [Viewer(audio=False) for _ in range(3)]
    try:
        for user, viewer in zip(("bob", "carol", "dave"), viewers, strict=True):

            async def exchange(sdp: str, user: str = user) -> str:
                _, answer = await server.whep(user, live_id, sdp)
                return answer

            await viewer.watch(exchange)
        host_view = await alice.next_of("live.viewers", live_id=live_id, count=3)
        assert host_view["viewers"] == ["bob", "carol", "dave"]
        viewer_view = await bob.next_of("live.viewers", live_id=live_id, count=3)
        assert "viewers" not in viewer_view, "only the host sees who watches"
        updates = [m for m in alice.messages if m.get("type") == "live.viewers"]
        assert len(updates) <= 2, f"three joins should not make three updates: {updates}"
        async with server.http.get(
            f"{server.url}/api/lives/{live_id}/room", headers=server.auth("alice")
        ) as r:
            room = await r.json()
        assert (room["viewer_count"], room["viewers"]) == (3, ["bob", "carol", "dave"])
    finally:
        await alice.close()
        await bob.close()
        for viewer in viewers:
            await viewer.close()
        await host_pc.close()
