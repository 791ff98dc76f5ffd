"""Metric maths against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handmesh.metrics.functional import (
    f_score,
    f_scores,
    mean_point_error,
    pa_point_errors,
    pck_auc,
    pck_curve,
    point_errors,
    trapezoid,
)

THRESHOLDS = np.linspace(0.0, 0.05, 20)


def _hand(batch: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    return 0.05 * torch.randn(
        batch, 21, 3, generator=generator, dtype=torch.float64
    ) + torch.tensor([0.0, 0.0, 0.5], dtype=torch.float64)


def test_constant_offset_gives_exact_mpjpe_and_zero_pa() -> None:
    gt = _hand()
    offset = torch.tensor([0.003, 0.0, 0.0], dtype=torch.float64)
    pred = gt + offset
    per_sample_mm = mean_point_error(pred, gt) * 1000
    assert per_sample_mm.shape == (2,)
    np.testing.assert_allclose(per_sample_mm.numpy(), [3.0, 3.0], rtol=1e-9)
    diagonal = gt + torch.tensor([0.002, 0.003, 0.006], dtype=torch.float64)  # |.| = 7 mm
    np.testing.assert_allclose(
        (mean_point_error(diagonal, gt) * 1000).numpy(), [7.0, 7.0], rtol=1e-9
    )
    assert float(pa_point_errors(pred, gt).max()) * 1000 < 1e-5


def test_point_errors_by_loop() -> None:
    gt = _hand(3)
    pred = gt + 0.01 * torch.randn_like(gt)
    errors = point_errors(pred, gt)
    for b in range(3):
        for j in range(21):
            d = pred[b, j] - gt[b, j]
            assert abs(float(errors[b, j]) - math.sqrt(float(d @ d))) < 1e-15


def test_pa_errors_ignore_scale_rotation_translation() -> None:
    gt = _hand()
    c, s = math.cos(0.7), math.sin(0.7)
    rotation = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float64)
    pred = 1.4 * gt @ rotation.T + 0.2
    assert float(mean_point_error(pred, gt).min()) > 0.05
    assert float(pa_point_errors(pred, gt).max()) < 1e-8


def test_auc_all_zero_errors_is_one() -> None:
    errors = np.zeros((5, 21))
    assert pck_auc(errors, np.ones_like(errors, dtype=bool), THRESHOLDS) == pytest.approx(1.0)


def test_auc_of_a_step_at_25mm_by_hand() -> None:
    # thresholds t_k = k * 50/19 mm; 25 mm lies between t_9 and t_10, so PCK = 0 for k <= 9 and 1
    # for k >= 10: area = half a step (k 9->10) + 9 full steps, out of 19 steps
    gt = torch.zeros(4, 21, 3, dtype=torch.float64)
    pred = gt + torch.tensor([0.025, 0.0, 0.0], dtype=torch.float64)
    errors = point_errors(pred, gt).numpy()
    assert pck_auc(errors, np.ones_like(errors, dtype=bool), THRESHOLDS) == pytest.approx(9.5 / 19)


def test_pck_curve_and_auc_by_loop() -> None:
    rng = np.random.default_rng(0)
    errors = rng.uniform(0, 0.06, size=(30, 21))
    visible = rng.uniform(size=(30, 21)) > 0.2
    curve = pck_curve(errors, visible, THRESHOLDS)
    aucs = []
    for j in range(21):
        seen = [errors[s, j] for s in range(30) if visible[s, j]]
        row = [sum(e <= t for e in seen) / len(seen) for t in THRESHOLDS]
        np.testing.assert_allclose(curve[j], row, rtol=1e-12)
        area = sum(
            (row[k] + row[k + 1]) / 2 * (THRESHOLDS[k + 1] - THRESHOLDS[k]) for k in range(19)
        )
        aucs.append(area / 0.05)
    assert pck_auc(errors, visible, THRESHOLDS) == pytest.approx(sum(aucs) / 21, rel=1e-12)


def test_never_visible_joint_is_left_out() -> None:
    errors = np.zeros((6, 21))
    errors[:, 0] = 1.0  # a huge error on joint 0, which is never visible
    visible = np.ones_like(errors, dtype=bool)
    visible[:, 0] = False
    assert pck_auc(errors, visible, THRESHOLDS) == pytest.approx(1.0)
    assert np.isnan(pck_curve(errors, visible, THRESHOLDS)[0]).all()


def test_trapezoid_matches_closed_form() -> None:
    x = np.linspace(0.0, 2.0, 5)
    assert trapezoid(3 * x + 1, x) == pytest.approx(8.0)  # linear: exact
    assert trapezoid(x**2, x) == pytest.approx(2.75)  # 0.5 * sum of (x_k^2 + x_k+1^2) / 2


def test_f_score_on_tiny_point_sets() -> None:
    gt = torch.tensor(
        [[0.0, 0, 0], [0.010, 0, 0], [0.020, 0, 0], [0.030, 0, 0]], dtype=torch.float64
    )
    pred = torch.tensor([[0.001, 0, 0], [0.0105, 0, 0], [0.050, 0, 0]], dtype=torch.float64)
    # nearest distances: pred -> gt: 1, 0.5, 20 mm; gt -> pred: 1, 0.5, 9.5, 19.5 mm
    # at 5 mm: precision 2/3, recall 2/4 -> F = 2 * (2/3)(1/2) / (2/3 + 1/2) = 4/7
    assert float(f_score(pred, gt, 0.005)) == pytest.approx(4 / 7)
    # at 15 mm: precision 2/3, recall 3/4 -> F = 2 * (1/2) / (17/12) = 12/17
    assert float(f_score(pred, gt, 0.015)) == pytest.approx(12 / 17)
    np.testing.assert_allclose(f_scores(pred, gt, (0.005, 0.015)).numpy(), [4 / 7, 12 / 17])
    # nothing within 0.1 mm of anything -> 0, not NaN
    assert float(f_score(pred + 1.0, gt, 0.0001)) == 0.0
    batched = f_score(torch.stack([pred, pred + 1.0]), torch.stack([gt, gt]), 0.005)
    np.testing.assert_allclose(batched.numpy(), [4 / 7, 0.0])


def test_f_score_threshold_is_strict() -> None:
    gt = torch.zeros(1, 3, dtype=torch.float64)
    pred = torch.tensor([[0.25, 0.0, 0.0]], dtype=torch.float64)  # exactly 0.25 away (binary exact)
    assert float(f_score(pred, gt, 0.25)) == 0.0
    assert float(f_score(pred, gt, 0.26)) == 1.0


def test_metric_function_errors() -> None:
    with pytest.raises(ValueError, match="point_errors: pred and gt must both have shape"):
        point_errors(torch.zeros(2, 21, 3), torch.zeros(2, 20, 3))
    with pytest.raises(ValueError, match="pck_curve"):
        pck_curve(np.zeros((3, 21)), np.ones((3, 20)), THRESHOLDS)
    with pytest.raises(ValueError, match="f_score"):
        f_score(torch.zeros(5, 2), torch.zeros(5, 3), 0.01)
