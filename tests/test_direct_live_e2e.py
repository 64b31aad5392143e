"""A live travels through Direct, end to end with real media, on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fanout.redis_launcher import RedisServer
from fanout.redis_store import RedisStore
from signaling.appkeys import STREAMER
from tests.media.peers import Viewer, wait_for
from tests.redis_server import redis_proc
from tests.server import RunningServer, WhepRefused, go_live, running_server, server_config

__all__ = ["redis_proc"]


@pytest.fixture(params=["memory", "redis"])
async def social_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[RunningServer]:
    redis_url = None
    if request.param == "redis":
        redis: RedisServer = request.getfixturevalue("redis_proc")
        store = RedisStore(redis.url)
        await store.redis.flushdb()
        await store.close()
        redis_url = redis.url
    async with running_server(server_config(tmp_path, redis_url=redis_url)) as running:
        yield running


async def ok(
    server: RunningServer, user: str, method: str, path: str, body: object = None
) -> dict[str, object]:
    status, reply = await server.api(user, method, path, body)
    assert status in (200, 201), (method, path, status, reply)
    assert isinstance(reply, dict)
    return reply


async def test_share_to_a_follower_and_a_group_watch_from_the_inbox_and_end(
    social_server: RunningServer,
) -> None:
    server = social_server
    for user in ("alice", "bob", "carol"):  # users exist from their first valid token
        await ok(server, user, "GET", "/api/me")
    for follower in ("bob", "carol"):
        await ok(server, follower, "POST", "/api/users/alice/follow")
    group = await ok(
        server, "alice", "POST", "/api/threads", {"members": ["bob", "carol"], "name": "crew"}
    )
    bob, carol = await server.socket("bob"), await server.socket("carol")
    live_id, publisher = await go_live(server, "alice")
    viewer = Viewer(audio=False)
    try:
        shared = await ok(
            server,
            "alice",
            "POST",
            f"/api/lives/{live_id}/share",
            {"users": ["bob"], "threads": [group["thread_id"]]},
        )
        assert len(shared["thread_ids"]) == 2  # type: ignore[arg-type]
        await bob.next_of("share.new", live_id=live_id)
        await carol.next_of("share.new", live_id=live_id, thread_id=group["thread_id"])

        inbox = await ok(server, "bob", "GET", "/api/inbox")
        threads = inbox["threads"]
        assert isinstance(threads, list)
        assert len(threads) == 2
        dm = next(t for t in threads if t["kind"] == "dm")
        assert dm["unread"] >= 1
        messages = (await ok(server, "bob", "GET", f"/api/threads/{dm['thread_id']}/messages"))[
            "messages"
        ]
        assert isinstance(messages, list)
        share = next(m for m in messages if m.get("live_id") == live_id)
        assert share["live"]["state"] == "live"

        async def exchange(sdp: str) -> str:
            _, answer = await server.whep("bob", live_id, sdp, via_thread=dm["thread_id"])
            return answer

        await viewer.watch(exchange)
        await wait_for(lambda: len(viewer.received.counters) >= 20, 15, "bob decodes frames")

        async with server.http.delete(
            f"{server.url}/whip/{live_id}", headers=server.auth("alice")
        ) as r:
            assert r.status == 200
        # Every online recipient is told within a second.
        await bob.next_of("live.ended", timeout=1.0, live_id=live_id)
        await carol.next_of("live.ended", timeout=1.0, live_id=live_id)

        messages = (
            await ok(server, "carol", "GET", f"/api/threads/{group['thread_id']}/messages")
        )["messages"]
        assert isinstance(messages, list)
        assert next(m for m in messages if m.get("live_id") == live_id)["live"]["state"] == "ended"
        with pytest.raises(WhepRefused) as refused:
            await server.whep(
                "carol", live_id, "v=0\r\nm=video 9 x 96\r\n", via_thread=str(group["thread_id"])
            )
        assert (refused.value.status, refused.value.code) == (409, "live_ended")
    finally:
        await bob.close()
        await carol.close()
        await viewer.close()
        await publisher.close()


async def test_private_host_live_is_refused_to_a_non_follower_on_whep_and_socket(
    social_server: RunningServer,
) -> None:
    server = social_server
    await ok(server, "dora", "PATCH", "/api/me/settings", {"private": True})
    await ok(server, "frank", "POST", "/api/users/dora/follow")  # a request: dora approves
    await ok(server, "dora", "POST", "/api/follow-requests/frank/approve")
    await ok(server, "carol", "POST", "/api/users/frank/follow")
    live_id, publisher = await go_live(server, "dora")
    carol_socket = await server.socket("carol")
    follower = Viewer(audio=False)
    try:
        # frank, an approved follower, watches; carol, who does not follow dora, can get the
        # live neither from him (refused at share time) nor by its id.
        async def exchange(sdp: str) -> str:
            _, answer = await server.whep("frank", live_id, sdp)
            return answer

        await follower.watch(exchange)
        await wait_for(lambda: len(follower.received.counters) >= 5, 15, "frank watches")
        status, reply = await server.api(
            "frank", "POST", f"/api/lives/{live_id}/share", {"users": ["carol"]}
        )
        assert (status, reply["error"]["code"]) == (403, "private_account")
        assert (await ok(server, "carol", "GET", "/api/requests"))["threads"] == []

        offer = follower.pc.localDescription
        assert offer is not None
        with pytest.raises(WhepRefused) as refused:
            await server.whep("carol", live_id, offer.sdp)
        assert (refused.value.status, refused.value.code) == (403, "private_account")
        reply = await carol_socket.request({"type": "watch", "live_id": live_id, "sdp": offer.sdp})
        assert (reply["type"], reply["code"]) == ("error", "private_account")
        assert [s.user for s in server.app[STREAMER].get(live_id).viewers.values()] == ["frank"]
    finally:
        await carol_socket.close()
        await follower.close()
        await publisher.close()


async def test_a_viewer_blocked_mid_live_is_disconnected(social_server: RunningServer) -> None:
    server = social_server
    for user in ("alice", "bob"):
        await ok(server, user, "GET", "/api/me")
    live_id, publisher = await go_live(server, "alice")
    bob_socket = await server.socket("bob")
    viewer = Viewer(audio=False)
    try:

        async def exchange(sdp: str) -> str:
            _, answer = await server.whep("bob", live_id, sdp)
            return answer

        await viewer.watch(exchange)
        await wait_for(lambda: len(viewer.received.counters) >= 5, 15, "bob watches")
        await ok(server, "alice", "POST", "/api/users/bob/block")
        evicted = await bob_socket.next_of("live.evicted", live_id=live_id)
        assert evicted["code"] == "blocked"
        await wait_for(lambda: viewer.pc.connectionState == "closed", 10, "bob disconnected")
        assert server.app[STREAMER].get(live_id).viewers == {}
        offer = viewer.pc.localDescription
        assert offer is not None
        with pytest.raises(WhepRefused) as refused:
            await server.whep("bob", live_id, offer.sdp)
        assert (refused.value.status, refused.value.code) == (403, "blocked")
    finally:
        await bob_socket.close()
        await viewer.close()
        await publisher.close()
