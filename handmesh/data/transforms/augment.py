"""Augmentation parameters, their random draws, and the two pixel-level augmentations.

Draws follow OakInk-HMR's ``SimpleTransform2D`` (and HandOccNet's ``get_aug_config``, which has
the same distributions with other constants):

- scale factor ``s = clip(N(0,1) * SCALE_JIT + 1, 1 - SCALE_JIT, 1 + SCALE_JIT)`` multiplies the box
  side (``s > 1`` zooms out);
- rotation ``clip(N(0,1) * ROT_JIT, -2 ROT_JIT, 2 ROT_JIT)`` degrees, applied with probability
  ``ROT_PROB`` (else 0);
- occlusion patch with probability ``OCCLUSION_PROB`` (only if ``OCCLUSION``);
- per-channel colour factors ``U(1 - COLOR_JIT, 1 + COLOR_JIT)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "AUG_PARAM_KEYS",
    "HANDOCCNET_AUG",
    "OAKINK_AUG",
    "AugDraw",
    "AugParams",
    "apply_occlusion",
    "jitter_colour",
    "sample_augmentation",
]

AUG_PARAM_KEYS = ("SCALE_JIT", "COLOR_JIT", "ROT_JIT", "ROT_PROB", "OCCLUSION", "OCCLUSION_PROB")


@dataclass(frozen=True)
class AugParams:
    """Augmentation strengths (OakInk-HMR's ``AUG_PARAM`` names, lower-cased); angles in degrees."""

    scale_jit: float = 0.125
    color_jit: float = 0.3
    rot_jit: float = 60.0
    rot_prob: float = 1.0
    occlusion: bool = True
    occlusion_prob: float = 0.3

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None, defaults: AugParams) -> AugParams:
        """Map an ``AUG_PARAM`` config node (missing keys keep ``defaults``); unknown keys fail."""
        if node is None:
            return defaults
        from handmesh.registry import check_keys

        check_keys(node, AUG_PARAM_KEYS, where="DATASET.AUG_PARAM")
        values = {key.lower(): node[key] for key in AUG_PARAM_KEYS if key in node}
        merged = {**defaults.__dict__, **values}
        return cls(
            scale_jit=float(merged["scale_jit"]),
            color_jit=float(merged["color_jit"]),
            rot_jit=float(merged["rot_jit"]),
            rot_prob=float(merged["rot_prob"]),
            occlusion=bool(merged["occlusion"]),
            occlusion_prob=float(merged["occlusion_prob"]),
        )


OAKINK_AUG = AugParams()
"""OakInk-HMR's ``_DEFAULT_AUG_PARAM`` (its configs set OCCLUSION_PROB 0.1)."""

HANDOCCNET_AUG = AugParams(
    scale_jit=0.25, color_jit=0.2, rot_jit=30.0, rot_prob=0.6, occlusion=False, occlusion_prob=0.0
)
"""HandOccNet's ``get_aug_config`` constants (no occlusion patch)."""


@dataclass(frozen=True)
class AugDraw:
    """One sample's augmentation: box scale factor, content rotation (radians), colour factors
    (3,) RGB, and an occlusion rectangle ``(x, y, w, h)`` in raw-image pixels (or None) with its
    (h, w, 3) uint8 noise fill."""

    scale: float = 1.0
    rot: float = 0.0
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)
    occlusion_rect: tuple[int, int, int, int] | None = None
    occlusion_noise: np.ndarray | None = None


def _occlusion_rect(
    rng: np.random.Generator, center: np.ndarray, scale: float, raw_size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """OakInk's ``RandomOcclusion`` box: area U(0, 0.2) of the square box, aspect U(0.5, 2), placed
    uniformly inside the box; None when it would leave the image (W, H)."""
    box_x0, box_y0 = center[0] - scale / 2.0, center[1] - scale / 2.0
    area = rng.uniform(0.0, 0.2) * scale * scale
    ratio = rng.uniform(0.5, 2.0)
    height, width = math.sqrt(area * ratio), math.sqrt(area / ratio)
    x0 = rng.random() * (scale - width - 1.0) + box_x0
    y0 = rng.random() * (scale - height - 1.0) + box_y0
    inside = x0 >= 0 and y0 >= 0 and x0 + width < raw_size[0] and y0 + height < raw_size[1]
    if not inside or int(width) == 0 or int(height) == 0:
        return None
    return int(x0), int(y0), int(width), int(height)


def sample_augmentation(
    rng: np.random.Generator,
    params: AugParams,
    center: np.ndarray,
    scale: float,
    raw_size: tuple[int, int],
) -> AugDraw:
    """Draw one sample's augmentation.

    Args:
        rng: the sample's generator (``sample_rng``).
        params: strengths.
        center, scale: the un-jittered box (raw pixels); the occlusion patch is placed in the
            jittered box.
        raw_size: raw image (W, H).
    """
    factor = float(
        np.clip(rng.standard_normal() * params.scale_jit + 1.0, *_range(params.scale_jit))
    )
    angle = float(
        np.clip(rng.standard_normal() * params.rot_jit, -2 * params.rot_jit, 2 * params.rot_jit)
    )
    rot = math.radians(angle) if rng.random() <= params.rot_prob else 0.0
    c = rng.uniform(*_range(params.color_jit), size=3)
    colour = (float(c[0]), float(c[1]), float(c[2]))
    rect, noise = None, None
    if params.occlusion and rng.random() <= params.occlusion_prob:
        rect = _occlusion_rect(rng, center, scale * factor, raw_size)
        if rect is not None:
            noise = (rng.random((rect[3], rect[2], 3)) * 255).astype(np.uint8)
    return AugDraw(factor, rot, colour, rect, noise)


def _range(jit: float) -> tuple[float, float]:
    return 1.0 - jit, 1.0 + jit


def apply_occlusion(image: np.ndarray, draw: AugDraw) -> np.ndarray:
    """Paste the draw's noise patch into a copy of the raw (H, W, 3) uint8 image (no-op if none)."""
    if draw.occlusion_rect is None:
        return image
    x, y, w, h = draw.occlusion_rect
    image = image.copy()
    image[y : y + h, x : x + w] = draw.occlusion_noise
    return image


def jitter_colour(image: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    """Multiply each RGB channel of an (H, W, 3) image by its factor, clip to [0, 255]; float32."""
    factors = np.asarray(colour, dtype=np.float32)
    return np.clip(image.astype(np.float32) * factors, 0.0, 255.0)
