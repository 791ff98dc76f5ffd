"""Left <-> right mirroring (DESIGN §2): models see right hands only.

Mirroring is the reflection ``x -> -x`` of the camera frame. In the image it is the horizontal flip
``u -> W - 1 - u`` (pixel centres at integers, HandOccNet's convention), which moves the principal
point to ``cx' = W - 1 - cx``. A MANO axis-angle ``(a, b, c)`` becomes ``(a, -b, -c)`` (the
rotation ``M R M`` with ``M = diag(-1, 1, 1)``), for the global rotation and every joint. Every
function here is its own inverse, so the same calls mirror a left sample in and a prediction back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "mirror_image",
    "mirror_intrinsics",
    "mirror_mano_pose",
    "mirror_points_2d",
    "mirror_points_3d",
    "mirror_predictions",
    "mirror_raw_sample",
]

Array = Any  # numpy array or torch tensor


def mirror_image(image: np.ndarray) -> np.ndarray:
    """Flip an (H, W, C) image left-right (a contiguous copy)."""
    return np.ascontiguousarray(image[:, ::-1])


def mirror_points_2d(points: Array, width: float) -> Array:
    """(..., 2) pixel points of an image ``width`` pixels wide: ``x' = width - 1 - x``."""
    out: Any = points.clone() if torch.is_tensor(points) else np.array(points, copy=True)
    out[..., 0] = width - 1 - out[..., 0]
    return out


def mirror_points_3d(points: Array) -> Array:
    """(..., 3) camera-frame points (any unit): ``x' = -x``."""
    out: Any = points.clone() if torch.is_tensor(points) else np.array(points, copy=True)
    out[..., 0] = -out[..., 0]
    return out


def mirror_mano_pose(pose: Array) -> Array:
    """(..., 3k) or (..., k, 3) MANO axis-angle: negate the y and z component of each rotation."""
    out: Any = pose.clone() if torch.is_tensor(pose) else np.array(pose, copy=True)
    if out.shape[-1] % 3 != 0:
        raise ValueError(f"mano_pose: last dimension must be a multiple of 3, got {out.shape}")
    flat = out.reshape(*out.shape[:-1], -1, 3)
    flat[..., 1:] = -flat[..., 1:]
    return flat.reshape(out.shape)


def mirror_intrinsics(cam_intr: Array, width: float) -> Array:
    """(..., 3, 3) pinhole intrinsics of the flipped image: ``cx' = width - 1 - cx``.

    Projecting mirrored 3D points with the result gives the mirrored 2D points (any fx, fy).
    """
    out: Any = cam_intr.clone() if torch.is_tensor(cam_intr) else np.array(cam_intr, copy=True)
    out[..., 0, 2] = width - 1 - out[..., 0, 2]
    return out


def mirror_raw_sample(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A RawSample (keys.py RAW_KEYS) of the other hand: image, 2D/3D points, intrinsics and MANO
    pose mirrored, ``side`` swapped. Mirroring twice gives the original."""
    out = dict(raw)
    width = raw["image"].shape[1]
    out["image"] = mirror_image(raw["image"])
    out["cam_intr"] = mirror_intrinsics(raw["cam_intr"], width)
    out["joints_2d"] = mirror_points_2d(raw["joints_2d"], width)
    for key in ("joints_3d", "verts_3d"):
        if raw.get(key) is not None:
            out[key] = mirror_points_3d(raw[key])
    if raw.get("mano_pose") is not None:
        out["mano_pose"] = mirror_mano_pose(raw["mano_pose"])
    out["side"] = {"right": "left", "left": "right"}[raw["side"]]
    return out


def mirror_predictions(
    preds: Mapping[str, Any], is_left: Sequence[bool] | torch.Tensor
) -> dict[str, Any]:
    """Mirror the batch elements of left hands back to the left side.

    Camera-frame 3D keys (``joints_3d``, ``verts_3d``: (B, N, 3)) get ``x -> -x`` and
    ``mano_pose`` (B, 48) its y/z components negated for the rows where ``is_left`` is true; other
    keys are passed through unchanged (crop-space 2D predictions stay in the mirrored crop).
    """
    mask = torch.as_tensor(list(is_left) if not torch.is_tensor(is_left) else is_left).bool()
    out = dict(preds)
    mirrors = {
        "joints_3d": mirror_points_3d,
        "verts_3d": mirror_points_3d,
        "mano_pose": mirror_mano_pose,
    }
    for key, mirror in mirrors.items():
        value = preds.get(key)
        if value is None or not mask.any():
            continue
        if len(value) != len(mask):
            raise ValueError(
                f"mirror_predictions: {key} has {len(value)} rows, is_left {len(mask)}"
            )
        rows = mask.to(value.device) if torch.is_tensor(value) else mask.numpy()
        mirrored = value.clone() if torch.is_tensor(value) else np.array(value, copy=True)
        mirrored[rows] = mirror(value[rows])
        out[key] = mirrored
    return out
