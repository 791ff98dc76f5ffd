"""One call from a posed mesh to a shaded image, depth map and mask."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from handmesh.render.rasterizer import rasterize
from handmesh.render.shading import DEFAULT_LIGHT_DIR, shade_lambert

__all__ = ["DEFAULT_SKIN_COLOR", "render_mesh"]

DEFAULT_SKIN_COLOR = (0.86, 0.68, 0.58)  # RGB in [0, 1]


def render_mesh(
    verts: Tensor,
    faces: Tensor,
    intr: Tensor,
    image_size: Sequence[int],
    vert_colors: Tensor | None = None,
    light_dir: Sequence[float] | Tensor | None = None,
    *,
    ambient: float = 0.4,
    smooth: bool = True,
    cull_backfaces: bool = False,
) -> dict[str, Tensor]:
    """Rasterize and Lambert-shade a batch of meshes.

    Args:
        verts: (B, V, 3) camera-space vertices, metres (OpenCV frame).
        faces: (F, 3) vertex indices.
        intr: (B, 3, 3) or (3, 3) intrinsics, pixels.
        image_size: (H, W).
        vert_colors: (B, V, 3) or (V, 3) in [0, 1]; default a uniform skin colour.
        light_dir: (3,) or (B, 3) direction the light travels (camera frame); default (0, 0, 1).

    Returns:
        dict with ``rgb`` (B, H, W, 3) float in [0, 1] (background 0), ``depth`` (B, H, W) metres
        (0 on background, differentiable), ``mask`` (B, H, W) bool and ``face_idx`` (B, H, W)
        int64 (-1 on background).
    """
    fragments = rasterize(verts, faces, intr, image_size, cull_backfaces=cull_backfaces)
    if vert_colors is None:
        vert_colors = verts.new_tensor(DEFAULT_SKIN_COLOR).expand(verts.shape)
    rgb = shade_lambert(
        fragments,
        verts,
        fragments.faces,
        vert_colors,
        DEFAULT_LIGHT_DIR if light_dir is None else light_dir,
        ambient,
        smooth=smooth,
    )
    return {
        "rgb": rgb,
        "depth": fragments.depth,
        "mask": fragments.mask,
        "face_idx": fragments.face_idx,
    }
