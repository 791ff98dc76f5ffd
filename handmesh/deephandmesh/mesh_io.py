"""Output meshes: OBJ with the template's UVs, and a shaded preview image.

:func:`write_obj` writes what the original's ``Mesh.save_obj`` writes -- ``v`` lines (mm, as the
network outputs), the template's ``vt`` lines, then ``f v/vt v/vt v/vt`` with 1-based indices --
so a posed mesh keeps the template's topology and UV map and can be textured directly.
:func:`render_preview` shades a mesh with handmesh's rasterizer from a camera that frames it.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from handmesh.deephandmesh.hand_model import HandTemplate
from handmesh.io.atomic import atomic_write_text
from handmesh.render import render_mesh

__all__ = ["render_preview", "write_obj"]


def write_obj(path: str | os.PathLike, verts: np.ndarray, template: HandTemplate) -> None:
    """Write (V, 3) vertices (any unit; the demo writes mm) with ``template``'s faces and UVs."""
    verts = np.asarray(verts, dtype=np.float64)
    if verts.shape != (template.num_verts, 3):
        raise ValueError(f"write_obj: verts must be ({template.num_verts}, 3), got {verts.shape}")
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in verts]
    lines += [f"vt {u:.6f} {v:.6f}\n" for u, v in template.uvs]
    lines += [
        f"f {a + 1}/{ta + 1} {b + 1}/{tb + 1} {c + 1}/{tc + 1}\n"
        for (a, b, c), (ta, tb, tc) in zip(template.faces, template.face_uvs)
    ]
    atomic_write_text(path, "".join(lines))


def render_preview(
    verts: np.ndarray, faces: np.ndarray, size: int = 512, view_dir: np.ndarray | None = None
) -> np.ndarray:
    """(size, size, 3) uint8 Lambert-shaded image of a mesh on a white background.

    Args:
        verts: (V, 3) vertices (any unit); faces: (F, 3).
        view_dir: direction the camera looks along; default the mesh's thinnest principal axis
            (for a hand: through the palm), so the whole mesh is seen.
    """
    verts = np.asarray(verts, dtype=np.float64)
    centre = (verts.min(0) + verts.max(0)) / 2.0
    if view_dir is None:
        _, _, axes = np.linalg.svd(verts - verts.mean(0), full_matrices=False)
        view_dir = axes[2]
    forward = np.asarray(view_dir, dtype=np.float64)
    forward /= np.linalg.norm(forward)
    helper = np.array([0.0, 0.0, 1.0]) if abs(forward[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    right = np.cross(forward, helper)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    local = (verts - centre) @ rotation.T
    radius = float(np.abs(local[:, :2]).max()) * 1.15 + 1e-9
    focal = 4.0 * size / 2.0
    distance = focal / (size / 2.0) * radius + float(np.abs(local[:, 2]).max())
    cam = local + np.array([0.0, 0.0, distance])
    intr = np.array(
        [[focal, 0.0, (size - 1) / 2.0], [0.0, focal, (size - 1) / 2.0], [0.0, 0.0, 1.0]]
    )
    scale = 1.0 / distance  # the rasterizer's near plane is in metres: bring z to ~1
    with torch.no_grad():
        out = render_mesh(
            torch.from_numpy(cam * scale).float()[None],
            torch.from_numpy(np.asarray(faces)).long(),
            torch.from_numpy(intr).float()[None],
            (size, size),
        )
    rgb = out["rgb"][0].numpy()
    mask = out["mask"][0].numpy()[..., None]
    return (np.where(mask, rgb, 1.0) * 255.0).round().astype(np.uint8)
