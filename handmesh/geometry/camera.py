"""Pinhole camera maths: projection, back-projection and OakInk's normalised uvd.

Every function accepts numpy arrays or torch tensors (batched over leading dims, broadcasting) and
returns the type, dtype and device of its first argument. 3D points are in metres in the OpenCV
camera frame (x right, y down, z forward); ``intr`` is the (..., 3, 3) intrinsic matrix in pixels
(``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``).

Normalised uvd (OakInk-HMR, ``batch_xyz2uvd`` / ``batch_uvd2xyz``)::

    u = x_px / W,   v = y_px / H,   d = 0.5 + (z - z_root) / depth_range   (depth_range = 0.4 m)

so the image maps to [0, 1]^2 and +-0.2 m around the root to d in [0, 1]. Only the root's depth is
used to go back to xyz (OakInk evaluates with the ground-truth root depth).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, Union

import numpy as np
import torch

__all__ = [
    "UVD_DEPTH_RANGE",
    "pixel_to_camera",
    "project_points",
    "uvd_to_xyz",
    "xyz_to_uvd",
]

UVD_DEPTH_RANGE = 0.4
"""Metres of depth mapped to d in [0, 1] by :func:`xyz_to_uvd` (OakInk ``UVD_DEPTH_RANGE``)."""

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
ImageSize = Union[Sequence[float], np.ndarray, torch.Tensor]


def _to_tensor(value: Any, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    value = torch.as_tensor(value)
    if like is not None:
        value = value.to(dtype=like.dtype, device=like.device)
    return value


def _like_input(result: torch.Tensor, reference: Any) -> Any:
    return result.numpy() if isinstance(reference, np.ndarray) else result


def _check_shape(value: torch.Tensor, last: tuple[int, ...], name: str, func: str) -> None:
    if value.dim() < len(last) or tuple(value.shape[-len(last) :]) != last:
        expected = ", ".join(str(d) for d in last)
        raise ValueError(
            f"{func}: {name} must have shape (..., {expected}), got {tuple(value.shape)}"
        )


def project_points(points: ArrayT, intr: Any, eps: float = 0.0) -> ArrayT:
    """Perspective projection: (..., N, 3) camera points -> (..., N, 2) pixels.

    ``uv = (K p)[:2] / ((K p)[2] + eps)``. OakInk's dataset projection (``persp_project``) uses
    ``eps = 1e-6``; its batched training projection and ``batch_xyz2uvd`` use none (the default
    here), which keeps :func:`xyz_to_uvd` and :func:`uvd_to_xyz` exact inverses.

    Args:
        points: (..., N, 3) metres, camera frame, z > 0.
        intr: (..., 3, 3) intrinsics (broadcast over the leading dims of ``points``).
        eps: added to the homogeneous depth before dividing.
    """
    pts = _to_tensor(points)
    if not pts.is_floating_point():
        pts = pts.double()
    K = _to_tensor(intr, like=pts)
    _check_shape(pts, (3,), "points", "project_points")
    _check_shape(K, (3, 3), "intr", "project_points")
    homogeneous = pts @ K.transpose(-1, -2)
    uv = homogeneous[..., :2] / (homogeneous[..., 2:] + eps)
    return _like_input(uv, points)


def pixel_to_camera(uv: ArrayT, depth: Any, intr: Any) -> ArrayT:
    """Back-projection: (..., N, 2) pixels, (..., N) depths z (m) -> (..., N, 3) camera points (m).

    ``depth`` is the camera z coordinate, not the distance along the ray. The point is
    ``z * K^-1 [u, v, 1]``, so it inverts :func:`project_points` (with ``eps = 0``) exactly.
    """
    pix = _to_tensor(uv)
    if not pix.is_floating_point():
        pix = pix.double()
    z = _to_tensor(depth, like=pix)
    K = _to_tensor(intr, like=pix)
    _check_shape(pix, (2,), "uv", "pixel_to_camera")
    _check_shape(K, (3, 3), "intr", "pixel_to_camera")
    if z.shape != pix.shape[:-1]:
        raise ValueError(
            f"pixel_to_camera: depth must have shape {tuple(pix.shape[:-1])} (uv without its last "
            f"dim), got {tuple(z.shape)}"
        )
    homogeneous = torch.cat((pix, torch.ones_like(pix[..., :1])), dim=-1)
    rays = homogeneous @ torch.linalg.inv(K).transpose(-1, -2)
    return _like_input(rays * z.unsqueeze(-1), uv)


def xyz_to_uvd(
    xyz: ArrayT,
    root_joint: Any,
    intr: Any,
    image_size: ImageSize,
    depth_range: float = UVD_DEPTH_RANGE,
) -> ArrayT:
    """(..., N, 3) camera points (m) -> (..., N, 3) normalised uvd (see the module docstring).

    Args:
        xyz: (..., N, 3) metres, camera frame.
        root_joint: (..., 3) metres; only its z is used.
        intr: (..., 3, 3) intrinsics of the image the uv refer to (the crop, for samples).
        image_size: (W, H) pixels of that image.
        depth_range: metres mapped to d in [0, 1].
    """
    points = _to_tensor(xyz)
    if not points.is_floating_point():
        points = points.double()
    root = _to_tensor(root_joint, like=points)
    _check_shape(points, (3,), "xyz", "xyz_to_uvd")
    _check_shape(root, (3,), "root_joint", "xyz_to_uvd")
    size = _image_size(image_size, points, "xyz_to_uvd")
    uv = project_points(points, intr) / size
    d = 0.5 + (points[..., 2:] - root[..., None, 2:]) / depth_range
    return _like_input(torch.cat((uv, d), dim=-1), xyz)


def uvd_to_xyz(
    uvd: ArrayT,
    root_joint: Any,
    intr: Any,
    image_size: ImageSize,
    depth_range: float = UVD_DEPTH_RANGE,
) -> ArrayT:
    """(..., N, 3) normalised uvd -> (..., N, 3) camera points (m); the exact inverse of
    :func:`xyz_to_uvd`: ``z = (d - 0.5) * depth_range + z_root``, then back-projection.

    Args:
        uvd: (..., N, 3) normalised uvd.
        root_joint: (..., 3) metres; only its z (the root depth) is used.
        intr: (..., 3, 3) intrinsics of the image the uv refer to.
        image_size: (W, H) pixels of that image.
        depth_range: metres mapped to d in [0, 1].
    """
    values = _to_tensor(uvd)
    if not values.is_floating_point():
        values = values.double()
    root = _to_tensor(root_joint, like=values)
    _check_shape(values, (3,), "uvd", "uvd_to_xyz")
    _check_shape(root, (3,), "root_joint", "uvd_to_xyz")
    size = _image_size(image_size, values, "uvd_to_xyz")
    uv = values[..., :2] * size
    z = (values[..., 2] - 0.5) * depth_range + root[..., None, 2]
    return _like_input(pixel_to_camera(uv, z, intr), uvd)


def _image_size(image_size: ImageSize, like: torch.Tensor, func: str) -> torch.Tensor:
    size = _to_tensor(image_size, like=like)
    if size.shape[-1:] != (2,):
        raise ValueError(f"{func}: image_size must be (W, H), got {tuple(size.shape)} values")
    return size.unsqueeze(-2) if size.dim() > 1 else size
