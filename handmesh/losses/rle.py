"""``RLE_Loss`` (OakInk-HMR RegressFlow3D): residual log-likelihood of the uvd regression.

With prediction mu, scale sigma, target x and the flow's log-density ``log_phi`` of the
normalised residual ``(mu - x) / sigma``, per joint and axis::

    loss = log(sigma) - log_phi + log Q,   log Q = log(sigma * sqrt(2 pi)) + |x - mu| / (sqrt(2) sigma + 1e-7)

``log Q`` is the negative log-density of a Laplace distribution (RLE's residual base). As in
OakInk-HMR there is no visibility mask (invisible joints count fully).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from handmesh.registry import LOSSES

__all__ = ["RLELoss", "rle_loss_terms"]

_AMP = 1.0 / math.sqrt(2.0 * math.pi)


def rle_loss_terms(
    uvd: torch.Tensor, sigma: torch.Tensor, log_phi: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Elementwise RLE loss and its log Q term.

    Args:
        uvd: (B, J, 3) predicted normalised uvd (mu).
        sigma: (B, J, 3) predicted scales (> 0).
        log_phi: (B, J, 1) flow log-density of the normalised residual (broadcast over the axes).
        target: (B, J, 3) target normalised uvd.

    Returns:
        (loss (B, J, 3), log_q (B, J, 3)).
    """
    log_q = torch.log(sigma / _AMP) + (target - uvd).abs() / (math.sqrt(2.0) * sigma + 1e-7)
    return torch.log(sigma) - log_phi + log_q, log_q


@LOSSES.register("RLE_Loss")
class RLELoss(nn.Module):
    """``forward(preds, batch) -> (weighted loss, {"Q_log_prob", "rle_loss"})``.

    Reads ``preds["uvd"]`` (B, J, 3), ``preds["sigma"]`` (B, J, 3), ``preds["log_phi"]``
    (B, J, 1) and ``batch["target_joints_uvd"]`` (B, J, 3).

    Args:
        size_average: True (OakInk's SIZE_AVERAGE): the elementwise loss summed and divided by
            the batch size; False: its mean over all B*J*3 elements.
        loss_lambda: weight of the term (OakInk: 1.0).
    """

    CONFIG_KEYS = ("SIZE_AVERAGE",)

    def __init__(self, size_average: bool = True, loss_lambda: float = 1.0) -> None:
        super().__init__()
        self.size_average = bool(size_average)
        self.loss_lambda = float(loss_lambda)

    def forward(
        self, preds: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        missing = [f"preds[{k!r}]" for k in ("uvd", "sigma", "log_phi") if preds.get(k) is None]
        missing += [f"batch[{k!r}]" for k in ("target_joints_uvd",) if k not in batch]
        if missing:
            raise KeyError(
                f"RLE_Loss: missing {', '.join(missing)} (it needs the training-mode preds 'uvd', "
                "'sigma', 'log_phi' and batch['target_joints_uvd'] (B, J, 3))"
            )
        uvd = preds["uvd"]
        target = batch["target_joints_uvd"].to(uvd.dtype).reshape(uvd.shape)
        loss, log_q = rle_loss_terms(uvd, preds["sigma"], preds["log_phi"], target)
        rle_loss = loss.sum() / loss.shape[0] if self.size_average else loss.mean()
        logged = {"Q_log_prob": log_q.mean().detach(), "rle_loss": rle_loss.detach()}
        return self.loss_lambda * rle_loss, logged

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """From OakInk-HMR's ``{TYPE: RLE_Loss, SIZE_AVERAGE: true}`` (weight 1.0, as there)."""
        return {"size_average": bool(cfg.get("SIZE_AVERAGE", True))}
