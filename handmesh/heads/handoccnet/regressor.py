"""HandOccNet's ``Regressor``: heatmap head -> heatmap encoder -> MANO regressor, and the
original's training initialisation (``init_weights`` of ``main/model.py``)."""

from __future__ import annotations

import torch
from torch import nn

from handmesh.heads.handoccnet.heatmap import HeatmapEncoder, HeatmapHead
from handmesh.heads.handoccnet.mano_head import ManoRegressionHead
from handmesh.mano.manopth_layer import ManoLayer

__all__ = ["Regressor", "handoccnet_init_weights"]


class Regressor(nn.Module):
    """Features (B, 256, 32, 32) -> 2D joints and MANO (see :meth:`forward`).

    Attribute names are the original's (``hand_regHead``, ``hand_Encoder``, ``mano_regHead``).

    Args:
        mano_layer: the manopth-compatible layer (see :class:`ManoRegressionHead`).
        resolution, num_joints, channels: feature grid side (32), joints (21), channels (256).
    """

    def __init__(
        self,
        mano_layer: ManoLayer,
        resolution: int = 32,
        num_joints: int = 21,
        channels: int = 256,
    ) -> None:
        super().__init__()
        self.hand_regHead = HeatmapHead(resolution, num_joints, channels)
        self.hand_Encoder = HeatmapEncoder(num_joints, channels)
        feature_size = channels * (resolution // 2**self.hand_Encoder.num_blocks) ** 2
        self.mano_regHead = ManoRegressionHead(mano_layer, feature_size=feature_size)

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Returns ``heatmaps`` (B, 21, 32, 32), ``joints_2d_norm`` (B, 21, 2) in [0, 1] of the
        crop, and the MANO outputs of :meth:`ManoRegressionHead.forward`."""
        heatmaps, encoding, joints_2d_norm = self.hand_regHead(features)
        mano = self.mano_regHead(self.hand_Encoder(heatmaps, encoding))
        return {"heatmaps": heatmaps, "joints_2d_norm": joints_2d_norm, **mano}


def handoccnet_init_weights(module: nn.Module) -> None:
    """HandOccNet's training init, for ``module.apply``: Conv2d / ConvTranspose2d weights
    N(0, 0.001) (Conv2d biases 0), BatchNorm2d weight 1 and bias 0, Linear weights N(0, 0.01) and
    biases 0. LayerNorms and bare parameters (positional embeddings, betas) are left alone.

    Exact types are matched, as the original's ``type(m) == ...`` (subclasses are skipped).
    """
    kind = type(module)
    if kind not in (nn.ConvTranspose2d, nn.Conv2d, nn.BatchNorm2d, nn.Linear):
        return
    weight, bias = module.weight, module.bias
    assert isinstance(weight, torch.Tensor) and isinstance(bias, (torch.Tensor, type(None)))
    if kind is nn.BatchNorm2d:
        nn.init.constant_(weight, 1.0)
    else:
        nn.init.normal_(weight, std=0.01 if kind is nn.Linear else 0.001)
    if bias is not None and kind is not nn.ConvTranspose2d:
        nn.init.constant_(bias, 0.0)
