"""Pre-encoded benchmark media: a few seconds of frames encoded once, then looped cheaply.

Video is 640x480 at 30 fps, about 1 Mbps (a moving noisy background, so the encoder spends
its budget), with the loop index drawn as big luma cells (bits, then their complement: the
same layout as ``tests/media/counter.py``, repeated here because ``tests`` is not installed).
Audio is Opus, 20 ms packets of a tone. The publisher tracks hand aiortc ``av.Packet``s,
which it only packetizes, with timestamps rewritten so the loop plays as one endless stream.
"""

from __future__ import annotations

import asyncio
import fractions
import time
import zlib
from dataclasses import dataclass
from typing import Any, cast

import av
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamTrack

FPS = 30
WIDTH, HEIGHT = 640, 480
VIDEO_TICKS = 90_000 // FPS
AUDIO_TICKS = 960
VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48_000)
CELL = 32
BITS = 12


@dataclass
class MediaLoop:
    """Encoded frames of one loop; frame ``i`` shows counter ``i``; keyframe every GOP."""

    codec: str
    video: list[bytes]
    keyframes: list[bool]
    audio: list[bytes]
    gop: int

    @property
    def video_kbps(self) -> float:
        seconds = len(self.video) / FPS
        return sum(len(f) for f in self.video) * 8 / seconds / 1000

    def crc_index(self) -> dict[int, int]:
        """CRC32 of each frame's bytes -> loop index (frames are all distinct)."""
        table = {zlib.crc32(frame): index for index, frame in enumerate(self.video)}
        if len(table) != len(self.video):
            raise RuntimeError("two frames of the loop have the same CRC")
        return table


def draw_counter(luma: npt.NDArray[np.uint8], value: int) -> None:
    for bit in range(BITS):
        on = (value >> bit) & 1 == 1
        left = bit * CELL
        luma[0:CELL, left : left + CELL] = 235 if on else 16
        luma[CELL : 2 * CELL, left : left + CELL] = 16 if on else 235


def read_counter(luma: npt.NDArray[Any]) -> int | None:
    """The counter of a decoded Y plane, or None when its cells disagree."""
    plane = np.asarray(luma, dtype=np.float32)
    means = []
    for row in (0, 1):
        band = plane[row * CELL + 8 : row * CELL + 24, : BITS * CELL]
        cells = band.reshape(16, BITS, CELL)[:, :, 8:24]
        means.append(cells.mean(axis=(0, 2)) > 125)
    bits, inverse = means
    if np.any(bits == inverse):
        return None
    return int(sum(1 << i for i in range(BITS) if bits[i]))


def _video_context(codec: str, gop: int) -> av.VideoCodecContext:
    name = "libvpx" if codec == "vp8" else "libx264"
    context = cast(av.VideoCodecContext, av.CodecContext.create(name, "w"))
    context.width, context.height = WIDTH, HEIGHT
    context.pix_fmt = "yuv420p"
    context.time_base = fractions.Fraction(1, FPS)
    context.framerate = fractions.Fraction(FPS, 1)
    context.bit_rate = 1_000_000
    context.gop_size = gop
    if codec == "vp8":
        context.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "minrate": "1000000",
            "maxrate": "1000000",
        }
    else:
        context.profile = "Baseline"
        context.options = {"tune": "zerolatency", "preset": "ultrafast", "bf": "0"}
    return context


def encode_loop(codec: str = "vp8", seconds: float = 4.0, gop_seconds: float = 2.0) -> MediaLoop:
    """Encode ``seconds`` of counter frames (and Opus audio) once, for looping."""
    count = int(seconds * FPS)
    gop = max(1, int(gop_seconds * FPS))
    if count % gop:
        raise ValueError("the loop must hold whole GOPs so it can wrap onto a keyframe")
    context = _video_context(codec, gop)
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    video: list[bytes] = []
    keyframes: list[bool] = []
    for index in range(count + 1):
        if index < count:
            phase = index * 0.2
            luma = 110 + 50 * np.sin(x / 23.0 + phase) * np.cos(y / 31.0 - phase)
            luma = luma + rng.normal(0, 12, luma.shape)
            plane = np.clip(luma, 0, 255).astype(np.uint8)
            draw_counter(plane, index)
            frame = av.VideoFrame.from_ndarray(plane, format="gray").reformat(format="yuv420p")
            frame.pts = index
            if index % gop == 0:
                frame.pict_type = av.video.frame.PictureType.I
            packets = context.encode(frame)
        else:
            packets = context.encode(None)
        for packet in packets:
            video.append(bytes(packet))
            keyframes.append(bool(packet.is_keyframe))
    if len(video) != count or not all(keyframes[i] for i in range(0, count, gop)):
        raise RuntimeError(f"encoder gave {len(video)} frames, keyframes off the GOP grid")
    return MediaLoop(codec, video, keyframes, _encode_audio(seconds), gop)


def _encode_audio(seconds: float) -> list[bytes]:
    context = av.CodecContext.create("libopus", "w")
    context.sample_rate = 48_000
    context.layout = "stereo"
    context.format = "s16"
    context.bit_rate = 64_000
    packets: list[bytes] = []
    total = int(seconds * 48_000 / AUDIO_TICKS)
    for index in range(total):
        t = (np.arange(AUDIO_TICKS) + index * AUDIO_TICKS) / 48_000
        tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = 48_000
        frame.pts = index * AUDIO_TICKS
        packets.extend(bytes(p) for p in context.encode(frame))
    packets.extend(bytes(p) for p in context.encode(None))
    return packets


@dataclass
class Clock:
    """When the publisher's first packet went out; shared by its audio and video tracks."""

    start: float | None = None

    def started(self) -> float:
        if self.start is None:
            self.start = time.monotonic()
        return self.start


class LoopTrack(MediaStreamTrack):
    """Plays pre-encoded packets in a loop at their real pace, stamping a growing timestamp.

    ``sent`` records the monotonic time each packet went to aiortc (index = packet number).
    With ``restart_on_pli``, a keyframe request makes the next frame the loop's first
    (a keyframe); otherwise PLI is ignored, like FFmpeg's WHIP muxer.
    """

    def __init__(
        self,
        kind: str,
        packets: list[bytes],
        clock: Clock,
        *,
        period: float,
        ticks: int,
        time_base: fractions.Fraction,
        restart_on_pli: bool = False,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.sent: list[float] = []
        self.keyframe_requests = 0
        self._packets = packets
        self._clock = clock
        self._period = period
        self._ticks = ticks
        self._time_base = time_base
        self._restart_on_pli = restart_on_pli
        self._position = 0

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        if self._restart_on_pli:
            self._position = 0

    async def recv(self) -> av.Packet[Any]:
        number = len(self.sent)
        due = self._clock.started() + number * self._period
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        packet = av.Packet(self._packets[self._position % len(self._packets)])
        self._position += 1
        packet.pts = number * self._ticks
        packet.time_base = self._time_base
        self.sent.append(time.monotonic())
        return packet


def loop_tracks(loop: MediaLoop, *, restart_on_pli: bool = False) -> tuple[LoopTrack, LoopTrack]:
    """A (video, audio) pair playing ``loop`` from now."""
    clock = Clock()
    video = LoopTrack(
        "video",
        loop.video,
        clock,
        period=1 / FPS,
        ticks=VIDEO_TICKS,
        time_base=VIDEO_TIME_BASE,
        restart_on_pli=restart_on_pli,
    )
    audio = LoopTrack(
        "audio", loop.audio, clock, period=0.02, ticks=AUDIO_TICKS, time_base=AUDIO_TIME_BASE
    )
    return video, audio


def is_keyframe(codec: object, data: bytes) -> bool:
    """Whether an encoded frame (VP8, or H.264 as Annex-B) starts a GOP; ``codec`` is a
    name or anything whose ``mimeType`` names it."""
    name = str(getattr(codec, "mimeType", codec)).lower()
    if "vp8" in name:
        return bool(data) and data[0] & 1 == 0  # the frame tag's inverse key-frame bit
    position = data.find(b"\x00\x00\x01")
    while 0 <= position < len(data) - 3:
        if data[position + 3] & 0x1F == 5:  # an IDR slice
            return True
        position = data.find(b"\x00\x00\x01", position + 3)
    return False


def decode_counters(codec: str, frames: list[bytes]) -> list[int | None]:
    """Decode ``frames`` in order; per frame, the counter it shows (None: undecodable)."""
    context = av.CodecContext.create("vp8" if codec == "vp8" else "h264", "r")
    counters: list[int | None] = []
    for data in frames:
        try:
            pictures = context.decode(av.Packet(data))
        except av.FFmpegError:
            pictures = []
        counter = None
        for picture in pictures:
            counter = read_counter(picture.to_ndarray(format="gray"))
        counters.append(counter)
    return counters
