"""Viewers on edge nodes: the room's count sums every node, the host's moderation evicts a
viewer where it is (media included), and a killed edge's share disappears within seconds."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import redis.asyncio as aioredis

from fanout.room_delivery_redis import tally_key
from tests.cluster.nodes import Cluster, ClusterNode
from tests.cluster.relay_support import go_live_on, watch_on
from tests.cluster.test_room import in_room, seen, sign_in
from tests.media.peers import wait_for


async def test_counts_sum_the_edges_and_forget_a_dead_one(cluster: Cluster) -> None:
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    await sign_in(a, "alice", "bob", "carol", "dave", "erin")
    redis = aioredis.Redis.from_url(cluster.redis_url)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(redis.aclose)
        live_id, publisher = await go_live_on(a, "alice")
        stack.push_async_callback(publisher.close)
        alice = await a.socket("alice")
        stack.push_async_callback(alice.close)
        dave = await in_room(c, "dave", live_id)
        stack.push_async_callback(dave.close)
        erin_socket = await c.socket("erin")
        stack.push_async_callback(erin_socket.close)
        status, room = await c.api("dave", "GET", f"/api/lives/{live_id}/room")
        assert status == 200, room
        assert room["publishing"] == ["alice"], "c holds no media yet: the origin's record"
        viewers = {}
        for node, user in ((b, "bob"), (c, "carol"), (c, "erin")):
            viewer = await watch_on(node, user, live_id, decode=False)
            stack.push_async_callback(viewer.close)
            viewers[user] = viewer
        counted = await alice.next_of("live.viewers", live_id=live_id, count=3, timeout=15)
        assert counted["viewers"] == ["bob", "carol", "erin"]
        await dave.next_of("live.viewers", live_id=live_id, count=3, timeout=15)
        for node in (a, b):  # the host's list covers every node, from the origin or not
            await wait_for_room_viewers(node, live_id, ["bob", "carol", "erin"])

        kicked = await alice.request({"type": "viewer.remove", "live_id": live_id, "user": "carol"})
        assert kicked["type"] == "viewer.remove.ok", kicked
        after = await alice.next_of("live.viewers", live_id=live_id, viewers=["bob", "erin"])
        assert after["count"] == 2, "carol's media on c ended"

        blocked = await a.api("alice", "POST", "/api/users/erin/block")
        assert blocked[0] == 200, blocked
        evicted = await erin_socket.next_of("live.evicted", live_id=live_id)
        assert evicted["code"] == "blocked"
        erin = viewers["erin"]
        await wait_for(
            lambda: erin.pc.connectionState in ("closed", "failed"), 10, "erin's media closed"
        )
        await alice.next_of("live.viewers", live_id=live_id, viewers=["bob"])
        await wait_for_room_viewers(c, live_id, ["bob"])

        before_kill = len(dave.messages)
        b.kill()
        await wait_for(
            lambda: any(
                m.get("type") == "live.viewers" and m.get("count") == 0
                for m in dave.messages[before_kill:]
            ),
            10,
            "b's viewer out of the count",
        )

        ended = await alice.request({"type": "live.end", "live_id": live_id})
        assert ended["type"] == "live.end.ok", ended
        await dave.next_of("live.ended", live_id=live_id)
        assert await redis.exists(tally_key(live_id)) == 0
        assert len(seen(dave, "live.ended")) == 1


async def wait_for_room_viewers(node: ClusterNode, live_id: str, expected: list[str]) -> None:
    """The host's ``GET .../room`` through ``node`` lists ``expected`` (other nodes' reports
    are up to a second old)."""
    deadline = time.monotonic() + 10
    while True:
        status, room = await node.api("alice", "GET", f"/api/lives/{live_id}/room")
        if status == 200 and room.get("viewers") == expected:
            return
        assert time.monotonic() < deadline, f"host's room view on {node.node_id}: {room}"
        await asyncio.sleep(0.1)
