"""Euler rotations, FK, LBS, the DoF scatter and the rigid fit against loop / closed-form code."""

from __future__ import annotations

import math

import numpy as np
import torch
from dhm_fixtures import (
    EXPECTED_DOF,
    PARENTS,
    euler_zyx,
    fk_recursive,
    kabsch,
    lbs_loop,
    random_rigid,
)

from handmesh.deephandmesh.kinematics import (
    euler_to_rotation,
    forward_kinematics,
    linear_blend_skinning,
    rigid_fit,
)
from handmesh.deephandmesh.network import PoseNet


def test_euler_is_rz_ry_rx() -> None:
    rng = np.random.default_rng(0)
    angles = rng.uniform(-math.pi, math.pi, size=(5, 3))
    got = euler_to_rotation(torch.from_numpy(angles)).numpy()
    for a, r in zip(angles, got):
        np.testing.assert_allclose(r, euler_zyx(tuple(a)), atol=1e-12)
    # x is applied first: a pure x rotation followed by a pure z rotation
    x_then_z = euler_zyx((0.3, 0.0, 0.0))
    np.testing.assert_allclose(euler_zyx((0.0, 0.0, 0.5)) @ x_then_z, euler_zyx((0.3, 0.0, 0.5)))


def test_forward_kinematics_matches_the_recursive_loop() -> None:
    rng = np.random.default_rng(1)
    local = np.stack([np.stack([random_rigid(rng) for _ in PARENTS]) for _ in range(3)])
    roots = np.stack([random_rigid(rng) for _ in range(3)])
    got = forward_kinematics(torch.from_numpy(local), PARENTS, torch.from_numpy(roots)).numpy()
    for b in range(3):
        np.testing.assert_allclose(got[b], fk_recursive(PARENTS, local[b], roots[b]), atol=1e-9)
    # unbatched form
    single = forward_kinematics(torch.from_numpy(local[0]), PARENTS, torch.from_numpy(roots[0]))
    np.testing.assert_allclose(single.numpy(), got[0])


def test_lbs_matches_the_per_joint_sum() -> None:
    rng = np.random.default_rng(2)
    verts = rng.normal(size=(2, 50, 3)) * 40
    weights = rng.uniform(size=(50, 22)) * (rng.uniform(size=(50, 22)) < 0.2)
    weights[:, 21] += 0.1
    weights /= weights.sum(1, keepdims=True)
    transforms = np.stack([np.stack([random_rigid(rng) for _ in range(22)]) for _ in range(2)])
    got = linear_blend_skinning(
        torch.from_numpy(verts), torch.from_numpy(weights), torch.from_numpy(transforms)
    ).numpy()
    for b in range(2):
        np.testing.assert_allclose(got[b], lbs_loop(verts[b], weights, transforms[b]), atol=1e-9)


def test_dof_scatter_order() -> None:
    dof = torch.tensor([EXPECTED_DOF[j] for j in range(22)], dtype=torch.float32)
    net = PoseNet(dof)
    values = torch.arange(1, 29, dtype=torch.float32)[None]
    got = net.scatter(values)[0]
    expected = torch.zeros(22, 3)
    k = 0
    for joint in range(22):  # joints ascending, then x, y, z
        for axis in range(3):
            if EXPECTED_DOF[joint][axis]:
                k += 1
                expected[joint, axis] = k
    assert k == 28
    assert torch.equal(got, expected)


def test_pose_net_output_is_tanh_pi_on_the_free_dofs() -> None:
    dof = torch.tensor([EXPECTED_DOF[j] for j in range(22)], dtype=torch.float32)
    net = PoseNet(dof, in_dim=8, hidden_dim=16)
    feat = torch.randn(4, 8)
    raw = net.fc[2](torch.relu(net.fc[0](feat)))
    euler = net(feat)
    free = dof.bool()
    torch.testing.assert_close(euler[:, free], torch.tanh(raw) * math.pi)
    assert torch.all(euler[:, ~free] == 0)


def test_rigid_fit_recovers_a_rotation_and_translation() -> None:
    rng = np.random.default_rng(4)
    source = rng.normal(size=(2, 5, 3)) * 50
    pose = [random_rigid(rng) for _ in range(2)]
    target = np.stack([s @ p[:3, :3].T + p[:3, 3] for s, p in zip(source, pose)])
    rot, trans = rigid_fit(torch.from_numpy(source), torch.from_numpy(target))
    for b in range(2):
        np.testing.assert_allclose(rot[b].numpy(), pose[b][:3, :3], atol=1e-9)
        np.testing.assert_allclose(trans[b].numpy(), pose[b][:3, 3], atol=1e-8)


def test_rigid_fit_of_a_mirror_image_is_the_closed_form_proper_rotation() -> None:
    rng = np.random.default_rng(5)
    source = rng.normal(size=(5, 3)) * 50
    target = source * np.array([-1.0, 1.0, 1.0]) + np.array([3.0, -2.0, 7.0])  # reflection
    rot, trans = rigid_fit(torch.from_numpy(source)[None], torch.from_numpy(target)[None])
    ref_rot, ref_trans = kabsch(source, target)
    u, _, vt = np.linalg.svd((source - source.mean(0)).T @ (target - target.mean(0)))
    assert np.linalg.det(vt.T @ u.T) < 0  # the unconstrained optimum is a reflection
    assert abs(np.linalg.det(rot[0].numpy()) - 1.0) < 1e-9
    np.testing.assert_allclose(rot[0].numpy(), ref_rot, atol=1e-9)
    np.testing.assert_allclose(trans[0].numpy(), ref_trans, atol=1e-8)


def test_rigid_fit_is_differentiable() -> None:
    source = torch.randn(1, 5, 3, dtype=torch.float64, requires_grad=True)
    target = torch.randn(1, 5, 3, dtype=torch.float64)
    torch.autograd.gradcheck(
        lambda s: torch.cat([t.reshape(-1) for t in rigid_fit(s, target)]), (source,)
    )
