"""Camera translation of a predicted hand from its 2D joints (HandOccNet's ``demo_fitting.py``).

HandOccNet predicts the hand in the uncentred MANO frame (metres) and 2D joints in the crop; it has
no camera branch. Its fitting demo places the hand in a pinhole camera by optimising a translation
``t`` so that the projection of ``J + t`` matches the 2D joints (mapped back to image pixels):

    loss = data_weight**2 * sum_j |x_j - proj(J_j + t)|_1  +  depth_loss_weight * (t_z - z0)**2

over the joints ``init_joints_idxs`` (all 21), with ``t`` starting at ``(0, 0, z0)`` and the second
term keeping the depth near the initial guess ``z0``. The original optimises with L-BFGS and a
strong-Wolfe line search (lr 0.1, 20 iterations per step, history 100) for up to 300 steps,
stopping early on NaN/Inf, on a relative loss change <= 1e-10, or when every gradient entry is
below 1e-9. Its scale variable never receives a gradient, so only the translation is fitted here.

:class:`ScaleTranslationLoss` keeps the original's three buffers (``data_weight``,
``init_joints_idxs``, ``depth_loss_weight``), which HandOccNet checkpoints since 2023 contain under
``fitting_loss.``. :func:`fit_translation` runs the fit for a whole batch at once (each sample's
loss depends only on its own translation, so minimising the sum minimises each).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from handmesh.errors import ArgumentError
from handmesh.geometry.camera import project_points

__all__ = ["FitResult", "ScaleTranslationLoss", "fit_translation"]

DEFAULT_DEPTH_LOSS_WEIGHT = 1000.0


class ScaleTranslationLoss(nn.Module):
    """Per-sample fitting loss (see the module docstring).

    Args:
        joint_ids: joints used in the 2D term (HandOccNet: all 21).
        data_weight: the 2D term is multiplied by its square (1).
        depth_loss_weight: weight of the depth prior (1000, metres squared).
    """

    data_weight: torch.Tensor
    init_joints_idxs: torch.Tensor
    depth_loss_weight: torch.Tensor

    def __init__(
        self,
        joint_ids: Sequence[int] = tuple(range(21)),
        data_weight: float = 1.0,
        depth_loss_weight: float = DEFAULT_DEPTH_LOSS_WEIGHT,
    ) -> None:
        super().__init__()
        if len(joint_ids) == 0:
            raise ArgumentError("ScaleTranslationLoss: joint_ids must name at least one joint")
        self.register_buffer("data_weight", torch.tensor(float(data_weight)))
        self.register_buffer("init_joints_idxs", torch.tensor(list(joint_ids), dtype=torch.long))
        self.register_buffer("depth_loss_weight", torch.tensor(float(depth_loss_weight)))

    def forward(
        self,
        joints_3d: torch.Tensor,
        joints_2d: torch.Tensor,
        translation: torch.Tensor,
        init_depth: torch.Tensor,
        cam_intr: torch.Tensor,
    ) -> torch.Tensor:
        """joints_3d (B, J, 3) m, joints_2d (B, J, 2) px, translation (B, 3) m, init_depth (B,) m,
        cam_intr (B, 3, 3) px -> (B,) losses."""
        ids = self.init_joints_idxs
        projected = project_points(joints_3d[:, ids] + translation[:, None], cam_intr)
        data = (joints_2d[:, ids] - projected).abs().sum(dim=(1, 2)) * self.data_weight**2
        depth = self.depth_loss_weight * (translation[:, 2] - init_depth) ** 2
        return data + depth


class FitResult(NamedTuple):
    """``translation`` (B, 3) m (OpenCV camera frame), ``loss`` (B,) final per-sample loss,
    ``steps`` outer L-BFGS steps taken."""

    translation: torch.Tensor
    loss: torch.Tensor
    steps: int


def _relative_change(previous: float, current: float) -> float:
    return (previous - current) / max(abs(previous), abs(current), 1.0)


def fit_translation(
    joints_3d: torch.Tensor,
    joints_2d: torch.Tensor,
    cam_intr: torch.Tensor,
    init_depth: float | torch.Tensor = 0.5,
    loss: ScaleTranslationLoss | None = None,
    max_steps: int = 300,
    ftol: float = 1e-10,
    gtol: float = 1e-9,
) -> FitResult:
    """Fit the camera translation of each hand of a batch (HandOccNet ``get_mesh_scale_trans``).

    Args:
        joints_3d: (B, J, 3) predicted joints, metres, in the model's frame (not translated).
        joints_2d: (B, J, 2) predicted 2D joints in image pixels.
        cam_intr: (B, 3, 3) or (3, 3) image intrinsics in pixels.
        init_depth: initial z (and depth prior), metres: a float or (B,).
        loss: the loss terms (default :class:`ScaleTranslationLoss` ()).
        max_steps, ftol, gtol: the original's stopping rules (300, 1e-10, 1e-9).

    Returns:
        :class:`FitResult`; the hand in the camera is ``joints_3d + translation[:, None]``.
    """
    if joints_3d.dim() != 3 or joints_3d.shape[-1] != 3:
        raise ArgumentError(f"fit_translation: joints_3d must be (B, J, 3), got {joints_3d.shape}")
    if joints_2d.shape != (*joints_3d.shape[:2], 2):
        raise ArgumentError(
            f"fit_translation: joints_2d must be {(*joints_3d.shape[:2], 2)}, got "
            f"{tuple(joints_2d.shape)}"
        )
    batch = joints_3d.shape[0]
    dtype, device = joints_3d.dtype, joints_3d.device
    if loss is None:
        loss = ScaleTranslationLoss()
    loss = loss.to(device)
    intr = torch.as_tensor(cam_intr, dtype=dtype, device=device).expand(batch, 3, 3)
    depth0 = torch.as_tensor(init_depth, dtype=dtype, device=device).expand(batch).clone()
    joints_3d, joints_2d = joints_3d.detach(), joints_2d.detach().to(dtype)
    translation = torch.zeros(batch, 3, dtype=dtype, device=device)
    translation[:, 2] = depth0
    translation.requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [translation],
        lr=0.1,
        max_iter=20,
        max_eval=25,
        history_size=100,
        tolerance_grad=1e-5,
        tolerance_change=1e-9,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        total = loss(joints_3d, joints_2d, translation, depth0, intr).sum()
        total.backward()
        return total

    previous: float | None = None
    steps = 0
    with torch.enable_grad():
        while steps < max_steps:
            steps += 1
            current = float(optimizer.step(closure).detach())
            if not torch.isfinite(torch.tensor(current)):
                break
            if previous is not None and _relative_change(previous, current) <= ftol:
                break
            grad = translation.grad
            if grad is not None and float(grad.abs().max()) < gtol:
                break
            previous = current
        with torch.no_grad():
            final = loss(joints_3d, joints_2d, translation, depth0, intr)
    return FitResult(translation.detach(), final.detach(), steps)
