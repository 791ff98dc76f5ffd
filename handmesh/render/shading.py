"""Lambertian shading of rasterized meshes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from handmesh.render.fragments import Fragments
from handmesh.render.normals import face_normals, vertex_normals

__all__ = ["DEFAULT_LIGHT_DIR", "shade_lambert"]

DEFAULT_LIGHT_DIR = (0.0, 0.0, 1.0)  # light travelling along the optical axis: a head light


def shade_lambert(
    fragments: Fragments,
    verts: Tensor,
    faces: Tensor,
    vert_colors: Tensor,
    light_dir: Sequence[float] | Tensor = DEFAULT_LIGHT_DIR,
    ambient: float = 0.4,
    *,
    diffuse: float | None = None,
    smooth: bool = True,
) -> Tensor:
    """Shade every visible pixel with a directional light (Lambert's cosine law).

    ``rgb = colour * (ambient + diffuse * max(0, n . -light_dir))``, clamped to [0, 1].

    Args:
        fragments: from :func:`handmesh.render.rasterize` of the same ``verts`` and ``faces``.
        verts: (B, V, 3) camera-space vertices, metres.
        faces: (F, 3) vertex indices; winding sets the normal direction (``(v1-v0) x (v2-v0)``).
        vert_colors: (B, V, 3) or (V, 3) colours in [0, 1], interpolated over the faces.
        light_dir: (3,) or (B, 3) direction the light travels, camera frame (need not be unit
            length). The default (0, 0, 1) lights surfaces that face the camera.
        ambient: light reaching every surface, whatever its orientation.
        diffuse: strength of the directional light; default ``1 - ambient`` so that a surface
            facing the light shows exactly its colour.
        smooth: interpolate vertex normals (smooth shading) instead of using face normals.

    Returns:
        (B, H, W, 3) float in [0, 1], 0 where no face is visible.
    """
    batch = verts.shape[0]
    if vert_colors.dim() == 2:
        vert_colors = vert_colors.expand(batch, -1, -1)
    if vert_colors.shape != verts.shape:
        raise ValueError(
            f"shade_lambert: vert_colors must have shape {tuple(verts.shape)} (like verts) or "
            f"(V, 3), got {tuple(vert_colors.shape)}"
        )
    light = torch.as_tensor(light_dir, dtype=verts.dtype, device=verts.device)
    if light.shape == (3,):
        light = light.expand(batch, 3)
    if light.shape != (batch, 3):
        raise ValueError(
            f"shade_lambert: light_dir must have shape (3,) or (B, 3), got {tuple(light.shape)}"
        )
    light = torch.nn.functional.normalize(light, dim=-1)
    diffuse = 1.0 - ambient if diffuse is None else diffuse
    faces = faces.to(device=verts.device, dtype=torch.int64)

    covered = fragments.covered_pixels()
    if smooth:
        attrs = fragments.at_covered(
            torch.cat([vert_colors.to(verts.dtype), vertex_normals(verts, faces)], -1)
        )
        colour, normals = attrs[:, :3], attrs[:, 3:]
    else:
        colour = fragments.at_covered(vert_colors.to(verts.dtype))
        per_face = face_normals(verts, faces).reshape(-1, 3)  # (B*F, 3)
        normals = per_face.index_select(0, covered.batch * faces.shape[0] + covered.face)
    normals = torch.nn.functional.normalize(normals, dim=-1)
    cosine = -(normals * light.index_select(0, covered.batch)).sum(dim=-1, keepdim=True)
    intensity = ambient + diffuse * cosine.clamp(min=0)
    return fragments.to_image((colour * intensity).clamp(0.0, 1.0))
