"""DeepHandMesh's evaluation metrics (registry ``METRICS``; the model's defaults).

The original computes no metric, and its test output is in the wrist frame (identity root), so
a joint error needs the placement the original trains with:

===============  ==============================================================  ==============
name             definition                                                      reported keys
===============  ==============================================================  ==============
dhm_mpjpe        mean distance over the valid joints (22-joint skeleton; thumb0  ``dhm_mpjpe``
                 has no annotation) after the rigid fit (rotation + translation,  mm
                 no scale) of the wrist and the four non-thumb knuckles to the
                 ground truth -- the original's training root
dhm_depth        the depth views rendered from the placed mesh against the        ``dhm_depth_
                 ground-truth depth maps, where both are non-zero: the median     error`` mm,
                 absolute error of a sample's pixels (mean over samples), and    ``dhm_depth_
                 the original's depth loss (smooth-L1, beta 1 mm, mean over all  loss``
                 pixels)
===============  ==============================================================  ==============

The median, because the ground-truth crops are resampled bilinearly (as the original does), so
pixels on the silhouette blend depth with the zero background and are off by up to the whole
depth; they dominate means (and the original's loss, which is therefore a poor progress gauge).

Inputs: preds ``joints_3d`` (B, 22, 3) m (wrist frame) and ``depth_maps`` (B, N, H, W) m;
batch ``target_joints_world`` (B, 22, 3) m, ``target_joints_valid`` (B, 22) and
``target_depth_maps`` (B, N, H, W) m.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from handmesh.deephandmesh.constants import ALIGN_JOINTS
from handmesh.deephandmesh.kinematics import rigid_fit
from handmesh.metrics.metric import Metric, fetch_points
from handmesh.registry import METRICS

__all__ = ["DepthMapError", "PlacedJointError"]

MM_PER_M = 1000.0


def _tensor(source: Mapping[str, Any], key: str, where: str, metric: str) -> torch.Tensor:
    if key not in source:
        raise KeyError(f"Metric {metric!r} needs {where}[{key!r}]; {where} has {sorted(source)}")
    value = source[key]
    value = torch.from_numpy(value) if isinstance(value, np.ndarray) else value
    return value.detach().to(device="cpu", dtype=torch.float64)


@METRICS.register("dhm_mpjpe")
class PlacedJointError(Metric):
    """Joint error after the align-joint rigid fit (see the module docstring), in mm."""

    name = "dhm_mpjpe"

    def __init__(self, align_joints: Sequence[int] = ALIGN_JOINTS) -> None:
        self.align_joints = [int(j) for j in align_joints]

    def records(self, preds: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        pred = fetch_points(preds, "joints_3d", "preds", self.name)
        target = fetch_points(batch, "target_joints_world", "batch", self.name)
        valid = _tensor(batch, "target_joints_valid", "batch", self.name).reshape(target.shape[:2])
        rotation, translation = rigid_fit(pred[:, self.align_joints], target[:, self.align_joints])
        placed = pred @ rotation.transpose(-1, -2) + translation[:, None]
        error = (placed - target).norm(dim=-1)
        per_sample = (error * valid).sum(1) / valid.sum(1).clamp(min=1)
        return {"error": per_sample.numpy()}

    def reduce(self, records: Mapping[str, np.ndarray]) -> dict[str, float]:
        return {self.name: float(np.mean(records["error"]) * MM_PER_M)}


@METRICS.register("dhm_depth")
class DepthMapError(Metric):
    """Rendered vs ground-truth depth where both are non-zero (see the module docstring)."""

    name = "dhm_depth"

    def records(self, preds: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        rendered = _tensor(preds, "depth_maps", "preds", self.name) * MM_PER_M
        target = _tensor(batch, "target_depth_maps", "batch", self.name) * MM_PER_M
        if rendered.shape != target.shape:
            raise ValueError(
                f"Metric {self.name!r}: preds['depth_maps'] {tuple(rendered.shape)} and "
                f"batch['target_depth_maps'] {tuple(target.shape)} differ in shape"
            )
        both = (rendered != 0) & (target != 0)
        diff = (rendered - target).abs() * both
        smooth = torch.where(diff < 1.0, 0.5 * diff.square(), diff - 0.5) * both
        dims = tuple(range(1, rendered.dim()))
        median = [
            float(d[m].quantile(0.5)) if bool(m.any()) else float("nan") for d, m in zip(diff, both)
        ]
        return {"median": np.asarray(median), "loss": smooth.mean(dims).numpy()}

    def reduce(self, records: Mapping[str, np.ndarray]) -> dict[str, float]:
        return {
            "dhm_depth_error": float(np.nanmean(records["median"])),
            "dhm_depth_loss": float(np.mean(records["loss"])),
        }
