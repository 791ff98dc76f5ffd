"""The HandTailor fitting objective (OakInk-HMR ``iknet/fittingunit.py``), with its gradient.

Per sample, with MANO joints ``J`` centred on joint 9, their bone ``|J0 - J9|`` and
``Jn = J / |J0 - J9|``::

    err = 0.01 * reg + 0.01 * reg_beta + errkp + 100 * geo
    reg      = mean over the 48 pose components of (so3 - so3_init)^2    (see ``pose_target``)
    reg_beta = sum of beta^2
    errkp    = mean over 21 x 3 of (Jn - target)^2          (target: normalised input joints)
    geo      = 1e4 * planarity + 1e5 * wrong_way_bend, on Jn * bone + root (metres)
    planarity      = mean over the 5 fingers of |(a - b) x (b - c) . (c - d)|
    wrong_way_bend = -min(0, sum over fingers and xyz of ((a - b) x (b - c)) * ((b - c) x (c - d)))

``a, b, c, d`` are a finger's knuckle, two middle joints and tip. The original regularises each
sample towards the WHOLE batch's IKNet poses (``so3_init`` is the (B, 48) batch): ``reg`` is then
``mean over b and k of (so3_k - so3_init[b, k])^2 = mean_k (so3_k - mu_k)^2 + mean_k var_k`` with
the batch mean ``mu`` and the (population) variance ``var``, which is how it is computed here.

Everything is batch-last (see ``handmesh.iknet.kinematics``); the parameters of a batch are one
(59, B) tensor: 48 pose rows (3, 16) in slot order, 10 betas, the bone length.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from handmesh.iknet.kinematics import NUM_FINGERS, NUM_POINTS, ManoKinematics

__all__ = [
    "BEND_WEIGHT",
    "BETA_WEIGHT",
    "GEO_WEIGHT",
    "KEYPOINT_WEIGHT",
    "NUM_PARAMS",
    "PLANARITY_WEIGHT",
    "POSE_WEIGHT",
    "FitTargets",
    "objective",
]

POSE_WEIGHT = 0.01
BETA_WEIGHT = 0.01
KEYPOINT_WEIGHT = 1.0
GEO_WEIGHT = 100.0
PLANARITY_WEIGHT = 1e4
BEND_WEIGHT = 1e5

NUM_POSE = 48
NUM_BETAS = 10
NUM_PARAMS = NUM_POSE + NUM_BETAS + 1
BONE_ROW = NUM_PARAMS - 1


class FitTargets(NamedTuple):
    """What the objective compares a batch with (batch-last).

    Attributes:
        joints: (3, 21, B) normalised input joints in the kinematics' point order.
        root: (3, 1, B) input joint 9, camera metres.
        pose_target: (48, B) or (48, 1) pose the regulariser pulls towards (slot order rows).
        pose_spread: () or (B,) constant part of ``reg``: the mean batch variance of the IKNet
            poses in "batch" mode, 0 in "sample" mode.
        root_point: index of joint 9 among the points.
    """

    joints: Tensor
    root: Tensor
    pose_target: Tensor
    pose_spread: Tensor
    root_point: int


def objective(
    kinematics: ManoKinematics,
    params: Tensor,
    targets: FitTargets,
    value: bool = True,
    gradient: bool = True,
) -> tuple[Tensor | None, Tensor | None]:
    """Per-sample objective (B,) and/or its gradient (59, B) w.r.t. ``params`` (59, B)."""
    batch = params.shape[-1]
    pose = params[:NUM_POSE]
    betas = params[NUM_POSE:BONE_ROW]
    bone = params[BONE_ROW:]
    state = kinematics(pose.view(3, -1, batch), betas)
    centred = state.points - state.points[:, targets.root_point : targets.root_point + 1]
    length = (centred[:, 0] * centred[:, 0]).sum(0).sqrt_()  # (B,)
    joints = centred / length
    miss = joints - targets.joints
    placed = torch.addcmul(targets.root, joints, bone)
    seg = (kinematics.finger_segments @ placed).view(3, 3, NUM_FINGERS, batch)  # a-b, b-c, c-d
    normals = torch.linalg.cross(
        seg[:, :2], seg[:, 1:], dim=0
    )  # (a - b) x (b - c), (b - c) x (c - d)
    normal_ab, normal_bc = normals[:, 0], normals[:, 1]
    twist = (normal_ab * seg[:, 2]).sum(0)  # (5, B)
    bend = (normal_ab * normal_bc).sum((0, 1))  # (B,)
    pose_error = pose - targets.pose_target

    total = None
    if value:
        reg = (pose_error * pose_error).mean(0) + targets.pose_spread
        planarity = twist.abs().mean(0)
        wrong_way = -bend.clamp(max=0.0)
        total = (
            POSE_WEIGHT * reg
            + BETA_WEIGHT * (betas * betas).sum(0)
            + KEYPOINT_WEIGHT * (miss * miss).sum((0, 1)) / (3 * NUM_POINTS)
            + GEO_WEIGHT * (PLANARITY_WEIGHT * planarity + BEND_WEIGHT * wrong_way)
        )
    if not gradient:
        return total, None

    # geometry term -> segments (d twist / d seg = b x c, c x a, a x b for twist = (a x b) . c)
    grad_twist = (GEO_WEIGHT * PLANARITY_WEIGHT / NUM_FINGERS) * twist.sign()
    grad_bend = (-GEO_WEIGHT * BEND_WEIGHT) * (bend < 0).to(bend.dtype)
    ab, bc, cd = seg[:, 0], seg[:, 1], seg[:, 2]
    cross = torch.linalg.cross(
        torch.stack([bc, cd, bc, normal_bc, cd, normal_ab], 1),
        torch.stack([cd, ab, normal_bc, ab, normal_ab, bc], 1),
        dim=0,
    )  # bc x cd, cd x ab, bc x n_bc, n_bc x ab, cd x n_ab, n_ab x bc
    grad_seg = torch.stack(
        [
            grad_twist * cross[:, 0] + grad_bend * cross[:, 2],
            grad_twist * cross[:, 1] + grad_bend * (cross[:, 3] + cross[:, 4]),
            grad_twist * normal_ab + grad_bend * cross[:, 5],
        ],
        1,
    )  # (3, 3, 5, B)
    grad_placed = kinematics.finger_segments.T @ grad_seg.view(3, -1, batch)
    grad_bone = (grad_placed * joints).sum((0, 1))

    # keypoints and the geometry term -> normalised joints -> centred joints -> points
    grad_joints = torch.addcmul(miss * (2 * KEYPOINT_WEIGHT / (3 * NUM_POINTS)), grad_placed, bone)
    radial = (grad_joints * joints).sum((0, 1))
    grad_centred = grad_joints / length
    grad_centred[:, 0] -= joints[:, 0] * (radial / length)
    grad_points = grad_centred
    grad_points[:, targets.root_point] -= grad_centred.sum(1)

    grad_pose, grad_betas = kinematics.vjp(state, grad_points)
    grad_pose = torch.add(
        grad_pose.view(NUM_POSE, batch), pose_error, alpha=2 * POSE_WEIGHT / NUM_POSE
    )
    grad_betas = torch.add(grad_betas, betas, alpha=2 * BETA_WEIGHT)
    return total, torch.cat([grad_pose, grad_betas, grad_bone.unsqueeze(0)])
