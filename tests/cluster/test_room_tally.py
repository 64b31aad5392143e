"""The per-node viewer tally of a live on a real Redis: totals over nodes, one publish per
change, a silent node's share dropped, nothing left once the live ends."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from fanout.redis_launcher import redis_server
from fanout.room_delivery import RoomBroadcast
from fanout.room_delivery_redis import RedisRoomDelivery, tally_key
from tests.media.peers import wait_for

STALE = 0.5


async def test_counts_sum_nodes_and_a_silent_node_drops_out() -> None:
    with redis_server() as server:
        client = aioredis.Redis.from_url(server.url)
        heard: list[RoomBroadcast] = []
        nodes = {name: RedisRoomDelivery(client, name, stale_after=STALE) for name in "ab"}
        try:
            await nodes["a"].start(heard.append)
            await nodes["b"].start(lambda _: None)
            await nodes["a"].subscribe("L1")
            await nodes["a"].open_live("L1", "host")

            assert await nodes["a"].report_viewers("L1", "a", ["u1", "u2"]) == 2
            assert await nodes["b"].report_viewers("L1", "b", ["u3"]) == 3
            assert await client.hget(tally_key("L1"), "n:b") is not None
            assert await nodes["a"].report_viewers("L1", "a", ["u2", "u1"]) is None
            await wait_for(lambda: len(heard) == 2, 5, "two count messages")
            last = heard[-1]
            assert last.event == {"type": "live.viewers", "live_id": "L1", "count": 3}
            assert (last.viewers, last.host) == (("u1", "u2", "u3"), "host")

            totals: list[int | None] = []
            deadline = asyncio.get_running_loop().time() + 10 * STALE
            while 2 not in totals:  # b stopped reporting: it died
                assert asyncio.get_running_loop().time() < deadline, totals
                totals.append(await nodes["a"].report_viewers("L1", "a", ["u1", "u2"]))
                await asyncio.sleep(STALE / 5)
            assert await client.hget(tally_key("L1"), "n:b") is None

            await nodes["a"].close_live("L1")
            await wait_for(lambda: heard[-1].event is None, 5, "the room closed")
            assert await client.exists(tally_key("L1")) == 0
            late = await nodes["b"].report_viewers("L1", "b", ["u3"])
            assert late is None, "an ended live takes no more reports"
            assert await client.exists(tally_key("L1")) == 0
        finally:
            for node in nodes.values():
                await node.close()
            await client.aclose()
