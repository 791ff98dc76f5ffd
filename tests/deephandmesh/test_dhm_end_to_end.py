"""End to end on the synthetic default (slow tier): train CLI, test CLI, demo -> OBJ round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from handmesh.deephandmesh.hand_model import read_hand_obj
from handmesh.deephandmesh.synthetic_model import build_synthetic_template

REPO = Path(__file__).resolve().parents[2]


def _run(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def _memorise_config(tmp_path: Path) -> Path:
    """The synthetic config shrunk to seconds: 2 frames x 3 cameras, tested on the same data."""
    cfg = yaml.safe_load((REPO / "config/synthetic/train_deephandmesh.yml").read_text())
    data = {
        "TYPE": "DeepHandMeshSynthetic",
        "DATA_ROOT": str(tmp_path / "data"),
        "NUM_FRAMES": 2,
        "NUM_CAMERAS": 3,
        "NUM_VIEWS": 2,
        "RENDER_SIZE": [24, 24],
        "IMAGE_HW": [128, 84],
        "DEPTH_HW": [64, 42],
    }
    cfg["DATASET"] = {"TRAIN": data, "TEST": data}
    cfg["DATA_PRESET"]["IMAGE_SIZE"] = [32, 32]
    cfg["TRAIN"].update({"BATCH_SIZE": 6, "EPOCH": 25, "LR": 0.003, "LOG_INTERVAL": 5})
    path = tmp_path / "tiny_dhm.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.mark.slow
def test_trains_tests_and_the_demo_writes_the_obj(tmp_path: Path) -> None:
    cfg = _memorise_config(tmp_path)
    exp_root = tmp_path / "exp"
    result = _run("train.train_model", "--cfg", str(cfg), "--exp_id", "dhm", "--exp_root",
                  str(exp_root), "--workers", "0", "--device", "cpu", "--snapshot", "0",
                  "--checkpoint_interval", "1000")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (exp,) = exp_root.iterdir()
    summary = json.loads((exp / "evaluations" / "test_eval.json").read_text())
    before, after = summary["untrained_metrics"], summary["metrics"]
    assert after["dhm_mpjpe"] < 0.6 * before["dhm_mpjpe"], (before, after)
    assert after["dhm_depth_error"] < before["dhm_depth_error"], (before, after)
    checkpoint = exp / "checkpoints" / "checkpoint" / "DeepHandMesh.pth.tar"
    state = torch.load(checkpoint, weights_only=True)
    assert not any("laplacian" in key or "segmentation" in key for key in state)

    # the test CLI reproduces the trained model's numbers from the checkpoint
    test_root = tmp_path / "test_exp"
    result = _run("train.test_model", "--cfg", str(cfg), "--reload", str(checkpoint),
                  "--exp_root", str(test_root), "--workers", "0", "--device", "cpu")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (test_exp,) = test_root.iterdir()
    tested = json.loads((test_exp / "evaluations" / "test_eval.json").read_text())["metrics"]
    assert tested["dhm_mpjpe"] == pytest.approx(after["dhm_mpjpe"], rel=1e-4)

    # decode -> OBJ: the demo on the trained checkpoint, read back by the hand-model reader
    out = tmp_path / "mesh.obj"
    result = _run("handmesh.demo.deephandmesh", "--checkpoint", str(checkpoint), "--hand_model",
                  "synthetic", "--preset", "fist", "--out", str(out), "--png_size", "64")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote {out}" in result.stdout
    verts, faces, _, face_uvs = read_hand_obj(out)
    template = build_synthetic_template()
    np.testing.assert_array_equal(faces, template.faces)
    np.testing.assert_array_equal(face_uvs, template.face_uvs)
    # mm in the wrist frame: the wrist region near the origin, a hand-sized extent
    extent = np.ptp(verts / 10.0, axis=0)
    assert 60 < extent.max() < 250
    assert (out.with_suffix(".png")).is_file()
