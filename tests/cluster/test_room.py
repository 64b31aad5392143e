"""A live's room across three nodes: the host publishes to A, room sockets sit on A, B and C.

Media is only on A here (relaying to other nodes is tested in ``test_relay*``): what crosses
nodes is the room - comments in one ``seq`` order, reactions, settings, viewer counts,
evictions and the end of the live.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from aiortc import RTCPeerConnection

from fanout.room_delivery_redis import room_channel, tally_key
from tests.cluster.nodes import Cluster, ClusterNode
from tests.media.peers import Viewer, publish, wait_for
from tests.media.tracks import CounterVideoTrack
from tests.server import SocketClient


async def sign_in(node: ClusterNode, *users: str) -> None:
    for user in users:
        status, body = await node.api(user, "GET", "/api/me")
        assert status == 200, body


async def go_live(node: ClusterNode, host: str) -> tuple[str, RTCPeerConnection]:
    live_ids: list[str] = []

    async def exchange(sdp: str) -> str:
        live_id, answer = await node.whip(host, sdp)
        live_ids.append(live_id)
        return answer

    pc = await publish([CounterVideoTrack(fps=15, width=320, height=240)], exchange)
    return live_ids[0], pc


async def in_room(node: ClusterNode, user: str, live_id: str) -> SocketClient:
    socket = await node.socket(user)
    joined = await socket.request({"type": "room.join", "live_id": live_id})
    assert joined["type"] == "room.joined", joined
    return socket


def seen(socket: SocketClient, kind: str) -> list[dict[str, object]]:
    return [m for m in socket.messages if m.get("type") == kind]


def comments_seen(socket: SocketClient) -> list[tuple[int, str]]:
    return [(int(str(m["seq"])), str(m["text"])) for m in seen(socket, "comment.new")]


async def subscribers(redis: aioredis.Redis, live_id: str) -> int:
    counts = await redis.pubsub_numsub(room_channel(live_id))
    return int(counts[0][1])


class RoomPublishes:
    """Every PUBLISH Redis runs on a live's room channel (``MONITOR``; scripts' too)."""

    def __init__(self, redis_url: str, live_id: str) -> None:
        self._client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self._channel = room_channel(live_id)
        self.seen: list[str] = []
        self._started = asyncio.Event()
        self._task = asyncio.ensure_future(self._record())

    async def start(self) -> None:
        async with asyncio.timeout(5):
            await self._started.wait()

    async def _record(self) -> None:
        async with self._client.monitor() as monitor:
            self._started.set()
            while True:
                command = (await monitor.next_command())["command"]
                if command.startswith("PUBLISH") and self._channel in command:
                    self.seen.append(command)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._client.aclose()


async def wait_for_subscribers(redis: aioredis.Redis, live_id: str, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while await subscribers(redis, live_id) != count:
        assert asyncio.get_running_loop().time() < deadline, f"never {count} nodes subscribed"
        await asyncio.sleep(0.05)


async def test_room_events_reach_every_node_in_one_order(cluster: Cluster) -> None:
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    await sign_in(a, "alice", "bob", "carol", "dave", "erin")
    live_id, host_pc = await go_live(a, "alice")
    redis = aioredis.Redis.from_url(cluster.redis_url)
    alice = await a.socket("alice")
    bob, carol, dave = [
        await in_room(node, user, live_id) for node, user in ((a, "bob"), (b, "carol"), (c, "dave"))
    ]
    alice_on_c = await in_room(c, "alice", live_id)  # the host's second device
    everyone = [alice, alice_on_c, bob, carol, dave]
    erin_media = Viewer(audio=False)
    publishes = RoomPublishes(cluster.redis_url, live_id)
    try:
        await publishes.start()
        assert await subscribers(redis, live_id) == 3, "one subscription per node"
        await asyncio.gather(
            *(
                viewer.send({"type": "comment", "live_id": live_id, "text": f"{who}-{n}"})
                for n in range(3)
                for who, viewer in (("bob", bob), ("carol", carol), ("dave", dave))
            )
        )
        await wait_for(lambda: all(len(comments_seen(s)) == 9 for s in everyone), 10, "comments")
        orders = [comments_seen(s) for s in everyone]
        assert all(order == orders[0] for order in orders), orders
        assert [seq for seq, _ in orders[0]] == list(range(1, 10))

        liked = await dave.request({"type": "reaction", "live_id": live_id, "kind": "like"})
        assert liked["type"] == "reaction.ok"
        quiet = await alice.request({"type": "live.settings", "live_id": live_id, "joins": False})
        assert quiet["type"] == "live.settings", quiet
        for socket in everyone:
            await socket.next_of("reaction.new", live_id=live_id, user="dave", kind="like")
            await socket.next_of("live.settings", live_id=live_id, joins=False)
            assert len(seen(socket, "reaction.new")) == 1
        await wait_for(lambda: len(publishes.seen) >= 11, 5, "the publishes, as MONITOR saw them")
        # one publish per event (9 comments, 1 reaction, 1 setting), not per node or socket
        assert len(publishes.seen) == 11, publishes.seen

        async def whep_on_a(sdp: str) -> str:
            _, answer = await a.whep("erin", live_id, sdp)
            return answer

        await erin_media.watch(whep_on_a)
        for socket in (bob, carol, dave):
            counted = await socket.next_of("live.viewers", live_id=live_id, count=1)
            assert "viewers" not in counted, "only the host sees who watches"
        for host_socket in (alice, alice_on_c):
            counted = await host_socket.next_of("live.viewers", live_id=live_id, count=1)
            assert counted["viewers"] == ["erin"]

        ended = await alice.request({"type": "live.end", "live_id": live_id})
        assert ended["type"] == "live.end.ok", ended
        for socket in everyone:
            await socket.next_of("live.ended", live_id=live_id)

        await wait_for_subscribers(redis, live_id, 0)
        assert await redis.exists(tally_key(live_id)) == 0
        assert not [key async for key in redis.scan_iter(f"dl:room:{{{live_id}}}:viewers*")]
        for socket in everyone:
            assert len(seen(socket, "live.ended")) == 1, socket.messages
    finally:
        await publishes.close()
        await erin_media.close()
        for socket in everyone:
            await socket.close()
        await host_pc.close()
        await redis.aclose()


async def test_moderation_and_privacy_on_the_viewers_node(cluster: Cluster) -> None:
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    await sign_in(a, "alice", "bob", "carol", "dave", "mallory")
    for follower, node in (("bob", b), ("carol", c), ("dave", b)):
        followed = await node.api(follower, "POST", "/api/users/alice/follow")
        assert followed[0] == 200, followed
    live_id, host_pc = await go_live(a, "alice")
    alice = await a.socket("alice")
    bob = await in_room(b, "bob", live_id)
    carol = await in_room(c, "carol", live_id)
    dave = await in_room(b, "dave", live_id)
    mallory = await in_room(b, "mallory", live_id)
    redis = aioredis.Redis.from_url(cluster.redis_url)
    try:
        private = await a.api("alice", "PATCH", "/api/me/settings", {"private": True})
        assert private[0] == 200, private
        evicted = await mallory.next_of("live.evicted", live_id=live_id)
        assert evicted["code"] == "private_account"
        refused = await mallory.request({"type": "room.join", "live_id": live_id})
        assert (refused["type"], refused["code"]) == ("error", "private_account")

        kicked = await alice.request({"type": "viewer.remove", "live_id": live_id, "user": "bob"})
        assert kicked["type"] == "viewer.remove.ok", kicked
        evicted = await bob.next_of("live.evicted", live_id=live_id)
        assert evicted["code"] == "removed_by_host"
        back = await bob.request({"type": "room.join", "live_id": live_id})
        assert (back["type"], back["code"]) == ("error", "removed_by_host")

        blocked = await a.api("alice", "POST", "/api/users/carol/block")
        assert blocked[0] == 200, blocked
        evicted = await carol.next_of("live.evicted", live_id=live_id)
        assert evicted["code"] == "blocked"
        await wait_for_subscribers(redis, live_id, 2)  # c had only carol in the room

        posted = await dave.request({"type": "comment", "live_id": live_id, "text": "still here"})
        assert posted["type"] == "comment.ok", posted
        await alice.next_of("comment.new", live_id=live_id, text="still here")
        await dave.next_of("comment.new", live_id=live_id, text="still here")
        for out in (bob, carol, mallory):
            assert not seen(out, "comment.new"), "an evicted socket is out of the room"
        assert not seen(dave, "live.evicted")

        asked = await dave.request({"type": "join.request", "live_id": live_id})
        assert asked.get("status") == "requested", asked
        await alice.next_of("join.requested", live_id=live_id, user="dave")
        declined = await alice.request({"type": "join.decline", "live_id": live_id, "user": "dave"})
        assert declined["type"] == "join.decline.ok", declined
        await dave.next_of("join.declined", live_id=live_id)
    finally:
        for socket in (alice, bob, carol, dave, mallory):
            await socket.close()
        await host_pc.close()
        await redis.aclose()
