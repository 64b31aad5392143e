"""A feed that falls behind (worker socket, relay link) drops audio while behind and makes
video wait for a keyframe it asks the source for once."""

from __future__ import annotations

from streamer.feed_gate import KeyframeGate
from streamer.frames import EncodedFrame
from streamer.source import TrackSource
from streamer.stats import ForwardingStats


def _source(kind: str, requests: list[int]) -> TrackSource:
    return TrackSource(
        track_id=f"alice-{kind}-0",
        participant="alice",
        kind=kind,
        mime_type="video/VP8" if kind == "video" else "audio/opus",
        stats=ForwardingStats(),
        request_upstream_keyframe=lambda: requests.append(1),
        keyframe_interval=0.0,
    )


async def test_video_behind_waits_for_a_keyframe_it_asks_for_once() -> None:
    requests: list[int] = []
    source = _source("video", requests)
    gate = KeyframeGate(source)
    delta, key = EncodedFrame(b"d", 0, keyframe=False), EncodedFrame(b"k", 0, keyframe=True)
    try:
        assert gate.admit(delta, behind=False)
        assert not gate.admit(delta, behind=True)
        assert requests == [1]
        assert not gate.admit(delta, behind=False), "a delta after a drop has no reference"
        assert not gate.admit(key, behind=True), "still behind: the keyframe waits too"
        assert requests == [1], "one request per wait"
        assert gate.admit(key, behind=False)
        assert gate.admit(delta, behind=False)
    finally:
        source.close()


async def test_audio_is_dropped_only_while_behind() -> None:
    requests: list[int] = []
    source = _source("audio", requests)
    gate = KeyframeGate(source)
    frame = EncodedFrame(b"a", 0, keyframe=True)
    try:
        assert not gate.admit(frame, behind=True)
        assert gate.admit(frame, behind=False)
        assert requests == []
    finally:
        source.close()
