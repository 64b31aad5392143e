"""Synthetic publisher tracks: frames with a visible counter, raw or pre-encoded."""

from __future__ import annotations

import asyncio
import fractions
import time
from dataclasses import dataclass, field
from typing import Any, cast

import av
from aiortc.mediastreams import MediaStreamTrack

from signaling.demo_broadcaster import ToneTrack
from tests.media.counter import counter_image

VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48_000)


class CounterVideoTrack(MediaStreamTrack):
    """Raw frames for aiortc to encode itself (VP8 keyframes only on request)."""

    kind = "video"

    def __init__(self, fps: int = 30, width: int = 640, height: int = 480) -> None:
        super().__init__()
        self.fps = fps
        self.width = width
        self.height = height
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.sent / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(counter_image(self.sent, self.width, self.height))
        frame.pts = int(self.sent * 90_000 / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        self.sent += 1
        return frame


@dataclass
class SentFrame:
    data: bytes
    keyframe: bool
    sent_at: float


@dataclass
class EncodedLog:
    frames: list[SentFrame] = field(default_factory=list)

    def keyframe_times(self) -> list[float]:
        return [f.sent_at for f in self.frames if f.keyframe]


class PreEncodedVideoTrack(MediaStreamTrack):
    """Encodes with its own PyAV encoder at a fixed GOP and hands aiortc ``av.Packet``s, which
    aiortc only packetizes. Like FFmpeg's WHIP muxer it ignores PLI: keyframes come only every
    ``gop_seconds``. ``log`` records the exact bytes of every frame sent."""

    kind = "video"

    def __init__(
        self,
        codec: str = "libvpx",
        fps: int = 30,
        gop_seconds: float = 2.0,
        width: int = 640,
        height: int = 480,
    ) -> None:
        super().__init__()
        self.fps = fps
        self.log = EncodedLog()
        self._gop = max(1, int(gop_seconds * fps))
        self._encoder = cast(av.VideoCodecContext, av.CodecContext.create(codec, "w"))
        self._encoder.width = width
        self._encoder.height = height
        self._encoder.pix_fmt = "yuv420p"
        self._encoder.time_base = fractions.Fraction(1, fps)
        self._encoder.framerate = fractions.Fraction(fps, 1)
        self._encoder.bit_rate = 1_000_000
        self._encoder.gop_size = self._gop
        if codec == "libvpx":
            self._encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        else:
            self._encoder.profile = "Baseline"
            self._encoder.options = {"tune": "zerolatency", "preset": "ultrafast", "bf": "0"}
        self._width = width
        self._height = height
        self._count = 0
        self._start: float | None = None
        self._pending: list[av.Packet[Any]] = []

    async def recv(self) -> av.Packet[Any]:
        while not self._pending:
            if self._start is None:
                self._start = time.monotonic()
            due = self._start + self._count / self.fps
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            image = counter_image(self._count, self._width, self._height)
            frame = av.VideoFrame.from_ndarray(image).reformat(format="yuv420p")
            frame.pts = self._count
            if self._count % self._gop == 0:
                frame.pict_type = av.video.frame.PictureType.I
            self._count += 1
            self._pending.extend(self._encoder.encode(frame))
        packet = self._pending.pop(0)
        data = bytes(packet)
        self.log.frames.append(SentFrame(data, bool(packet.is_keyframe), time.monotonic()))
        out = av.Packet(data)
        out.pts = int(packet.pts * 90_000 / self.fps) if packet.pts is not None else 0
        out.time_base = VIDEO_TIME_BASE
        return out


class ToneAudioTrack(ToneTrack):
    """A clearly audible 440 Hz tone, for aiortc's Opus encoder."""

    def __init__(self) -> None:
        super().__init__(frequency=440.0, amplitude=8000)
