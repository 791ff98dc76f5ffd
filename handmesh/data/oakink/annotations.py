"""Reading one OakInk-Image annotation file: restricted unpickling, shape checks, named errors.

Every per-sample file is a pickle: ``cam_intr`` (3, 3), ``hand_j`` (21, 3) and ``hand_v`` (778, 3)
camera-space metres, ``obj_transf`` (4, 4) T_c_o, all numpy arrays; ``general_info`` a dict whose
``hand_anno`` (``hand_pose`` 16 world-frame quaternions, ``hand_shape`` 10 betas, ``hand_tsl``),
``cam_extr`` (4, 4) T_c_w, ``cam_intr`` and ``obj_anno`` are torch tensors. They are read with
:func:`handmesh.io.safe_pickle.safe_load_pickle`, so nothing in a downloaded file runs code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from handmesh.data.oakink.layout import annotation_path
from handmesh.data.oakink.mano_pose import oakink_mano_pose
from handmesh.errors import DataError, DataNotFoundError
from handmesh.io.safe_pickle import safe_load_pickle

__all__ = [
    "ARRAY_SHAPES",
    "as_array",
    "load_array",
    "load_general_info",
    "mano_pose_from_general_info",
    "mano_shape_from_general_info",
    "read_pickle_file",
]

ARRAY_SHAPES = {"cam_intr": (3, 3), "hand_j": (21, 3), "hand_v": (778, 3), "obj_transf": (4, 4)}


def read_pickle_file(path: str | os.PathLike, what: str = "OakInk annotation") -> Any:
    """Safely unpickle ``path``.

    Raises:
        DataNotFoundError: the file is missing.
        DataError: it is not a readable pickle (truncated, corrupt); the message names it.
        UnsafePickleError: it references code (refused before anything runs).
    """
    path = Path(path)
    try:
        return safe_load_pickle(path)
    except FileNotFoundError:
        raise DataNotFoundError(f"{what} file {path} is missing") from None
    except OSError as error:
        raise DataError(f"{what} file {path} cannot be read: {error}") from None


def as_array(value: Any, shape: tuple[int, ...], source: str, key: str) -> np.ndarray:
    """``value`` (array or tensor) as a numpy array of ``shape`` with finite values, dtype kept."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
        raise DataError(f"{source}: {key} must be a numeric array, got {type(value).__name__}")
    if value.shape != shape:
        raise DataError(f"{source}: {key} must have shape {shape}, got {value.shape}")
    if not np.isfinite(value).all():
        raise DataError(f"{source}: {key} holds non-finite values")
    return value


def load_array(root: str | os.PathLike, kind: str, name: str) -> np.ndarray:
    """The ``kind`` array (ARRAY_SHAPES) of sample ``name`` (its info_str), as stored."""
    path = annotation_path(root, kind, name)
    return as_array(read_pickle_file(path), ARRAY_SHAPES[kind], str(path), kind)


def load_general_info(root: str | os.PathLike, name: str) -> tuple[dict[str, Any], str]:
    """``general_info`` of sample ``name`` and the file it came from."""
    path = annotation_path(root, "general_info", name)
    info = read_pickle_file(path)
    hand = info.get("hand_anno") if isinstance(info, dict) else None
    if not isinstance(hand, dict) or "cam_extr" not in info:
        raise DataError(f"{path}: expected a dict with 'hand_anno' (a dict) and 'cam_extr'")
    for key in ("hand_pose", "hand_shape"):
        if key not in hand:
            raise DataError(f"{path}: hand_anno has no {key!r} (keys: {sorted(hand)})")
    return info, str(path)


def mano_pose_from_general_info(info: dict[str, Any], source: str) -> np.ndarray:
    """(16, 3) float32 camera-frame axis-angle, oikit's ``get_mano_pose``."""
    return oakink_mano_pose(info["hand_anno"]["hand_pose"], info["cam_extr"], source=source)


def mano_shape_from_general_info(info: dict[str, Any], source: str) -> np.ndarray:
    """(10,) float32 MANO betas, oikit's ``get_mano_shape``."""
    shape = info["hand_anno"]["hand_shape"]
    if isinstance(shape, torch.Tensor):
        shape = shape.detach().cpu().numpy()
    shape = np.asarray(shape)
    if shape.size != 10:
        raise DataError(f"{source}: hand_anno.hand_shape must hold 10 betas, got {shape.shape}")
    return as_array(shape.reshape(10), (10,), source, "hand_anno.hand_shape").astype(np.float32)
