"""The published ``config/handoccnet`` configs train and test on generated HO-3D / DexYCB trees.

Each runs as published (its datasets, augmentation, loss weights, schedule, test protocol) with
``--opts`` shrinking the sizes, pointing ``DATA_ROOT`` at the tree and turning ImageNet weights
off: one epoch of the train CLI, which tests at its end through the dataset's protocol (DexYCB:
MPJPE, Umeyama PA, mesh metrics, F-scores; HO-3D evaluation split: the submission zip).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.data.test_dexycb_reader import make_tree as make_dexycb_tree
from tests.data.test_ho3d_reader import EVAL as HO3D_EVAL
from tests.data.test_ho3d_reader import make_tree as make_ho3d_tree
from tests.engine.engine_cli_helpers import REPO, only_experiment, run_module

SMALL = [
    "DATA_PRESET.IMAGE_SIZE", "[128, 128]",  # the smallest the 4-level hourglass takes
    "DATA_PRESET.ALLOW_SYNTHETIC_MANO", "True",
    "MODEL.BACKBONE.PRETRAINED", "False",
    "TRAIN.BATCH_SIZE", "2", "TRAIN.EPOCH", "1",
]  # fmt: skip


def _train(config: str, data_root: Path, exp_root: Path) -> dict:
    opts = [*SMALL, "DATASET.TRAIN.DATA_ROOT", str(data_root),
            "DATASET.TEST.DATA_ROOT", str(data_root)]  # fmt: skip
    done = run_module(
        "train.train_model", "--cfg", str(REPO / "config" / "handoccnet" / config),
        "--exp_root", str(exp_root), "--workers", "0", "--device", "cpu", "--snapshot", "0",
        "--skip_untrained_eval", "--opts", *opts,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    exp = only_experiment(exp_root)
    return json.loads((exp / "evaluations" / "test_eval.json").read_text())


@pytest.mark.slow
def test_dexycb_config_trains_and_reports_the_published_metrics(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_dexycb_tree(data, "train", np.random.default_rng(0))
    test_annotations = make_dexycb_tree(data, "test", np.random.default_rng(1))
    metrics = _train("train_handoccnet_dexycb.yml", data, tmp_path / "exp")["metrics"]
    assert metrics["num_samples"] == len(test_annotations)  # test: nothing dropped
    for name in ("mpjpe", "pa_mpjpe_umeyama", "mpvpe", "pa_mpvpe_umeyama"):
        assert np.isfinite(metrics[name]) and metrics[name] > 0, name
    assert 0.0 <= metrics["f5"] <= metrics["f15"] <= 1.0  # F@5 mm, F@15 mm
    assert metrics["pa_mpjpe_umeyama"] <= metrics["mpjpe"]


@pytest.mark.slow
def test_ho3d_config_trains_and_writes_the_submission(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_ho3d_tree(data)
    summary = _train("train_handoccnet_ho3d.yml", data, tmp_path / "exp")
    assert summary["metrics"] == {"num_samples": len(HO3D_EVAL)}
    with zipfile.ZipFile(summary["exported"]["ho3d_submission"]) as archive:
        joints, verts = json.loads(archive.read("pred.json"))
    assert np.asarray(joints).shape == (len(HO3D_EVAL), 21, 3)
    assert np.asarray(verts).shape == (len(HO3D_EVAL), 778, 3)
