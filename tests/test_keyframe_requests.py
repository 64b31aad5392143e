"""Viewer keyframe requests reach the publisher coalesced and rate-limited."""

from __future__ import annotations

import asyncio

from streamer.source import TrackSource
from streamer.stats import ForwardingStats
from tests.media.peers import wait_for


async def test_requests_from_many_viewers_are_coalesced() -> None:
    sent: list[float] = []
    loop = asyncio.get_running_loop()
    source = TrackSource(
        track_id="t",
        participant="alice",
        kind="video",
        mime_type="video/VP8",
        stats=ForwardingStats(),
        request_upstream_keyframe=lambda: sent.append(loop.time()),
        keyframe_interval=0.3,
    )
    viewers = [source.subscribe() for _ in range(20)]  # no keyframe cached: one request
    assert len(sent) == 1
    for viewer in viewers:
        viewer.request_keyframe()  # inside the interval: one deferred request for all
    assert len(sent) == 1
    await wait_for(lambda: len(sent) == 2, 5, "the deferred request")
    assert sent[1] - sent[0] >= 0.29
    for viewer in viewers:
        viewer.request_keyframe()
    await wait_for(lambda: len(sent) == 3, 5, "the next deferred request")
    assert len(sent) == 3
    source.close()


async def test_a_keyframe_ends_the_wait_of_a_viewer_that_lost_its_queue() -> None:
    source = TrackSource(
        track_id="t",
        participant="alice",
        kind="video",
        mime_type="video/VP8",
        stats=ForwardingStats(),
        viewer_queue_limit=3,
    )
    key, delta = b"\x00" + b"k" * 10, b"\x01" + b"d" * 10
    source.push(key, 0)
    viewer = source.subscribe()
    assert viewer.queued == 1
    for ts in range(1, 6):
        source.push(delta, ts * 3000)
    assert viewer.queued == 0, "overflow clears the queue and waits for a keyframe"
    source.push(delta, 18000)
    assert viewer.queued == 0
    source.push(key, 21000)
    assert viewer.queued == 1
    frame, timestamp = await viewer.recv()
    assert (frame.keyframe, timestamp) == (True, 21000)
    source.close()
