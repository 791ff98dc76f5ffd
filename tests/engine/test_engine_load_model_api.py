"""``handmesh.api.load_model`` from a config node, a config file or an experiment directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from engine_cli_helpers import tiny_config, write_config

from handmesh.api import load_model
from handmesh.config import config_from_dict, dump_config
from handmesh.engine.checkpoint import save_model
from handmesh.engine.errors import CheckpointError, HandmeshError


@pytest.fixture
def trained_dir(tmp_path: Path) -> tuple[Path, dict]:
    """An experiment-like directory: dump_cfg.yaml + checkpoints/checkpoint/IntegralPose.pth.tar."""
    cfg = config_from_dict(tiny_config())
    model = load_model(cfg)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.01)
    exp = tmp_path / "exp" / "run_2024_0101_0000_00"
    dump_config(cfg, exp / "dump_cfg.yaml")
    save_model(model, exp / "checkpoints" / "checkpoint")
    return exp, {k: v.clone() for k, v in model.state_dict().items()}


def _batch() -> dict:
    intr = torch.tensor([[80.0, 0.0, 32.0], [0.0, 80.0, 32.0], [0.0, 0.0, 1.0]])
    return {
        "image": torch.zeros(2, 3, 64, 64),
        "target_root_joint": torch.tensor([[0.0, 0.0, 0.5], [0.1, 0.0, 0.7]]),
        "target_cam_intr": intr.expand(2, 3, 3),
    }


def test_load_from_experiment_dir_uses_its_latest_checkpoint(trained_dir) -> None:
    exp, state = trained_dir
    model = load_model(exp)
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    preds = model(_batch())
    assert preds["uvd"].shape == (2, 21, 3)
    assert preds["joints_3d"].shape == (2, 21, 3)
    # joints_3d in metres around the given root depth (d in [0, 1] spans 0.4 m)
    depth = preds["joints_3d"][..., 2]
    assert torch.all(
        (depth > torch.tensor([[0.3], [0.5]])) & (depth < torch.tensor([[0.7], [0.9]]))
    )


def test_load_from_config_file_with_explicit_checkpoint(trained_dir, tmp_path: Path) -> None:
    exp, state = trained_dir
    cfg_file = write_config(tmp_path / "tiny.yml", tiny_config())
    checkpoint = exp / "checkpoints" / "checkpoint" / "IntegralPose.pth.tar"
    model = load_model(cfg_file, checkpoint)
    assert torch.equal(
        model.state_dict()["pose_head.final_layer.bias"], state["pose_head.final_layer.bias"]
    )


def test_bad_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(HandmeshError, match="without dump_cfg.yaml"):
        load_model(tmp_path)
    cfg = config_from_dict(tiny_config())
    with pytest.raises(CheckpointError, match="missing.pth.tar"):
        load_model(cfg, tmp_path / "missing.pth.tar")
