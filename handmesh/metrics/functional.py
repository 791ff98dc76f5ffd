"""Metric maths as pure functions on torch tensors.

Distances come out in the unit of the inputs (the library passes metres); the ``Evaluator``
converts the reported values to millimetres. Per-sample functions keep the batch dims.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from handmesh.geometry.procrustes import procrustes_align

__all__ = [
    "DEFAULT_FSCORE_THRESHOLDS",
    "DEFAULT_PCK_THRESHOLDS",
    "f_score",
    "f_scores",
    "mean_point_error",
    "pa_point_errors",
    "pck_auc",
    "pck_curve",
    "point_errors",
    "trapezoid",
]

DEFAULT_PCK_THRESHOLDS: tuple[float, float, int] = (0.0, 0.05, 20)
"""(min, max, steps) in metres: OakInk's Hand3DPCK thresholds ``linspace(0, 50 mm, 20)``."""

DEFAULT_FSCORE_THRESHOLDS: tuple[float, ...] = (0.005, 0.015)
"""F-score distance thresholds in metres (F@5 mm and F@15 mm of FreiHAND / HO3D)."""


def _check_pair(pred: torch.Tensor, gt: torch.Tensor, func: str) -> None:
    if pred.shape != gt.shape or pred.dim() < 2 or pred.shape[-1] != 3:
        raise ValueError(
            f"{func}: pred and gt must both have shape (..., N, 3), got {tuple(pred.shape)} and "
            f"{tuple(gt.shape)}"
        )


def point_errors(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(..., N, 3), (..., N, 3) -> (..., N) Euclidean distance per point."""
    _check_pair(pred, gt, "point_errors")
    return torch.linalg.norm(pred - gt, dim=-1)


def mean_point_error(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(..., N, 3), (..., N, 3) -> (...) mean end-point error per sample (MPJPE / MPVPE)."""
    return point_errors(pred, gt).mean(dim=-1)


def pa_point_errors(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(..., N, 3), (..., N, 3) -> (..., N) distances after Procrustes alignment with scale
    (FreiHAND / OakInk ``align_w_scale``; reflections allowed)."""
    _check_pair(pred, gt, "pa_point_errors")
    return torch.linalg.norm(procrustes_align(pred, gt) - gt, dim=-1)


def f_score(pred: torch.Tensor, gt: torch.Tensor, threshold: float) -> torch.Tensor:
    """(..., N, 3), (..., M, 3) point sets -> (...) F-score at ``threshold`` (same unit).

    precision = fraction of pred points closer than ``threshold`` (strictly) to some gt point,
    recall = fraction of gt points closer than ``threshold`` to some pred point,
    F = 2 P R / (P + R), and 0 when P + R = 0. FreiHAND's ``calculate_fscore`` names the two
    fractions the other way round; F is symmetric, so the value is the same. Apply the alignment
    first (the benchmarks score Procrustes-aligned vertices).
    """
    return f_scores(pred, gt, (threshold,))[..., 0]


def f_scores(pred: torch.Tensor, gt: torch.Tensor, thresholds: Sequence[float]) -> torch.Tensor:
    """:func:`f_score` at several thresholds from one distance matrix: (...) -> (..., T).

    Memory is (..., N, M) distances: loop over samples for large batches of meshes.
    """
    if pred.dim() < 2 or gt.dim() < 2 or pred.shape[-1] != 3 or gt.shape[-1] != 3:
        raise ValueError(
            f"f_score: pred and gt must have shape (..., N, 3) and (..., M, 3), got "
            f"{tuple(pred.shape)} and {tuple(gt.shape)}"
        )
    distances = torch.cdist(pred, gt)  # (..., N, M)
    limits = torch.as_tensor(thresholds, dtype=pred.dtype, device=pred.device)
    pred_to_gt = distances.amin(dim=-1)[..., None]  # (..., N, 1)
    gt_to_pred = distances.amin(dim=-2)[..., None]  # (..., M, 1)
    precision = (pred_to_gt < limits).to(pred.dtype).mean(dim=-2)  # (..., T)
    recall = (gt_to_pred < limits).to(pred.dtype).mean(dim=-2)
    total = precision + recall
    return torch.where(total > 0, 2 * precision * recall / total.clamp_min(1e-30), 0.0)


def trapezoid(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trapezoidal integral of ``y`` (..., T) over ``x`` (T,) along the last axis (``np.trapz``,
    which numpy 2 removed)."""
    return ((y[..., 1:] + y[..., :-1]) * 0.5 * np.diff(x)).sum(axis=-1)


def pck_curve(errors: np.ndarray, visible: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per-joint PCK: (S, J) errors, (S, J) visibility, (T,) thresholds -> (J, T).

    ``pck[j, t]`` is the fraction of samples where joint j is visible and ``error <= t``, among the
    samples where j is visible (OakInk ``Hand3DPCK``); NaN for a joint never visible.
    """
    errors = np.asarray(errors, dtype=np.float64)
    visible = np.asarray(visible, dtype=bool)
    if errors.ndim != 2 or visible.shape != errors.shape:
        raise ValueError(
            f"pck_curve: errors and visible must both be (samples, joints), got {errors.shape} "
            f"and {visible.shape}"
        )
    within = (errors[:, :, None] <= np.asarray(thresholds)[None, None, :]) & visible[:, :, None]
    counts = visible.sum(axis=0).astype(np.float64)[:, None]  # (J, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return within.sum(axis=0) / counts


def pck_auc(errors: np.ndarray, visible: np.ndarray, thresholds: np.ndarray) -> float:
    """Area under the PCK curve in [0, 1]: per joint ``trapz(PCK, t) / trapz(1, t)``, then the
    mean over joints that are visible at least once (OakInk ``Hand3DPCK.auc_all``).
    NaN when no joint is ever visible."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or thresholds.size < 2:
        raise ValueError(f"pck_auc: thresholds must be 1-D with >= 2 values, got {thresholds}")
    curve = pck_curve(errors, visible, thresholds)
    per_joint = trapezoid(curve, thresholds) / trapezoid(np.ones_like(thresholds), thresholds)
    valid = ~np.isnan(per_joint)
    return float(per_joint[valid].mean()) if valid.any() else float("nan")
