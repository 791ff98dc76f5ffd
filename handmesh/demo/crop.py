"""The demo's network input: the square hand box of an image cropped, resized and normalised."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from handmesh.data.transforms import mirror_image
from handmesh.data.transforms.steps import normalise_image, warp_crop
from handmesh.errors import ArgumentError
from handmesh.geometry.crop import crop_affine, process_bbox

__all__ = ["DemoCrop", "crop_hand", "demo_box"]

DEMO_BOX_EXPANSION = 1.25
"""``process_bbox`` expansion of a hand-given box (HandOccNet's demos)."""


class DemoCrop(NamedTuple):
    """``image`` (3, H, W) normalised crop; ``pixels`` (H, W, 3) uint8 crop; ``affine`` (3, 3)
    from the (mirrored, for a left hand) image to the crop; ``bbox_xywh`` the square box in the
    original image."""

    image: torch.Tensor
    pixels: np.ndarray
    affine: np.ndarray
    bbox_xywh: np.ndarray


def demo_box(bbox_xywh: Sequence[float] | np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """A hand-given box made square and expanded x1.25 (``process_bbox``), as HandOccNet's demo."""
    box = process_bbox(bbox_xywh, image_size, expansion=DEMO_BOX_EXPANSION)
    if box is None:
        raise ArgumentError(
            f"--bbox {list(bbox_xywh)} is empty inside the {image_size[0]}x{image_size[1]} image"
        )
    return box


def crop_hand(
    image: np.ndarray,
    bbox_xywh: np.ndarray,
    crop_size: Sequence[int] = (256, 256),
    image_norm: str = "unit",
    left: bool = False,
) -> DemoCrop:
    """Crop the square box ``bbox_xywh`` of an (H, W, 3) uint8 RGB image to ``crop_size`` (W, H).

    A left hand is cropped from the mirrored image (box centre ``cx' = W - 1 - cx``), so the
    network sees a right hand.
    """
    width = image.shape[1]
    cx, cy = bbox_xywh[0] + bbox_xywh[2] / 2.0, bbox_xywh[1] + bbox_xywh[3] / 2.0
    if left:
        image, cx = mirror_image(image), width - 1 - cx
    affine = crop_affine((cx, cy), float(bbox_xywh[2]), crop_size)
    pixels = warp_crop(image, affine, crop_size)
    return DemoCrop(normalise_image(pixels, image_norm), pixels, affine, np.asarray(bbox_xywh))
