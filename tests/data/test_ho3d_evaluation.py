"""``train.test_model`` on the HO-3D evaluation split: an official snapshot reloaded, the
submission zip written through the dataset's exporter, identical on 1 and 2 processes."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from handmesh.config import config_from_dict
from handmesh.engine import build_dataset, build_model
from tests.data.test_ho3d_reader import EVAL, make_tree
from tests.engine.engine_cli_helpers import only_experiment, run_module, write_config

# HO-3D's order (HandOccNet's HO3D.joints_name) as canonical indices: MANO's 16, then the tips
HO3D_FROM_CANONICAL = [0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3, 4, 8, 12, 16, 20]


def _config(data_root: Path) -> dict:
    return {
        "DATA_PRESET": {
            "IMAGE_SIZE": [128, 128],
            "CENTER_IDX": 0,
            "BBOX_EXPAND_RATIO": 1.5,
            "IMAGE_NORM": "unit",
            "TRANSFORM": "handoccnet",
            "MANO_ROOT": "/nonexistent",
            "ALLOW_SYNTHETIC_MANO": True,
        },
        "DATASET": {
            "TEST": {"TYPE": "HO3D", "DATA_ROOT": str(data_root), "DATA_SPLIT": "evaluation"}
        },
        "TRAIN": {"BATCH_SIZE": 2},
        "MODEL": {"TYPE": "HandOccNet", "BACKBONE": {"TYPE": "FPN", "PRETRAINED": False}},
    }


def _submission(exp: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    summary = json.loads((exp / "evaluations" / "test_eval.json").read_text())
    path = Path(summary["exported"]["ho3d_submission"])
    assert path == exp / "evaluations" / "pred.zip"
    with zipfile.ZipFile(path) as archive:
        joints, verts = json.loads(archive.read("pred.json"))
    return np.asarray(joints), np.asarray(verts), summary


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("ho3d_eval")
    make_tree(root / "data")
    cfg_dict = _config(root / "data")
    cfg_path = write_config(root / "cfg.yml", cfg_dict)
    torch.manual_seed(0)
    model = build_model(config_from_dict(cfg_dict))
    with torch.no_grad():  # non-trivial BN statistics
        for name, buf in model.named_buffers():
            if name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
    network = {f"module.{k}": v for k, v in model.state_dict().items()}
    ckpt = root / "snapshot_70.pth.tar"
    torch.save({"epoch": 69, "network": network, "optimizer": {}}, ckpt)
    return root, cfg_path, ckpt


@pytest.mark.slow
def test_submission_from_an_official_snapshot(setup: tuple[Path, Path, Path]) -> None:
    root, cfg_path, ckpt = setup
    args = ("--cfg", str(cfg_path), "--reload", str(ckpt), "--exp_root", str(root / "one"))
    done = run_module("train.test_model", *args, "--device", "cpu", "--workers", "0")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "HO-3D submission (3 samples)" in done.stdout
    joints, verts, summary = _submission(only_experiment(root / "one"))
    assert summary["metrics"] == {"num_samples": 3}
    assert joints.shape == (3, 21, 3) and verts.shape == (3, 778, 3)
    # independent: the reloaded model on each evaluation sample, in annotation file order
    cfg = config_from_dict(_config(root / "data"))
    model = build_model(cfg, ckpt).eval()
    dataset = build_dataset(cfg, "TEST")
    for i, (ann_id, _, _) in enumerate(EVAL):
        sample = dataset[i]
        with torch.no_grad():
            preds = model({k: v[None] for k, v in sample.items() if torch.is_tensor(v)})
        expected = preds["joints_3d"][0].numpy()[HO3D_FROM_CANONICAL] * [1, -1, -1]
        np.testing.assert_allclose(joints[i], expected, atol=1e-5)
        np.testing.assert_allclose(verts[i], preds["verts_3d"][0].numpy() * [1, -1, -1], atol=1e-5)
        root_cam = [0.01 * ann_id, -0.02, 0.5]  # make_tree's root_joint_cam: the wrist is there
        np.testing.assert_allclose(joints[i, 0] * [1, -1, -1], root_cam, atol=1e-6)


@pytest.mark.ddp
def test_two_processes_write_the_same_submission(setup: tuple[Path, Path, Path]) -> None:
    root, cfg_path, ckpt = setup
    results = []
    for nproc in ("1", "2"):
        out = root / f"nproc{nproc}"
        args = ("--cfg", str(cfg_path), "--reload", str(ckpt), "--exp_root", str(out))
        done = run_module(
            "train.test_model", *args, "--device", "cpu", "--workers", "0", "--nproc", nproc
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results.append(_submission(only_experiment(out))[:2])
    for single, double in zip(*results):
        np.testing.assert_allclose(single, double, atol=1e-6)
