"""The registered DeepHandMesh: built from a config, its loss terms and metrics on real batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from dhm_fixtures import kabsch

from handmesh.config import load_config
from handmesh.data.collate import collate
from handmesh.deephandmesh.checkpoint import network_settings
from handmesh.deephandmesh.depth_render import render_depth_views
from handmesh.engine import build_evaluator, build_model
from handmesh.engine.build import build_dataset
from handmesh.errors import ConfigError, DataNotFoundError

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = REPO / "config/synthetic/train_deephandmesh.yml"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("syn")
    cfg = load_config(
        SYNTHETIC,
        opts=[
            "DATASET.TRAIN.DATA_ROOT", str(root / "train"), "DATASET.TRAIN.NUM_FRAMES", "3",
            "DATASET.TRAIN.NUM_CAMERAS", "4", "DATASET.TEST.DATA_ROOT", str(root / "test"),
            "DATASET.TEST.NUM_FRAMES", "2", "DATASET.TEST.NUM_CAMERAS", "4",
            "DATASET.TRAIN.NUM_VIEWS", "3", "DATASET.TRAIN.RENDER_SIZE", "[48, 48]",
            "DATASET.TEST.NUM_VIEWS", "3", "DATASET.TEST.RENDER_SIZE", "[48, 48]",
            "DATA_PRESET.IMAGE_SIZE", "[32, 32]",
        ],
    )  # fmt: skip
    torch.manual_seed(0)
    model = build_model(cfg)
    dataset = build_dataset(cfg, "TRAIN")
    batch = collate([dataset[i] for i in (0, 5, 9)])
    return cfg, model, dataset, batch


def test_the_synthetic_config_builds_model_and_data(setup) -> None:
    cfg, model, dataset, batch = setup
    assert type(model).__name__ == "DeepHandMesh"
    assert len(dataset) == 3 * 4
    assert batch["image"].shape == (3, 3, 32, 32)
    assert batch["target_depth_maps"].shape == (3, 3, 48, 48)
    # the DoF mask and the sizes the state dict implies
    assert network_settings(model.state_dict()) == {
        "resnet_depth": 18, "img_feat_dim": 512, "id_code_dim": 32,
    }  # fmt: skip


def test_compute_loss_is_the_weighted_sum_of_the_original_terms(setup) -> None:
    _, model, _, batch = setup
    model.train()
    preds = model(batch)
    losses = model.compute_loss(preds, batch)
    assert set(losses) == {"final_loss", "joint", "depthmap", "penet", "lap"}
    expected = losses["joint"] + losses["depthmap"] + losses["penet"] + 5.0 * losses["lap"]
    torch.testing.assert_close(losses["final_loss"], expected)
    # the joint term: L1 in mm of the placed joints, valid joints only, mean over B x J x 3
    gt = batch["target_joints_world"].numpy() * 1000
    valid = batch["target_joints_valid"].numpy()[..., None]
    placed = preds["joints_3d_world"].detach().numpy() * 1000
    assert losses["joint"].item() == pytest.approx((np.abs(placed - gt) * valid).mean(), rel=1e-5)
    losses["final_loss"].backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert grads["pose_net.fc.2.weight"].abs().sum() > 0
    assert grads["skeleton_refine_net.fc_skeleton.2.bias"].abs().sum() > 0  # through the fit
    assert grads["skin_refine_net.fc_id.2.weight"].abs().sum() > 0  # depth + Laplacian
    model.zero_grad(set_to_none=True)


def test_placed_outputs_are_the_rigid_fit_at_the_align_joints(setup) -> None:
    _, model, _, batch = setup
    model.eval()
    with torch.no_grad():
        preds = model(batch)
    canonical = preds["joints_3d"].double().numpy()
    gt = batch["target_joints_world"].double().numpy()
    align = [8, 12, 16, 20, 21]
    for b in range(3):
        rot, trans = kabsch(canonical[b, align], gt[b, align])
        np.testing.assert_allclose(
            preds["joints_3d_world"][b].numpy(), canonical[b] @ rot.T + trans, atol=2e-6
        )
    # the rendered views are the placed mesh seen by the batch's cameras (original convention)
    extr = batch["target_depth_extr"].clone()
    extr[..., :3, 3] *= 1000
    depth = render_depth_views(
        preds["verts_3d_world"] * 1000, model.faces, extr, batch["target_depth_intr"], (48, 48)
    )
    torch.testing.assert_close(preds["depth_maps"] * 1000, depth, atol=1e-3, rtol=1e-5)


def test_metrics_match_an_independent_computation(setup) -> None:
    cfg, model, dataset, batch = setup
    model.eval()
    with torch.no_grad():
        preds = model(batch)
    evaluator = build_evaluator(cfg, model, dataset)
    assert [m.name for m in evaluator.metrics] == ["dhm_mpjpe", "dhm_depth"]
    records = {m.name: m.records(preds, batch) for m in evaluator.metrics}
    gt = batch["target_joints_world"].double().numpy()
    valid = batch["target_joints_valid"].numpy() > 0
    canonical = preds["joints_3d"].double().numpy()
    for b in range(3):
        rot, trans = kabsch(canonical[b, [8, 12, 16, 20, 21]], gt[b, [8, 12, 16, 20, 21]])
        dist = np.linalg.norm(canonical[b] @ rot.T + trans - gt[b], axis=1)[valid[b]]
        assert records["dhm_mpjpe"]["error"][b] == pytest.approx(dist.mean(), rel=1e-6)
        rendered = preds["depth_maps"][b].double().numpy() * 1000
        target = batch["target_depth_maps"][b].double().numpy() * 1000
        both = (rendered != 0) & (target != 0)
        diff = np.abs(rendered - target)
        assert records["dhm_depth"]["median"][b] == pytest.approx(np.median(diff[both]), rel=1e-5)
        smooth = np.where(diff < 1, 0.5 * diff**2, diff - 0.5) * both
        assert records["dhm_depth"]["loss"][b] == pytest.approx(smooth.mean(), rel=1e-6)


def test_hand_model_dir_errors(tmp_path: Path) -> None:
    cfg = load_config(SYNTHETIC, opts=["MODEL.HAND_MODEL_DIR", str(tmp_path / "none")])
    with pytest.raises(DataNotFoundError, match="MODEL.HAND_MODEL_DIR"):
        build_model(cfg)
    cfg = load_config(SYNTHETIC, opts=["MODEL.DEPTH_PIXEL_CONVENTION", "shifted"])
    with pytest.raises(ConfigError, match="MODEL.*depth_pixel_convention must be one of"):
        build_model(cfg)
