"""HandOccNet's FPN backbone: a LeakyReLU ResNet-50, a top-down pyramid and a spatial gate.

Module and key names are HandOccNet's (``common/nets/backbone.py``; in its checkpoints every key
is prefixed ``module.backbone.``): ``toplayer``; ``layer0`` (``0`` conv1, ``1`` bn1, ``2``
LeakyReLU, ``3`` max-pool); ``layer1..4``, each the ResNet stage wrapped once more, so keys read
``layer1.0.<block>.conv1.weight``; ``smooth2``, ``smooth3``, ``latlayer1..3`` and
``attention_module.spatial.{conv,bn}`` (CBAM's spatial gate).

Two quirks of the original are kept because its checkpoints depend on them: ``smooth2`` exists
but its output is never used (the original computes and discards it; here it is skipped and its
parameters have ``requires_grad=False``, which changes nothing in training and lets DDP run without
``find_unused_parameters``); p2 is built from the unsmoothed p3.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from handmesh.backbones.base import Backbone, ShapeSpec
from handmesh.backbones.pretrained import PretrainedSpec, load_pretrained
from handmesh.backbones.resnet import RESNET_WEIGHTS, ResNet
from handmesh.checkpoint.adapters import state_dict_adapter
from handmesh.registry import BACKBONES

__all__ = ["FPN", "SpatialGate"]


class _ConvBN(nn.Module):
    """CBAM's BasicConv without ReLU: conv (no bias) + BatchNorm(eps 1e-5, momentum 0.01)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-5, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class SpatialGate(nn.Module):
    """CBAM spatial attention splitting a feature map in two.

    s = sigmoid(bn(conv7x7([max_c(x), mean_c(x)]))) (B,1,H,W); returns (x * s, x * (1 - s)), the
    primary (hand) and secondary (occluder) features, each shaped like x.
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.spatial = _ConvBN(2, 1, kernel_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        compressed = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        scale = torch.sigmoid(self.spatial(compressed))
        return x * scale, x * (1 - scale)


def _upsample_add(top: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
    return (
        F.interpolate(top, size=lateral.shape[-2:], mode="bilinear", align_corners=False) + lateral
    )


@BACKBONES.register()
class FPN(Backbone):
    """HandOccNet's feature pyramid on a LeakyReLU ResNet-50.

    ``forward(image (B,3,H,W))`` returns ``{"primary", "secondary"}``, both (B,256,H/8,W/8)
    (32x32 for HandOccNet's 256x256 crops), as ``output_shape()`` declares.

    Args:
        pretrained: ImageNet ResNet-50 weights for the ResNet part, in torchvision's key names:
            true (``resnet50-19c8e357.pth``, what HandOccNet downloads, from the hub cache or
            downloaded), a local torchvision-format file, or false/None/"" (random init); loaded
            by ``init_pretrained()`` in the initialise phase.
    """

    def __init__(self, pretrained: PretrainedSpec = None) -> None:
        super().__init__(pretrained=pretrained)
        resnet = ResNet(depth=50, activation="leakyrelu")
        self.toplayer = nn.Conv2d(2048, 256, kernel_size=1)
        self.layer0 = nn.Sequential(
            resnet.conv1, resnet.bn1, resnet.get_submodule("leakyrelu"), resnet.maxpool
        )
        self.layer1 = nn.Sequential(resnet.layer1)
        self.layer2 = nn.Sequential(resnet.layer2)
        self.layer3 = nn.Sequential(resnet.layer3)
        self.layer4 = nn.Sequential(resnet.layer4)
        self.smooth2 = nn.Conv2d(256, 256, kernel_size=3, padding=1)
        self.smooth3 = nn.Conv2d(256, 256, kernel_size=3, padding=1)
        self.latlayer1 = nn.Conv2d(1024, 256, kernel_size=1)
        self.latlayer2 = nn.Conv2d(512, 256, kernel_size=1)
        self.latlayer3 = nn.Conv2d(256, 256, kernel_size=1)
        self.attention_module = SpatialGate()
        self.pool = nn.AvgPool2d(2, stride=2)
        self.smooth2.requires_grad_(False)  # its output is unused in the original (see module doc)
        self._output_shape = {"primary": ShapeSpec(256, 8), "secondary": ShapeSpec(256, 8)}

    CONFIG_KEYS = ("PRETRAINED",)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """From a ``MODEL.BACKBONE`` node with ``TYPE: FPN`` and optional ``PRETRAINED``."""
        return {"pretrained": cfg.get("PRETRAINED", None)}

    def init_pretrained(self) -> Path | None:
        """Load torchvision ResNet-50 ImageNet weights into the ResNet part (``layer0..4``)."""
        return load_pretrained(_FPNTrunk(self), self.pretrained, RESNET_WEIGHTS[50])

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image (B,3,H,W) -> {"primary", "secondary"} features, each (B,256,H/8,W/8)."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"FPN expects image of shape (B,3,H,W), got {tuple(image.shape)}.")
        c2 = self.layer1(self.layer0(image))
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        p5 = self.toplayer(c5)
        p4 = _upsample_add(p5, self.latlayer1(c4))
        p3 = _upsample_add(p4, self.latlayer2(c3))
        p2 = _upsample_add(p3, self.latlayer3(c2))
        primary, secondary = self.attention_module(self.pool(self.smooth3(p2)))
        return {"primary": primary, "secondary": secondary}


class _FPNTrunk(nn.Module):
    """A view of an FPN's ResNet part (``layer0..4``, the same module objects), so torchvision
    ImageNet files load into it strictly through the adapter below."""

    def __init__(self, fpn: FPN) -> None:
        super().__init__()
        for name in ("layer0", "layer1", "layer2", "layer3", "layer4"):
            self.add_module(name, fpn.get_submodule(name))


_TORCHVISION_STEM = {"conv1.": "layer0.0.", "bn1.": "layer0.1."}


@state_dict_adapter(_FPNTrunk)
def _torchvision_to_fpn(
    entries: dict[str, torch.Tensor], module: _FPNTrunk
) -> dict[str, torch.Tensor]:
    """torchvision ResNet-50 keys -> FPN trunk keys: ``conv1``/``bn1`` -> ``layer0.0``/``layer0.1``,
    ``layerK.i`` -> ``layerK.0.i``; the ImageNet ``fc`` has no place here and is dropped. Entries
    already in the trunk's own layout pass unchanged."""
    if "conv1.weight" not in entries:
        return entries
    renamed: dict[str, torch.Tensor] = {}
    for key, value in entries.items():
        if key.startswith("fc."):
            continue
        for old, new in _TORCHVISION_STEM.items():
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        else:
            stage, _, rest = key.partition(".")
            if stage in ("layer1", "layer2", "layer3", "layer4"):
                key = f"{stage}.0.{rest}"
        renamed[key] = value
    return renamed
