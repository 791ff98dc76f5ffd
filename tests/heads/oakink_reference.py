"""Shared by the RLE / I2L-MeshNet tests: the published key layouts and reproducible inputs.

Reference numbers in the tests were produced by running the original OakInk-HMR / RLE modules
(outside this repository) on the inputs below, with weights from :func:`fill_deterministic_`,
so both sides see identical weights without sharing a random generator.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass
class CliRun:
    """What :func:`train_then_retest` observed."""

    trained: dict[str, Any]
    untrained: dict[str, Any]
    retested: dict[str, Any]
    checkpoint: Path
    log: str


def train_then_retest(cfg: dict[str, Any], tmp_path: Path) -> CliRun:
    """Train with ``train.train_model`` (one process, no workers), then test the final checkpoint
    with ``train.test_model --reload``; both must succeed."""
    from tests.engine.engine_cli_helpers import only_experiment, run_module, write_config

    config = write_config(tmp_path / "config.yml", cfg)
    run = run_module(
        "train.train_model", "--cfg", str(config), "--exp_id", "e2e", "--exp_root",
        str(tmp_path / "exp"), "--workers", "0", "--eval_interval", "-1", "--snapshot", "0",
        "--checkpoint_interval", "1000",  # one checkpoint, after the last epoch
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    exp = only_experiment(tmp_path / "exp")
    summary = json.loads((exp / "evaluations" / "test_eval.json").read_text())
    checkpoint = exp / "checkpoints" / "checkpoint" / f"{cfg['MODEL']['TYPE']}.pth.tar"
    retest = run_module(
        "train.test_model", "--cfg", str(exp / "dump_cfg.yaml"), "--reload", str(checkpoint),
        "--exp_root", str(tmp_path / "eval"), "--workers", "0",
    )  # fmt: skip
    assert retest.returncode == 0, retest.stderr[-3000:]
    retested = json.loads(
        (only_experiment(tmp_path / "eval") / "evaluations" / "test_eval.json").read_text()
    )["metrics"]
    return CliRun(
        summary["metrics"],
        summary["untrained_metrics"],
        retested,
        checkpoint,
        run.stdout + run.stderr,
    )


def assert_refuses_other_layout(model: nn.Module, other: str, tmp_path: Path) -> None:
    """A checkpoint with five entries of the published ``other`` layout is refused with one
    CheckpointError naming this model, the counts and the foreign keys."""
    from handmesh.checkpoint import load_weights
    from handmesh.errors import CheckpointError

    entries = published_layout(other)[-5:]
    path = tmp_path / f"{other}.pth.tar"
    torch.save({key: torch.zeros(shape) for key, shape, _ in entries}, path)
    try:
        load_weights(model, path)
    except CheckpointError as err:
        message = str(err)
    else:
        raise AssertionError(f"a {other} checkpoint was loaded into {type(model).__name__}")
    expected = len(model.state_dict())
    assert type(model).__name__ in message and f"missing keys {expected}" in message, message
    assert "unexpected keys 5" in message and entries[-1][0] in message, message


def reference_image_batch() -> dict[str, torch.Tensor]:
    """The float64 batch of the models' reference runs: a 2 x 3 x 64 x 64 sine image, the roots
    (m) and the crop intrinsics (px)."""
    root = torch.tensor([[0.01, -0.02, 0.6], [-0.03, 0.01, 0.7]], dtype=torch.float64)
    intr = torch.tensor(
        [
            [[128.0, 0.0, 32.0], [0.0, 121.6, 31.0], [0.0, 0.0, 1.0]],
            [[115.2, 0.0, 33.0], [0.0, 118.4, 32.0], [0.0, 0.0, 1.0]],
        ],
        dtype=torch.float64,
    )
    image = sine(2, 3, 64, 64, freq=0.0013, phase=0.2, amp=0.5)
    return {"image": image, "target_root_joint": root, "target_cam_intr": intr}
