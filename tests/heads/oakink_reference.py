"""Shared by the RLE / I2L-MeshNet tests: the published key layouts and reproducible inputs.

Reference numbers in the tests were produced by running the original OakInk-HMR / RLE modules
(outside this repository) on the inputs below, with weights from :func:`fill_deterministic_`,
so both sides see identical weights without sharing a random generator.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import torch
from torch import nn

PUBLISHED = Path(__file__).parent / "published"


def published_layout(model: str) -> list[tuple[str, tuple[int, ...], str]]:
    """``published/<model>.keys`` -> [(key, shape, dtype name)] in state-dict order."""
    entries = []
    for line in (PUBLISHED / f"{model}.keys").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, shape, dtype = line.split()
        dims = tuple(int(d) for d in shape.strip("[]").split(",") if d)
        entries.append((key, dims, dtype))
    return entries


def layout(module: nn.Module) -> list[tuple[str, tuple[int, ...], str]]:
    """A module's state dict as [(key, shape, dtype name)] in order."""
    return [
        (key, tuple(value.shape), str(value.dtype).removeprefix("torch."))
        for key, value in module.state_dict().items()
    ]


def sine(*shape: int, freq: float, phase: float = 0.0, amp: float = 1.0) -> torch.Tensor:
    """A float64 tensor ``amp * sin(freq * k + phase)`` over the flattened index k."""
    numel = math.prod(shape)
    return (amp * torch.sin(freq * torch.arange(numel, dtype=torch.float64) + phase)).view(shape)


def fill_deterministic_(module: nn.Module) -> None:
    """Set every parameter and BN running statistic from a sine pattern seeded by its key.

    Weights (2+ dims): ``sin / sqrt(fan_in)``; 1-D weights ``1 + 0.1 sin``; biases and running
    means ``0.1 sin``; running variances ``1 + 0.25 (1 + sin)``. Other buffers are left alone.
    """
    with torch.no_grad():
        for key, tensor in module.state_dict(keep_vars=True).items():
            is_stat = key.endswith(("running_mean", "running_var"))
            if not tensor.is_floating_point() or not (isinstance(tensor, nn.Parameter) or is_stat):
                continue
            phase = (zlib.crc32(key.encode()) % 1000) / 1000.0 * 2 * math.pi
            wave = torch.sin(0.37 * torch.arange(tensor.numel(), dtype=torch.float64) + phase)
            wave = wave.view(tensor.shape)
            name = key.rsplit(".", 1)[-1]
            if name == "running_var":
                value = 1.0 + 0.25 * (1.0 + wave)
            elif name in ("running_mean", "bias"):
                value = 0.1 * wave
            elif tensor.dim() == 1:
                value = 1.0 + 0.1 * wave
            else:
                value = wave / math.sqrt(tensor.numel() / tensor.shape[0])
            tensor.copy_(value.to(tensor.dtype))
