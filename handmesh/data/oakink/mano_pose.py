"""OakInk's MANO pose in the camera frame, computed from ``general_info`` as oikit computes it.

``general_info["hand_anno"]["hand_pose"]`` holds 16 quaternions ``(w, x, y, z)`` (pytorch3d order)
of the MANO joint rotations in the *world* frame, ``general_info["cam_extr"]`` the 4x4 world ->
camera transform. oikit (``OakInkImage.get_mano_pose``) returns (16, 3) axis-angle:

* wrist: ``R = R_extr @ R(q_wrist)``, converted matrix -> quaternion -> axis-angle;
* the 15 finger joints: quaternion -> axis-angle directly.

Both conversions keep the quaternion's sign (pytorch3d 0.7.2, oikit's pin, neither standardises
``w >= 0``), so a stored finger quaternion with ``w < 0`` gives a rotation vector longer than pi,
and the wrist quaternion taken from the matrix has its largest-magnitude component positive
(Shepperd's choice, which roma's ``rotmat_to_unitquat`` makes too). The rotations are what matter
to MANO; the long vectors are kept so the packed files equal oikit's. The pose is the full joint
rotations (manotorch ``flat_hand_mean=True``), not offsets from MANO's mean hand pose.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import roma
import torch

from handmesh.errors import DataError
from handmesh.geometry.rotations import matrix_to_quaternion_xyzw, quaternion_wxyz_to_matrix

__all__ = ["oakink_mano_pose"]


def _as_float64(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().to(torch.float64)
    return torch.as_tensor(np.asarray(value), dtype=torch.float64)


def oakink_mano_pose(hand_pose: Any, cam_extr: Any, source: str = "general_info") -> np.ndarray:
    """(16, 3) float32 axis-angle MANO pose in the camera frame.

    Args:
        hand_pose: 16 world-frame quaternions (w, x, y, z), any shape with 64 values (tensor or
            array).
        cam_extr: (4, 4) (or (3, 4)) world -> camera transform; its rotation block is used.
        source: named in errors (the file the values came from).
    """
    quats = _as_float64(hand_pose)
    extr = _as_float64(cam_extr)
    if quats.numel() != 64:
        raise DataError(
            f"{source}: hand_anno.hand_pose must hold 16 quaternions (64 values), got shape "
            f"{tuple(quats.shape)}"
        )
    if extr.dim() != 2 or extr.shape[0] < 3 or extr.shape[1] < 3:
        raise DataError(f"{source}: cam_extr must be a (4, 4) matrix, got {tuple(extr.shape)}")
    quats = quats.reshape(16, 4)
    wrist_rot = extr[:3, :3] @ quaternion_wxyz_to_matrix(quats[0])
    wrist = roma.unitquat_to_rotvec(matrix_to_quaternion_xyzw(wrist_rot), shortest_arc=False)
    fingers = roma.unitquat_to_rotvec(roma.quat_wxyz_to_xyzw(quats[1:]), shortest_arc=False)
    pose = torch.cat([wrist[None], fingers], dim=0)
    return pose.numpy().astype(np.float32)
