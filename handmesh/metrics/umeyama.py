"""PA-MPJPE / PA-MPVPE with Umeyama's similarity and the reflection fix (HandOccNet's DexYCB).

HandOccNet's DexYCB evaluation (``rigid_align``) aligns each prediction to its ground truth with
Umeyama's least-squares scale, rotation and translation, forcing det(R) = +1. The registered
``pa_mpjpe`` / ``pa_mpvpe`` use FreiHAND's Procrustes instead (OakInk-HMR), which lets the
"rotation" be a reflection; the two differ on mirrored or degenerate predictions. Registered as

===================  =================================================  ======================
name                 definition                                         reported key
===================  =================================================  ======================
pa_mpjpe_umeyama     mean joint error after Umeyama alignment            ``pa_mpjpe_umeyama`` mm
pa_mpvpe_umeyama     mean vertex error after Umeyama alignment           ``pa_mpvpe_umeyama`` mm
===================  =================================================  ======================

Alignment runs in float64 per sample (``handmesh.geometry.procrustes.umeyama_align``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from handmesh.geometry.procrustes import umeyama_align
from handmesh.metrics.hand_metrics import _MeanPointError
from handmesh.metrics.metric import fetch_points
from handmesh.registry import METRICS

__all__ = ["PAMPJPEUmeyama", "PAMPVPEUmeyama"]


class _UmeyamaPointError(_MeanPointError):
    aligned = False  # the alignment is done here, before the shared error computation

    def records(self, preds: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        pred = fetch_points(preds, self.pred_key, "preds", self.name)
        gt = fetch_points(batch, self.gt_key, "batch", self.name)
        if pred.shape == gt.shape:  # else the shared check below names both shapes
            pred = umeyama_align(pred, gt)
        return super().records({self.pred_key: pred}, batch)


@METRICS.register("pa_mpjpe_umeyama")
class PAMPJPEUmeyama(_UmeyamaPointError):
    name = "pa_mpjpe_umeyama"
    pred_key, gt_key = "joints_3d", "target_joints_3d"


@METRICS.register("pa_mpvpe_umeyama")
class PAMPVPEUmeyama(_UmeyamaPointError):
    name = "pa_mpvpe_umeyama"
    pred_key, gt_key = "verts_3d", "target_verts_3d"
