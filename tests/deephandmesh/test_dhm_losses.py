"""The training losses against loop re-implementations of the original's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dhm_fixtures import NAMES, PARENTS, fk_recursive, lbs_loop

from handmesh.deephandmesh.losses import (
    LaplacianLoss,
    PenetrationLoss,
    depth_map_loss,
    joint_loss,
)
from handmesh.deephandmesh.synthetic_model import build_synthetic_template


def test_joint_loss_counts_valid_joints_only() -> None:
    rng = np.random.default_rng(0)
    pred, gt = rng.normal(size=(2, 22, 3)), rng.normal(size=(2, 22, 3))
    valid = (rng.uniform(size=(2, 22)) > 0.3).astype(float)
    total = sum(
        abs(pred[b, j, k] - gt[b, j, k]) * valid[b, j]
        for b in range(2)
        for j in range(22)
        for k in range(3)
    )
    got = joint_loss(torch.from_numpy(pred), torch.from_numpy(gt), torch.from_numpy(valid))
    assert got.item() == pytest.approx(total / (2 * 22 * 3))


def test_depth_loss_is_smooth_l1_where_both_maps_have_depth() -> None:
    rng = np.random.default_rng(1)
    rendered = rng.uniform(300, 320, size=(2, 3, 5, 4)) * (rng.uniform(size=(2, 3, 5, 4)) > 0.3)
    target = rendered + rng.normal(0, 2.0, size=rendered.shape)
    target *= rng.uniform(size=rendered.shape) > 0.3
    total = 0.0
    for value, ref in zip(rendered.reshape(-1), target.reshape(-1)):
        if value != 0 and ref != 0:
            diff = abs(value - ref)
            total += 0.5 * diff**2 if diff < 1.0 else diff - 0.5
    got = depth_map_loss(torch.from_numpy(rendered), torch.from_numpy(target))
    assert got.item() == pytest.approx(total / rendered.size)


def test_laplacian_equals_the_original_dense_matrix() -> None:
    tpl = build_synthetic_template()
    verts = tpl.verts.astype(np.float64)
    faces = tpl.faces
    num = len(verts)
    dense = np.zeros((num, num))  # the original's construction, step by step
    for a, b in ((0, 1), (1, 0), (1, 2), (2, 1), (2, 0), (0, 2)):
        dense[faces[:, a], faces[:, b]] = -1
    dense[np.arange(num), np.arange(num)] = -dense.sum(1)
    for i in range(num):
        dense[i, :] /= dense[i, i] + 1e-8
    moved = verts + np.random.default_rng(2).normal(size=verts.shape)
    expected = ((dense @ moved) ** 2).sum(1)
    loss = LaplacianLoss(faces, num)
    got = loss(torch.from_numpy(moved)[None])[0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    assert loss.state_dict() == {}  # nothing in checkpoints


# ------------------------------------------------------------------------------ penetration


def reference_penetration(segmentation, rest_joints, rest_verts, joints, verts):
    """The original ``PenetLoss.forward`` for one sample, with plain loops."""
    children = {j: [c for c, p in enumerate(PARENTS) if p == j] for j in range(22)}
    bones = []

    def make(j: int) -> None:
        if not children[j]:
            bones.append((j, j, 0.0))
        for c in children[j]:
            for k in range(10):
                bones.append((j, c, k * 0.1))
            make(c)

    make(21)

    def point(joint_xyz, bone):
        s, e, t = bone
        return joint_xyz[s] + (joint_xyz[e] - joint_xyz[s]) * t

    radius = [np.min(np.linalg.norm(rest_verts - point(rest_joints, b), axis=1)) for b in bones]
    posed = [point(joints, b) for b in bones]
    paths = []

    def walk(j, path):
        path = [*path, j]
        if not children[j]:
            paths.append(path)
        for c in children[j]:
            walk(c, path)

    walk(21, [])
    segments = [(p[i], p[i + 1]) for p in paths for i in range(len(p) - 1)]
    rigid, count = 0.0, 0
    for i in range(len(segments)):
        for j in range(i + 1, len(segments)):
            (s1, e1), (s2, e2) = segments[i], segments[j]
            if s1 in (s2, e2) or e1 == s2:
                continue
            first = [k for k, b in enumerate(bones) if b[:2] == (s1, e1)]
            second = [k for k, b in enumerate(bones) if b[:2] == (s2, e2)]
            terms = [
                max(0.0, radius[a] + radius[b] - np.linalg.norm(posed[a] - posed[b]))
                for a in first
                for b in second
            ]
            rigid += np.mean(terms)
            count += 1
    non_rigid, nr_count = 0.0, 0
    for nr in (3, 21):
        skin = verts[segmentation == nr]
        for path in paths:
            s, e = path[-2], path[-1]
            if "thumb" in NAMES[s] or "thumb" in NAMES[e]:
                continue
            idx = [k for k, b in enumerate(bones) if b[:2] == (s, e)]
            dist = np.array([np.min(np.linalg.norm(skin - posed[k], axis=1)) for k in idx])
            thr = np.array([radius[k] for k in idx])
            hits = np.nonzero(dist < thr)[0]
            non_rigid += abs(np.mean(dist[hits[0] :] - thr[hits[0] :])) if len(hits) else 0.0
            nr_count += 1
    return rigid / count, non_rigid / nr_count, count


def _fist(tpl, scale: float):
    euler = np.zeros((22, 3))
    euler[:, 2] = tpl.dof[:, 2] * scale
    local = tpl.local_pose.astype(np.float64).copy()
    for j in range(22):
        rot = np.eye(4)
        c, s = np.cos(euler[j, 2]), np.sin(euler[j, 2])
        rot[:2, :2] = [[c, -s], [s, c]]
        local[j] = local[j] @ rot
    glob = fk_recursive(PARENTS, local, tpl.global_pose[21].astype(np.float64))
    verts = lbs_loop(tpl.verts.astype(np.float64), tpl.skinning_weights, glob @ tpl.global_pose_inv)
    return glob[:, :3, 3], verts


def test_penetration_matches_the_original_loops() -> None:
    tpl = build_synthetic_template()
    loss = PenetrationLoss(
        parents=tpl.parents, joint_names=tpl.joint_names, segmentation=tpl.segmentation
    )
    rest_joints = tpl.global_pose[:, :3, 3].astype(np.float64)
    rest_verts = tpl.verts.astype(np.float64)
    poses = [_fist(tpl, 1.45), _fist(tpl, 0.2)]
    joints = np.stack([p[0] for p in poses])
    verts = np.stack([p[1] for p in poses])
    # press three palm vertices onto the middle of the index fingertip bone (6 -> 5) and one
    # thenar vertex near the pinky's: the non-rigid term then fires from a known point on
    palm = np.nonzero(tpl.segmentation == 21)[0][:3]
    verts[0, palm] = joints[0, 6] + (joints[0, 5] - joints[0, 6]) * np.array([[0.4], [0.5], [0.6]])
    thenar = np.nonzero(tpl.segmentation == 3)[0][0]
    verts[0, thenar] = joints[0, 18] + (joints[0, 17] - joints[0, 18]) * 0.75 + 1.0
    got = loss(
        torch.from_numpy(rest_joints),
        torch.from_numpy(rest_verts)[None].expand(2, -1, -1),
        torch.from_numpy(joints),
        torch.from_numpy(verts),
    )
    expected = []
    for b in range(2):
        rigid, non_rigid, count = reference_penetration(
            tpl.segmentation, rest_joints, rest_verts, joints[b], verts[b]
        )
        assert count == 184  # 210 bone pairs minus 26 that share a joint
        expected.append(rigid + 5.0 * non_rigid)
        if b == 0:  # the fist really collides: both terms are active
            assert rigid > 0 and non_rigid > 0
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-9)


def test_penetration_gradients_reach_the_posed_joints_and_mesh() -> None:
    tpl = build_synthetic_template()
    loss = PenetrationLoss(
        parents=tpl.parents, joint_names=tpl.joint_names, segmentation=tpl.segmentation
    )
    joints, verts = (torch.from_numpy(a)[None].float() for a in _fist(tpl, 1.45))
    palm = int(np.nonzero(tpl.segmentation == 21)[0][0])
    verts[0, palm] = joints[0, 6] + (joints[0, 5] - joints[0, 6]) * 0.5 + 1.0  # 1.7 mm off
    joints.requires_grad_()
    verts.requires_grad_()
    rest = torch.from_numpy(tpl.verts)[None]
    loss(torch.from_numpy(tpl.global_pose[:, :3, 3]), rest, joints, verts).sum().backward()
    assert joints.grad.abs().sum() > 0 and verts.grad.abs().sum() > 0


def test_penetration_needs_the_non_rigid_segments() -> None:
    tpl = build_synthetic_template()
    with pytest.raises(ValueError, match="no vertex has joint 4"):
        PenetrationLoss(
            parents=tpl.parents,
            joint_names=tpl.joint_names,
            segmentation=tpl.segmentation,
            non_rigid_joints=(4,),
        )
