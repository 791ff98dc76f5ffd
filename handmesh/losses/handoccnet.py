"""HandOccNet's training loss (``main/model.py``, train mode): five weighted mean squared errors.

==============  ============================================================  ============  ======
term            prediction vs target                                          shape         weight
==============  ============================================================  ============  ======
mano_verts      ``preds["mano_verts_3d"]`` vs ``batch["target_mano_verts_3d"]``  (B, 778, 3) m  1e4
mano_joints     ``preds["mano_joints_3d"]`` vs ``batch["target_mano_joints_3d"]``  (B, 21, 3) m  1e4
mano_pose       ``preds["mano_rotmat"]`` vs rotations of ``batch["mano_pose"]``   (B, 16, 3, 3)  10
mano_shape      ``preds["mano_shape"]`` vs ``batch["mano_shape"]``                (B, 10)        0.1
joints_img      ``preds["joints_2d_norm"]`` vs ``batch["target_joints_2d_norm"]``  (B, 21, 2)     100
                (2D joints divided by the crop size: the original's [0, 1] units)
==============  ============================================================  ============  ======

Each is ``F.mse_loss`` (mean over every element), with no visibility mask. The target MANO vertices
and joints are the ground-truth MANO parameters through the same MANO layer as the prediction, in
the uncentred MANO frame; the model adds them and the normalised 2D targets to the batch. ``forward`` returns ``(sum of weighted
terms, {term: weighted term})``: the logged values are weighted, as the original logs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from handmesh.errors import ArgumentError
from handmesh.geometry.rotations import axis_angle_to_matrix
from handmesh.registry import LOSSES

__all__ = ["HANDOCCNET_LOSS_WEIGHTS", "HandOccNetLoss"]

HANDOCCNET_LOSS_WEIGHTS: dict[str, float] = {
    "mano_verts": 1e4,
    "mano_joints": 1e4,
    "mano_pose": 10.0,
    "mano_shape": 0.1,
    "joints_img": 100.0,
}
"""The original's ``lambda_*`` values (``main/config.py``)."""

_NEEDED_PREDS = ("mano_verts_3d", "mano_joints_3d", "mano_rotmat", "mano_shape", "joints_2d_norm")
_NEEDED_BATCH = (
    "target_mano_verts_3d",
    "target_mano_joints_3d",
    "mano_pose",
    "mano_shape",
    "target_joints_2d_norm",
)


@LOSSES.register("HANDOCCNET_LOSS")
class HandOccNetLoss(nn.Module):
    """The five HandOccNet terms (table in the module docstring).

    Args:
        lambda_mano_verts, lambda_mano_joints, lambda_mano_pose, lambda_mano_shape,
        lambda_joints_img: the weights (defaults: the original's).
    """

    CONFIG_KEYS = (
        "LAMBDA_MANO_VERTS",
        "LAMBDA_MANO_JOINTS",
        "LAMBDA_MANO_POSE",
        "LAMBDA_MANO_SHAPE",
        "LAMBDA_JOINTS_IMG",
    )

    def __init__(
        self,
        lambda_mano_verts: float = HANDOCCNET_LOSS_WEIGHTS["mano_verts"],
        lambda_mano_joints: float = HANDOCCNET_LOSS_WEIGHTS["mano_joints"],
        lambda_mano_pose: float = HANDOCCNET_LOSS_WEIGHTS["mano_pose"],
        lambda_mano_shape: float = HANDOCCNET_LOSS_WEIGHTS["mano_shape"],
        lambda_joints_img: float = HANDOCCNET_LOSS_WEIGHTS["joints_img"],
    ) -> None:
        super().__init__()
        self.weights = {
            "mano_verts": float(lambda_mano_verts),
            "mano_joints": float(lambda_mano_joints),
            "mano_pose": float(lambda_mano_pose),
            "mano_shape": float(lambda_mano_shape),
            "joints_img": float(lambda_joints_img),
        }
        negative = [name for name, weight in self.weights.items() if weight < 0]
        if negative:
            raise ArgumentError(
                f"HandOccNetLoss: weights must be >= 0, got {[f'lambda_{n}' for n in negative]} < 0"
            )

    def forward(
        self, preds: Mapping[str, torch.Tensor], batch: Mapping[str, Any]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        missing = [f"preds[{k!r}]" for k in _NEEDED_PREDS if k not in preds]
        missing += [f"batch[{k!r}]" for k in _NEEDED_BATCH if k not in batch]
        if missing:
            raise KeyError(f"HandOccNetLoss: missing {', '.join(missing)}")
        dtype = preds["mano_verts_3d"].dtype
        pose = batch["mano_pose"].to(dtype)
        target_rotmat = axis_angle_to_matrix(pose.reshape(pose.shape[0], -1, 3))
        pairs = {
            "mano_verts": (preds["mano_verts_3d"], batch["target_mano_verts_3d"]),
            "mano_joints": (preds["mano_joints_3d"], batch["target_mano_joints_3d"]),
            "mano_pose": (preds["mano_rotmat"], target_rotmat),
            "mano_shape": (preds["mano_shape"], batch["mano_shape"]),
            "joints_img": (preds["joints_2d_norm"], batch["target_joints_2d_norm"]),
        }
        terms = {
            name: self.weights[name] * F.mse_loss(pred, target.to(pred.dtype))
            for name, (pred, target) in pairs.items()
        }
        total = torch.stack(list(terms.values())).sum()
        return total, {name: value.detach() for name, value in terms.items()}

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """``MODEL.LOSS`` node ``{TYPE: HANDOCCNET_LOSS, LAMBDA_MANO_VERTS: ..., ...}``; absent
        weights are the original's."""
        return {key.lower(): float(cfg[key]) for key in cls.CONFIG_KEYS if key in cfg}
