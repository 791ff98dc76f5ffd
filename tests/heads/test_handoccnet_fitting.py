"""Translation fitting (demo_fitting.py's L-BFGS fit): loss terms and recovered translations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handmesh.errors import ArgumentError
from handmesh.heads.handoccnet.fitting import ScaleTranslationLoss, fit_translation


def _intr(f: float, cx: float, cy: float) -> torch.Tensor:
    return torch.tensor([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]], dtype=torch.float64)


def test_loss_terms_against_a_loop() -> None:
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(2, 21, 3)) * 0.04 + [0.1, 0.0, 0.0]
    j2d = rng.uniform(100, 300, size=(2, 21, 2))
    t = np.array([[0.01, -0.02, 0.6], [0.0, 0.03, 0.45]])
    z0 = np.array([0.5, 0.5])
    k = _intr(500.0, 320.0, 240.0)
    got = ScaleTranslationLoss(data_weight=2.0)(
        torch.from_numpy(joints),
        torch.from_numpy(j2d),
        torch.from_numpy(t),
        torch.from_numpy(z0),
        k.expand(2, 3, 3),
    )
    for b in range(2):
        total = 0.0
        for j in range(21):
            x, y, z = joints[b, j] + t[b]
            total += abs(j2d[b, j, 0] - (500 * x / z + 320)) + abs(
                j2d[b, j, 1] - (500 * y / z + 240)
            )
        expected = 4.0 * total + 1000.0 * (t[b, 2] - 0.5) ** 2
        assert got[b].item() == pytest.approx(expected, rel=1e-10)


def test_batched_fit_recovers_each_translation() -> None:
    rng = np.random.default_rng(1)
    joints = torch.from_numpy(rng.normal(size=(3, 21, 3)) * 0.04 + [0.1, 0.0, 0.0])
    truth = torch.tensor(
        [[-0.05, 0.02, 0.5], [0.08, -0.04, 0.62], [0.0, 0.1, 0.45]], dtype=torch.float64
    )
    k = _intr(600.0, 320.0, 240.0)
    j2d = (joints + truth[:, None]) @ k.T
    j2d = j2d[..., :2] / j2d[..., 2:]
    result = fit_translation(joints, j2d, k, init_depth=truth[:, 2])
    assert torch.allclose(result.translation, truth, atol=1e-4)
    proj = (joints + result.translation[:, None]) @ k.T
    assert (proj[..., :2] / proj[..., 2:] - j2d).abs().max() < 0.05  # pixels
    assert 1 <= result.steps <= 300 and result.loss.shape == (3,)
    single = fit_translation(joints[1:2], j2d[1:2], k, init_depth=float(truth[1, 2]))
    assert torch.allclose(single.translation, result.translation[1:2], atol=1e-4)


def test_depth_prior_pulls_towards_the_initial_depth() -> None:
    rng = np.random.default_rng(2)
    joints = torch.from_numpy(rng.normal(size=(1, 21, 3)) * 0.04)
    truth = torch.tensor([[0.0, 0.0, 0.6]], dtype=torch.float64)
    k = _intr(500.0, 128.0, 128.0)
    j2d = (joints + truth[:, None]) @ k.T
    j2d = j2d[..., :2] / j2d[..., 2:]
    weak = fit_translation(
        joints, j2d, k, init_depth=0.5, loss=ScaleTranslationLoss(depth_loss_weight=0.0)
    )
    strong = fit_translation(
        joints, j2d, k, init_depth=0.5, loss=ScaleTranslationLoss(depth_loss_weight=1e7)
    )
    assert abs(weak.translation[0, 2].item() - 0.6) < 1e-3
    assert abs(strong.translation[0, 2].item() - 0.5) < abs(weak.translation[0, 2].item() - 0.5)


def test_fit_errors() -> None:
    with pytest.raises(ArgumentError, match=r"joints_2d must be \(2, 21, 2\)"):
        fit_translation(torch.zeros(2, 21, 3), torch.zeros(2, 20, 2), torch.eye(3))
    with pytest.raises(ArgumentError, match="at least one joint"):
        ScaleTranslationLoss(joint_ids=())
