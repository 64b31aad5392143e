"""A frame counter drawn as big luma cells (bits, then their complement), readable after
lossy coding. Publishers draw it; viewers read it back to check order, rate and latency."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

RgbImage = npt.NDArray[np.uint8]
CELL = 32
"""Side of one counter cell, in pixels (two H.264 macroblocks)."""
COUNTER_BITS = 20
"""Bits of the counter; one cell each, on the top row of cells."""
LUMA_ON = 235
LUMA_OFF = 16
LUMA_THRESHOLD = (LUMA_ON + LUMA_OFF) / 2
BACKGROUND_LUMA = 96
MIN_WIDTH = CELL * COUNTER_BITS
MIN_HEIGHT = CELL * 3


class CounterUnreadable(ValueError):
    """The counter cells of a frame do not decode consistently."""


def _cell_means(luma: npt.NDArray[np.floating[Any]], row: int) -> npt.NDArray[np.floating[Any]]:
    """Mean luma of the inner 16x16 of each counter cell on cell row ``row``."""
    top = row * CELL + CELL // 4
    band = luma[top : top + CELL // 2, : COUNTER_BITS * CELL]
    cells = band.reshape(CELL // 2, COUNTER_BITS, CELL)[:, :, CELL // 4 : 3 * CELL // 4]
    means: npt.NDArray[np.floating[Any]] = cells.mean(axis=(0, 2))
    return means


def _as_luma(frame: npt.NDArray[Any]) -> npt.NDArray[np.floating[Any]]:
    """Luma-like plane of a 2-D gray/Y (or yuv420p as one plane) or a 3-D RGB/BGR array."""
    array = np.asarray(frame)
    if array.ndim == 3:
        mean: npt.NDArray[np.floating[Any]] = array.astype(np.float32).mean(axis=2)
        return mean
    if array.ndim == 2:
        return array.astype(np.float32)
    raise ValueError(f"expected a 2-D or 3-D frame array, got shape {array.shape}")


def read_counter(frame: npt.NDArray[Any]) -> int:
    """Read the frame counter drawn by :func:`draw_counter`, after lossy coding.

    ``frame`` is ``VideoFrame.to_ndarray(format="gray")`` (or ``"rgb24"``/``"bgr24"``, or the
    ``yuv420p`` single-plane layout whose first rows are the Y plane). Row 0 of cells holds the
    counter bits, row 1 their complement; a mismatch raises :class:`CounterUnreadable`.
    """
    luma = _as_luma(frame)
    if luma.shape[0] < 2 * CELL or luma.shape[1] < MIN_WIDTH:
        raise CounterUnreadable(f"frame {luma.shape} too small for the counter")
    bits = _cell_means(luma, 0) > LUMA_THRESHOLD
    inverse = _cell_means(luma, 1) > LUMA_THRESHOLD
    if np.any(bits == inverse):
        raise CounterUnreadable("counter cells and their complement disagree")
    weights = 1 << np.arange(COUNTER_BITS, dtype=np.int64)
    return int(np.sum(weights[bits]))


def draw_counter(luma: npt.NDArray[np.uint8], counter: int) -> None:
    """Draw ``counter`` (mod 2**COUNTER_BITS) into the top two rows of cells of a Y plane."""
    value = counter % (1 << COUNTER_BITS)
    for bit in range(COUNTER_BITS):
        on = (value >> bit) & 1 == 1
        left = bit * CELL
        luma[0:CELL, left : left + CELL] = LUMA_ON if on else LUMA_OFF
        luma[CELL : 2 * CELL, left : left + CELL] = LUMA_OFF if on else LUMA_ON


def counter_image(count: int, width: int = 640, height: int = 480) -> RgbImage:
    """An RGB image showing ``count``, for publishers that hand aiortc raw frames."""
    luma = np.full((height, width), BACKGROUND_LUMA, dtype=np.uint8)
    draw_counter(luma, count)
    return np.repeat(luma[:, :, None], 3, axis=2)
