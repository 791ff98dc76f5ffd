"""HandOccNet's five-term loss against element-wise sums written out in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from handmesh.errors import ArgumentError
from handmesh.losses.handoccnet import HandOccNetLoss
from handmesh.registry import LOSSES, ConfigKeyError, build


def _batch_and_preds(rng: np.random.Generator) -> tuple[dict, dict]:
    b = 3
    preds = {
        "mano_verts_3d": rng.normal(size=(b, 778, 3)) * 0.05,
        "mano_joints_3d": rng.normal(size=(b, 21, 3)) * 0.05,
        "mano_rotmat": Rotation.random(b * 16, random_state=1).as_matrix().reshape(b, 16, 3, 3),
        "mano_shape": rng.normal(size=(b, 10)),
        "joints_2d_norm": rng.uniform(0, 1, size=(b, 21, 2)),
    }
    batch = {
        "target_mano_verts_3d": rng.normal(size=(b, 778, 3)) * 0.05,
        "target_mano_joints_3d": rng.normal(size=(b, 21, 3)) * 0.05,
        "mano_pose": rng.normal(size=(b, 48)) * 0.5,
        "mano_shape": rng.normal(size=(b, 10)),
        "target_joints_2d_norm": rng.uniform(0, 1, size=(b, 21, 2)),
    }
    return preds, batch


def _mean_square(a: np.ndarray, b: np.ndarray) -> float:
    diff = (a - b).ravel()
    return float(sum(d * d for d in diff) / diff.size)


def test_terms_and_weights_match_the_original() -> None:
    rng = np.random.default_rng(0)
    preds_np, batch_np = _batch_and_preds(rng)
    preds = {k: torch.from_numpy(v) for k, v in preds_np.items()}
    batch = {k: torch.from_numpy(v) for k, v in batch_np.items()}
    total, logged = HandOccNetLoss()(preds, batch)
    gt_rot = (
        Rotation.from_rotvec(batch_np["mano_pose"].reshape(-1, 3)).as_matrix().reshape(3, 16, 3, 3)
    )
    expected = {
        "mano_verts": 1e4
        * _mean_square(preds_np["mano_verts_3d"], batch_np["target_mano_verts_3d"]),
        "mano_joints": 1e4
        * _mean_square(preds_np["mano_joints_3d"], batch_np["target_mano_joints_3d"]),
        "mano_pose": 10 * _mean_square(preds_np["mano_rotmat"], gt_rot),
        "mano_shape": 0.1 * _mean_square(preds_np["mano_shape"], batch_np["mano_shape"]),
        "joints_img": 100
        * _mean_square(preds_np["joints_2d_norm"], batch_np["target_joints_2d_norm"]),
    }
    assert set(logged) == set(expected)
    for name, value in expected.items():
        assert logged[name].item() == pytest.approx(value, rel=1e-9), name
    assert total.item() == pytest.approx(sum(expected.values()), rel=1e-9)


def test_weights_from_config_and_errors() -> None:
    rng = np.random.default_rng(1)
    preds_np, batch_np = _batch_and_preds(rng)
    preds = {k: torch.from_numpy(v).requires_grad_() for k, v in preds_np.items()}
    batch = {k: torch.from_numpy(v) for k, v in batch_np.items()}
    node = {"TYPE": "HANDOCCNET_LOSS", "LAMBDA_JOINTS_IMG": 2.0, "LAMBDA_MANO_VERTS": 0}
    node.update({"LAMBDA_MANO_JOINTS": 0, "LAMBDA_MANO_POSE": 0, "LAMBDA_MANO_SHAPE": 0})
    total, _ = build(node, LOSSES)(preds, batch)
    expected = 2 * _mean_square(preds_np["joints_2d_norm"], batch_np["target_joints_2d_norm"])
    assert total.item() == pytest.approx(expected, rel=1e-9)
    total.backward()
    assert preds["mano_verts_3d"].grad is not None and not preds["mano_verts_3d"].grad.any()
    with pytest.raises(KeyError, match=r"batch\['target_mano_verts_3d'\]"):
        HandOccNetLoss()(preds, {k: v for k, v in batch.items() if k != "target_mano_verts_3d"})
    with pytest.raises(ArgumentError, match="lambda_mano_pose"):
        HandOccNetLoss(lambda_mano_pose=-1)
    with pytest.raises(ConfigKeyError, match="LAMBDA_MANO_POSE"):
        build({"TYPE": "HANDOCCNET_LOSS", "LAMBDA_MANO_POS": 1}, LOSSES)
