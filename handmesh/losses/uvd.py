"""``UVD_LOSS`` (OakInk-HMR IntegralPose): lambda * smooth-L1 (or MSE) on visible normalised uvd."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from handmesh.config.values import cfg_float, cfg_str
from handmesh.errors import ArgumentError
from handmesh.registry import LOSSES

LOSS_FUNCTIONS = {"smooth_l1": F.smooth_l1_loss, "mse": F.mse_loss}


@LOSSES.register("UVD_LOSS")
class UVDLoss(nn.Module):
    """Both ``preds["uvd"]`` and ``batch["target_joints_uvd"]`` (B, J, 3) are multiplied by
    ``batch["target_joints_vis"]`` (B, J); the loss is the mean over all B*J*3 elements (invisible
    joints still count in the denominator, as in OakInk-HMR) times ``loss_lambda``.

    ``forward`` returns ``(weighted loss, {"uvd_loss": unweighted loss})``.
    """

    def __init__(self, function: str = "smooth_l1", loss_lambda: float = 100.0) -> None:
        super().__init__()
        if function not in LOSS_FUNCTIONS:
            raise ArgumentError(f"function {function!r}: expected one of {sorted(LOSS_FUNCTIONS)}")
        self.function = function
        self.loss_lambda = float(loss_lambda)

    def forward(
        self, preds: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """preds ``uvd`` (B, J, 3); batch ``target_joints_uvd`` (B, J, 3), ``target_joints_vis``
        (B, J). Returns (weighted scalar, {"uvd_loss": unweighted scalar})."""
        missing = [f"preds[{k!r}]" for k in ("uvd",) if k not in preds] + [
            f"batch[{k!r}]" for k in ("target_joints_uvd", "target_joints_vis") if k not in batch
        ]
        if missing:
            raise KeyError(
                f"UVD_LOSS: missing {', '.join(missing)} (it needs preds['uvd'] (B, J, 3), "
                "batch['target_joints_uvd'] (B, J, 3) and batch['target_joints_vis'] (B, J))"
            )
        vis = batch["target_joints_vis"].to(preds["uvd"].dtype).unsqueeze(-1)
        pred = preds["uvd"] * vis
        target = batch["target_joints_uvd"].to(pred.dtype) * vis
        loss = LOSS_FUNCTIONS[self.function](pred, target)
        return self.loss_lambda * loss, {"uvd_loss": loss.detach()}

    CONFIG_KEYS = ("FUNCTION", "LAMBDA")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "function": cfg_str(cfg, "FUNCTION", "smooth_l1"),
            "loss_lambda": cfg_float(cfg, "LAMBDA", 100.0),
        }
