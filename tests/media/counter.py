"""A frame counter drawn as big black/white cells, readable after lossy coding."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

RgbImage = npt.NDArray[np.uint8]
CELL = 32
BITS = 16


def draw_counter(count: int, width: int = 640, height: int = 480) -> npt.NDArray[np.uint8]:
    """An RGB image whose top row of cells spells ``count`` in binary (white = 1)."""
    image = np.full((height, width, 3), 96, dtype=np.uint8)
    for bit in range(BITS):
        value = 255 if (count >> bit) & 1 else 0
        image[0:CELL, bit * CELL : (bit + 1) * CELL] = value
    return image


def read_counter(image: npt.NDArray[np.uint8]) -> int:
    """The count drawn by ``draw_counter``, read from an RGB or grey image."""
    grey = image if image.ndim == 2 else image[..., 0]
    count = 0
    for bit in range(BITS):
        cell = grey[8 : CELL - 8, bit * CELL + 8 : (bit + 1) * CELL - 8]
        if float(cell.mean()) > 128:
            count |= 1 << bit
    return count
