"""SIGKILL mid-epoch, ``--resume``: the final weights equal an uninterrupted run's, bit for bit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from engine_cli_helpers import REPO, only_experiment, run_module, tiny_config, write_config

EPOCHS = 3


def _train_args(cfg: Path, exp_root: Path) -> list[str]:
    return [
        "--cfg",
        str(cfg),
        "--exp_root",
        str(exp_root),
        "--workers",
        "0",
        "--eval_interval",
        "-1",
        "--skip_untrained_eval",
        "--snapshot",
        "1",
    ]


def _final_weights(exp: Path) -> dict:
    path = exp / "checkpoints" / "checkpoint" / "IntegralPose.pth.tar"
    return torch.load(path, weights_only=True)


@pytest.mark.slow
def test_killed_run_resumes_exactly(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "tiny.yml", tiny_config(epochs=EPOCHS, train_samples=24))

    uninterrupted_root = tmp_path / "full"
    result = run_module("train.train_model", *_train_args(cfg, uninterrupted_root))
    assert result.returncode == 0, result.stderr[-3000:]
    expected = _final_weights(only_experiment(uninterrupted_root))

    killed_root = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "train.train_model", *_train_args(cfg, killed_root)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    first = None
    while time.monotonic() < deadline and process.poll() is None:
        found = list(killed_root.glob("*/checkpoints/checkpoint_1/train_param.pth.tar"))
        if found:
            first = found[0]
            break
        time.sleep(0.02)
    assert first is not None, "the first checkpoint never appeared"
    process.send_signal(signal.SIGKILL)
    process.wait()
    exp = only_experiment(killed_root)
    done = torch.load(exp / "checkpoints/checkpoint/train_param.pth.tar", weights_only=True)[
        "epoch"
    ]
    assert done < EPOCHS  # killed before the end

    result = run_module(
        "train.train_model",
        "--resume",
        str(exp),
        "--workers",
        "0",
        "--eval_interval",
        "-1",
        "--snapshot",
        "1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        f"Resumed from {exp / 'checkpoints' / 'checkpoint'} after epoch {done}"
        in (exp / "train.log").read_text()
    )
    resumed = _final_weights(exp)
    assert list(resumed) == list(expected)
    for key, value in expected.items():
        assert torch.equal(resumed[key], value), key
