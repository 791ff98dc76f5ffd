"""The batch-last MANO kinematics of the fit against the MANO layer, and its hand-written
vector-Jacobian product against autograd (float64)."""

from __future__ import annotations

import pytest
import torch

from handmesh.errors import ArgumentError
from handmesh.iknet.kinematics import ManoKinematics
from handmesh.mano import MANO


@pytest.mark.parametrize("side", ["right", "left"])
def test_joints_and_mesh_equal_the_mano_layer(side: str) -> None:
    mano = MANO(side=side, flat_hand_mean=True, allow_synthetic=True, dtype=torch.float64)
    kin = ManoKinematics(mano)
    so3 = torch.randn(6, 48, dtype=torch.float64) * 0.7
    so3[0] = 0.0  # the flat hand: zero rotations exactly
    betas = torch.randn(6, 10, dtype=torch.float64)
    expected = mano(so3, betas)
    verts, points = kin.mesh(kin.pose_from_so3(so3), betas.T)
    torch.testing.assert_close(
        kin.canonical_from_points(points), expected.joints, atol=1e-12, rtol=0
    )
    torch.testing.assert_close(verts.permute(2, 1, 0), expected.verts, atol=1e-12, rtol=0)
    torch.testing.assert_close(kin.so3_from_pose(kin.pose_from_so3(so3)), so3, atol=0, rtol=0)
    canonical = torch.randn(6, 21, 3, dtype=torch.float64)
    assert torch.equal(kin.canonical_from_points(kin.points_from_canonical(canonical)), canonical)


def test_vjp_equals_autograd_including_zero_rotations() -> None:
    mano = MANO(flat_hand_mean=True, allow_synthetic=True, dtype=torch.float64)
    kin = ManoKinematics(mano)
    so3 = torch.randn(5, 48, dtype=torch.float64)
    so3[1, 9:21] = 0.0
    pose = kin.pose_from_so3(so3).clone().requires_grad_(True)
    betas = torch.randn(10, 5, dtype=torch.float64, requires_grad=True)
    state = kin(pose, betas)
    weights = torch.randn_like(state.points)
    pose_grad, betas_grad = torch.autograd.grad((state.points * weights).sum(), [pose, betas])
    ours_pose, ours_betas = kin.vjp(state, weights)
    torch.testing.assert_close(ours_pose, pose_grad, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(ours_betas, betas_grad, atol=1e-12, rtol=1e-10)
    # at an exactly zero rotation the gradient is the finite-difference one
    eps = 1e-6
    pose0 = kin.pose_from_so3(torch.zeros(1, 48, dtype=torch.float64))
    beta0 = torch.zeros(10, 1, dtype=torch.float64)
    w0 = torch.randn(3, 21, 1, dtype=torch.float64)
    grad0, _ = kin.vjp(kin(pose0, beta0), w0)
    for slot, comp in ((0, 2), (7, 0), (14, 1)):
        bump = torch.zeros_like(pose0)
        bump[comp, slot] = eps
        numeric = ((kin(pose0 + bump, beta0).points - kin(pose0 - bump, beta0).points) * w0).sum()
        assert grad0[comp, slot, 0].item() == pytest.approx(numeric.item() / (2 * eps), rel=1e-6)


def test_needs_a_flat_mean_full_pose_layer() -> None:
    mano = MANO(flat_hand_mean=False, allow_synthetic=True)
    with pytest.raises(ArgumentError, match=r"use_pca=False and flat_hand_mean=True"):
        ManoKinematics(mano)
