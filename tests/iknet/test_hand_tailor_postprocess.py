"""The HandTailorFit POSTPROCESS step and the fitted_mpjpe metric, built from config nodes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import natural_hands

from handmesh.errors import CheckpointError, ConfigError, ConfigKeyError
from handmesh.iknet import HandTailorFitter, IKNet, load_iknet, save_iknet
from handmesh.metrics import Evaluator, metrics_from_config
from handmesh.postprocess import build_postprocess

PRESET = {"ALLOW_SYNTHETIC_MANO": True}


@pytest.fixture()
def iknet_file(tmp_path: Path) -> Path:
    torch.manual_seed(1)
    return save_iknet(IKNet(), tmp_path / "iknet.pt")


def test_step_adds_the_fitted_mesh_and_joints_and_keeps_the_model_joints(iknet_file: Path) -> None:
    joints = natural_hands(4, seed=2).float()
    for reg_target in ("batch", "sample"):
        node = {"TYPE": "HandTailorFit", "IKNET": str(iknet_file), "REG_TARGET": reg_target}
        (step,) = build_postprocess([node], PRESET)
        preds = {"joints_3d": joints.clone(), "uvd": torch.zeros(4, 21, 3)}
        out = step(preds, {})
        expected = HandTailorFitter(load_iknet(iknet_file), reg_target=reg_target,
                                    allow_synthetic=True)(joints)  # fmt: skip
        assert torch.equal(out["joints_3d"], joints) and torch.equal(out["uvd"], preds["uvd"])
        torch.testing.assert_close(out["verts_3d"], expected["verts_3d"], atol=1e-6, rtol=0)
        torch.testing.assert_close(
            out["fitted_joints_3d"], expected["joints_3d"], atol=1e-6, rtol=0
        )
        assert step.fitter.reg_target == reg_target


def test_mesh_predictions_pass_through_unfitted(iknet_file: Path) -> None:
    (step,) = build_postprocess([{"TYPE": "HandTailorFit", "IKNET": str(iknet_file)}], PRESET)
    preds = {"joints_3d": torch.zeros(2, 21, 3), "verts_3d": torch.ones(2, 778, 3)}
    assert step(preds, {}) is preds


def test_quirk_options_reach_the_fitter(iknet_file: Path) -> None:
    node = {"TYPE": "HandTailorFit", "IKNET": str(iknet_file), "ADAM_STEP_QUIRK": False,
            "OPTIMIZE_BONE": False, "STEPS": 7}  # fmt: skip
    (step,) = build_postprocess([node], PRESET)
    fitter = step.fitter
    assert (fitter.adam_step_quirk, fitter.optimize_bone, fitter.steps) == (False, False, 7)
    assert fitter.reg_target == "batch"  # the original's default


def test_config_errors_name_the_node(tmp_path: Path, iknet_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"TEST.POSTPROCESS\[0\] \(HandTailorFit\): REG_TARGET"):
        build_postprocess([{"TYPE": "HandTailorFit", "IKNET": str(iknet_file),
                            "REG_TARGET": "mean"}], PRESET)  # fmt: skip
    with pytest.raises(ConfigKeyError, match=r"REG_TARGETS"):
        build_postprocess([{"TYPE": "HandTailorFit", "REG_TARGETS": "batch"}], PRESET)
    with pytest.raises(CheckpointError, match=r"python -m train.train_iknet"):
        build_postprocess([{"TYPE": "HandTailorFit", "IKNET": str(tmp_path / "no.pt")}], PRESET)
    with pytest.raises(FileNotFoundError, match=r"MANO model file not found"):
        build_postprocess([{"TYPE": "HandTailorFit", "IKNET": str(iknet_file)}],
                          {"MANO_ROOT": str(tmp_path / "nowhere")})  # fmt: skip


def test_fitted_mpjpe_measures_the_fitted_joints_in_mm() -> None:
    (metric,) = metrics_from_config(["fitted_mpjpe"], "TEST.METRIC")
    evaluator = Evaluator([metric])
    target = torch.zeros(3, 21, 3)
    fitted = target + torch.tensor([0.0, 0.003, 0.004])  # 5 mm everywhere
    evaluator.update(
        {"joints_3d": target, "fitted_joints_3d": fitted},
        {"target_joints_3d": target, "sample_idx": torch.arange(3)},
    )
    assert evaluator.compute()["fitted_mpjpe"] == pytest.approx(5.0, rel=1e-5)
