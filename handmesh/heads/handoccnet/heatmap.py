"""HandOccNet's 2D branch (``common/nets/hand_head.py``): hourglass heatmaps and their encoder.

* :class:`HeatmapHead` (the original's ``hand_regHead``, 1 stack): a depth-4 hourglass of
  pre-activation bottlenecks, one more bottleneck (``res``), conv-BN-LeakyReLU (``fc``) and a 1x1
  conv to 21 latents (``score``). The latents times a learned per-joint temperature ``betas``
  (21, 1) go through a softmax over the 32x32 positions (:func:`spatial_softmax`), and the
  soft-argmax with bin centres ``(i + 0.5) / 32`` (buffers ``uu``, ``vv``) gives the 2D joints in
  [0, 1] crop units (:func:`soft_argmax_2d`).
* :class:`HeatmapEncoder` (``hand_Encoder``): heatmaps and the ``fc`` features, each through a
  1x1 conv, summed, then 4 x (2 residual modules + max-pool 2) from 32x32 to 2x2, flattened (C, H,
  W order) to 1024 values.

Every LeakyReLU has slope 0.01; up-sampling in the hourglass is nearest-neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from handmesh.errors import ArgumentError

__all__ = [
    "ConvBNLeaky",
    "HeatmapEncoder",
    "HeatmapHead",
    "Hourglass",
    "PreActBottleneck",
    "PreActResidual",
    "soft_argmax_2d",
    "spatial_softmax",
]


def spatial_softmax(latents: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """(B, J, H, W) latents, (J, 1) temperatures -> (B, J, H, W) maps summing to 1 per joint."""
    batch, joints, height, width = latents.shape
    scaled = latents.reshape(batch, joints, height * width) * betas
    return scaled.softmax(dim=2).view(batch, joints, height, width)


def soft_argmax_2d(heatmaps: torch.Tensor, uu: torch.Tensor, vv: torch.Tensor) -> torch.Tensor:
    """(B, J, H, W) maps and (H, W) column/row coordinates -> (B, J, 2) expected (x, y)."""
    return torch.stack(((heatmaps * uu).sum(dim=(2, 3)), (heatmaps * vv).sum(dim=(2, 3))), dim=2)


def _preact_layers(channels: int) -> tuple[list[nn.BatchNorm2d], list[nn.Conv2d]]:
    """The BNs and convs of a pre-activation bottleneck: C -> C/2 (1x1) -> C/2 (3x3) -> C (1x1)."""
    planes = channels // 2
    bns = [nn.BatchNorm2d(channels), nn.BatchNorm2d(planes), nn.BatchNorm2d(planes)]
    convs = [
        nn.Conv2d(channels, planes, kernel_size=1),
        nn.Conv2d(planes, planes, kernel_size=3, padding=1),
        nn.Conv2d(planes, channels, kernel_size=1),
    ]
    return bns, convs


def _preact_forward(
    x: torch.Tensor, bns: Sequence[nn.Module], convs: Sequence[nn.Module], act: nn.Module
) -> torch.Tensor:
    out = x
    for bn, conv in zip(bns, convs):
        out = conv(act(bn(out)))
    return out + x


class PreActBottleneck(nn.Module):
    """BN-LReLU-1x1 (C -> C/2), BN-LReLU-3x3, BN-LReLU-1x1 (-> C), plus the identity (the
    original's hourglass ``Bottleneck``, expansion 2, every conv with a bias)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        bns, convs = _preact_layers(channels)
        # registration order = the original's (state-dict order)
        self.bn1, self.conv1 = bns[0], convs[0]
        self.bn2, self.conv2 = bns[1], convs[1]
        self.bn3, self.conv3 = bns[2], convs[2]
        self.leakyrelu = nn.LeakyReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bns = [self.bn1, self.bn2, self.bn3]
        return _preact_forward(x, bns, [self.conv1, self.conv2, self.conv3], self.leakyrelu)


class PreActResidual(nn.Module):
    """The encoder's ``Residual``: the block of :class:`PreActBottleneck` under the original's
    other parameter names (``bn``, ``conv1``, ``bn1``, ``conv2``, ``bn2``, ``conv3``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        bns, convs = _preact_layers(channels)
        self.bn = bns[0]
        self.leakyrelu = nn.LeakyReLU(inplace=True)
        self.conv1, self.bn1 = convs[0], bns[1]
        self.conv2, self.bn2 = convs[1], bns[2]
        self.conv3 = convs[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bns = [self.bn, self.bn1, self.bn2]
        return _preact_forward(x, bns, [self.conv1, self.conv2, self.conv3], self.leakyrelu)


class ConvBNLeaky(nn.Module):
    """``BasicBlock``: ``block`` = conv (bias) + BatchNorm + LeakyReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def _bottleneck_seq(channels: int) -> nn.Sequential:
    return nn.Sequential(PreActBottleneck(channels))


class Hourglass(nn.Module):
    """Recursive hourglass (Newell et al.) of ``depth`` levels on (B, channels, H, W) maps.

    ``hg[n - 1]`` holds level n's residual sequences: 0 skip branch, 1 after the 2x2 max-pool,
    2 after the inner level; the innermost level (``hg[0]``) has a 4th in place of the recursion.
    The coarse result is up-sampled x2 (nearest) and added to the skip branch.
    """

    def __init__(self, channels: int = 256, depth: int = 4) -> None:
        super().__init__()
        if depth < 1:
            raise ArgumentError(f"Hourglass: depth must be >= 1, got {depth}")
        self.depth = depth
        self.hg = nn.ModuleList(
            nn.ModuleList(_bottleneck_seq(channels) for _ in range(4 if level == 0 else 3))
            for level in range(depth)
        )

    def _level(self, n: int, x: torch.Tensor) -> torch.Tensor:
        branches: nn.ModuleList = self.hg[n - 1]  # type: ignore[assignment]
        skip = branches[0](x)
        low = branches[1](F.max_pool2d(x, 2, stride=2))
        low = self._level(n - 1, low) if n > 1 else branches[3](low)
        low = branches[2](low)
        return skip + F.interpolate(low, scale_factor=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._level(self.depth, x)


class HeatmapHead(nn.Module):
    """Features (B, channels, res, res) -> heatmaps (B, J, res, res), the ``fc`` encoding
    (B, channels, res, res) and 2D joints (B, J, 2) in [0, 1] crop units (x right, y down).

    Args:
        resolution: side of the feature / heatmap grid (32).
        num_joints: J (21).
        channels: feature channels (256).
        hourglass_depth: levels of the hourglass (4).
    """

    uu: torch.Tensor
    vv: torch.Tensor

    def __init__(
        self,
        resolution: int = 32,
        num_joints: int = 21,
        channels: int = 256,
        hourglass_depth: int = 4,
    ) -> None:
        super().__init__()
        if resolution % (2**hourglass_depth):
            raise ArgumentError(
                f"HeatmapHead: resolution {resolution} must be divisible by 2 ** hourglass_depth "
                f"({2**hourglass_depth})"
            )
        self.resolution = resolution
        self.num_joints = num_joints
        self.betas = nn.Parameter(torch.ones(num_joints, 1))
        centres = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution
        self.register_buffer("uu", centres.expand(resolution, resolution).clone())  # column
        self.register_buffer("vv", centres[:, None].expand(resolution, resolution).clone())  # row
        self.hg = nn.ModuleList([Hourglass(channels, hourglass_depth)])
        self.res = nn.ModuleList([_bottleneck_seq(channels)])
        self.fc = nn.ModuleList([ConvBNLeaky(channels, channels, kernel_size=1)])
        self.score = nn.ModuleList([nn.Conv2d(channels, num_joints, kernel_size=1)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (heatmaps, encoding, joints_2d in [0, 1])."""
        y = self.fc[0](self.res[0](self.hg[0](x)))
        heatmaps = spatial_softmax(self.score[0](y), self.betas)
        return heatmaps, y, soft_argmax_2d(heatmaps, self.uu, self.vv)


class HeatmapEncoder(nn.Module):
    """Heatmaps (B, J, res, res) + encoding (B, C, res, res) -> (B, C * (res / 2**blocks)**2).

    Args:
        num_joints: heatmap channels (21).
        channels: C (256).
        num_blocks: residual-pair + max-pool stages (4).
        modules_per_block: residual modules per stage (2).
    """

    def __init__(
        self,
        num_joints: int = 21,
        channels: int = 256,
        num_blocks: int = 4,
        modules_per_block: int = 2,
    ) -> None:
        super().__init__()
        self.num_blocks = num_blocks
        self.modules_per_block = modules_per_block
        self.heatmap_conv = nn.Conv2d(num_joints, channels, kernel_size=1)
        self.encoding_conv = nn.Conv2d(channels, channels, kernel_size=1)
        self.reg = nn.ModuleList(
            PreActResidual(channels) for _ in range(num_blocks * modules_per_block)
        )

    def forward(self, heatmaps: torch.Tensor, encoding: torch.Tensor) -> torch.Tensor:
        x = self.heatmap_conv(heatmaps) + self.encoding_conv(encoding)
        for block in range(self.num_blocks):
            for index in range(self.modules_per_block):
                x = self.reg[block * self.modules_per_block + index](x)
            x = F.max_pool2d(x, 2, stride=2)
        return x.flatten(1)
