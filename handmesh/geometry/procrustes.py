"""Similarity (Procrustes) alignment of point sets, batched over leading dims.

Two conventions exist in the benchmarks and give different numbers on degenerate predictions:

* :func:`procrustes_align` - FreiHAND ``align_w_scale``, used by OakInk-HMR's ``PAEval`` and the
  FreiHAND / HO3D servers: centre both sets, divide each by its Frobenius norm, solve the orthogonal
  Procrustes problem (``scipy.linalg.orthogonal_procrustes``), scale by the sum of the singular
  values. The "rotation" may be a REFLECTION (det = -1): it is not excluded.
* :func:`umeyama_align` - Umeyama's similarity with the reflection fix (det(R) = +1), used by
  HandOccNet's ``rigid_align`` on DexYCB and by dex-ycb-toolkit.

Inputs are torch tensors or numpy arrays (returned as the same type); SVDs run in the input's dtype,
so pass float64 for evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["procrustes_align", "umeyama_align", "umeyama_similarity"]

_NORM_EPS = 1e-8  # added to the Frobenius norms, as FreiHAND's align_w_scale


def _as_float_tensor(value: Any, name: str, func: str) -> torch.Tensor:
    tensor = torch.from_numpy(value) if isinstance(value, np.ndarray) else value
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{func}: {name} must be a torch.Tensor or numpy array, got {type(value)}")
    if tensor.dim() < 2 or tensor.shape[-1] != 3:
        raise ValueError(f"{func}: {name} must have shape (..., N, 3), got {tuple(tensor.shape)}")
    return tensor if tensor.is_floating_point() else tensor.double()


def _pair(pred: Any, gt: Any, func: str) -> tuple[torch.Tensor, torch.Tensor]:
    pred_t = _as_float_tensor(pred, "pred", func)
    gt_t = _as_float_tensor(gt, "gt", func).to(dtype=pred_t.dtype, device=pred_t.device)
    if pred_t.shape[-2] != gt_t.shape[-2]:
        raise ValueError(
            f"{func}: pred and gt need the same number of points, got {tuple(pred_t.shape)} and "
            f"{tuple(gt_t.shape)}"
        )
    try:
        torch.broadcast_shapes(pred_t.shape[:-2], gt_t.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"{func}: the batch dims of pred {tuple(pred_t.shape)} and gt {tuple(gt_t.shape)} "
            "must match (or broadcast)"
        ) from None
    return pred_t, gt_t


def procrustes_align(pred: Any, gt: Any) -> Any:
    """Align ``pred`` to ``gt`` with scale, rotation-or-reflection and translation (FreiHAND).

    Args:
        pred: (..., N, 3) predicted points (any unit).
        gt: (..., N, 3) ground-truth points, same unit.

    Returns:
        (..., N, 3) aligned prediction, in gt's frame and unit; numpy if ``pred`` is numpy.
    """
    pred_t, gt_t = _pair(pred, gt, "procrustes_align")
    gt_mean = gt_t.mean(dim=-2, keepdim=True)
    pred_mean = pred_t.mean(dim=-2, keepdim=True)
    gt_c = gt_t - gt_mean
    pred_c = pred_t - pred_mean
    gt_norm = torch.linalg.norm(gt_c, dim=(-2, -1), keepdim=True) + _NORM_EPS
    pred_norm = torch.linalg.norm(pred_c, dim=(-2, -1), keepdim=True) + _NORM_EPS
    gt_n = gt_c / gt_norm
    pred_n = pred_c / pred_norm
    # orthogonal_procrustes(gt_n, pred_n): R = U V^T minimises |gt_n R - pred_n|, scale = sum(S)
    u, s, vh = torch.linalg.svd(gt_n.transpose(-1, -2) @ pred_n)
    rotation = u @ vh
    scale = s.sum(dim=-1)[..., None, None]
    aligned = (pred_n @ rotation.transpose(-1, -2)) * scale * gt_norm + gt_mean
    return aligned.numpy() if isinstance(pred, np.ndarray) else aligned


def umeyama_similarity(
    src: Any, dst: Any, fix_reflection: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least-squares similarity ``dst ~ s R src + t`` (Umeyama 1991).

    Args:
        src: (..., N, 3) points to move.
        dst: (..., N, 3) target points.
        fix_reflection: force det(R) = +1 by flipping the smallest singular direction (HandOccNet,
            dex-ycb-toolkit). False allows a reflection.

    Returns:
        ``s`` (...,), ``R`` (..., 3, 3), ``t`` (..., 3) as torch tensors; apply with
        ``s[..., None, None] * src @ R.transpose(-1, -2) + t[..., None, :]``.
    """
    src_t, dst_t = _pair(src, dst, "umeyama_similarity")
    src_mean = src_t.mean(dim=-2)
    dst_mean = dst_t.mean(dim=-2)
    src_c = src_t - src_mean[..., None, :]
    dst_c = dst_t - dst_mean[..., None, :]
    num_points = src_t.shape[-2]
    covariance = src_c.transpose(-1, -2) @ dst_c / num_points  # (..., 3, 3)
    u, sing, vh = torch.linalg.svd(covariance)
    signs = torch.ones_like(sing)
    if fix_reflection:
        det = torch.linalg.det(vh.transpose(-1, -2) @ u.transpose(-1, -2))
        signs[..., -1] = torch.where(det < 0, -1.0, 1.0).to(sing.dtype)
    rotation = vh.transpose(-1, -2) @ (signs[..., :, None] * u.transpose(-1, -2))
    src_variance = src_c.square().sum(dim=(-2, -1)) / num_points
    scale = (sing * signs).sum(dim=-1) / src_variance
    translation = dst_mean - scale[..., None] * (rotation @ src_mean[..., :, None])[..., 0]
    return scale, rotation, translation


def umeyama_align(pred: Any, gt: Any) -> Any:
    """Align ``pred`` (..., N, 3) to ``gt`` (..., N, 3) with Umeyama's similarity, reflections
    excluded (HandOccNet ``rigid_align``, DexYCB). Returns (..., N, 3), numpy if ``pred`` is."""
    pred_t, gt_t = _pair(pred, gt, "umeyama_align")
    scale, rotation, translation = umeyama_similarity(pred_t, gt_t, fix_reflection=True)
    aligned = (
        scale[..., None, None] * pred_t @ rotation.transpose(-1, -2) + translation[..., None, :]
    )
    return aligned.numpy() if isinstance(pred, np.ndarray) else aligned
