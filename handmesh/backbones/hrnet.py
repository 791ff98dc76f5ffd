"""HRNet (HRNetV2-W18..W64 classification trunk) with the official state-dict key names.

Architecture and names follow HRNet/HRNet-Image-Classification (``cls_hrnet.py`` with the
``cls_hrnet_w*`` experiment files, identical for every width C except the channels):

* stem ``conv1``/``bn1``, ``conv2``/``bn2`` (3x3 stride 2 each, 64 channels), ReLU;
* ``layer1``: 4 Bottlenecks (64 -> 256);
* ``transition1..3`` and ``stage2..4`` (1, 4 and 3 HighResolutionModules with 2, 3, 4 branches of
  4 BasicBlocks; channels C, 2C, 4C, 8C at strides 4, 8, 16, 32), each module with ``branches``
  and ``fuse_layers``;
* the ImageNet classification head ``incre_modules``, ``downsamp_modules``, ``final_layer`` and
  ``classifier`` (only with ``with_classifier=True``).

The official ``hrnetv2_w{C}_imagenet_pretrained.pth`` files hold the whole classifier. Without
``with_classifier`` the registered layout adapter drops their head entries on load (logged); with
it they load strictly and ``forward`` also returns the ImageNet logits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from handmesh.backbones.base import Backbone, ShapeSpec
from handmesh.backbones.frozen_bn import init_conv_bn_
from handmesh.backbones.pretrained import PretrainedSpec, WeightsFile
from handmesh.backbones.resnet import BasicBlock, Bottleneck
from handmesh.checkpoint.adapters import drop_prefixes, state_dict_adapter
from handmesh.config.values import cfg_bool, cfg_int
from handmesh.errors import ArgumentError
from handmesh.registry import BACKBONES

__all__ = ["HRNET_WIDTHS", "HRNet", "HighResolutionModule"]


HRNET_WIDTHS = (18, 30, 32, 40, 44, 48, 64)  # the published cls_hrnet_w* configurations
HEAD_PREFIXES = ("incre_modules.", "downsamp_modules.", "final_layer.", "classifier.")
_HEAD_CHANNELS = (32, 64, 128, 256)  # incre_modules Bottleneck widths (x4 = 128..1024)
_MODULES_PER_STAGE = (1, 4, 3)  # stage2, stage3, stage4
_BLOCKS_PER_BRANCH = 4
BRANCH_NAMES = ("hr_branch1", "hr_branch2", "hr_branch3", "hr_branch4")


def _conv_bn(
    in_channels: int, out_channels: int, kernel: int, stride: int, relu: bool
) -> nn.Sequential:
    """Conv (no bias) + BatchNorm (+ ReLU): keys ``0.weight``, ``1.*``."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _residual_layer(
    block: type[BasicBlock] | type[Bottleneck], inplanes: int, planes: int, count: int
) -> nn.Sequential:
    """``count`` blocks at stride 1; the first gets a 1x1 downsample when channels change."""
    out_planes = planes * block.expansion
    downsample = None
    if inplanes != out_planes:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out_planes, 1, bias=False), nn.BatchNorm2d(out_planes)
        )
    layers = [block(inplanes, planes, 1, downsample)]
    layers += [block(out_planes, planes) for _ in range(1, count)]
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks followed by all-to-all fusion.

    ``forward(list of n maps (B,C_i,H/2^i,W/2^i))`` returns the same shapes. Output i is
    ReLU(sum_j f_ij(x_j)): for j > i a 1x1 conv + BN + nearest upsampling by 2^(j-i); for j < i,
    (i-j) stride-2 3x3 conv + BN steps (ReLU between steps, not after the last); x_i itself
    for j = i.
    """

    def __init__(
        self, channels: Sequence[int], blocks_per_branch: int = _BLOCKS_PER_BRANCH
    ) -> None:
        super().__init__()
        self.channels = tuple(channels)
        self.branches = nn.ModuleList(
            _residual_layer(BasicBlock, c, c, blocks_per_branch) for c in self.channels
        )
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(self._fuse_path(j, i) for j in range(len(self.channels)))
            for i in range(len(self.channels))
        )
        self.relu = nn.ReLU(inplace=False)

    def _fuse_path(self, source: int, target: int) -> nn.Module:
        c_in, c_out = self.channels[source], self.channels[target]
        if source == target:
            return nn.Identity()
        if source > target:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.Upsample(scale_factor=2 ** (source - target), mode="nearest"),
            )
        steps = target - source
        return nn.Sequential(
            *(
                _conv_bn(c_in, c_out if k == steps - 1 else c_in, 3, 2, relu=k < steps - 1)
                for k in range(steps)
            )
        )

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        features = [branch(x) for branch, x in zip(self.branches, features)]
        fused = []
        for paths in cast(Sequence[nn.ModuleList], self.fuse_layers):
            total = paths[0](features[0])
            for path, x in zip(paths[1:], features[1:]):
                total = total + path(x)
            fused.append(self.relu(total))
        return fused


def _transition(previous: Sequence[int], current: Sequence[int]) -> nn.ModuleList:
    """Maps stage outputs to the next stage's inputs: existing branches change channels with a
    3x3 conv (or pass through); the new lowest-resolution branch is a stride-2 3x3 conv from the
    previous lowest-resolution output (keys ``{i}.0.0.weight``, ``{i}.0.1.*``)."""
    layers: list[nn.Module] = []
    for i, channels in enumerate(current):
        if i < len(previous):
            same = previous[i] == channels
            layers.append(nn.Identity() if same else _conv_bn(previous[i], channels, 3, 1, True))
        else:
            layers.append(nn.Sequential(_conv_bn(previous[-1], channels, 3, 2, relu=True)))
    return nn.ModuleList(layers)


@BACKBONES.register("HRNet")
@BACKBONES.register("hrnet_w18")
@BACKBONES.register("hrnet_w32")
@BACKBONES.register("hrnet_w40")
@BACKBONES.register("hrnet_w48")
@BACKBONES.register("hrnet_w64")
class HRNet(Backbone):
    """HRNetV2 trunk returning the four resolution branches (and optionally their fusion).

    ``forward(image (B,3,H,W))`` returns ``hr_branch1..4`` (B, C*2^k, H/stride, W/stride) with
    strides 4, 8, 16, 32; with ``with_fused`` also ``hr_fused`` (B, 15C, H/4, W/4), the HRNetV2
    representation (branches 2-4 bilinearly upsampled, align_corners=False, and concatenated with
    branch 1); with ``with_classifier`` also ``hr_feature`` (B,2048) and ``hr_output`` (B,1000).

    Args:
        width: C, one of 18, 30, 32, 40, 44, 48, 64.
        with_fused: also return ``hr_fused``.
        with_classifier: keep the ImageNet head (``incre_modules`` ... ``classifier``).
        pretrained: false/None/"", true (``hrnetv2_w{C}_imagenet_pretrained.pth`` in the torch hub
            cache; the files cannot be downloaded automatically) or a local file path.
    """

    transition1: nn.ModuleList
    transition2: nn.ModuleList
    transition3: nn.ModuleList
    stage2: nn.Sequential
    stage3: nn.Sequential
    stage4: nn.Sequential

    def __init__(
        self,
        width: int = 32,
        with_fused: bool = False,
        with_classifier: bool = False,
        pretrained: PretrainedSpec = None,
    ) -> None:
        super().__init__(pretrained=pretrained)
        if width not in HRNET_WIDTHS:
            raise ArgumentError(f"width must be one of {HRNET_WIDTHS}, got {width!r}.")
        self.width = width
        self.with_fused = with_fused
        self.with_classifier = with_classifier
        self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _residual_layer(Bottleneck, 64, 64, 4)

        channels = [width * 2**k for k in range(4)]
        previous = [64 * Bottleneck.expansion]
        for index, modules in enumerate(_MODULES_PER_STAGE, start=1):
            current = channels[: index + 1]
            self.add_module(f"transition{index}", _transition(previous, current))
            stage = nn.Sequential(*(HighResolutionModule(current) for _ in range(modules)))
            self.add_module(f"stage{index + 1}", stage)
            previous = current
        if with_classifier:
            self._build_classifier(channels)

        self._output_shape = {
            name: ShapeSpec(c, s) for name, c, s in zip(BRANCH_NAMES, channels, (4, 8, 16, 32))
        }
        if with_fused:
            self._output_shape["hr_fused"] = ShapeSpec(sum(channels), 4)
        if with_classifier:
            self._output_shape["hr_feature"] = ShapeSpec(2048)
            self._output_shape["hr_output"] = ShapeSpec(1000)
        init_conv_bn_(self)  # as the original

    def pretrained_files(self) -> tuple[WeightsFile, ...]:
        return (_weights_file(self.width),)

    def _build_classifier(self, channels: Sequence[int]) -> None:
        """The ImageNet head: per-branch Bottleneck to 128..1024 channels, stride-2 merges, 1x1
        conv to 2048, global average pool, Linear to 1000 classes."""
        self.incre_modules = nn.ModuleList(
            _residual_layer(Bottleneck, c, h, 1) for c, h in zip(channels, _HEAD_CHANNELS)
        )
        widths = [h * Bottleneck.expansion for h in _HEAD_CHANNELS]
        self.downsamp_modules = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            )
            for c_in, c_out in zip(widths[:-1], widths[1:])
        )
        self.final_layer = nn.Sequential(
            nn.Conv2d(widths[-1], 2048, 1), nn.BatchNorm2d(2048), nn.ReLU(inplace=True)
        )
        self.classifier = nn.Linear(2048, 1000)

    CONFIG_KEYS = ("WIDTH", "PRETRAINED", "WITH_FUSED", "WITH_CLASSIFIER")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """From a ``MODEL.BACKBONE`` node: ``TYPE`` ("hrnet_w18".."hrnet_w64", or "HRNet" with
        ``WIDTH``), ``PRETRAINED``, ``WITH_FUSED``, ``WITH_CLASSIFIER``."""
        kind = cfg.get("TYPE", "HRNet")
        if kind == "HRNet":
            if "WIDTH" not in cfg:
                raise ArgumentError(f"TYPE HRNet needs WIDTH (one of {HRNET_WIDTHS}).")
            width = cfg_int(cfg, "WIDTH", 0)
        else:
            width = int(str(kind).removeprefix("hrnet_w"))
            if "WIDTH" in cfg and cfg_int(cfg, "WIDTH", 0) != width:
                raise ArgumentError(f"WIDTH {cfg['WIDTH']} contradicts TYPE {kind!r}.")
        return {
            "width": width,
            "with_fused": cfg_bool(cfg, "WITH_FUSED", False),
            "with_classifier": cfg_bool(cfg, "WITH_CLASSIFIER", False),
            "pretrained": cfg.get("PRETRAINED", None),
        }

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image (B,3,H,W) -> {hr_branch1..4[, hr_fused][, hr_feature, hr_output]}."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"HRNet expects image of shape (B,3,H,W), got {tuple(image.shape)}.")
        x = self.relu(self.bn1(self.conv1(image)))
        x = self.relu(self.bn2(self.conv2(x)))
        branches = [self.layer1(x)]
        for transition, stage in (
            (self.transition1, self.stage2),
            (self.transition2, self.stage3),
            (self.transition3, self.stage4),
        ):
            inputs = [layer(branches[i]) for i, layer in enumerate(transition[:-1])]
            inputs.append(transition[-1](branches[-1]))
            branches = stage(inputs)
        out = dict(zip(BRANCH_NAMES, branches))
        if self.with_fused:
            size = branches[0].shape[-2:]
            upsampled = [
                F.interpolate(b, size=size, mode="bilinear", align_corners=False)
                for b in branches[1:]
            ]
            out["hr_fused"] = torch.cat([branches[0], *upsampled], dim=1)
        if self.with_classifier:
            out["hr_feature"] = self._classifier_feature(branches)
            out["hr_output"] = self.classifier(out["hr_feature"])
        return out

    def _classifier_feature(self, branches: list[torch.Tensor]) -> torch.Tensor:
        y = self.incre_modules[0](branches[0])
        for incre, down, branch in zip(self.incre_modules[1:], self.downsamp_modules, branches[1:]):
            y = incre(branch) + down(y)
        return self.final_layer(y).mean(dim=(2, 3))


def _weights_file(width: int) -> WeightsFile:
    return WeightsFile(
        f"hrnetv2_w{width}_imagenet_pretrained.pth",
        url=None,
        hint=(
            "The HRNet ImageNet weights are shared through the links in the README of "
            "github.com/HRNet/HRNet-Image-Classification and cannot be downloaded automatically."
        ),
    )


@state_dict_adapter(HRNet)
def _hrnet_layout(entries: dict[str, torch.Tensor], module: HRNet) -> dict[str, torch.Tensor]:
    """The official ImageNet files into a trunk without classifier: drop the head entries."""
    if module.with_classifier:
        return entries
    return drop_prefixes(entries, HEAD_PREFIXES, f"HRNet-W{module.width} without classifier")
