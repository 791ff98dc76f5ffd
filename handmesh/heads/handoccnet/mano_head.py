"""HandOccNet's MANO regressor (``common/nets/mano_head.py``, ``mano_regHead``).

A 1024-d encoding goes through ``mano_base_layer`` (Linear 1024 -> 1024, LeakyReLU, Linear
1024 -> 512, LeakyReLU), then ``pose_reg`` (16 x 6D) and ``shape_reg`` (10 betas). Each 6D pair
``(a1, a2)`` becomes a rotation whose COLUMNS are ``b1 = a1 / |a1|``, ``b2`` = the normalised
part of ``a2`` orthogonal to ``b1`` and ``b3 = b1 x b2`` (``rotation_6d_to_matrix`` with
``layout="columns"``), then axis-angle (48 values, global rotation first, MANO joint order). The
manopth-compatible ``mano_layer`` (right hand, no PCA, ``flat_hand_mean=False``, not centred)
returns millimetres; the head divides by 1000.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from handmesh.errors import ArgumentError
from handmesh.geometry.rotations import matrix_to_axis_angle, rotation_6d_to_matrix
from handmesh.mano.constants import NUM_MANO_JOINTS
from handmesh.mano.manopth_layer import ManoLayer

__all__ = ["ManoRegressionHead", "rot6d_to_axis_angle"]

_MM_PER_M = 1000.0
_NON_HANDOCCNET_BUFFERS = ("th_comps",)  # registered by upstream manopth, not by HandOccNet's copy


def rot6d_to_axis_angle(rot6d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 16 * 6) HandOccNet 6D rotations -> rotation matrices (B, 16, 3, 3) and axis-angle
    (B, 48), angles in [0, pi]."""
    batch = rot6d.shape[0]
    rotmat = rotation_6d_to_matrix(rot6d.reshape(batch, -1, 6), layout="columns")
    return rotmat, matrix_to_axis_angle(rotmat).reshape(batch, -1)


def _check_layer(layer: ManoLayer) -> None:
    problems = []
    if layer.use_pca or layer.rot != 3 or layer.joint_rot_mode != "axisang":
        problems.append("use_pca=False with axis-angle root and joints")
    if layer.flat_hand_mean:
        problems.append("flat_hand_mean=False")
    if layer.center_idx is not None:
        problems.append("center_idx=None")
    if not layer.return_transforms:
        problems.append("return_transforms=True")
    if layer.side != "right":
        problems.append("side='right'")
    if problems:
        raise ArgumentError(
            "ManoRegressionHead: mano_layer must be a ManoLayer with " + ", ".join(problems)
        )


class ManoRegressionHead(nn.Module):
    """Encoding (B, feature_size) -> MANO pose, shape and the posed hand.

    Args:
        mano_layer: ``ManoLayer(flat_hand_mean=False, use_pca=False, side="right",
            return_transforms=True)`` (its ``th_*`` buffers are part of HandOccNet's checkpoints;
            upstream manopth's extra ``th_comps`` buffer is dropped from the layer so the state
            dict holds exactly the original's keys).
        feature_size: encoding length (1024).
        neurons: hidden sizes of ``mano_base_layer`` (1024, 512).
    """

    def __init__(
        self,
        mano_layer: ManoLayer,
        feature_size: int = 1024,
        neurons: Sequence[int] = (1024, 512),
    ) -> None:
        super().__init__()
        if not isinstance(mano_layer, ManoLayer):
            raise ArgumentError(
                f"ManoRegressionHead: mano_layer must be a handmesh.mano.ManoLayer, got "
                f"{type(mano_layer).__name__}"
            )
        _check_layer(mano_layer)
        if len(neurons) == 0:
            raise ArgumentError("ManoRegressionHead: neurons must list at least one hidden size")
        sizes = [int(feature_size), *(int(n) for n in neurons)]
        layers: list[nn.Module] = []
        for size_in, size_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(size_in, size_out), nn.LeakyReLU(inplace=True)]
        self.mano_base_layer = nn.Sequential(*layers)
        self.pose_reg = nn.Linear(sizes[-1], NUM_MANO_JOINTS * 6)
        self.shape_reg = nn.Linear(sizes[-1], 10)
        for name in _NON_HANDOCCNET_BUFFERS:
            if name in mano_layer._buffers:
                delattr(mano_layer, name)
        self.mano_layer = mano_layer

    def mano(
        self, pose: torch.Tensor, shape: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 48) axis-angle (``flat_hand_mean=False`` offsets), (B, 10) betas -> verts
        (B, 778, 3) m, joints (B, 21, 3) m (canonical order, uncentred MANO frame) and the global
        joint transforms (B, 16, 4, 4), translations in metres."""
        verts, joints, transforms = self.mano_layer(th_pose_coeffs=pose, th_betas=shape)
        return verts / _MM_PER_M, joints / _MM_PER_M, transforms

    def forward(self, encoding: torch.Tensor) -> dict[str, torch.Tensor]:
        """encoding (B, feature_size) -> ``mano_rotmat`` (B, 16, 3, 3), ``mano_pose`` (B, 48),
        ``mano_shape`` (B, 10), ``mano_verts_3d`` (B, 778, 3) m, ``mano_joints_3d`` (B, 21, 3) m,
        ``mano_transforms`` (B, 16, 4, 4)."""
        hidden = self.mano_base_layer(encoding)
        rotmat, pose = rot6d_to_axis_angle(self.pose_reg(hidden))
        shape = self.shape_reg(hidden)
        verts, joints, transforms = self.mano(pose, shape)
        return {
            "mano_rotmat": rotmat,
            "mano_pose": pose,
            "mano_shape": shape,
            "mano_verts_3d": verts,
            "mano_joints_3d": joints,
            "mano_transforms": transforms,
        }
