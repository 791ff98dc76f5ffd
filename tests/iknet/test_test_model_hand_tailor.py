"""``python -m train.test_model_hand_tailor`` end to end on a tiny synthetic IntegralPose run: the
published metric set, the model's own joints for MPJPE, the fitted mesh for MPVPE (checked against
an independent loop), and the same numbers on two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from handmesh.config import config_from_dict
from handmesh.iknet import HandTailorFitter, IKNet, load_iknet, save_iknet
from handmesh.metrics import metrics_from_config
from handmesh.models.base import HandModel
from handmesh.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "engine"))
from engine_cli_helpers import tiny_config  # noqa: E402

TEST_SAMPLES = 6
BATCH = 4  # two evaluation batches: 4 + 2


def run(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip


def only_dir(root: Path) -> Path:
    (found,) = [p for p in root.iterdir() if p.is_dir()]
    return found


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A tiny synthetic IntegralPose experiment (its dump_cfg.yaml and a checkpoint in the
    experiment layout) and an IKNet weight file: (dump_cfg, checkpoint, iknet)."""
    from handmesh.config import dump_config
    from handmesh.engine.build import build_model

    root = tmp_path_factory.mktemp("hand_tailor")
    cfg = config_from_dict(tiny_config(epochs=1, train_samples=8, test_samples=TEST_SAMPLES))
    exp = root / "exp" / "tiny_2026_0101_0000_00"
    dump_config(cfg, exp / "dump_cfg.yaml")
    checkpoint = exp / "checkpoints" / "checkpoint" / "IntegralPose.pth.tar"
    checkpoint.parent.mkdir(parents=True)
    torch.manual_seed(2)
    torch.save(build_model(cfg).state_dict(), checkpoint)
    torch.manual_seed(3)
    iknet = save_iknet(IKNet(), root / "iknet.pt")
    return exp / "dump_cfg.yaml", checkpoint, iknet


@pytest.fixture(scope="module")
def batch_mode(
    trained: tuple[Path, Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict, str]:
    """The CLI's results (and output) with the original's batch regulariser, one process."""
    return evaluate_cli(trained, tmp_path_factory.mktemp("eval_batch"))


def evaluate_cli(trained: tuple[Path, Path, Path], out: Path, *extra: str) -> tuple[dict, str]:
    cfg, ckpt, iknet = trained
    done = run("train.test_model_hand_tailor", "--cfg", str(cfg), "--reload", str(ckpt),
               "--exp_root", str(out), "--workers", "0", "--device", "cpu", "--batch_size",
               str(BATCH), "--iknet", str(iknet), *extra)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    exp = only_dir(out)
    summary = json.loads((exp / "evaluations" / "test_eval.json").read_text())
    assert (exp / "evaluations" / "test_eval.txt").is_file()
    return summary["metrics"], done.stdout


def independent_metrics(trained: tuple[Path, Path, Path], reg_target: str) -> dict[str, float]:
    """Model joints, then the fit batch by batch, errors averaged over samples (mm)."""
    import handmesh
    from handmesh.config import load_config
    from handmesh.engine.build import build_dataset

    cfg_path, ckpt, iknet = trained
    cfg = load_config(cfg_path)
    model = handmesh.load_model(cfg_path, checkpoint=ckpt).eval()
    dataset = build_dataset(cfg, "TEST")
    fitter = HandTailorFitter(load_iknet(iknet), reg_target=reg_target, allow_synthetic=True)
    errors: dict[str, list[float]] = {"mpjpe": [], "mpvpe": [], "fitted_mpjpe": []}
    for start in range(0, TEST_SAMPLES, BATCH):
        samples = [dataset[i] for i in range(start, min(start + BATCH, TEST_SAMPLES))]
        batch = {k: torch.stack([torch.as_tensor(s[k]) for s in samples])
                 for k in ("image", "target_joints_3d", "target_verts_3d", "target_root_joint",
                           "target_cam_intr")}  # fmt: skip
        with torch.no_grad():
            joints = model(batch)["joints_3d"]
        fit = fitter(joints)
        for name, pred, gt in (("mpjpe", joints, batch["target_joints_3d"]),
                               ("mpvpe", fit["verts_3d"], batch["target_verts_3d"]),
                               ("fitted_mpjpe", fit["joints_3d"], batch["target_joints_3d"])):  # fmt: skip
            errors[name] += (pred - gt).norm(dim=-1).mean(-1).tolist()
    return {k: 1000 * float(np.mean(v)) for k, v in errors.items()}


@pytest.mark.slow
def test_cli_reports_the_published_metric_set_with_the_fitted_mesh(
    trained: tuple[Path, Path, Path], batch_mode: tuple[dict, str]
) -> None:
    metrics, stdout = batch_mode
    assert set(metrics) == {"mpjpe", "pck_auc", "mpvpe", "pa_mpjpe", "pa_mpvpe", "fitted_mpjpe",
                            "num_samples"}  # fmt: skip
    assert metrics["num_samples"] == TEST_SAMPLES
    expected = independent_metrics(trained, "batch")
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, rel=1e-4, abs=1e-3), key
    assert "batch regulariser" in stdout and f"({BATCH} samples in dataset order" in stdout
    assert f"MPVPE {metrics['mpvpe']:.2f} mm" in stdout


@pytest.mark.slow
@pytest.mark.ddp
def test_two_processes_give_the_same_numbers(
    trained: tuple[Path, Path, Path], batch_mode: tuple[dict, str], tmp_path: Path
) -> None:
    two, _ = evaluate_cli(trained, tmp_path / "two", "--nproc", "2")
    assert two == pytest.approx(batch_mode[0], rel=1e-6)


class MeshOnly(HandModel):
    """A stand-in mesh model: only its PREDICTS_MESH declaration is read."""

    PREDICTS_MESH = True
    CONFIG_KEYS = HandModel.CONFIG_KEYS

    @classmethod
    def from_config(cls, cfg: Any, *, data_preset: Any) -> dict[str, Any]:
        return {}


MODELS.register("MeshOnlyForHandTailorTest")(MeshOnly)


def test_config_of_the_cli_selects_the_published_set_and_the_fit() -> None:
    from train.test_model_hand_tailor import hand_tailor_config, parse_args

    base = config_from_dict(tiny_config())
    args = parse_args(["--cfg", "x.yml", "--per_sample_reg", "--iknet", "w.pt", "--nproc", "2"])
    cfg, fitted = hand_tailor_config(base, args.iknet, args.per_sample_reg)
    assert fitted
    assert [dict(n) for n in cfg.TEST.POSTPROCESS] == [
        {"TYPE": "HandTailorFit", "IKNET": "w.pt", "REG_TARGET": "sample"}
    ]
    metric_names = [m.name for m in metrics_from_config(cfg.TEST.METRIC, "TEST.METRIC")]
    assert metric_names == ["mpjpe", "mpvpe", "pck_auc", "pa_mpjpe", "pa_mpvpe", "fitted_mpjpe"]
    (pck,) = [m for m in metrics_from_config(cfg.TEST.METRIC) if m.name == "pck_auc"]
    np.testing.assert_allclose(pck.thresholds, np.linspace(0.0, 0.05, 20))
    cfg, _ = hand_tailor_config(base, "w.pt", per_sample_reg=False)
    assert cfg.TEST.POSTPROCESS[0]["REG_TARGET"] == "batch"

    data = tiny_config()
    data["MODEL"] = {"TYPE": "MeshOnlyForHandTailorTest"}
    cfg, fitted = hand_tailor_config(config_from_dict(data), "w.pt", per_sample_reg=False)
    assert not fitted and list(cfg.TEST.POSTPROCESS) == []
    assert "fitted_mpjpe" not in [m.name for m in metrics_from_config(cfg.TEST.METRIC)]
