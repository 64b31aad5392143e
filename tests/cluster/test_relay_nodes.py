"""One live watched from three real nodes on one Redis: the host publishes to ``a``, viewers
watch on ``b`` and ``c``, each frame crossing to an edge node once."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
import redis.asyncio as aioredis

from tests.cluster.nodes import Cluster
from tests.cluster.relay_support import (
    go_live_on,
    increasing,
    metrics,
    wait_for_metric,
    watch_on,
)
from tests.media.peers import Viewer, wait_for
from tests.media.tracks import PreEncodedVideoTrack
from tests.server import WhepRefused

SENT = "directlive_relay_frames_sent_total"
RECEIVED = "directlive_frames_received_total"
RELAYED_IN = "directlive_relay_frames_received_total"
LINKS = "directlive_relay_links_open"


async def test_edges_serve_the_live_and_each_frame_crosses_once_per_edge(
    cluster: Cluster,
) -> None:
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    async with AsyncExitStack() as stack:
        # A publisher that ignores PLI: keyframes only every 30 s, so a late joiner starts
        # from a GOP cache or not at all.
        video = PreEncodedVideoTrack(gop_seconds=30, height=96)
        live_id, publisher = await go_live_on(a, "alice", video)
        stack.push_async_callback(publisher.close)
        viewers: list[Viewer] = []
        for node, user in ((b, "bob"), (c, "carol")):
            viewer = await watch_on(node, user, live_id)
            stack.push_async_callback(viewer.close)
            viewers.append(viewer)
        await wait_for(
            lambda: all(len(v.received.counters) >= 10 for v in viewers), 20, "b and c decode"
        )
        assert all(increasing(v.received.counters) for v in viewers)

        late = await watch_on(b, "dave", live_id)
        stack.push_async_callback(late.close)
        await wait_for(lambda: len(late.received.counters) >= 3, 10, "the late joiner on b")
        assert late.first_frame_at is not None
        natural = [t for t in video.log.keyframe_times() if t > late.started_at]
        assert not natural or late.first_frame_at < natural[0]  # before the next keyframe
        assert late.first_frame_at - late.started_at < 10

        async def per_frame() -> tuple[float, float]:
            """(frames sent to relays, frames received) on ``a`` over one second."""
            before = await metrics(a)
            await asyncio.sleep(1.0)
            after = await metrics(a)
            return after[SENT] - before[SENT], after[RECEIVED] - before[RECEIVED]

        sent, received = await per_frame()
        assert received > 0
        assert sent == received * 2  # two relaying nodes, three viewers
        more = [await watch_on(c, f"viewer{i}", live_id, decode=False) for i in range(3)]
        for viewer in more:
            stack.push_async_callback(viewer.close)
        await wait_for(lambda: all(v.received.encoded for v in more), 15, "more viewers on c")
        sent, received = await per_frame()
        assert sent == received * 2  # still two relaying nodes, six viewers
        edge_in = (await metrics(b))[RELAYED_IN]
        assert edge_in > 0
        assert (await metrics(a))[LINKS] == 2
        assert (await metrics(b))[LINKS] == 1


async def test_privacy_holds_on_edges_and_host_end_leaves_nothing_behind(cluster: Cluster) -> None:
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    async with AsyncExitStack() as stack:
        live_id, publisher = await go_live_on(a, "alice")
        stack.push_async_callback(publisher.close)
        sockets = {}
        viewers: list[Viewer] = []
        for node, user in ((a, "olga"), (b, "bob"), (c, "carol")):
            socket = await node.socket(user)
            stack.push_async_callback(socket.close)
            sockets[user] = socket
            viewer = await watch_on(node, user, live_id)
            stack.push_async_callback(viewer.close)
            viewers.append(viewer)
        await wait_for(lambda: all(v.received.counters for v in viewers), 20, "all decode")
        redis = aioredis.Redis.from_url(cluster.redis_url)
        stack.push_async_callback(redis.aclose)
        assert await redis.keys(f"dl:relay:{{{live_id}}}:*")

        # A private host's live, on the same nodes: a non-follower is refused on an edge.
        status, _ = await a.api("petra", "PATCH", "/api/me/settings", {"private": True})
        assert status == 200
        private_live, private_publisher = await go_live_on(a, "petra")
        stack.push_async_callback(private_publisher.close)
        with pytest.raises(WhepRefused) as refused:
            await watch_on(b, "eve", private_live)
        assert refused.value.code == "private_account"
        assert not await redis.keys(f"dl:relay:{{{private_live}}}:edges")  # no link opened
        async with a.http.delete(
            f"{a.url}/whip/{private_live}", headers=a.auth("petra")
        ) as response:
            assert response.status == 200

        # The host ends it through b (another device, another node): b forwards to the origin.
        async with b.http.delete(f"{b.url}/whip/{live_id}", headers=b.auth("alice")) as r:
            assert r.status == 200
        for socket in sockets.values():
            await socket.next_of("live.ended", live_id=live_id)
        for node in (a, b, c):
            await wait_for_metric(node, LINKS, 0)
            values = await metrics(node)
            assert values["directlive_lives"] == 0
            assert values["directlive_viewers"] == 0
        assert await redis.keys(f"dl:relay:{{{live_id}}}:*") == []
        await asyncio.sleep(0.5)  # a second live.ended would have come by now
        for socket in sockets.values():
            ended = [m for m in socket.messages if m.get("type") == "live.ended"]
            assert len(ended) == 1
