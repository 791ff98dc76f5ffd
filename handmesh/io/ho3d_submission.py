"""The HO-3D CodaLab submission: ``pred.json`` in a zip, written with Python's ``zipfile``.

The server (and HO-3D's ``eval.py``) reads one JSON list ``[joints, verts]``: ``joints`` N x 21 x 3
and ``verts`` N x 778 x 3, metres, in the evaluation split's order, in HO-3D's OpenGL camera frame
(x right, y up, z backwards: OpenCV ``(x, y, z)`` becomes ``(x, -y, -z)``) and HO-3D's joint order
(MANO's 16 joints, then the 5 fingertips; ``handmesh.mano.constants.CANONICAL_TO_HO3D``). HandOccNet
places each prediction at the ground-truth root first (prediction - predicted root + GT root);
handmesh models do that when the batch has ``target_root_joint``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from handmesh.errors import ArgumentError
from handmesh.io.atomic import atomic_write
from handmesh.mano.constants import CANONICAL_TO_HO3D, NUM_JOINTS, NUM_VERTS

__all__ = ["HO3D_EVALUATION_SIZES", "SUBMISSION_MEMBER", "write_ho3d_submission"]

logger = logging.getLogger(__name__)

SUBMISSION_MEMBER = "pred.json"
"""The name of the JSON inside the zip (HO-3D's ``eval.py`` dumps ``pred.json``)."""

HO3D_EVALUATION_SIZES = {"v2": 11524, "v3": 20137}
"""Samples in the HO-3D evaluation split per version (HO-3D's ``db_size``)."""

_OPENCV_TO_OPENGL = np.array([1.0, -1.0, -1.0])


def _as_points(value: Any, name: str, num_points: int) -> np.ndarray:
    array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    if array.ndim != 3 or array.shape[1:] != (num_points, 3):
        raise ArgumentError(
            f"write_ho3d_submission: {name} must have shape (N, {num_points}, 3) metres, got "
            f"{array.shape}"
        )
    if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
        raise ArgumentError(f"write_ho3d_submission: {name} must hold finite floats (metres)")
    return array.astype(np.float64)


def _write_member(archive: zipfile.ZipFile, joints: np.ndarray, verts: np.ndarray) -> None:
    """Stream ``[joints, verts]`` as JSON into the member, one sample at a time."""
    with archive.open(SUBMISSION_MEMBER, "w") as member:
        text = io.TextIOWrapper(member, encoding="utf-8")
        text.write("[")
        for index, points in enumerate((joints, verts)):
            text.write(", [" if index else "[")
            for i, sample in enumerate(points):
                text.write(", " if i else "")
                text.write(json.dumps(sample.tolist()))
            text.write("]")
        text.write("]")
        text.flush()
        text.detach()


def write_ho3d_submission(
    path_zip: str | os.PathLike[str],
    joints_3d: Any,
    verts_3d: Any,
    num_samples: int | None = None,
) -> Path:
    """Write the CodaLab zip (one member, ``pred.json``) atomically and return its path.

    Args:
        path_zip: the zip to write (parent folders are created).
        joints_3d: (N, 21, 3) camera-frame joints, metres, OpenCV axes, canonical joint order, in
            dataset order (numpy or torch).
        verts_3d: (N, 778, 3) camera-frame vertices, metres, OpenCV axes, same order.
        num_samples: if given, N must equal it (e.g. ``len(dataset)``, or
            ``HO3D_EVALUATION_SIZES["v2"]`` for a full submission).

    Raises:
        ArgumentError: a shape, a count or a non-finite value is wrong (nothing is written).
    """
    joints = _as_points(joints_3d, "joints_3d", NUM_JOINTS)
    verts = _as_points(verts_3d, "verts_3d", NUM_VERTS)
    if len(joints) != len(verts) or len(joints) == 0:
        raise ArgumentError(
            f"write_ho3d_submission: joints_3d and verts_3d must have the same N > 0, got "
            f"{len(joints)} and {len(verts)}"
        )
    if num_samples is not None and len(joints) != num_samples:
        raise ArgumentError(
            f"write_ho3d_submission: expected {num_samples} samples (the evaluation split), got "
            f"{len(joints)}"
        )
    joints = joints[:, list(CANONICAL_TO_HO3D)] * _OPENCV_TO_OPENGL
    verts = verts * _OPENCV_TO_OPENGL
    path = Path(path_zip)

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            _write_member(archive, joints, verts)

    atomic_write(path, write)
    logger.info("HO-3D submission (%d samples) written to %s", len(joints), path)
    return path
