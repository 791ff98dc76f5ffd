"""The registered hand metrics (registry ``METRICS``, names as used by ``Evaluator``).

===========  =========================================================  ==================
name         definition                                                 reported keys
===========  =========================================================  ==================
mpjpe        mean joint L2 error, camera space (OakInk ``MeanEPE``)     ``mpjpe`` mm
pa_mpjpe     same after Procrustes with scale (OakInk ``PAEval``)       ``pa_mpjpe`` mm
pck_auc      AUC of the 3D PCK curve, 0-50 mm, 20 steps (``Hand3DPCK``) ``pck_auc`` 0..1
mpvpe        mean vertex L2 error                                       ``mpvpe`` mm
pa_mpvpe     same after Procrustes with scale                           ``pa_mpvpe`` mm
f_score      F-score of Procrustes-aligned vertices at 5 / 15 mm        ``f5``, ``f15`` 0..1
===========  =========================================================  ==================

Joints are read from ``preds["joints_3d"]`` / ``batch["target_joints_3d"]`` (B, 21, 3) m, vertices
from ``preds["verts_3d"]`` / ``batch["target_verts_3d"]`` (B, 778, 3) m. Means are over samples of
the per-sample mean over points; MPJPE uses every joint (no visibility mask, as OakInk), PCK only
the visible ones (``batch["target_joints_vis"]``, all visible when absent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from handmesh.config.values import cfg_float, cfg_int
from handmesh.errors import ArgumentError
from handmesh.geometry.procrustes import procrustes_align
from handmesh.metrics.functional import (
    DEFAULT_FSCORE_THRESHOLDS,
    DEFAULT_PCK_THRESHOLDS,
    f_scores,
    mean_point_error,
    pck_auc,
    point_errors,
)
from handmesh.metrics.metric import Metric, fetch_points
from handmesh.registry import METRICS

__all__ = ["MPJPE", "MPVPE", "PAMPJPE", "PAMPVPE", "FScore", "PCKAUC"]

_MM_PER_M = 1000.0


class _MeanPointError(Metric):
    """Mean over samples of the per-sample mean point error, reported in mm."""

    pred_key: ClassVar[str]
    gt_key: ClassVar[str]
    aligned: ClassVar[bool]

    def records(self, preds: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        pred = fetch_points(preds, self.pred_key, "preds", self.name)
        gt = fetch_points(batch, self.gt_key, "batch", self.name)
        if pred.shape != gt.shape:
            raise ValueError(
                f"Metric {self.name!r}: preds[{self.pred_key!r}] {tuple(pred.shape)} and "
                f"batch[{self.gt_key!r}] {tuple(gt.shape)} differ in shape"
            )
        if self.aligned:
            pred = procrustes_align(pred, gt)
        return {"error": mean_point_error(pred, gt).numpy()}

    def reduce(self, records: Mapping[str, np.ndarray]) -> dict[str, float]:
        return {self.name: float(np.mean(records["error"]) * _MM_PER_M)}


@METRICS.register("mpjpe")
class MPJPE(_MeanPointError):
    name = "mpjpe"
    pred_key, gt_key, aligned = "joints_3d", "target_joints_3d", False


@METRICS.register("pa_mpjpe")
class PAMPJPE(_MeanPointError):
    name = "pa_mpjpe"
    pred_key, gt_key, aligned = "joints_3d", "target_joints_3d", True


@METRICS.register("mpvpe")
class MPVPE(_MeanPointError):
    name = "mpvpe"
    pred_key, gt_key, aligned = "verts_3d", "target_verts_3d", False


@METRICS.register("pa_mpvpe")
class PAMPVPE(_MeanPointError):
    name = "pa_mpvpe"
    pred_key, gt_key, aligned = "verts_3d", "target_verts_3d", True


@METRICS.register("pck_auc")
class PCKAUC(Metric):
    """3D PCK AUC over ``linspace(val_min, val_max, steps)`` metres (OakInk ``Hand3DPCK``)."""

    name = "pck_auc"

    def __init__(
        self,
        val_min: float = DEFAULT_PCK_THRESHOLDS[0],
        val_max: float = DEFAULT_PCK_THRESHOLDS[1],
        steps: int = DEFAULT_PCK_THRESHOLDS[2],
    ) -> None:
        if not (val_max > val_min and steps >= 2):
            raise ArgumentError(
                f"pck_auc: need val_max > val_min and steps >= 2, got {val_min}, {val_max}, {steps}"
            )
        self.thresholds = np.linspace(val_min, val_max, int(steps))

    CONFIG_KEYS = ("VAL_MIN", "VAL_MAX", "STEPS")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """Keys (all optional, metres): VAL_MIN, VAL_MAX, STEPS (OakInk's Hand3DPCK names)."""
        default_min, default_max, default_steps = DEFAULT_PCK_THRESHOLDS
        return {
            "val_min": cfg_float(cfg, "VAL_MIN", default_min),
            "val_max": cfg_float(cfg, "VAL_MAX", default_max),
            "steps": cfg_int(cfg, "STEPS", default_steps),
        }

    def records(self, preds: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        pred = fetch_points(preds, "joints_3d", "preds", self.name)
        gt = fetch_points(batch, "target_joints_3d", "batch", self.name)
        errors = point_errors(pred, gt)
        if "target_joints_vis" in batch:
            visible = torch.as_tensor(batch["target_joints_vis"]).detach().cpu()
            if visible.shape != errors.shape:
                raise ValueError(
                    f"Metric 'pck_auc': batch['target_joints_vis'] must have shape "
                    f"{tuple(errors.shape)}, got {tuple(visible.shape)}"
                )
            visible = (visible != 0).to(torch.float64)
        else:
            visible = torch.ones_like(errors)
        return {"errors": errors.numpy(), "visible": visible.numpy()}

    def reduce(self, records: Mapping[str, np.ndarray]) -> dict[str, float]:
        auc = pck_auc(records["errors"], records["visible"] != 0, self.thresholds)
        return {self.name: auc}

    def __repr__(self) -> str:
        t = self.thresholds
        return f"PCKAUC(val_min={t[0]}, val_max={t[-1]}, steps={t.size})"


@METRICS.register("f_score")
class FScore(Metric):
    """Mean F-score of Procrustes-aligned vertices, one key per threshold: ``f{mm:g}``."""

    name = "f_score"

    def __init__(self, thresholds: Sequence[float] = DEFAULT_FSCORE_THRESHOLDS) -> None:
        if not isinstance(thresholds, Sequence) or isinstance(thresholds, str):
            raise ArgumentError(
                f"f_score: thresholds must be a list of metres, e.g. [0.005, 0.015], got "
                f"{thresholds!r}"
            )
        if len(thresholds) == 0 or any(t <= 0 for t in thresholds):
            raise ArgumentError(f"f_score: thresholds (metres) must be positive, got {thresholds}")
        self.thresholds = tuple(float(t) for t in thresholds)

    CONFIG_KEYS = ("THRESHOLDS",)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """Key THRESHOLDS (optional): list of metres, default [0.005, 0.015]."""
        return {"thresholds": cfg.get("THRESHOLDS", DEFAULT_FSCORE_THRESHOLDS)}

    def key(self, threshold: float) -> str:
        """Reported key of one threshold: 0.005 m -> ``"f5"``."""
        return f"f{threshold * _MM_PER_M:g}"

    def records(self, preds: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        pred = fetch_points(preds, "verts_3d", "preds", self.name)
        gt = fetch_points(batch, "target_verts_3d", "batch", self.name)
        aligned = procrustes_align(pred, gt)
        # one sample at a time: the (778, 778) distance matrix of a whole batch is too large
        scores = torch.stack([f_scores(a, g, self.thresholds) for a, g in zip(aligned, gt)])
        return {self.key(t): scores[:, i].numpy() for i, t in enumerate(self.thresholds)}

    def reduce(self, records: Mapping[str, np.ndarray]) -> dict[str, float]:
        return {self.key(t): float(np.mean(records[self.key(t)])) for t in self.thresholds}

    def __repr__(self) -> str:
        return f"FScore(thresholds={self.thresholds})"
