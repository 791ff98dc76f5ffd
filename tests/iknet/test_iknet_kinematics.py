"""The fit's preallocated MANO kinematics and objective against the MANO layer and autograd.

The references are independent of handmesh.iknet: the ``MANO`` layer (roma rotations, batch
first) for the forward pass, autograd through it for the vector-Jacobian product, and autograd
through the plain per-sample objective of ``helpers.reference_objective`` for the gradient."""

from __future__ import annotations

import pytest
import torch
from helpers import mano64, natural_hands, reference_objective, small_rotation_iknet

from handmesh.errors import ArgumentError
from handmesh.iknet import HandTailorFitter
from handmesh.iknet.kinematics import ManoKinematics
from handmesh.iknet.objective import BONE_ROW, FitObjective
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
    tips_only = kin(kin.pose_from_so3(so3), betas.T)
    for got in (points, tips_only):
        torch.testing.assert_close(
            kin.canonical_from_points(got), expected.joints, atol=1e-12, rtol=0
        )
    torch.testing.assert_close(verts.permute(2, 0, 1), expected.verts, atol=1e-12, rtol=0)
    torch.testing.assert_close(kin.so3_from_pose(kin.pose_from_so3(so3)), so3, atol=0, rtol=0)
    canonical = torch.randn(6, 21, 3, dtype=torch.float64)
    assert torch.equal(kin.canonical_from_points(kin.points_from_canonical(canonical)), canonical)


def test_vjp_equals_autograd_through_the_mano_layer_including_zero_rotations() -> None:
    mano = MANO(flat_hand_mean=True, allow_synthetic=True, dtype=torch.float64)
    kin = ManoKinematics(mano)
    so3 = torch.randn(5, 48, dtype=torch.float64)
    so3[1, 9:21] = 0.0
    betas = torch.randn(5, 10, dtype=torch.float64)
    weights = torch.randn(5, 21, 3, dtype=torch.float64)
    leaves = [so3.clone().requires_grad_(True), betas.clone().requires_grad_(True)]
    expected = torch.autograd.grad((mano(*leaves).joints * weights).sum(), leaves)

    work = kin.workspace(5, "tips", gradient=True)
    work.pose.copy_(kin.pose_from_so3(so3))
    work.betas.copy_(betas.T)
    work.forward()
    work.grad_points.copy_(kin.points_from_canonical(weights))
    work.backward()
    torch.testing.assert_close(
        kin.so3_from_pose(work.grad_pose), expected[0], atol=1e-12, rtol=1e-10
    )
    torch.testing.assert_close(work.grad_betas.T, expected[1], atol=1e-12, rtol=1e-10)

    # at an exactly zero rotation the gradient is the finite-difference one
    zero = torch.zeros(1, 48, dtype=torch.float64)
    beta0 = torch.zeros(10, 1, dtype=torch.float64)
    w0 = torch.randn(1, 21, 3, dtype=torch.float64)
    work = kin.workspace(1, "tips", gradient=True)
    work.forward()  # params default to zeros: the flat, mean-shape hand
    work.grad_points.copy_(kin.points_from_canonical(w0))
    work.backward()
    grad0 = kin.so3_from_pose(work.grad_pose)[0]
    eps = 1e-6
    for column in (2, 21, 43):
        bump = torch.zeros_like(zero)
        bump[0, column] = eps

        def energy(so3: torch.Tensor) -> float:
            points = kin(kin.pose_from_so3(so3), beta0)
            return float((kin.canonical_from_points(points) * w0).sum())

        numeric = (energy(zero + bump) - energy(zero - bump)) / (2 * eps)
        assert grad0[column].item() == pytest.approx(numeric, rel=1e-6)


def _problem(
    reg_target: str, batch: int = 6
) -> tuple[FitObjective, torch.Tensor, HandTailorFitter]:
    """A FitObjective away from its IKNet start: rotated pose, random shape, another bone."""
    fitter = HandTailorFitter(small_rotation_iknet(), mano=mano64(), reg_target=reg_target)  # type: ignore[arg-type]
    joints = natural_hands(batch, seed=11)
    params, targets, _, _ = fitter.prepare(joints)
    gen = torch.Generator().manual_seed(3)
    params = params.clone()
    params[:48] += 0.6 * torch.randn(48, batch, generator=gen, dtype=torch.float64)
    params[48:58] = torch.randn(10, batch, generator=gen, dtype=torch.float64)
    params[BONE_ROW] *= 1.3
    return FitObjective(fitter.kinematics, targets, params), joints, fitter


@pytest.mark.parametrize("reg_target", ["batch", "sample"])
def test_objective_and_gradient_equal_autograd_of_the_per_sample_reference(reg_target: str) -> None:
    problem, joints, fitter = _problem(reg_target)
    kin = fitter.kinematics
    params = problem.params.clone()
    value = problem.value()
    grad = problem.gradient().clone()
    assert (problem.bend < 0).any() and (problem.bend > 0).any()  # both sides of the clip
    assert (problem.twist != 0).all()

    mano = mano64()
    so3_all = kin.so3_from_pose(params[:48].view(16, 3, -1))
    root = joints[:, 9]
    rel = joints - joints[:, 9:10]
    bone_in = (rel[:, 0] - rel[:, 9]).norm(dim=-1)
    with torch.no_grad():
        so3_init = fitter.iknet(rel / bone_in[:, None, None])["so3"]
    for i in range(joints.shape[0]):
        leaves = [
            so3_all[i].clone().requires_grad_(True),
            params[48:58, i].clone().requires_grad_(True),
            params[BONE_ROW, i].clone().requires_grad_(True),
        ]
        init = so3_init if reg_target == "batch" else so3_init[i : i + 1]
        err = reference_objective(mano, *leaves, init, rel[i] / bone_in[i], root[i])
        expected = torch.autograd.grad(err, leaves)
        assert value[i].item() == pytest.approx(err.item(), rel=1e-12)
        got_so3 = kin.so3_from_pose(grad[:48, i : i + 1].view(16, 3, 1))[0]
        scale = max(float(expected[0].abs().max()), 1.0)
        torch.testing.assert_close(got_so3, expected[0], atol=1e-10 * scale, rtol=1e-9)
        torch.testing.assert_close(grad[48:58, i], expected[1], atol=1e-10 * scale, rtol=1e-9)
        assert grad[BONE_ROW, i].item() == pytest.approx(expected[2].item(), rel=1e-9, abs=1e-10)


def test_every_buffer_is_written_before_it_is_read() -> None:
    """The workspaces allocate with torch.empty: garbage left in them must not matter."""
    fresh, _, _ = _problem("batch")
    expected = fresh.gradient().clone()
    expected_value = fresh.value().clone()
    dirty, _, _ = _problem("batch")
    constants = [dirty.params, dirty._segments, dirty._grad_from_groups, dirty._pose_target_scaled]
    constants += list(dirty.work.kinematics.buffers())
    keep = {t.untyped_storage().data_ptr() for t in constants}
    filled = 0
    for holder in (dirty, dirty.work):
        for tensor in vars(holder).values():
            writable = isinstance(tensor, torch.Tensor) and tensor.is_floating_point()
            if writable and tensor.dim() > 0 and tensor.untyped_storage().data_ptr() not in keep:
                tensor.fill_(float("nan"))
                filled += 1
    assert filled > 50
    assert torch.equal(dirty.gradient(), expected)
    assert torch.equal(dirty.gradient(), expected)  # and again: no state kept between calls
    assert torch.equal(dirty.value(), expected_value)


def test_bad_arguments_are_named() -> None:
    kin = ManoKinematics(MANO(flat_hand_mean=True, allow_synthetic=True))
    with pytest.raises(ArgumentError, match=r"vertices must be 'tips' or 'mesh', got 'all'"):
        kin.workspace(2, "all")  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match=r"\(16, 3, B\) slot-order pose .* got \(48, 2\)"):
        kin(torch.zeros(48, 2), torch.zeros(10, 2))
    with pytest.raises(ArgumentError, match=r"params must be \(>= 58, 2\), got \(58, 3\)"):
        kin.workspace(2, params=torch.zeros(58, 3))
    with pytest.raises(ArgumentError, match=r"use_pca=False and flat_hand_mean=True"):
        ManoKinematics(MANO(flat_hand_mean=False, allow_synthetic=True))
