"""Nodes dying under a live that spans them: an edge takes only its own viewers with it; a dead
origin's live ends on every edge within the grace period plus the heartbeat timeout."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack

import redis.asyncio as aioredis

from signaling.node_beacon import HEARTBEAT_TTL
from tests.cluster.nodes import Cluster
from tests.cluster.relay_support import (
    go_live_on,
    metrics,
    wait_for_members,
    wait_for_metric,
    watch_on,
)
from tests.media.peers import wait_for

GRACE = 0.5
"""``--publisher-grace`` of the cluster's nodes (``tests.cluster.nodes.NODE_ARGS``)."""
LOAD_SLACK = 2.0
"""Two shared cores running other helpers' tests: time for a check to be scheduled at all."""


async def test_edge_death_spares_others_origin_death_ends_the_live_everywhere(
    cluster: Cluster,
) -> None:
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    async with AsyncExitStack() as stack:
        redis = aioredis.Redis.from_url(cluster.redis_url)
        stack.push_async_callback(redis.aclose)
        live_id, publisher = await go_live_on(a, "alice")
        stack.push_async_callback(publisher.close)
        carol_socket = await c.socket("carol")
        stack.push_async_callback(carol_socket.close)
        bob = await watch_on(b, "bob", live_id)
        stack.push_async_callback(bob.close)
        carol = await watch_on(c, "carol", live_id)
        stack.push_async_callback(carol.close)
        olga = await watch_on(a, "olga", live_id)
        stack.push_async_callback(olga.close)
        viewers = (bob, carol, olga)
        await wait_for(lambda: all(v.received.counters for v in viewers), 20, "all decode")
        relays = f"dl:relay:{{{live_id}}}:edges"
        assert sorted(await redis.smembers(relays)) == [b"b", b"c"]

        b.kill()
        carol_at, olga_at = len(carol.received.counters), len(olga.received.counters)
        await wait_for(
            lambda: (
                len(carol.received.counters) > carol_at + 30
                and len(olga.received.counters) > olga_at + 30
            ),
            15,
            "a and c keep decoding after b died",
        )
        await wait_for_members(redis, relays, [b"c"])
        bob_at = len(bob.received.counters)
        await wait_for(lambda: len(olga.received.counters) > olga_at + 60, 15, "a second more")
        assert len(bob.received.counters) - bob_at <= 1  # b's viewer gets nothing more

        await b.restart()  # b back, with a viewer again, for the origin's death
        bob_socket = await b.socket("bob")
        stack.push_async_callback(bob_socket.close)
        bob_again = await watch_on(b, "bob", live_id)
        stack.push_async_callback(bob_again.close)
        await wait_for(lambda: bool(bob_again.received.counters), 20, "bob decodes again on b")

        a.kill()
        killed_at = time.monotonic()
        for socket in (bob_socket, carol_socket):
            ended = await socket.next_of(
                "live.ended", timeout=GRACE + HEARTBEAT_TTL + LOAD_SLACK, live_id=live_id
            )
            assert ended["reason"] == "host_connection_lost"
        took = time.monotonic() - killed_at
        assert took <= GRACE + HEARTBEAT_TTL + LOAD_SLACK
        for node in (b, c):
            await wait_for_metric(node, "directlive_lives", 0)
            assert (await metrics(node))["directlive_relay_links_open"] == 0
        assert await redis.keys(f"dl:relay:{{{live_id}}}:*") == []

        await a.restart()
        status, body = await a.api("olga", "GET", f"/api/lives/{live_id}")
        assert status == 200
        assert body["state"] == "ended"
        assert (await metrics(a))["directlive_lives"] == 0
        assert await redis.keys(f"dl:relay:{{{live_id}}}:*") == []
        live_keys = await redis.smembers("dl:{n:a}:lives")
        assert live_id.encode() not in live_keys
