"""Two CPU processes (gloo): training completes with identical replicas, evaluation is exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_cli_helpers import only_experiment, run_module, tiny_config, write_config

TEST_SAMPLES = 7  # odd: DistributedSampler pads one repeat that must not be counted


def _metrics(exp: Path) -> dict:
    return json.loads((exp / "evaluations" / "test_eval.json").read_text())["metrics"]


@pytest.mark.slow
@pytest.mark.ddp
def test_two_process_training_and_exact_evaluation(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "tiny.yml", tiny_config(epochs=2, train_samples=8, test_samples=TEST_SAMPLES)
    )
    exp_root = tmp_path / "exp"
    result = run_module(
        "train.train_model",
        "--cfg",
        str(cfg),
        "--exp_root",
        str(exp_root),
        "--workers",
        "0",
        "--device",
        "cpu",
        "--nproc",
        "2",
        "--eval_interval",
        "-1",
        "--skip_untrained_eval",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    exp = only_experiment(exp_root)
    log = (exp / "train.log").read_text()
    assert "2 process(es) on cpu, batch 2 per process" in log
    assert "replica check: parameters identical on all 2 ranks" in log
    two_process = _metrics(exp)
    assert two_process["num_samples"] == TEST_SAMPLES

    # the same checkpoint tested in one process gives the same numbers
    checkpoint = exp / "checkpoints" / "checkpoint" / "IntegralPose.pth.tar"
    for nproc in ("1", "2"):
        eval_root = tmp_path / f"eval_{nproc}"
        result = run_module(
            "train.test_model",
            "--cfg",
            str(exp / "dump_cfg.yaml"),
            "--reload",
            str(checkpoint),
            "--exp_root",
            str(eval_root),
            "--workers",
            "0",
            "--device",
            "cpu",
            "--nproc",
            nproc,
            "--batch_size",
            "2",
        )
        assert result.returncode == 0, result.stderr[-3000:]
        metrics = _metrics(only_experiment(eval_root))
        assert metrics["num_samples"] == TEST_SAMPLES
        for key in ("mpjpe", "pa_mpjpe", "pck_auc"):
            assert metrics[key] == pytest.approx(two_process[key], rel=1e-6), (nproc, key)
