"""The SFU forwards encoded frames from a real aiortc publisher to real aiortc viewers."""

from __future__ import annotations

import gc
import itertools
from collections.abc import AsyncIterator

import av
import pytest

from streamer import MediaConfig, Streamer
from tests.media.peers import Viewer, publish, video_source, wait_for, watching
from tests.media.tracks import CounterVideoTrack, PreEncodedVideoTrack, ToneAudioTrack


@pytest.fixture
async def streamer() -> AsyncIterator[Streamer]:
    s = Streamer(MediaConfig(publisher_grace_seconds=0.5, ice_addresses=("127.0.0.1",)))
    yield s
    await s.close()


async def test_three_viewers_decode_counters_at_sent_rate(streamer: Streamer) -> None:
    live_id = streamer.new_live_id()
    video = CounterVideoTrack(fps=30)
    publisher = await publish(
        [video, ToneAudioTrack()], lambda sdp: streamer.publish(live_id, "alice", sdp)
    )
    viewers = [Viewer() for _ in range(3)]
    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        for i, viewer in enumerate(viewers):
            await viewer.watch(watching(streamer, live_id, f"v{i}"))
        await wait_for(
            lambda: all(len(v.received.counters) >= 90 for v in viewers), 20, "90 frames each"
        )
        await wait_for(
            lambda: all(v.received.audio_frames > 0 for v in viewers), 10, "decoded audio"
        )
        for viewer in viewers:
            counters = viewer.received.counters
            assert viewer.received.sizes == {(640, 480)}
            assert all(b > a for a, b in itertools.pairwise(counters)), counters
            assert counters[-1] - counters[0] <= len(counters) + 5, "the viewer lost frames"
        # At the sent rate: each viewer keeps up with what the publisher has sent so far.
        await wait_for(
            lambda: all(v.received.counters[-1] >= video.sent - 15 for v in viewers),
            10,
            "every viewer at the live edge",
        )
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()


async def test_frames_arrive_byte_identical_and_no_codec_is_opened(streamer: Streamer) -> None:
    live_id = streamer.new_live_id()
    video = PreEncodedVideoTrack(gop_seconds=1.0)
    publisher = await publish([video], lambda sdp: streamer.publish(live_id, "alice", sdp))
    viewer = Viewer(decode=False, audio=False)
    try:
        await wait_for(lambda: bool(streamer.get(live_id).sources()), 10, "sources")
        await viewer.watch(watching(streamer, live_id, "bob"))
        await wait_for(lambda: len(viewer.received.encoded) >= 60, 20, "60 encoded frames")
        sent = {f.data for f in video.log.frames}
        received = viewer.received.encoded
        assert all(frame in sent for frame in received), "a frame was altered in transit"
        gc.collect()  # earlier tests' codecs must not count
        open_codecs = [o for o in gc.get_objects() if isinstance(o, av.CodecContext) and o.is_open]
        # Only the test publisher's own encoder is open: the server opened none.
        assert len(open_codecs) == 1, open_codecs
    finally:
        await viewer.close()
        await publisher.close()


async def test_late_viewer_starts_without_waiting_for_the_next_keyframe(
    streamer: Streamer,
) -> None:
    live_id = streamer.new_live_id()
    # Small frames: publisher, server and viewer share one process, which on a loaded machine
    # otherwise has no CPU left to catch up (the gap stays open at 640x480; no socket drops).
    video = PreEncodedVideoTrack(gop_seconds=10.0, width=320, height=240)  # keyframes: 0, 300, ...
    gop = 300
    publisher = await publish([video], lambda sdp: streamer.publish(live_id, "alice", sdp))
    # Encoded frames, not decoded ones: catching up is the server's doing, and a starved test
    # process decodes no faster than the live itself (it would never close the gap).
    viewer = Viewer(decode=False, audio=False)
    sent_at_first_frame: list[int] = []
    try:
        await wait_for(lambda: len(video.log.frames) >= 45, 15, "1.5 s of publishing")
        await viewer.watch(watching(streamer, live_id, "bob"))

        def first_frame_received() -> bool:
            if viewer.first_frame_at is None:
                return False
            sent_at_first_frame.append(len(video.log.frames))
            return True

        await wait_for(first_frame_received, 10, "first frame")
        # Measured in publisher frames, not seconds, so a loaded machine cannot fake it: the
        # viewer has a picture long before the publisher's next natural keyframe (frame 300).
        assert sent_at_first_frame[0] < 120, sent_at_first_frame
        # The replayed GOP starts at the cached keyframe, then the viewer is live at once.
        assert viewer.received.encoded[0] == video.log.frames[0].data
        assert video.log.frames[0].keyframe

        def caught_up() -> bool:
            index = {frame.data: i for i, frame in enumerate(video.log.frames)}
            return index.get(viewer.received.encoded[-1], -1) >= len(video.log.frames) - 6

        await wait_for(caught_up, 10, "the viewer catching up with the live edge")
        assert len(video.log.frames) < gop, "caught up only thanks to a new keyframe"
    finally:
        await viewer.close()
        await publisher.close()


async def test_a_stalled_viewer_is_bounded_and_does_not_slow_the_others() -> None:
    streamer = Streamer(MediaConfig(viewer_queue_limit=30, ice_addresses=("127.0.0.1",)))
    live_id = streamer.new_live_id()
    publishing = CounterVideoTrack(fps=30)
    publisher = await publish([publishing], lambda sdp: streamer.publish(live_id, "alice", sdp))
    viewers = [Viewer(audio=False) for _ in range(2)]
    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        source = video_source(streamer.get(live_id))
        stalled = source.subscribe()  # a viewer whose sender never reads again
        for i, viewer in enumerate(viewers):
            await viewer.watch(watching(streamer, live_id, f"v{i}"))
        await wait_for(
            lambda: all(len(v.received.counters) >= 120 for v in viewers), 25, "4 s of frames"
        )
        assert stalled.queued <= 30
        assert stalled.frames_dropped > 60
        assert streamer.stats.frames_dropped_slow_viewer >= stalled.frames_dropped
        for viewer in viewers:
            counters = viewer.received.counters
            assert counters[-1] - counters[0] <= len(counters) + 5, "the viewer lost frames"
        await wait_for(
            lambda: all(v.received.counters[-1] >= publishing.sent - 15 for v in viewers),
            10,
            "the others at the live edge despite the stalled one",
        )
        source.unsubscribe(stalled)
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()
        await streamer.close()
