"""What every registered model declares matches what it does: ``PREDICTS_MESH`` is True exactly
when ``forward`` returns ``verts_3d`` (test_model_hand_tailor reads it to decide whether a model
needs the HandTailor fit for its mesh), and its default metrics can be computed from its preds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from handmesh.config import load_config
from handmesh.data.collate import collate
from handmesh.engine.build import build_dataset, build_model
from handmesh.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC_HANDS_CONFIGS = {
    "IntegralPose": "train_integral_pose.yml",
    "RegressFlow3D": "train_res_loglike.yml",
    "I2L_MeshNet": "train_i2l_meshnet.yml",
    "HandOccNet": "train_handoccnet.yml",
}


def test_every_registered_model_is_covered() -> None:
    covered = set(SYNTHETIC_HANDS_CONFIGS) | {"DeepHandMesh"}  # tests/deephandmesh: own dataset
    library = {n for n in MODELS.names() if MODELS.get(n).__module__.startswith("handmesh.")}
    assert library == covered  # (other tests register stand-in models of their own)


@pytest.mark.parametrize("model_type", sorted(SYNTHETIC_HANDS_CONFIGS))
def test_predicts_mesh_matches_forward(model_type: str) -> None:
    path = REPO / "config" / "synthetic" / SYNTHETIC_HANDS_CONFIGS[model_type]
    cfg = load_config(str(path), opts=["DATASET.TEST.NUM_SAMPLES", "2"])
    assert model_type == cfg.MODEL.TYPE
    dataset = build_dataset(cfg, "TEST")
    batch = collate([dataset[0], dataset[1]])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with torch.no_grad():
        preds = model(batch)
    assert ("verts_3d" in preds) is type(model).PREDICTS_MESH
    assert preds["joints_3d"].shape == (2, 21, 3)
    if type(model).PREDICTS_MESH:
        assert preds["verts_3d"].shape == (2, 778, 3)
