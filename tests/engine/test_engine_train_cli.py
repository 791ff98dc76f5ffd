"""The train and test CLIs end to end on a tiny SyntheticHands config (CPU, one process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from engine_cli_helpers import memorise_config, only_experiment, run_module, write_config

EPOCHS = 30


def _metrics(exp: Path) -> dict:
    return json.loads((exp / "evaluations" / "test_eval.json").read_text())["metrics"]


def _test_cli(cfg: Path, checkpoint: Path, exp_root: Path) -> dict:
    result = run_module(
        "train.test_model",
        "--cfg",
        str(cfg),
        "--reload",
        str(checkpoint),
        "--exp_root",
        str(exp_root),
        "--workers",
        "0",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return _metrics(only_experiment(exp_root))


@pytest.mark.slow
def test_train_and_test_cli(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "tiny.yml", memorise_config(EPOCHS))
    exp_root = tmp_path / "exp"
    result = run_module(
        "train.train_model",
        "--cfg",
        str(cfg),
        "--exp_id",
        "tiny",
        "--exp_root",
        str(exp_root),
        "--workers",
        "0",
        "--snapshot",
        "10",
        "--eval_interval",
        "10",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    exp = only_experiment(exp_root)
    assert exp.name.startswith("tiny_")

    # the documented layout
    for name in (
        "dump_cfg.yaml",
        "train.log",
        "evaluations/test_eval.json",
        "evaluations/test_eval.txt",
        "evaluations/train_eval.txt",
        "evaluations/val_eval.txt",
    ):
        assert (exp / name).is_file(), name
    assert any((exp / "runs").iterdir())
    for folder in ("checkpoint", "checkpoint_10", "checkpoint_20", "checkpoint_30"):
        for name in ("IntegralPose.pth.tar", "train_param.pth.tar", "random_state.pth"):
            assert (exp / "checkpoints" / folder / name).is_file(), (folder, name)
    assert sorted(p.name for p in (exp / "checkpoints").iterdir()) == [
        "checkpoint",
        "checkpoint_10",
        "checkpoint_20",
        "checkpoint_30",
    ]
    train_param = torch.load(
        exp / "checkpoints/checkpoint_10/train_param.pth.tar", weights_only=True
    )
    assert train_param["epoch"] == 10
    assert (exp / "evaluations/val_eval.txt").read_text().count("evaluator msg") == 3

    # learning happened, and the CLI says where the results are
    summary = json.loads((exp / "evaluations" / "test_eval.json").read_text())
    trained, untrained = summary["metrics"], summary["untrained_metrics"]
    assert trained["num_samples"] == 4 and summary["epoch"] == EPOCHS
    assert trained["mpjpe"] < 0.65 * untrained["mpjpe"], (trained, untrained)
    assert "untrained MPJPE" in result.stdout and "trained MPJPE" in result.stdout
    assert str(exp) in result.stdout

    # test CLI on the final snapshot reproduces the final evaluation exactly
    latest = exp / "checkpoints" / "checkpoint_30" / "IntegralPose.pth.tar"
    retested = _test_cli(exp / "dump_cfg.yaml", latest, tmp_path / "eval_final")
    for key in ("mpjpe", "pa_mpjpe", "pck_auc", "num_samples"):
        assert retested[key] == pytest.approx(trained[key], rel=1e-9), key

    # a checkpoint in a published wrapped layout ({"state_dict": {"module.…"}}) loads strictly
    state = torch.load(exp / "checkpoints/checkpoint_10/IntegralPose.pth.tar", weights_only=True)
    wrapped = tmp_path / "wrapped.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, wrapped)
    plain = _test_cli(
        exp / "dump_cfg.yaml",
        exp / "checkpoints/checkpoint_10/IntegralPose.pth.tar",
        tmp_path / "eval_plain",
    )
    from_wrapped = _test_cli(exp / "dump_cfg.yaml", wrapped, tmp_path / "eval_wrapped")
    assert from_wrapped == plain
    assert plain["mpjpe"] != pytest.approx(trained["mpjpe"])  # epoch 10 differs from epoch 30
