"""Demo drawings: the hand box, and a mesh rendered over an image with handmesh's rasterizer."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from handmesh.render import render_mesh

__all__ = ["draw_box", "render_overlay"]


def draw_box(
    image: np.ndarray, bbox_xywh: Sequence[float] | np.ndarray, thickness: int = 3
) -> np.ndarray:
    """A copy of an (H, W, 3) uint8 RGB image with the box drawn in red (as HandOccNet's demo)."""
    x, y, w, h = (int(v) for v in bbox_xywh)
    canvas = np.ascontiguousarray(image, dtype=np.uint8).copy()
    cv2.rectangle(canvas, (x, y), (x + w, y + h), (255, 0, 0), thickness)
    return canvas


def render_overlay(
    image: np.ndarray,
    verts: torch.Tensor,
    faces: torch.Tensor,
    cam_intr: torch.Tensor,
    alpha: float = 0.8,
) -> tuple[np.ndarray, np.ndarray]:
    """Shade a mesh into an image and blend it over the covered pixels.

    Args:
        image: (H, W, 3) uint8 RGB.
        verts: (V, 3) camera-frame vertices, metres (OpenCV axes, in front of the camera).
        faces: (F, 3) vertex indices.
        cam_intr: (3, 3) intrinsics of ``image`` in pixels.
        alpha: opacity of the mesh.
    Returns:
        the (H, W, 3) uint8 overlay and the (H, W) bool mask of the pixels the mesh covers.
    """
    height, width = image.shape[:2]
    with torch.no_grad():
        out = render_mesh(verts[None].float(), faces.long(), cam_intr.float(), (height, width))
    mask = out["mask"][0].cpu().numpy()
    rgb = out["rgb"][0].cpu().numpy() * 255.0
    blended = image.astype(np.float32)
    blended[mask] = (1 - alpha) * blended[mask] + alpha * rgb[mask]
    return np.clip(blended, 0, 255).astype(np.uint8), mask
