"""Tiling images into one grid image."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["make_grid"]


def make_grid(
    images: Sequence[np.ndarray], ncols: int | None = None, pad: int = 2, pad_value: int = 255
) -> np.ndarray:
    """Tile (H, W, 3) uint8 images of one size row by row.

    Args:
        ncols: images per row (default: about square).
        pad: pixels between and around tiles, filled with ``pad_value``.
    Returns:
        (rows * (H + pad) + pad, ncols * (W + pad) + pad, 3) uint8.
    """
    if len(images) == 0:
        raise ValueError("make_grid: no images")
    height, width = images[0].shape[:2]
    for index, image in enumerate(images):
        if image.shape != (height, width, 3):
            raise ValueError(
                f"make_grid: image {index} has shape {image.shape}, expected {(height, width, 3)}"
            )
    ncols = ncols or math.ceil(math.sqrt(len(images)))
    nrows = math.ceil(len(images) / ncols)
    grid = np.full(
        (nrows * (height + pad) + pad, ncols * (width + pad) + pad, 3), pad_value, dtype=np.uint8
    )
    for index, image in enumerate(images):
        row, col = divmod(index, ncols)
        y, x = pad + row * (height + pad), pad + col * (width + pad)
        grid[y : y + height, x : x + width] = image
    return grid
