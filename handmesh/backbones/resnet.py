"""ResNet-18/34/50/101/152 with torchvision's state-dict key names and OakInk-HMR's options.

Keys: ``conv1``, ``bn1``, ``layer{1..4}.{i}.conv{1,2,3}``, ``bn{1,2,3}``, ``downsample.{0,1}`` and
``fc`` (only with ``with_fc=True``), exactly as ``torchvision.models.resnet``; the ImageNet files
published by torchvision load strictly through ``handmesh.checkpoint`` (the registered layout
adapter drops their ``fc.*``, with a log line, when the model has no ``fc``; the loader matches
BatchNorm counters to the frozen / plain layout).

Batch normalisation (``frozen_bn``):

* ``"none"``: every BN is ``nn.BatchNorm2d`` (torchvision, I2L-MeshNet).
* ``"all"``: every BN is ``FrozenBatchNorm2d`` (fixed ImageNet statistics everywhere).
* ``"oakink"``: OakInk-HMR's ``FREEZE_BATCHNORM: True`` layout, reproduced on purpose: only the
  stem ``bn1``, the BNs of the first block of each stage and that block's ``downsample.1`` are
  frozen; blocks 1..n-1 of every stage keep ordinary, trainable ``nn.BatchNorm2d`` (with
  ``num_batches_tracked``). The published IntegralPose / RLE checkpoints have exactly this key set,
  so they load strictly only in this layout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from handmesh.backbones.base import Backbone, ShapeSpec
from handmesh.backbones.frozen_bn import FrozenBatchNorm2d, init_conv_bn_
from handmesh.backbones.pretrained import PretrainedSpec, WeightsFile
from handmesh.checkpoint.adapters import drop_prefixes, state_dict_adapter
from handmesh.config.values import cfg_bool, cfg_int, cfg_str
from handmesh.errors import ArgumentError
from handmesh.registry import BACKBONES

__all__ = [
    "RESNET_WEIGHTS",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
]


NormFactory = Callable[[int], nn.Module]

FROZEN_BN_MODES = ("none", "all", "oakink")

# Activation name -> factory. The name is also the attribute holding it (torchvision: ``relu``,
# HandOccNet's FPN ResNet: ``leakyrelu``, slope 0.01); activations have no state-dict entries.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "leakyrelu": lambda: nn.LeakyReLU(0.01, inplace=True),
}


def _check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ArgumentError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}.")
    return activation


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34). Output channels: planes."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormFactory = nn.BatchNorm2d,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm_layer(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = norm_layer(planes)
        self.activation = _check_activation(activation)
        setattr(self, activation, ACTIVATIONS[activation]())
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = getattr(self, self.activation)
        identity = x if self.downsample is None else self.downsample(x)
        out = act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return act(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride here, "ResNet v1.5") -> 1x1 with a residual. Output: 4 * planes."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormFactory = nn.BatchNorm2d,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = norm_layer(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = norm_layer(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = norm_layer(planes * self.expansion)
        self.activation = _check_activation(activation)
        setattr(self, activation, ACTIVATIONS[activation]())
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = getattr(self, self.activation)
        identity = x if self.downsample is None else self.downsample(x)
        out = act(self.bn1(self.conv1(x)))
        out = act(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return act(out + identity)


ARCHITECTURES: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}

_TORCHVISION_URL = "https://download.pytorch.org/models/"

# ImageNet-1k files published by torchvision, preferred first. The first name of each pair is the
# old URL OakInk-HMR and HandOccNet download; the second is torchvision's current IMAGENET1K_V1.
RESNET_WEIGHTS: dict[int, tuple[WeightsFile, ...]] = {
    depth: tuple(WeightsFile(name, _TORCHVISION_URL + name) for name in names)
    for depth, names in {
        18: ("resnet18-5c106cde.pth", "resnet18-f37072fd.pth"),
        34: ("resnet34-333f7ec4.pth", "resnet34-b627a593.pth"),
        50: ("resnet50-19c8e357.pth", "resnet50-0676ba61.pth"),
        101: ("resnet101-5d3b4d8f.pth", "resnet101-63fe2227.pth"),
        152: ("resnet152-b121ed2d.pth", "resnet152-394f9c45.pth"),
    }.items()
}

STAGE_NAMES = ("res_layer1", "res_layer2", "res_layer3", "res_layer4")


@BACKBONES.register("ResNet")
@BACKBONES.register("resnet18")
@BACKBONES.register("resnet34")
@BACKBONES.register("resnet50")
@BACKBONES.register("resnet101")
@BACKBONES.register("resnet152")
class ResNet(Backbone):
    """ResNet trunk returning every stage's features.

    ``forward(image (B,3,H,W))`` returns ``res_layer1..res_layer4`` (B,C_k,H/s_k,W/s_k) with strides
    4, 8, 16, 32 and ``res_layer4_mean`` (B,C_4), the spatial mean of ``res_layer4`` (plus
    ``res_output`` (B,num_classes) logits when ``with_fc``); ``output_shape()`` declares them.

    Args:
        depth: 18, 34, 50, 101 or 152.
        frozen_bn: "none", "all" or "oakink" (see the module docstring).
        with_fc: keep torchvision's ImageNet classifier ``fc`` (``num_classes`` outputs).
        pretrained: false/None/"" (random init), true (torchvision ImageNet weights from the hub
            cache or download) or a local state-dict path; stored here and loaded by
            ``init_pretrained()`` in the initialise phase (``handmesh.backbones.pretrained``).
        activation: "relu" (torchvision) or "leakyrelu" (HandOccNet's FPN), held in the
            attribute of that name.
    """

    conv1: nn.Conv2d
    bn1: nn.Module
    maxpool: nn.MaxPool2d
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(
        self,
        depth: int = 50,
        frozen_bn: str = "none",
        with_fc: bool = False,
        num_classes: int = 1000,
        pretrained: PretrainedSpec = None,
        activation: str = "relu",
    ) -> None:
        super().__init__(pretrained=pretrained)
        if depth not in ARCHITECTURES:
            raise ArgumentError(f"depth must be one of {sorted(ARCHITECTURES)}, got {depth!r}.")
        if frozen_bn not in FROZEN_BN_MODES:
            raise ArgumentError(f"frozen_bn must be one of {FROZEN_BN_MODES}, got {frozen_bn!r}.")
        block, layers = ARCHITECTURES[depth]
        self.depth = depth
        self.frozen_bn = frozen_bn
        self.with_fc = with_fc
        first_norm: NormFactory = nn.BatchNorm2d if frozen_bn == "none" else FrozenBatchNorm2d
        other_norm: NormFactory = FrozenBatchNorm2d if frozen_bn == "all" else nn.BatchNorm2d

        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = first_norm(64)
        self.activation = _check_activation(activation)
        setattr(self, activation, ACTIVATIONS[activation]())
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = 64
        for index, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if index == 0 else 2
            stage = _make_stage(
                block, inplanes, planes, blocks, stride, first_norm, other_norm, activation
            )
            self.add_module(f"layer{index + 1}", stage)
            inplanes = planes * block.expansion
        if with_fc:
            self.fc = nn.Linear(inplanes, num_classes)

        channels = [64 * block.expansion * 2**k for k in range(4)]
        self._output_shape = {
            name: ShapeSpec(c, s) for name, c, s in zip(STAGE_NAMES, channels, (4, 8, 16, 32))
        }
        self._output_shape["res_layer4_mean"] = ShapeSpec(channels[-1])
        if with_fc:
            self._output_shape["res_output"] = ShapeSpec(num_classes)
        init_conv_bn_(self)  # torchvision's init

    def pretrained_files(self) -> tuple[WeightsFile, ...]:
        return RESNET_WEIGHTS[self.depth]

    CONFIG_KEYS = ("DEPTH", "PRETRAINED", "FREEZE_BATCHNORM", "FROZEN_BN", "INTERM_FEAT")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """From a ``MODEL.BACKBONE`` node.

        Keys: ``TYPE`` ("resnet18".."resnet152", or "ResNet" with ``DEPTH``), ``PRETRAINED``,
        ``FREEZE_BATCHNORM`` (OakInk's bool: True -> frozen_bn="oakink", reproducing its mixed
        layout), ``FROZEN_BN`` ("none" | "all" | "oakink", overrides FREEZE_BATCHNORM; "all" is the
        fully frozen variant), ``INTERM_FEAT`` (OakInk's name; False keeps ``fc``).
        """
        kind = cfg.get("TYPE", "ResNet")
        if kind == "ResNet":
            if "DEPTH" not in cfg:
                raise ArgumentError("TYPE ResNet needs DEPTH (18, 34, 50, 101 or 152).")
            depth = cfg_int(cfg, "DEPTH", 0)
        else:
            depth = int(str(kind).removeprefix("resnet"))
            if "DEPTH" in cfg and cfg_int(cfg, "DEPTH", 0) != depth:
                raise ArgumentError(f"DEPTH {cfg['DEPTH']} contradicts TYPE {kind!r}.")
        frozen_bn = "oakink" if cfg_bool(cfg, "FREEZE_BATCHNORM", False) else "none"
        return {
            "depth": depth,
            "frozen_bn": cfg_str(cfg, "FROZEN_BN", frozen_bn).lower(),
            "with_fc": not cfg_bool(cfg, "INTERM_FEAT", True),
            "pretrained": cfg.get("PRETRAINED", None),
        }

    def forward_stem(self, image: torch.Tensor) -> torch.Tensor:
        """image (B,3,H,W) -> stem features (B,64,H/4,W/4) after conv1, bn1, activation, maxpool."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"ResNet expects image of shape (B,3,H,W), got {tuple(image.shape)}.")
        act = getattr(self, self.activation)
        return self.maxpool(act(self.bn1(self.conv1(image))))

    def forward_stages(self, stem: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stem features (B,64,H/4,W/4) -> the stage outputs (see the class docstring).

        Used on its own by I2L-MeshNet's mesh branch, which feeds a 64-channel map to layer1.
        """
        if stem.dim() != 4 or stem.shape[1] != 64:
            raise ValueError(
                f"ResNet.forward_stages expects stem features (B,64,H,W), got {tuple(stem.shape)}."
            )
        features: dict[str, torch.Tensor] = {}
        x = stem
        for name, stage in zip(STAGE_NAMES, (self.layer1, self.layer2, self.layer3, self.layer4)):
            x = stage(x)
            features[name] = x
        features["res_layer4_mean"] = x.mean(dim=(2, 3))
        if self.with_fc:
            features["res_output"] = self.fc(features["res_layer4_mean"])
        return features

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image (B,3,H,W) -> {res_layer1..4, res_layer4_mean[, res_output]}."""
        return self.forward_stages(self.forward_stem(image))


def _make_stage(
    block: type[BasicBlock] | type[Bottleneck],
    inplanes: int,
    planes: int,
    blocks: int,
    stride: int,
    first_norm: NormFactory,
    other_norm: NormFactory,
    activation: str,
) -> nn.Sequential:
    """One stage: block 0 (with downsample when the shape changes, norm ``first_norm``), then
    ``blocks - 1`` blocks with norm ``other_norm``."""
    out_planes = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out_planes:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out_planes, kernel_size=1, stride=stride, bias=False),
            first_norm(out_planes),
        )
    layers = [block(inplanes, planes, stride, downsample, first_norm, activation)]
    layers += [
        block(out_planes, planes, norm_layer=other_norm, activation=activation)
        for _ in range(1, blocks)
    ]
    return nn.Sequential(*layers)


@state_dict_adapter(ResNet)
def _resnet_layout(entries: dict[str, torch.Tensor], module: ResNet) -> dict[str, torch.Tensor]:
    """torchvision / OakInk files into this ResNet: drop ``fc.*`` without a classifier."""
    if module.with_fc:
        return entries
    return drop_prefixes(entries, ("fc.",), f"ResNet-{module.depth} without fc")
