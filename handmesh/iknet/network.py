"""IKNet (HandTailor / OakInk-HMR): 21 normalised joints -> 16 MANO joint rotations.

An MLP 63 -> 256 -> 512 -> 1024 -> 1024 -> 512 -> 256 (each Linear + BatchNorm1d + ReLU) -> 64,
read as 16 w-first quaternions (L2-normalised) and converted to axis-angle ``so3`` (B, 48): the
global rotation and the 15 finger joints in MANO's native order, relative to the FLAT hand
(``flat_hand_mean=True``). The module names (``invk_layers.{0..18}``) are the official state-dict
keys, so ``assets/postprocess/iknet.pt`` loads strictly (see ``handmesh.iknet.weights``).

Input convention (:func:`normalize_joints`): camera-space joints minus joint 9 (middle knuckle),
divided by the bone length ``|j0 - j9|`` (wrist to middle knuckle), so the input is unit-free.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from handmesh.errors import ArgumentError
from handmesh.mano.constants import NUM_JOINTS, NUM_MANO_JOINTS

__all__ = [
    "HIDDEN_SIZES",
    "IKNet",
    "NormalizedJoints",
    "ROOT_JOINT",
    "iknet_quaternion_to_axis_angle",
    "normalize_joints",
]

HIDDEN_SIZES = (256, 512, 1024, 1024, 512, 256)
"""Hidden widths of the published IKNet."""

ROOT_JOINT = 9
"""Canonical joint the IKNet input and the fit are centred on (middle knuckle)."""

QUATERNION_NORM_EPS = 1e-12
"""``F.normalize`` epsilon of the original (``utils.normalize_quaternion``)."""


class NormalizedJoints(NamedTuple):
    """The IKNet input made from camera-space joints (see :func:`normalize_joints`).

    Attributes:
        joints: (B, 21, 3) ``(joints - root) / bone``, unit-free.
        root: (B, 1, 3) joint 9, same unit as the input (camera metres).
        bone: (B, 1, 1) ``|j0 - j9|``, same unit as the input.
    """

    joints: Tensor
    root: Tensor
    bone: Tensor


def normalize_joints(joints_3d: Tensor) -> NormalizedJoints:
    """Centre (B, 21, 3) joints on joint 9 and divide by ``|j0 - j9|``, as the original does."""
    if not isinstance(joints_3d, Tensor) or joints_3d.dim() != 3 or joints_3d.shape[1:] != (21, 3):
        shape = tuple(joints_3d.shape) if isinstance(joints_3d, Tensor) else type(joints_3d)
        raise ArgumentError(f"joints_3d must be a (B, 21, 3) tensor, got {shape}")
    root = joints_3d[:, ROOT_JOINT : ROOT_JOINT + 1]
    centred = joints_3d - root
    bone = torch.linalg.vector_norm(centred[:, 0] - centred[:, ROOT_JOINT], dim=-1)
    bone = bone.view(-1, 1, 1)
    return NormalizedJoints(centred / bone, root, bone)


def iknet_quaternion_to_axis_angle(quaternion: Tensor) -> Tensor:
    """(..., 4) unit quaternions (w, x, y, z) -> (..., 3) axis-angle, the original's branch.

    The rotation angle is ``2 atan(|v| / w)`` for the vector part ``v``: in (-pi, 0) when
    ``w < 0`` (the axis is then flipped, so the rotation is the same and its angle is at most pi),
    pi when ``w == 0``. A quaternion with ``v == 0`` gives the zero vector. This equals HandTailor's
    ``quaternion_to_angle_axis`` (its atan2 corrections never apply: the denominator it passes is
    never negative).
    """
    vector = quaternion[..., 1:]
    sin_squared = (vector * vector).sum(-1)
    sin_half = torch.sqrt(sin_squared)
    angle = 2.0 * torch.atan(sin_half / quaternion[..., 0])
    scale = torch.where(sin_squared > 0.0, angle / sin_half, torch.full_like(angle, 2.0))
    return vector * scale.unsqueeze(-1)


class IKNet(nn.Module):
    """Joints -> MANO pose MLP (the published architecture).

    Args:
        num_joints: input joints (21).
        hidden_sizes: widths of the Linear + BatchNorm1d + ReLU stages.

    ``forward(joints)``: (B, 21, 3) normalised joints (:func:`normalize_joints`) ->
    ``{"so3": (B, 48) axis-angle, "quat": (B, 16, 4) unit w-first quaternions}``.
    """

    def __init__(
        self, num_joints: int = NUM_JOINTS, hidden_sizes: tuple[int, ...] = HIDDEN_SIZES
    ) -> None:
        super().__init__()
        if num_joints < 1 or not hidden_sizes or min(hidden_sizes) < 1:
            raise ArgumentError(
                f"IKNet: num_joints and hidden_sizes must be positive, got num_joints="
                f"{num_joints}, hidden_sizes={hidden_sizes}"
            )
        self.num_joints = num_joints
        widths = (3 * num_joints, *hidden_sizes)
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(width_in, width_out), nn.BatchNorm1d(width_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], 4 * NUM_MANO_JOINTS))
        self.invk_layers = nn.Sequential(*layers)

    def quaternions(self, joints: Tensor) -> Tensor:
        """(B, 21, 3) normalised joints -> (B, 16, 4) unit quaternions (w, x, y, z)."""
        raw = self.invk_layers(joints.reshape(-1, 3 * self.num_joints))
        return F.normalize(raw.view(-1, NUM_MANO_JOINTS, 4), p=2, dim=-1, eps=QUATERNION_NORM_EPS)

    def forward(self, joints: Tensor) -> dict[str, Tensor]:
        quat = self.quaternions(joints)
        so3 = iknet_quaternion_to_axis_angle(quat).reshape(-1, 3 * NUM_MANO_JOINTS)
        return {"so3": so3, "quat": quat}
