"""Wavefront OBJ export of a triangle mesh (atomic write)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from handmesh.errors import ArgumentError
from handmesh.io.atomic import atomic_write_text

__all__ = ["write_obj"]


def write_obj(path: str | os.PathLike[str], verts: Any, faces: Any) -> Path:
    """Write ``v x y z`` lines for (V, 3) ``verts`` (any unit, written as given) and ``f a b c``
    lines (1-based) for (F, 3) 0-based ``faces``; returns the path.

    Raises ``ArgumentError`` for a wrong shape, a non-finite vertex or a face index out of range.
    """
    v = verts.detach().cpu().numpy() if hasattr(verts, "detach") else np.asarray(verts)
    f = faces.detach().cpu().numpy() if hasattr(faces, "detach") else np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise ArgumentError(f"write_obj: verts must be finite (V, 3), got shape {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise ArgumentError(f"write_obj: faces must be (F, 3) integers, got {f.dtype} {f.shape}")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ArgumentError(
            f"write_obj: face indices must be in [0, {len(v)}), got {f.min()}..{f.max()}"
        )
    buffer = io.StringIO()
    np.savetxt(buffer, v.astype(np.float64), fmt="v %.8f %.8f %.8f")
    np.savetxt(buffer, f.astype(np.int64) + 1, fmt="f %d %d %d")
    path = Path(path)
    atomic_write_text(path, buffer.getvalue())
    return path
