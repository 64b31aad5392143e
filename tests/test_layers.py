"""Layered publishing: a publisher's layers, a viewer's cap, switches that never break decoding."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import av
import pytest

from benchmarks.layered_media import LayerLoop, encode_layers, layer_tracks
from streamer import MediaConfig, Streamer
from streamer.bitstream import coded_size
from streamer.layers.offer import layer_groups
from streamer.layers.selector import (
    PROBE_BACKOFF,
    PROBE_FIRST,
    PROBE_MAX,
    SETTLE,
    LayerSelector,
    LinkReport,
)
from tests.media.layered import DecodingViewer, increasing, publish_layers
from tests.media.peers import wait_for, watching

LOOP_FRAMES = 120


@pytest.fixture(scope="module")
def loops() -> list[LayerLoop]:
    return encode_layers(seconds=LOOP_FRAMES / 30)


@pytest.fixture
async def streamer() -> AsyncIterator[Streamer]:
    s = Streamer(MediaConfig(publisher_grace_seconds=0.5, ice_addresses=("127.0.0.1",)))
    yield s
    await s.close()


def test_layers_rank_by_the_size_their_keyframes_carry(loops: list[LayerLoop]) -> None:
    assert [coded_size("video/VP8", loop.deltas[0]) for loop in loops] == [
        (640, 480),
        (320, 240),
        (160, 120),
    ]
    assert coded_size("video/VP8", loops[0].deltas[1]) is None  # a delta frame
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 180, "yuv420p"
    encoder.options = {"tune": "zerolatency", "preset": "ultrafast"}
    frame = av.VideoFrame(320, 180, "yuv420p")
    frame.pts = 0
    data = b"".join(bytes(p) for p in [*encoder.encode(frame), *encoder.encode(None)])
    assert coded_size("video/H264", data) == (320, 180)  # cropped from 320x192
    assert coded_size("video/H264", b"\x00\x00\x00\x01\x67") is None  # an SPS cut short


def test_video_m_lines_of_one_msid_stream_are_layers() -> None:
    sdp = "\r\n".join(
        [
            "v=0",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "a=mid:0",
            "a=msid:cam a",
            "m=video 9 UDP/TLS/RTP/SAVPF 96",
            "a=mid:1",
            "a=msid:cam hi",
            "m=video 9 UDP/TLS/RTP/SAVPF 96",
            "a=mid:2",
            "a=ssrc:5 msid:cam lo",
            "m=video 9 UDP/TLS/RTP/SAVPF 96",
            "a=mid:3",
            "a=msid:screen s",
        ]
    )
    assert layer_groups(sdp, ["1", "2", "3"]) == [["1", "2"]]
    assert layer_groups(sdp.replace("msid:cam lo", "msid:- lo"), ["1", "2", "3"]) == []


def test_selector_goes_down_at_once_and_up_only_after_clean_reports() -> None:
    selector = LayerSelector(count=3, rank=2)
    now = 10.0
    assert selector.decide(LinkReport(0.0), now) is None
    assert selector.decide(LinkReport(0.3), now + 0.1) == 1  # down at once
    assert selector.decide(LinkReport(0.3), now + 0.2) is None  # a move is under way
    selector.switched(1, now + 0.5)
    assert selector.decide(LinkReport(0.3), now + 0.5 + SETTLE / 2) is None  # old news
    clean_from = now + 0.5 + SETTLE
    assert selector.decide(LinkReport(0.0), clean_from) is None
    assert selector.decide(LinkReport(0.05), clean_from + 1) is None  # not clean: restart
    assert selector.decide(LinkReport(0.0), clean_from + 1 + PROBE_FIRST - 0.1) is None
    assert selector.decide(LinkReport(0.0), clean_from + 1 + PROBE_FIRST + 0.1) == 2
    selector.switched(2, clean_from + 2 + PROBE_FIRST)
    probe_at = clean_from + 2 + PROBE_FIRST
    assert selector.decide(LinkReport(0.5), probe_at + SETTLE) == 1  # the probe failed
    selector.switched(1, probe_at + SETTLE + 0.2)
    assert selector.probe_wait == min(PROBE_BACKOFF * PROBE_FIRST, PROBE_MAX)  # waits longer
    assert selector.probe_wait > PROBE_FIRST
    assert selector.limit(0, probe_at + 3) == 0  # a cap moves it at once
    assert LayerSelector(count=3, rank=2, cap=7).cap == 2


async def test_capped_viewer_gets_the_low_layer_and_switches_keep_decoding(
    streamer: Streamer, loops: list[LayerLoop]
) -> None:
    live_id = streamer.new_live_id()
    tracks = layer_tracks(loops)
    publisher = await publish_layers(tracks, lambda sdp: streamer.publish(live_id, "alice", sdp))
    low, top = DecodingViewer(), DecodingViewer()
    sessions: list[str] = []

    try:
        live = streamer.get(live_id)
        await wait_for(lambda: len(live.publishers["alice"].layer_sets) == 1, 10, "layers")
        assert len(live.sources()) == 1  # one picture, whatever its layers
        layers = live.publishers["alice"].layer_sets[0]
        await wait_for(lambda: all(s.has_keyframe for s in layers.sources), 10, "keyframes")
        assert [layers.size_of(s) for s in layers.ranked()] == [(160, 120), (320, 240), (640, 480)]
        await low.watch(watching(streamer, live_id, "bob", sessions, max_layer=0))
        await top.watch(watching(streamer, live_id, "bob", sessions))
        await wait_for(lambda: len(low.frames) >= 30 and len(top.frames) >= 30, 15, "frames")
        assert low.size == (160, 120)
        assert top.size == (640, 480)

        # Raise one cap (the viewer probes its way up) and lower the other (down at once).
        await streamer.local_session(live_id, sessions[0]).set_max_layer(1)
        await streamer.local_session(live_id, sessions[1]).set_max_layer(0)
        await wait_for(lambda: top.size == (160, 120), 10, "the lowered viewer moved down")
        await wait_for(lambda: low.size == (320, 240), 15, "the raised viewer moved up")
        count = len(low.frames)
        await wait_for(lambda: len(low.frames) >= count + 30, 10, "frames after the switches")

        assert streamer.stats.layer_switches_up >= 1
        assert streamer.stats.layer_switches_down >= 1
        assert streamer.stats.layer_switch_keyframe_requests >= 2
        for viewer in (low, top):
            assert viewer.decoder_errors == []
            assert all(f.counter is not None for f in viewer.frames), "a frame came out broken"
            sizes = [f.size for f in viewer.frames]
            changes = sum(1 for a, b in itertools.pairwise(sizes) if a != b)
            assert changes >= 1  # more only if the loaded machine lost packets
            assert increasing(viewer.frames, LOOP_FRAMES), [f.counter for f in viewer.frames]
    finally:
        await low.close()
        await top.close()
        await publisher.close()


async def test_viewers_of_a_layer_share_its_lane_and_no_other(
    streamer: Streamer, loops: list[LayerLoop]
) -> None:
    live_id = streamer.new_live_id()
    publisher = await publish_layers(
        layer_tracks(loops), lambda sdp: streamer.publish(live_id, "alice", sdp)
    )
    viewers = [DecodingViewer() for _ in range(3)]
    sessions: list[str] = []

    async def watch(sdp: str) -> str:
        session_id, answer = await streamer.watch(live_id, f"v{len(sessions)}", sdp)
        sessions.append(session_id)
        return answer

    try:
        live = streamer.get(live_id)
        await wait_for(lambda: len(live.publishers["alice"].layer_sets) == 1, 10, "layers")
        layers = live.publishers["alice"].layer_sets[0]
        await wait_for(lambda: all(s.has_keyframe for s in layers.sources), 10, "keyframes")
        low, middle, top = layers.ranked()
        for viewer in viewers:
            await viewer.watch(watch)
        # Caught up, every viewer of the top layer is sent its frames by the top's one lane
        # (one C call per frame, as for a single-layer picture); the others send to nobody.
        await wait_for(lambda: top.lane_size == 3, 15, "the viewers in the top layer's lane")
        assert (low.lane_size, middle.lane_size) == (0, 0)
        assert (low.viewer_count, middle.viewer_count) == (0, 0)

        await streamer.local_session(live_id, sessions[0]).set_max_layer(0)
        await wait_for(lambda: viewers[0].size == (160, 120), 10, "the capped viewer moved down")
        await wait_for(lambda: low.lane_size == 1, 15, "the capped viewer in the low lane")
        assert top.lane_size == 2
        assert middle.lane_size == 0
        for viewer in viewers:
            assert viewer.decoder_errors == []
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()
