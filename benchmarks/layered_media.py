"""Pre-encoded layered media: the same counter picture at several sizes, looped cheaply.

Each layer is encoded once, with a keyframe every GOP. A keyframe request (PLI) makes that
layer jump ahead to the loop's next keyframe, as soon as a live encoder would make one (so
a layer switch waits one frame, not a GOP; the picture skips ahead a little and its counter
keeps increasing; the layers' counters then differ, so a viewer switching layers may see
its counter step back or ahead).
(Splicing in a keyframe from a second encoder does not work: VP8 delta frames carry on
the first encoder's probability state.) The counter is drawn in cells scaled to the
layer's width, so every layer can be read back.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamTrack

from benchmarks.media import FPS, VIDEO_TICKS, VIDEO_TIME_BASE, Clock

BITS = 12
LAYERS = ((640, 480, 900_000), (320, 240, 250_000), (160, 120, 80_000))
"""(width, height, bits per second) of the top, middle and low layer."""


def cell_of(width: int) -> int:
    return width // 16


def draw_counter(luma: npt.NDArray[np.uint8], value: int) -> None:
    cell = cell_of(luma.shape[1])
    for bit in range(BITS):
        on = (value >> bit) & 1 == 1
        left = bit * cell
        luma[0:cell, left : left + cell] = 235 if on else 16
        luma[cell : 2 * cell, left : left + cell] = 16 if on else 235


def read_counter(luma: npt.NDArray[Any]) -> int | None:
    """The counter of a decoded Y plane of any layer, or None when its cells disagree."""
    plane = np.asarray(luma, dtype=np.float32)
    cell = cell_of(plane.shape[1])
    inner = cell // 4
    means = []
    for row in (0, 1):
        band = plane[row * cell + inner : row * cell + cell - inner, : BITS * cell]
        cells = band.reshape(band.shape[0], BITS, cell)[:, :, inner : cell - inner]
        means.append(cells.mean(axis=(0, 2)) > 125)
    bits, inverse = means
    if np.any(bits == inverse):
        return None
    return int(sum(1 << i for i in range(BITS) if bits[i]))


@dataclass
class LayerLoop:
    """One layer's frames; frame ``i`` shows counter ``i``, a keyframe every ``gop``."""

    width: int
    height: int
    deltas: list[bytes]
    gop: int

    @property
    def kbps(self) -> float:
        return sum(len(f) for f in self.deltas) * 8 / (len(self.deltas) / FPS) / 1000


def _context(width: int, height: int, bitrate: int, gop: int) -> av.VideoCodecContext:
    context = av.CodecContext.create("libvpx", "w")
    context.width, context.height = width, height
    context.pix_fmt = "yuv420p"
    context.time_base = fractions.Fraction(1, FPS)
    context.framerate = fractions.Fraction(FPS, 1)
    context.bit_rate = bitrate
    context.gop_size = gop
    context.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "max-intra-rate": "600",
    }
    return context


def _picture(index: int, width: int, height: int) -> av.VideoFrame:
    y, x = np.mgrid[0:height, 0:width]
    phase = index * 0.2
    scale = width / 640
    luma = 110 + 50 * np.sin(x / (23.0 * scale) + phase) * np.cos(y / (31.0 * scale) - phase)
    luma = luma + np.random.default_rng(index).normal(0, 4, luma.shape)
    plane = np.clip(luma, 0, 255).astype(np.uint8)
    draw_counter(plane, index)
    return av.VideoFrame.from_ndarray(plane, format="gray").reformat(format="yuv420p")


def _encode(context: av.VideoCodecContext, pictures: list[av.VideoFrame], gop: int) -> list[bytes]:
    out: list[bytes] = []
    for index, picture in enumerate([*pictures, None]):
        if picture is not None:
            picture.pts = index
            picture.pict_type = (
                av.video.frame.PictureType.I
                if index % gop == 0
                else av.video.frame.PictureType.NONE
            )
        out.extend(bytes(packet) for packet in context.encode(picture))
    if len(out) != len(pictures):
        raise RuntimeError(f"encoder gave {len(out)} frames for {len(pictures)}")
    return out


def encode_layers(
    layers: tuple[tuple[int, int, int], ...] = LAYERS,
    seconds: float = 4.0,
    gop_seconds: float = 2.0,
) -> list[LayerLoop]:
    """Every layer of ``layers`` (top first), ``seconds`` long."""
    count = int(seconds * FPS)
    gop = int(gop_seconds * FPS)
    if count % gop:
        raise ValueError("the loop must hold whole GOPs so it can wrap onto a keyframe")
    loops = []
    for width, height, bitrate in layers:
        pictures = [_picture(index, width, height) for index in range(count)]
        deltas = _encode(_context(width, height, bitrate, gop), pictures, gop)
        loops.append(LayerLoop(width, height, deltas, gop))
    return loops


class LayerTrack(MediaStreamTrack):
    """Plays one layer at its real pace; ``request_keyframe`` makes the next frame the
    loop's next keyframe. ``sent[n]`` is (when frame ``n`` went to aiortc, its counter)."""

    kind = "video"

    def __init__(self, loop: LayerLoop, clock: Clock) -> None:
        super().__init__()
        self.loop = loop
        self.sent: list[tuple[float, int]] = []
        self.keyframe_requests = 0
        self._clock = clock
        self._skipped = 0
        self._key_next = False

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._key_next = True

    async def recv(self) -> av.Packet[Any]:
        number = len(self.sent)
        due = self._clock.started() + number / FPS
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        gop = self.loop.gop
        if self._key_next and (number + self._skipped) % gop:
            self._skipped += gop - (number + self._skipped) % gop
        self._key_next = False
        index = (number + self._skipped) % len(self.loop.deltas)
        packet = av.Packet(self.loop.deltas[index])
        packet.pts = number * VIDEO_TICKS
        packet.time_base = VIDEO_TIME_BASE
        self.sent.append((time.monotonic(), index))
        return packet


def layer_tracks(loops: list[LayerLoop]) -> list[LayerTrack]:
    """One track per layer, all on one clock (so layer ``i``'s frame ``n`` is the same moment)."""
    clock = Clock()
    return [LayerTrack(loop, clock) for loop in loops]
