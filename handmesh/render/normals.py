"""Face and vertex normals of triangle meshes."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["face_normals", "vertex_normals"]


def face_normals(verts: Tensor, faces: Tensor, *, normalize: bool = True) -> Tensor:
    """(B, V, 3) vertices, (F, 3) faces -> (B, F, 3) normals ``(v1 - v0) x (v2 - v0)``.

    Unnormalised, the length is twice the face area (in the units of ``verts``).
    """
    corners = verts[:, faces]  # (B, F, 3, 3)
    normals = torch.cross(
        corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0], dim=-1
    )
    return torch.nn.functional.normalize(normals, dim=-1) if normalize else normals


def vertex_normals(verts: Tensor, faces: Tensor) -> Tensor:
    """(B, V, 3) vertices, (F, 3) faces -> (B, V, 3) unit vertex normals.

    Each vertex normal is the area-weighted mean of the normals of the faces around it (zero for
    vertices no face uses). The direction follows the face winding: counter-clockwise faces seen
    from outside give outward normals.
    """
    if verts.dim() != 3 or verts.shape[-1] != 3:
        raise ValueError(
            f"vertex_normals: verts must have shape (B, V, 3), got {tuple(verts.shape)}"
        )
    if faces.dim() != 2 or faces.shape[1] != 3:
        raise ValueError(f"vertex_normals: faces must have shape (F, 3), got {tuple(faces.shape)}")
    faces = faces.to(device=verts.device, dtype=torch.int64)
    batch, num_verts = verts.shape[:2]
    weighted = face_normals(verts, faces, normalize=False)  # (B, F, 3)
    offsets = torch.arange(batch, device=verts.device)[:, None, None] * num_verts
    corner_ids = (faces[None] + offsets).transpose(1, 2).reshape(-1)  # (B, 3, F) flat
    per_corner = weighted[:, None].expand(-1, 3, -1, -1).reshape(-1, 3)
    summed = verts.new_zeros(batch * num_verts, 3).index_add_(0, corner_ids, per_corner)
    return torch.nn.functional.normalize(summed.view(batch, num_verts, 3), dim=-1)
