"""pa_mpjpe_umeyama / pa_mpvpe_umeyama against HandOccNet's DexYCB evaluation written out in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handmesh.metrics import Evaluator


def rigid_align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """HandOccNet's rigid_transform_3D + rigid_align (utils/transforms.py), per sample."""
    ca, cb = a.mean(0), b.mean(0)
    cov = (a - ca).T @ (b - cb) / len(a)
    u, s, v = np.linalg.svd(cov)
    r = v.T @ u.T
    if np.linalg.det(r) < 0:
        s[-1] = -s[-1]
        v[2] = -v[2]
        r = v.T @ u.T
    c = s.sum() / np.var(a, axis=0).sum()
    t = cb - c * r @ ca
    return (c * r @ a.T).T + t


def dexycb_numbers(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """MPJPE and PA-MPJPE in mm, as DEX_YCB.evaluate + print_eval_result."""
    errors, pa_errors = [], []
    for p, g in zip(pred, gt):
        errors.append(np.sqrt(((p - g) ** 2).sum(1)).mean() * 1000)
        pa_errors.append(np.sqrt(((rigid_align(p, g) - g) ** 2).sum(1)).mean() * 1000)
    return float(np.mean(errors)), float(np.mean(pa_errors))


def _data(rng: np.random.Generator, points: int) -> tuple[np.ndarray, np.ndarray]:
    gt = rng.normal(size=(5, points, 3)) * 0.04 + [0.0, 0.0, 0.5]
    pred = gt * 1.1 + rng.normal(size=gt.shape) * 0.006 + 0.02
    pred[3] = gt[3] * [-1, 1, 1] + rng.normal(size=gt[3].shape) * 0.001  # a mirrored prediction
    return pred, gt


def test_joints_and_vertices_against_handoccnet() -> None:
    rng = np.random.default_rng(0)
    pred_j, gt_j = _data(rng, 21)
    pred_v, gt_v = _data(rng, 778)
    evaluator = Evaluator(("mpjpe", "pa_mpjpe_umeyama", "pa_mpvpe_umeyama", "pa_mpjpe"))
    for lo, hi in ((0, 2), (2, 5)):  # two batches
        preds = {
            "joints_3d": torch.from_numpy(pred_j[lo:hi]),
            "verts_3d": torch.from_numpy(pred_v[lo:hi]),
        }
        batch = {
            "target_joints_3d": torch.from_numpy(gt_j[lo:hi]),
            "target_verts_3d": torch.from_numpy(gt_v[lo:hi]),
            "sample_idx": torch.arange(lo, hi),
        }
        evaluator.update(preds, batch)
    results = evaluator.compute()
    mpjpe, pa_mpjpe = dexycb_numbers(pred_j, gt_j)
    assert results["mpjpe"] == pytest.approx(mpjpe, rel=1e-9)
    assert results["pa_mpjpe_umeyama"] == pytest.approx(pa_mpjpe, rel=1e-9)
    assert results["pa_mpvpe_umeyama"] == pytest.approx(dexycb_numbers(pred_v, gt_v)[1], rel=1e-9)
    # FreiHAND-style Procrustes may reflect: it fits the mirrored sample almost exactly, Umeyama
    # may not, so the two PA numbers differ
    assert results["pa_mpjpe"] < results["pa_mpjpe_umeyama"] - 1.0


def test_shape_mismatch_is_named() -> None:
    evaluator = Evaluator(("pa_mpjpe_umeyama",))
    batch = {"target_joints_3d": torch.zeros(2, 21, 3), "sample_idx": torch.arange(2)}
    with pytest.raises(
        ValueError,
        match=r"preds\['joints_3d'\] \(2, 20, 3\) and batch\['target_joints_3d'\] \(2, 21, 3\)",
    ):
        evaluator.update({"joints_3d": torch.zeros(2, 20, 3)}, batch)
