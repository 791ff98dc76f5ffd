"""RLE_Loss: by hand, against the original's numbers, and its input errors."""

from __future__ import annotations

import math

import pytest
import torch

from handmesh.losses.rle import RLELoss
from tests.heads.oakink_reference import sine

# OakInk-HMR RegressFlow3D.RLE_Loss on the inputs of _inputs(): (loss, Q_log_prob) with
# SIZE_AVERAGE True, and the loss with SIZE_AVERAGE False.
ORIGINAL_SIZE_AVERAGE = (-2.34070292208, 0.852469537321)
ORIGINAL_MEAN = -0.0371540146363


def _inputs() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    preds = {
        "uvd": sine(2, 21, 3, freq=0.41, phase=0.1, amp=0.5) + 0.5,
        "sigma": torch.sigmoid(sine(2, 21, 3, freq=0.23, phase=0.5, amp=2.0)) + 1e-7,
        "log_phi": sine(2, 21, 1, freq=0.7, phase=1.0),
    }
    batch = {"target_joints_uvd": sine(2, 21, 3, freq=0.53, phase=0.3, amp=0.4) + 0.5}
    return preds, batch


def test_rle_loss_by_hand() -> None:
    preds, batch = _inputs()
    total, count, log_q_total = 0.0, 0, 0.0
    for b in range(2):
        for j in range(21):
            for a in range(3):
                mu, sigma = float(preds["uvd"][b, j, a]), float(preds["sigma"][b, j, a])
                target, log_phi = (
                    float(batch["target_joints_uvd"][b, j, a]),
                    float(preds["log_phi"][b, j, 0]),
                )
                log_q = math.log(sigma * math.sqrt(2 * math.pi)) + abs(target - mu) / (
                    math.sqrt(2) * sigma + 1e-7
                )
                total += math.log(sigma) - log_phi + log_q
                log_q_total += log_q
                count += 1
    weighted, logged = RLELoss(size_average=True)(preds, batch)
    assert abs(float(weighted) - total / 2) < 1e-10  # summed, divided by the batch size
    assert abs(float(logged["rle_loss"]) - total / 2) < 1e-10
    assert abs(float(logged["Q_log_prob"]) - log_q_total / count) < 1e-10
    weighted, _ = RLELoss(size_average=False, loss_lambda=2.0)(preds, batch)
    assert abs(float(weighted) - 2.0 * total / count) < 1e-10


def test_rle_loss_matches_the_original() -> None:
    preds, batch = _inputs()
    weighted, logged = RLELoss(size_average=True)(preds, batch)
    assert abs(float(weighted) - ORIGINAL_SIZE_AVERAGE[0]) < 1e-9
    assert abs(float(logged["Q_log_prob"]) - ORIGINAL_SIZE_AVERAGE[1]) < 1e-9
    assert abs(float(RLELoss(size_average=False)(preds, batch)[0]) - ORIGINAL_MEAN) < 1e-9


def test_rle_loss_gradients_reach_mu_sigma_and_the_flow_term() -> None:
    preds, batch = _inputs()
    leaves = {k: v.clone().requires_grad_(True) for k, v in preds.items()}
    weighted, logged = RLELoss()(leaves, batch)
    weighted.backward()
    assert all(leaf.grad is not None and leaf.grad.abs().sum() > 0 for leaf in leaves.values())
    # d loss / d log_phi = -3 per joint (one per axis), divided by the batch size 2
    assert torch.allclose(leaves["log_phi"].grad, torch.full((2, 21, 1), -1.5, dtype=torch.float64))
    assert not logged["rle_loss"].requires_grad


def test_rle_loss_names_missing_inputs() -> None:
    preds, batch = _inputs()
    preds["log_phi"] = None  # what the model returns outside training
    with pytest.raises(KeyError, match=r"preds\['log_phi'\]"):
        RLELoss()(preds, batch)
    with pytest.raises(KeyError, match=r"batch\['target_joints_uvd'\]"):
        RLELoss()(_inputs()[0], {})
