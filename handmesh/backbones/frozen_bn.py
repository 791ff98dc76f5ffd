"""FrozenBatchNorm2d: batch normalisation with fixed statistics and a fixed affine transform."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FrozenBatchNorm2d"]


def init_conv_bn_(root: nn.Module) -> None:
    """torchvision/HRNet init in place: kaiming-normal (fan_out, relu) convs, BN weight 1 / bias 0."""
    for module in root.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, (nn.BatchNorm2d, FrozenBatchNorm2d)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d whose statistics and affine parameters never change (detectron2 style).

    Holds four buffers, ``weight``, ``bias``, ``running_mean``, ``running_var`` (C,), and no
    ``num_batches_tracked``; an incoming ``num_batches_tracked`` entry (torchvision checkpoints have
    one per BatchNorm) is dropped on load by ``handmesh.checkpoint.load_state_dict``. Computes ``(x - mean) / sqrt(var + eps) * weight + bias``
    with eps 1e-5 in train and eval mode alike.
    """

    eps = 1e-5

    weight: torch.Tensor
    bias: torch.Tensor
    running_mean: torch.Tensor
    running_var: torch.Tensor

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B,C,H,W) -> (B,C,H,W)."""
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"
