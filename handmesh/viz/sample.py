"""Turning transformed samples back into pictures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from handmesh.viz.mesh import draw_mesh_outline
from handmesh.viz.skeleton import draw_skeleton

__all__ = ["draw_sample", "sample_to_image"]


def sample_to_image(image: torch.Tensor | np.ndarray, norm: str = "minus_half") -> np.ndarray:
    """Undo the IMAGE_NORM of a (3, H, W) float image: (H, W, 3) uint8 RGB.

    ``norm``: ``"minus_half"`` (x + 0.5) * 255 or ``"unit"`` x * 255.
    """
    array = image.detach().cpu().numpy() if torch.is_tensor(image) else np.asarray(image)
    if array.ndim != 3 or array.shape[0] != 3:
        raise ValueError(f"sample_to_image: expected a (3, H, W) image, got {array.shape}")
    if norm == "minus_half":
        array = array + 0.5
    elif norm != "unit":
        raise ValueError(f"sample_to_image: norm must be 'minus_half' or 'unit', got {norm!r}")
    return np.clip(array.transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if torch.is_tensor(value) else np.asarray(value)


def draw_sample(
    sample: Mapping[str, Any], faces: Any | None = None, norm: str = "minus_half"
) -> np.ndarray:
    """The crop of one (un-batched) sample with its mesh outline and 2D skeleton drawn on it.

    The outline projects ``target_verts_3d`` with ``target_cam_intr`` (needs ``faces`` (F, 3)).
    """
    canvas = sample_to_image(sample["image"], norm)
    if faces is not None and "target_verts_3d" in sample:
        verts = _numpy(sample["target_verts_3d"]).astype(np.float64)
        cam = _numpy(sample["target_cam_intr"]).astype(np.float64)
        hom = verts @ cam.T
        canvas = draw_mesh_outline(canvas, hom[:, :2] / hom[:, 2:], _numpy(faces))
    return draw_skeleton(canvas, _numpy(sample["target_joints_2d"]))
