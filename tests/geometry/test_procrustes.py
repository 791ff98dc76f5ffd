"""Procrustes (FreiHAND, reflections allowed) and Umeyama (reflection fixed) alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from handmesh.geometry.procrustes import procrustes_align, umeyama_align, umeyama_similarity


def _random_similarity(
    rng: np.random.Generator,
) -> tuple[float, np.ndarray, np.ndarray]:
    scale = float(rng.uniform(0.5, 2.0))
    rotation = Rotation.random(random_state=int(rng.integers(1 << 30))).as_matrix()
    translation = rng.normal(size=3)
    return scale, rotation, translation


def test_similarity_is_undone_and_recovered() -> None:
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(4, 21, 3))
    params = [_random_similarity(rng) for _ in range(4)]
    pred = np.stack([s * g @ r.T + t for g, (s, r, t) in zip(gt, params)])
    pred_t, gt_t = torch.from_numpy(pred), torch.from_numpy(gt)

    # FreiHAND adds 1e-8 to both Frobenius norms, which leaves a ~1e-8 relative residual
    torch.testing.assert_close(procrustes_align(pred_t, gt_t), gt_t, atol=1e-7, rtol=0)
    torch.testing.assert_close(umeyama_align(pred_t, gt_t), gt_t, atol=1e-10, rtol=0)

    # Umeyama maps gt onto pred with the generating parameters
    scale, rotation, translation = umeyama_similarity(gt_t, pred_t)
    for b, (s, r, t) in enumerate(params):
        assert abs(float(scale[b]) - s) < 1e-10
        np.testing.assert_allclose(rotation[b].numpy(), r, atol=1e-10)
        np.testing.assert_allclose(translation[b].numpy(), t, atol=1e-10)


def test_numpy_in_numpy_out() -> None:
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(10, 3))
    s, r, t = _random_similarity(rng)
    pred = s * gt @ r.T + t
    aligned = procrustes_align(pred, gt)
    assert isinstance(aligned, np.ndarray)
    np.testing.assert_allclose(aligned, gt, atol=1e-7)
    assert isinstance(umeyama_align(pred, gt), np.ndarray)


def test_reflection_allowed_by_freihand_not_by_umeyama() -> None:
    rng = np.random.default_rng(2)
    gt = torch.from_numpy(rng.normal(size=(15, 3)))
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    pred = 1.3 * gt @ mirror + torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)

    freihand_error = (procrustes_align(pred, gt) - gt).norm(dim=-1).mean()
    assert freihand_error < 1e-7  # the reflection undoes the mirror

    scale, rotation, _ = umeyama_similarity(pred, gt)
    assert abs(float(torch.linalg.det(rotation)) - 1.0) < 1e-10
    umeyama_error = (umeyama_align(pred, gt) - gt).norm(dim=-1).mean()
    assert umeyama_error > 0.1  # a proper rotation cannot undo a mirror

    _, free_rotation, _ = umeyama_similarity(pred, gt, fix_reflection=False)
    assert abs(float(torch.linalg.det(free_rotation)) + 1.0) < 1e-10


def test_umeyama_scale_formula_and_det_in_batches() -> None:
    rng = np.random.default_rng(3)
    src = torch.from_numpy(rng.normal(size=(6, 12, 3)))
    dst = torch.from_numpy(rng.normal(size=(6, 12, 3)))  # unrelated: a generic least-squares fit
    scale, rotation, translation = umeyama_similarity(src, dst)
    np.testing.assert_allclose(torch.linalg.det(rotation).numpy(), np.ones(6), atol=1e-10)
    # the fitted similarity cannot be improved by small perturbations of the scale
    for b in range(6):

        def cost(s: float, b: int = b) -> float:
            moved = s * src[b] @ rotation[b].T + translation[b]
            return float((moved - dst[b]).square().sum())

        best = cost(float(scale[b]))
        assert best <= cost(float(scale[b]) * 1.01) and best <= cost(float(scale[b]) * 0.99)


def test_freihand_alignment_matches_scipy_orthogonal_procrustes() -> None:
    rng = np.random.default_rng(4)
    gt = rng.normal(size=(21, 3))
    pred = gt + 0.3 * rng.normal(size=(21, 3))  # noisy, so the alignment is not exact
    # FreiHAND align_w_scale written out with scipy
    gt_mean, pred_mean = gt.mean(0), pred.mean(0)
    gt_c, pred_c = gt - gt_mean, pred - pred_mean
    gt_norm = np.linalg.norm(gt_c) + 1e-8
    pred_norm = np.linalg.norm(pred_c) + 1e-8
    rotation, scale = orthogonal_procrustes(gt_c / gt_norm, pred_c / pred_norm)
    expected = (pred_c / pred_norm) @ rotation.T * scale * gt_norm + gt_mean
    np.testing.assert_allclose(procrustes_align(pred, gt), expected, atol=1e-12)
    batched = procrustes_align(
        torch.from_numpy(np.stack([pred, pred])), torch.from_numpy(np.stack([gt, gt]))
    )
    np.testing.assert_allclose(batched[1].numpy(), expected, atol=1e-12)


def test_alignment_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="same number of points"):
        procrustes_align(torch.zeros(5, 3), torch.zeros(6, 3))
    with pytest.raises(ValueError, match=r"batch dims of pred \(2, 5, 3\) and gt \(3, 5, 3\)"):
        procrustes_align(torch.zeros(2, 5, 3), torch.zeros(3, 5, 3))
    with pytest.raises(ValueError, match="batch dims"):
        umeyama_align(torch.zeros(2, 5, 3), torch.zeros(3, 5, 3))
    with pytest.raises(ValueError, match=r"gt must have shape \(\.\.\., N, 3\)"):
        umeyama_align(torch.zeros(5, 3), torch.zeros(5, 2))
    with pytest.raises(TypeError, match="torch.Tensor or numpy array"):
        procrustes_align([[0.0, 0.0, 0.0]], torch.zeros(1, 3))
