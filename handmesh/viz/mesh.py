"""Mesh overlays: the silhouette contour or the projected edges of a mesh."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["draw_mesh_outline", "mesh_silhouette"]


def mesh_silhouette(verts_2d: np.ndarray, faces: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """(H, W) bool mask of the projected triangles (every face filled), ``size`` = (W, H)."""
    verts_2d = np.asarray(verts_2d, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if verts_2d.ndim != 2 or verts_2d.shape[1] != 2:
        raise ValueError(f"mesh_silhouette: verts_2d must be (V, 2), got {verts_2d.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or (faces.size and faces.max() >= len(verts_2d)):
        raise ValueError(
            f"mesh_silhouette: faces must be (F, 3) indices into {len(verts_2d)} verts"
        )
    mask = np.zeros((int(size[1]), int(size[0])), dtype=np.uint8)
    triangles = np.round(verts_2d[faces] * 16).astype(np.int32)  # 4 fractional bits
    cv2.fillPoly(mask, list(triangles), 1, lineType=cv2.LINE_8, shift=4)
    return mask > 0


def draw_mesh_outline(
    image: np.ndarray,
    verts_2d: np.ndarray,
    faces: np.ndarray,
    colour: tuple[int, int, int] = (255, 255, 255),
    mode: str = "silhouette",
    thickness: int = 1,
) -> np.ndarray:
    """Draw a projected mesh on a copy of an (H, W, 3) uint8 RGB image.

    Args:
        verts_2d: (V, 2) vertex pixels; faces: (F, 3) vertex indices.
        mode: ``"silhouette"`` (the contour of the filled mesh) or ``"edges"`` (every edge).
    """
    canvas = np.ascontiguousarray(image, dtype=np.uint8).copy()
    height, width = canvas.shape[:2]
    if mode == "silhouette":
        mask = mesh_silhouette(verts_2d, faces, (width, height)).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(canvas, contours, -1, colour, thickness, cv2.LINE_AA)
    elif mode == "edges":
        polygons = np.round(np.asarray(verts_2d)[np.asarray(faces)] * 16).astype(np.int32)
        cv2.polylines(canvas, list(polygons), True, colour, thickness, cv2.LINE_AA, shift=4)
    else:
        raise ValueError(f"draw_mesh_outline: mode must be 'silhouette' or 'edges', got {mode!r}")
    return canvas
