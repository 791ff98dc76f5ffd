"""The registered HandOccNet: official snapshots through load_model, forward keys and frames, the
training loss with its MANO targets, config errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import handmesh
from handmesh.config import config_from_dict
from handmesh.engine import build_evaluator, build_model
from handmesh.errors import CheckpointError, ConfigError
from handmesh.losses.handoccnet import HandOccNetLoss
from handmesh.mano import ManoLayer
from tests.heads.test_handoccnet_keys import CFG, official_snapshot_keys

SMALL = {**CFG, "DATA_PRESET": {**CFG["DATA_PRESET"], "IMAGE_SIZE": [128, 128]}}


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return build_model(config_from_dict(CFG))


def _official_snapshot(model: torch.nn.Module, path: Path, drop: tuple[str, ...] = ()) -> dict:
    """{'epoch', 'network' (module.-prefixed, random values), 'optimizer' (Adam state)} as
    HandOccNet's train.py writes it."""
    torch.manual_seed(3)
    network = {}
    for key, value in model.state_dict().items():
        new = torch.randn_like(value) if value.is_floating_point() else value.clone()
        network[f"module.{key}"] = new
    for key in drop:
        del network[key]
    params = [torch.nn.Parameter(torch.zeros(3))]
    optimizer = torch.optim.Adam(params, lr=1e-4)
    params[0].grad = torch.ones(3)
    optimizer.step()
    torch.save({"epoch": 69, "network": network, "optimizer": optimizer.state_dict()}, path)
    return network


@pytest.mark.slow  # writes and reads two 160 MB snapshots
def test_official_snapshots_load_strictly(model: torch.nn.Module, tmp_path: Path) -> None:
    cfg = config_from_dict(CFG)
    network = _official_snapshot(model, tmp_path / "snapshot_70.pth.tar")
    assert sorted(network) == sorted(official_snapshot_keys())
    loaded = handmesh.load_model(cfg, checkpoint=tmp_path / "snapshot_70.pth.tar")
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, network[f"module.{key}"]), key
    # a 2022 snapshot (901 entries: no fitting_loss buffers) loads; the constants keep their values
    fitting = tuple(k for k in network if k.startswith("module.fitting_loss."))
    old = _official_snapshot(model, tmp_path / "snapshot_2022.pth.tar", drop=fitting)
    assert len(old) == 901
    loaded = handmesh.load_model(cfg, checkpoint=tmp_path / "snapshot_2022.pth.tar")
    assert loaded.fitting_loss.depth_loss_weight.item() == 1000.0
    assert torch.equal(loaded.fitting_loss.init_joints_idxs, torch.arange(21))
    assert torch.equal(loaded.FIT.conv2[0].bias, old["module.FIT.conv2.0.bias"])


@pytest.mark.slow
def test_incomplete_or_mislabelled_snapshots_are_refused(
    model: torch.nn.Module, tmp_path: Path
) -> None:
    cfg = config_from_dict(CFG)
    missing = ("module.FIT.conv2.0.bias", "module.regressor.hand_regHead.betas")
    _official_snapshot(model, tmp_path / "missing.pth.tar", drop=missing)
    with pytest.raises(
        CheckpointError,
        match=r"missing keys 2: \[FIT\.conv2\.0\.bias, regressor\.hand_regHead\.betas\]",
    ):
        handmesh.load_model(cfg, checkpoint=tmp_path / "missing.pth.tar")
    network = _official_snapshot(model, tmp_path / "mixed.pth.tar")
    network["SET.layers.0.q_embedding"] = network.pop("module.SET.layers.0.q_embedding")
    torch.save({"epoch": 0, "network": network, "optimizer": {}}, tmp_path / "mixed.pth.tar")
    # one key without the prefix: nothing is stripped, nothing loads, every key is reported
    with pytest.raises(
        CheckpointError,
        match=r"missing keys 9\d\d: \[backbone\.toplayer\.weight.*unexpected keys .*module\.backbone\.toplayer\.weight",
    ):
        handmesh.load_model(cfg, checkpoint=tmp_path / "mixed.pth.tar")


def test_forward_frames_and_keys() -> None:
    torch.manual_seed(0)
    model = build_model(config_from_dict(SMALL)).eval()
    image = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        only_image = model({"image": image})
        root = torch.tensor([[0.05, -0.02, 0.6], [0.0, 0.01, 0.45]])
        placed = model({"image": image, "target_root_joint": root})
    assert "joints_3d" not in only_image
    assert only_image["joints_2d"].shape == (2, 21, 2) and only_image["heatmaps"].shape == (
        2,
        21,
        16,
        16,
    )
    assert torch.allclose(only_image["joints_2d"], only_image["joints_2d_norm"] * 128)
    assert only_image["mano_pose"].shape == (2, 48) and only_image["mano_shape"].shape == (2, 10)
    mano = placed["mano_joints_3d"]
    assert torch.allclose(placed["joints_3d"][:, 0], root, atol=1e-6)  # the wrist on the root
    assert torch.allclose(
        placed["joints_3d"] - placed["joints_3d"][:, :1], mano - mano[:, :1], atol=1e-6
    )
    offset = placed["joints_3d"][:, :1] - mano[:, :1]
    assert torch.allclose(placed["verts_3d"], placed["mano_verts_3d"] + offset, atol=1e-6)
    assert torch.allclose(
        placed["mano_joints_3d"][:, [4, 8, 12, 16, 20]],
        placed["mano_verts_3d"][:, [745, 317, 444, 556, 673]],
    )


def test_loss_uses_the_ground_truth_through_the_same_layer() -> None:
    torch.manual_seed(1)
    model = build_model(config_from_dict(SMALL)).train()
    batch = {
        "image": torch.rand(2, 3, 128, 128),
        "mano_pose": torch.randn(2, 48) * 0.3,
        "mano_shape": torch.randn(2, 10) * 0.5,
        "target_joints_2d": torch.rand(2, 21, 2) * 128,
        "target_root_joint": torch.tensor([[0.0, 0.0, 0.5]] * 2),
    }
    preds = model(batch)
    losses = model.compute_loss(preds, batch)
    layer = ManoLayer(
        flat_hand_mean=False, use_pca=False, mano_root="/nonexistent", allow_synthetic=True
    )
    verts, joints = layer(batch["mano_pose"], batch["mano_shape"])  # a second layer, mm
    targets = {
        "target_mano_verts_3d": verts / 1000,
        "target_mano_joints_3d": joints / 1000,
        "target_joints_2d_norm": batch["target_joints_2d"] / 128,
    }
    total, terms = HandOccNetLoss()(preds, {**batch, **targets})
    assert losses["final_loss"].item() == pytest.approx(total.item(), rel=1e-5)
    assert set(terms) <= set(losses)
    losses["final_loss"].backward()
    assert model.FIT.layers[0].q_embedding.grad is not None
    assert model.backbone.smooth2.weight.grad is None  # the original's dead layer
    evaluator = build_evaluator(config_from_dict(SMALL), model)
    assert [m.name for m in evaluator.metrics] == ["mpjpe", "pa_mpjpe", "mpvpe", "pa_mpvpe"]


def test_config_errors_name_the_key() -> None:
    bad = {**CFG, "DATA_PRESET": {**CFG["DATA_PRESET"], "IMAGE_SIZE": [200, 200]}}
    with pytest.raises(
        ConfigError, match=r"MODEL \(HandOccNet\).*IMAGE_SIZE \[200, 200\].*multiple of 128"
    ):
        build_model(config_from_dict(bad))
    typo = {**CFG, "MODEL": {**CFG["MODEL"], "BACKBOEN": {}}}
    with pytest.raises(ConfigError, match="MODEL.BACKBOEN"):
        build_model(config_from_dict(typo))
    resnet = {
        **CFG,
        "MODEL": {**CFG["MODEL"], "BACKBONE": {"TYPE": "resnet18", "PRETRAINED": False}},
    }
    with pytest.raises(ConfigError, match="primary"):
        build_model(config_from_dict(resnet))
