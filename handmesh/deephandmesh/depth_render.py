"""Depth maps of the posed hand in the cropped camera views, with handmesh's pure-PyTorch rasterizer.

The original renders with neural_renderer (CUDA only). Its camera model, reproduced here:
world -> camera ``X_c = R (X - C)``; pinhole ``u = fx X/Z + cx`` at the 512 x 334 calibration;
the 2 x 3 crop affine of that view maps to the 256 x 256 crop; depth = camera z (perspective-
correct), 0 where no face is visible; faces whose projected winding is clockwise on screen are
dropped (neural_renderer draws front faces only; with a positive-scale crop this is
``cull_backfaces``: faces whose normal points away from the camera).

Pixel convention. The original maps crop coordinates to neural_renderer's NDC with
``x_n = 2x/S - 1`` and, to undo neural_renderer's vertical flip of its output,
``y_n = 2(S - 1 - y)/S - 1``. neural_renderer samples pixel i at NDC ``(2i + 1 - S)/S``, so after
its flip output pixel (row r, column c) shows crop point ``(x, y) = (c + 0.5, r - 0.5)`` -- half
a pixel right of and above the pixel centre that ``cv2.warpAffine`` uses for the ground-truth
crop. ``pixel_convention="original"`` (default) reproduces that; ``"centered"`` samples
``(c, r)``, aligned with the ground-truth depth crop.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from handmesh.render import rasterize

__all__ = [
    "DEPTH_NEAR_MM",
    "PIXEL_CONVENTIONS",
    "crop_intrinsics",
    "render_depth_views",
    "world_to_camera",
]

DEPTH_NEAR_MM = 1.0
"""The original's near plane (``cfg.depth_min``), mm: faces closer than this are not drawn."""

PIXEL_CONVENTIONS = ("original", "centered")

_ORIGINAL_SHIFT = (-0.5, 0.5)
"""Added to crop coordinates so that handmesh's pixel centres sample (c + 0.5, r - 0.5)."""


def crop_intrinsics(focal: Tensor, princpt: Tensor, affine: Tensor) -> Tensor:
    """(..., 3, 3) intrinsics of a crop: ``[affine; 0 0 1] @ K``.

    Args:
        focal: (..., 2) fx, fy px; princpt: (..., 2) cx, cy px (full-image calibration);
        affine: (..., 2, 3) full image -> crop pixels.
    """
    intr = torch.zeros((*focal.shape[:-1], 3, 3), dtype=focal.dtype, device=focal.device)
    intr[..., 0, 0], intr[..., 1, 1] = focal[..., 0], focal[..., 1]
    intr[..., :2, 2] = princpt
    intr[..., 2, 2] = 1.0
    bottom = intr.new_tensor([0.0, 0.0, 1.0]).expand(*affine.shape[:-2], 1, 3)
    return torch.cat([affine.to(intr.dtype), bottom], dim=-2) @ intr


def world_to_camera(rotation: Tensor, position: Tensor) -> Tensor:
    """(..., 4, 4) world -> camera transform ``X_c = R (X - C)`` from the KRT rotation R (..., 3, 3)
    and camera position C (..., 3) (``C = -R^T t``)."""
    translation = -(rotation @ position.unsqueeze(-1)).squeeze(-1)
    top = torch.cat([rotation, translation.unsqueeze(-1)], dim=-1)
    bottom = rotation.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(*rotation.shape[:-2], 1, 4)
    return torch.cat([top, bottom], dim=-2)


def render_depth_views(
    verts: Tensor,
    faces: Tensor,
    extrinsics: Tensor,
    intrinsics: Tensor,
    image_size: Sequence[int],
    *,
    pixel_convention: str = "original",
    near: float = DEPTH_NEAR_MM,
    cull_backfaces: bool = True,
) -> Tensor:
    """Depth maps of B meshes seen by N cameras each, differentiable w.r.t. the vertices.

    Args:
        verts: (B, V, 3) world coordinates (mm, the unit of ``extrinsics`` and ``near``).
        faces: (F, 3) vertex indices.
        extrinsics: (B, N, 4, 4) world -> camera transforms (:func:`world_to_camera`).
        intrinsics: (B, N, 3, 3) crop intrinsics (:func:`crop_intrinsics`), pixels.
        image_size: (H, W) of the rendered crops.
        pixel_convention: "original" or "centered" (see the module docstring).
        near: faces with a vertex nearer than this are dropped (the original: 1 mm).
        cull_backfaces: draw front faces only, as neural_renderer.

    Returns:
        (B, N, H, W) camera z of the visible surface, 0 on the background.
    """
    if pixel_convention not in PIXEL_CONVENTIONS:
        raise ValueError(
            f"pixel_convention must be one of {PIXEL_CONVENTIONS}, got {pixel_convention!r}"
        )
    batch, views = extrinsics.shape[:2]
    if verts.dim() != 3 or verts.shape[0] != batch or intrinsics.shape[:2] != (batch, views):
        raise ValueError(
            f"render_depth_views: verts (B, V, 3), extrinsics (B, N, 4, 4) and intrinsics "
            f"(B, N, 3, 3) must agree, got {tuple(verts.shape)}, {tuple(extrinsics.shape)}, "
            f"{tuple(intrinsics.shape)}"
        )
    extr = extrinsics.to(verts.dtype)
    cam = verts.unsqueeze(1) @ extr[..., :3, :3].transpose(-1, -2) + extr[..., None, :3, 3]
    intr = intrinsics.to(verts.dtype)
    if pixel_convention == "original":
        shift = intr.new_tensor([[1.0, 0.0, _ORIGINAL_SHIFT[0]], [0.0, 1.0, _ORIGINAL_SHIFT[1]],
                                 [0.0, 0.0, 1.0]])  # fmt: skip
        intr = shift @ intr
    fragments = rasterize(
        cam.reshape(batch * views, -1, 3),
        faces,
        intr.reshape(batch * views, 3, 3),
        image_size,
        near=near,
        cull_backfaces=cull_backfaces,
    )
    return fragments.depth.view(batch, views, *fragments.depth.shape[1:])
