"""HandOccNet's training loss (``main/model.py``, train mode): five weighted mean squared errors.

==============  ============================================================  ============  ======
term            prediction vs target                                          shape         weight
==============  ============================================================  ============  ======
mano_verts      ``preds["mano_verts_3d"]`` vs ``batch["target_mano_verts_3d"]``  (B, 778, 3) m  1e4
mano_joints     ``preds["mano_joints_3d"]`` vs ``batch["target_mano_joints_3d"]``  (B, 21, 3) m  1e4
mano_pose       ``preds["mano_rotmat"]`` vs rotations of ``batch["mano_pose"]``   (B, 16, 3, 3)  10
mano_shape      ``preds["mano_shape"]`` vs ``batch["mano_shape"]``                (B, 10)        0.1
joints_img      ``preds["joints_2d"]`` vs ``batch["target_joints_2d"]``, both     (B, 21, 2)     100
                divided by the crop size (the original's [0, 1] crop units)
==============  ============================================================  ============  ======

Each is ``F.mse_loss`` (mean over every element), with no visibility mask. The target MANO vertices
and joints are the ground-truth MANO parameters through the same MANO layer as the prediction, in
the uncentred MANO frame (the model adds them to the batch). ``forward`` returns ``(sum of weighted
terms, {term: weighted term})``: the logged values are weighted, as the original logs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from handmesh.errors import ArgumentError
from handmesh.geometry.rotations import axis_angle_to_matrix

__all__ = ["HANDOCCNET_LOSS_WEIGHTS", "HandOccNetLoss"]

HANDOCCNET_LOSS_WEIGHTS: dict[str, float] = {
    "mano_verts": 1e4,
    "mano_joints": 1e4,
    "mano_pose": 10.0,
    "mano_shape": 0.1,
    "joints_img": 100.0,
}
"""The original's ``lambda_*`` values (``main/config.py``)."""

_NEEDED_PREDS = ("mano_verts_3d", "mano_joints_3d", "mano_rotmat", "mano_shape", "joints_2d")
_NEEDED_BATCH = (
    "target_mano_verts_3d",
    "target_mano_joints_3d",
    "mano_pose",
    "mano_shape",
    "target_joints_2d",
)


class HandOccNetLoss(nn.Module):
    """The five HandOccNet terms (table in the module docstring).

    Args:
        lambda_mano_verts, lambda_mano_joints, lambda_mano_pose, lambda_mano_shape,
        lambda_joints_img: the weights (defaults: the original's).
        image_size: crop (W, H) in pixels; 2D joints are divided by it (256, 256).
    """

    def __init__(
        self,
        lambda_mano_verts: float = HANDOCCNET_LOSS_WEIGHTS["mano_verts"],
        lambda_mano_joints: float = HANDOCCNET_LOSS_WEIGHTS["mano_joints"],
        lambda_mano_pose: float = HANDOCCNET_LOSS_WEIGHTS["mano_pose"],
        lambda_mano_shape: float = HANDOCCNET_LOSS_WEIGHTS["mano_shape"],
        lambda_joints_img: float = HANDOCCNET_LOSS_WEIGHTS["joints_img"],
        image_size: Sequence[int] = (256, 256),
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
        if len(image_size) != 2 or min(image_size) <= 0:
            raise ArgumentError(f"HandOccNetLoss: image_size must be (W, H) > 0, got {image_size}")
        self.image_size = (int(image_size[0]), int(image_size[1]))

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
        size = preds["joints_2d"].new_tensor(self.image_size)
        pairs = {
            "mano_verts": (preds["mano_verts_3d"], batch["target_mano_verts_3d"]),
            "mano_joints": (preds["mano_joints_3d"], batch["target_mano_joints_3d"]),
            "mano_pose": (preds["mano_rotmat"], target_rotmat),
            "mano_shape": (preds["mano_shape"], batch["mano_shape"]),
            "joints_img": (preds["joints_2d"] / size, batch["target_joints_2d"] / size),
        }
        terms = {
            name: self.weights[name] * F.mse_loss(pred, target.to(pred.dtype))
            for name, (pred, target) in pairs.items()
        }
        total = torch.stack(list(terms.values())).sum()
        return total, {name: value.detach() for name, value in terms.items()}
