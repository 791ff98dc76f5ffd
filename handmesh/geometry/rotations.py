"""Rotation conversions (torch, batched over any leading dims), thin wrappers over ``roma``.

Conventions:
* axis-angle (rotation vector): (..., 3), angle in radians = the vector's norm.
* quaternions: the component order is in the function name, ``wxyz`` (scalar first, as
  manopth / HandOccNet / pytorch3d) or ``xyzw`` (scalar last, as roma / scipy). Inputs to the
  quaternion -> matrix functions are normalised first, so they need not be unit length.
* rotation matrices: (..., 3, 3), acting on column vectors (``x' = R @ x``).
* Euler angles: a 3-letter ``convention``; upper case (``"XYZ"``) is intrinsic, lower case
  (``"xyz"``) extrinsic, as in roma and scipy. Intrinsic ``"XYZ"`` is ``Rx(a) @ Ry(b) @ Rz(c)``.
* 6D (Zhou et al., CVPR 2019): see :func:`rotation_6d_to_matrix`.
"""

from __future__ import annotations

from typing import Literal

import roma
import torch

__all__ = [
    "axis_angle_to_matrix",
    "axis_angle_to_quaternion_wxyz",
    "axis_angle_to_quaternion_xyzw",
    "euler_to_matrix",
    "matrix_to_axis_angle",
    "matrix_to_euler",
    "matrix_to_quaternion_wxyz",
    "matrix_to_quaternion_xyzw",
    "matrix_to_rotation_6d",
    "quaternion_wxyz_to_matrix",
    "quaternion_xyzw_to_matrix",
    "rotation_6d_to_matrix",
    "rotation_about_axis",
]

SixDLayout = Literal["columns", "rows"]


def _check_last_dims(tensor: torch.Tensor, dims: tuple[int, ...], name: str) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(tensor).__name__}")
    if tuple(tensor.shape[-len(dims) :]) != dims or tensor.dim() < len(dims):
        expected = ", ".join(str(d) for d in dims)
        raise ValueError(f"{name}: expected shape (..., {expected}), got {tuple(tensor.shape)}")


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle (radians) -> (..., 3, 3) rotation matrices (Rodrigues)."""
    _check_last_dims(axis_angle, (3,), "axis_angle_to_matrix")
    return roma.rotvec_to_rotmat(axis_angle)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle with angle in [0, pi]."""
    _check_last_dims(matrix, (3, 3), "matrix_to_axis_angle")
    return roma.rotmat_to_rotvec(matrix)


def axis_angle_to_quaternion_xyzw(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 4) unit quaternions, scalar last (x, y, z, w)."""
    _check_last_dims(axis_angle, (3,), "axis_angle_to_quaternion_xyzw")
    return roma.rotvec_to_unitquat(axis_angle)


def axis_angle_to_quaternion_wxyz(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 4) unit quaternions, scalar first (w, x, y, z)."""
    return roma.quat_xyzw_to_wxyz(axis_angle_to_quaternion_xyzw(axis_angle))


def quaternion_xyzw_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (x, y, z, w), normalised here -> (..., 3, 3) rotation matrices."""
    _check_last_dims(quaternion, (4,), "quaternion_xyzw_to_matrix")
    return roma.unitquat_to_rotmat(roma.quat_normalize(quaternion))


def quaternion_wxyz_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (w, x, y, z), normalised here -> (..., 3, 3) rotation matrices."""
    _check_last_dims(quaternion, (4,), "quaternion_wxyz_to_matrix")
    return quaternion_xyzw_to_matrix(roma.quat_wxyz_to_xyzw(quaternion))


def matrix_to_quaternion_xyzw(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (x, y, z, w)."""
    _check_last_dims(matrix, (3, 3), "matrix_to_quaternion_xyzw")
    return roma.rotmat_to_unitquat(matrix)


def matrix_to_quaternion_wxyz(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z)."""
    return roma.quat_xyzw_to_wxyz(matrix_to_quaternion_xyzw(matrix))


def rotation_6d_to_matrix(rot6d: torch.Tensor, layout: SixDLayout = "columns") -> torch.Tensor:
    """(..., 6) continuous 6D rotations -> (..., 3, 3) matrices by Gram-Schmidt (Zhou et al.).

    The 6 values are two 3-vectors ``a1 = rot6d[..., :3]``, ``a2 = rot6d[..., 3:]``;
    ``b1 = a1 / |a1|``, ``b2 = normalise(a2 - (b1 . a2) b1)``, ``b3 = b1 x b2``.

    Args:
        layout: ``"columns"`` (default; HandOccNet's ``rot6d2mat``, SPIN-style): b1, b2, b3 are the
            COLUMNS of R, so the 6D vector is R's first two columns. ``"rows"`` (pytorch3d's
            ``rotation_6d_to_matrix``): b1, b2, b3 are the ROWS, so the 6D vector is R's first two
            rows. Both map (1, 0, 0, 0, 1, 0) to the identity.
    """
    _check_last_dims(rot6d, (6,), "rotation_6d_to_matrix")
    columns = torch.stack((rot6d[..., :3], rot6d[..., 3:]), dim=-1)  # (..., 3, 2)
    matrix = roma.special_gramschmidt(columns)
    if layout == "columns":
        return matrix
    if layout == "rows":
        return matrix.transpose(-1, -2)
    raise ValueError(f"rotation_6d_to_matrix: layout must be 'columns' or 'rows', got {layout!r}")


def matrix_to_rotation_6d(matrix: torch.Tensor, layout: SixDLayout = "columns") -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 6), the inverse of :func:`rotation_6d_to_matrix`.

    ``"columns"``: ``cat(R[..., :, 0], R[..., :, 1])`` (HandOccNet); ``"rows"``:
    ``cat(R[..., 0, :], R[..., 1, :])`` (pytorch3d).
    """
    _check_last_dims(matrix, (3, 3), "matrix_to_rotation_6d")
    if layout == "columns":
        return torch.cat((matrix[..., :, 0], matrix[..., :, 1]), dim=-1)
    if layout == "rows":
        return torch.cat((matrix[..., 0, :], matrix[..., 1, :]), dim=-1)
    raise ValueError(f"matrix_to_rotation_6d: layout must be 'columns' or 'rows', got {layout!r}")


def euler_to_matrix(
    angles: torch.Tensor, convention: str = "XYZ", degrees: bool = False
) -> torch.Tensor:
    """(..., 3) Euler angles (radians unless ``degrees``) -> (..., 3, 3) rotation matrices.

    ``convention``: e.g. ``"XYZ"`` (intrinsic: ``Rx(a) @ Ry(b) @ Rz(c)``) or ``"xyz"`` (extrinsic:
    ``Rz(c) @ Ry(b) @ Rx(a)``); ``angles[..., i]`` is the angle about ``convention[i]``.
    """
    _check_last_dims(angles, (3,), "euler_to_matrix")
    _check_convention(convention)
    return roma.euler_to_rotmat(convention, angles, degrees=degrees)


def matrix_to_euler(
    matrix: torch.Tensor, convention: str = "XYZ", degrees: bool = False
) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) Euler angles, the inverse of
    :func:`euler_to_matrix`. At gimbal lock the third angle is set to 0 (roma's choice)."""
    _check_last_dims(matrix, (3, 3), "matrix_to_euler")
    _check_convention(convention)
    return roma.rotmat_to_euler(convention, matrix, degrees=degrees)


def rotation_about_axis(
    angle: torch.Tensor, axis: Literal["x", "y", "z"] = "z", degrees: bool = False
) -> torch.Tensor:
    """(...) angles -> (..., 3, 3) right-handed rotations about the camera ``axis``.

    For ``axis="z"``: ``[[c, -s, 0], [s, c, 0], [0, 0, 1]]`` with ``c, s = cos, sin(angle)``.
    """
    if axis not in ("x", "y", "z"):
        raise ValueError(f"rotation_about_axis: axis must be 'x', 'y' or 'z', got {axis!r}")
    if not isinstance(angle, torch.Tensor):
        raise TypeError(f"rotation_about_axis: expected a torch.Tensor, got {type(angle).__name__}")
    return roma.euler_to_rotmat(axis, angle.unsqueeze(-1), degrees=degrees)


def _check_convention(convention: str) -> None:
    valid = (
        isinstance(convention, str)
        and len(convention) == 3
        and (set(convention) <= set("XYZ") or set(convention) <= set("xyz"))
        and convention[0] != convention[1]
        and convention[1] != convention[2]
    )
    if not valid:
        raise ValueError(
            f"Euler convention must be 3 axis letters, all upper case (intrinsic, e.g. 'XYZ') or "
            f"all lower case (extrinsic, e.g. 'xyz'), no axis twice in a row; got {convention!r}"
        )
