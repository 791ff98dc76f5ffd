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

``a, b, c, d`` are a finger's knuckle, two middle joints and tip (the segments do not depend on
``root``). The original regularises each sample towards the WHOLE batch's IKNet poses
(``so3_init`` is the (B, 48) batch): ``reg`` is then ``mean over b and k of (so3_k -
so3_init[b, k])^2 = mean_k (so3_k - mu_k)^2 + mean_k var_k`` with the batch mean ``mu`` and the
(population) variance ``var``, which is how it is computed here.

:class:`FitObjective` holds the parameters of a batch, one (59, B) tensor (48 pose rows in
slot order, see ``handmesh.iknet.kinematics``, 10 betas, the bone length), and evaluates the
objective or its gradient in preallocated buffers (the kinematics' workspace plus ~45 operations).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
from torch import Tensor

from handmesh.errors import ArgumentError
from handmesh.iknet.kinematics import (
    NUM_BETAS,
    NUM_FINGERS,
    NUM_LEVELS,
    NUM_POINTS,
    NUM_POSE,
    ManoKinematics,
    vee_,
    vee_views,
)

__all__ = [
    "BEND_WEIGHT",
    "BETA_WEIGHT",
    "BONE_ROW",
    "GEO_WEIGHT",
    "KEYPOINT_WEIGHT",
    "NUM_PARAMS",
    "PLANARITY_WEIGHT",
    "POSE_WEIGHT",
    "FitObjective",
    "FitTargets",
]

POSE_WEIGHT = 0.01
BETA_WEIGHT = 0.01
KEYPOINT_WEIGHT = 1.0
GEO_WEIGHT = 100.0
PLANARITY_WEIGHT = 1e4
BEND_WEIGHT = 1e5

NUM_PARAMS = NUM_POSE + NUM_BETAS + 1
BONE_ROW = NUM_PARAMS - 1
NUM_SEGMENTS = NUM_LEVELS * NUM_FINGERS


class FitTargets(NamedTuple):
    """What the objective compares a batch with (batch-last).

    Attributes:
        joints: (21, 3, B) normalised input joints in the kinematics' point order.
        root: (1, 3, B) input joint 9, camera metres (where the fitted hand is placed).
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


@functools.lru_cache(maxsize=1)
def _segment_matrices() -> tuple[Tensor, Tensor]:
    """(15, 21) points -> finger segments ``ab, bc, cd`` (row ``level * 5 + finger``), and
    (21, 25) the gradient of the points from the cross products of :meth:`FitObjective.gradient`.
    """
    segments = torch.zeros(NUM_SEGMENTS, NUM_POINTS, dtype=torch.float64)
    for row in range(NUM_SEGMENTS):  # knuckle-side point minus tip-side point
        segments[row, 1 + row], segments[row, 1 + NUM_FINGERS + row] = 1.0, -1.0
    # grad_ab = -(w x bc), grad_bc = w x ab + cd x m, grad_cd = gt n_ab - bc x m, from the five
    # groups [w x ab, w x bc, bc x m, cd x m, gt n_ab]
    groups = torch.tensor(
        [[0, -1, 0, 0, 0], [1, 0, 0, 1, 0], [0, 0, -1, 0, 1]], dtype=torch.float64
    )
    combine = torch.kron(groups, torch.eye(NUM_FINGERS, dtype=torch.float64))  # (15, 25)
    return segments, segments.T @ combine


class FitObjective:
    """The objective of one batch and its gradient w.r.t. ``params`` (59, B), in place.

    Args:
        kinematics: the MANO constants.
        targets: the batch's :class:`FitTargets`.
        params: (59, B) initial parameters; copied into :attr:`params`, which the caller updates
            in place between evaluations.

    :meth:`gradient` returns :attr:`grad` (59, B), overwritten by the next call; :meth:`value`
    the per-sample objective (B,).
    """

    def __init__(self, kinematics: ManoKinematics, targets: FitTargets, params: Tensor) -> None:
        b = params.shape[-1]
        f = NUM_FINGERS

        def new(*shape: int) -> Tensor:  # every buffer is written before it is read
            return torch.empty(*shape, dtype=kinematics.dtype, device=kinematics.device)

        self.targets = targets
        self._pose_target_scaled = targets.pose_target * (2 * POSE_WEIGHT / NUM_POSE)
        self.params = params.to(kinematics.dtype).clone()
        self.grad = new(NUM_PARAMS, b)
        self.work = kinematics.workspace(
            b, "tips", params=self.params, gradient=True, grad_params=self.grad
        )
        self.bone = self.params[BONE_ROW:]
        self._pose = self.params[:NUM_POSE]
        self._betas = self.params[NUM_POSE:BONE_ROW]
        segments, grad_from_groups = _segment_matrices()
        self._segments = segments.to(self.grad)
        self._grad_from_groups = grad_from_groups.to(self.grad)
        rp = targets.root_point

        points = self.work.points
        self._root_points = points[rp : rp + 1]
        self.centred, self.joints_n, self.miss = (
            new(NUM_POINTS, 3, b),
            new(NUM_POINTS, 3, b),
            new(NUM_POINTS, 3, b),
        )
        self._first = self.centred[0]
        self._first_sq = new(3, b)
        self.length, self.inv_length = new(1, b), new(1, b)
        self._joints_n_flat = self.joints_n.view(NUM_POINTS, 3 * b)
        self.seg = new(NUM_LEVELS, f, 3, b)
        self._seg_flat = self.seg.view(NUM_SEGMENTS, 3 * b)
        ab, bc, cd = self.seg
        self._cd = cd
        # cross products: a x b = vee(outer(a, b))
        self._outer = new(4, f, 3, 3, b)
        self.normals = new(2, f, 3, b)  # [ab x bc, bc x cd]
        self._n_ab, self._n_bc = self.normals[0], self.normals[1]

        def scalar(value: float) -> Tensor:  # an operand tensor: cheaper than a Python number
            return torch.full((), value, dtype=kinematics.dtype, device=kinematics.device)

        self._zero = scalar(0.0)
        self._twist_slope = scalar(GEO_WEIGHT * PLANARITY_WEIGHT / NUM_FINGERS)
        self._bend_slope = scalar(-GEO_WEIGHT * BEND_WEIGHT)
        self._keypoint_slope = scalar(2 * KEYPOINT_WEIGHT / (3 * NUM_POINTS))
        self._normal_pairs = (self.seg[:2].unsqueeze(3), self.seg[1:].unsqueeze(2))
        self._normal_outer = (self._outer[:2], vee_views(self._outer[:2], self.normals))
        self.twist, self._per_finger = new(f, 1, b), new(f, 3, b)
        self.bend = new(b)
        # gradient
        self._grad_twist, self._grad_bend = new(f, 1, b), new(b)
        self._bend_negative = torch.empty(b, dtype=torch.bool, device=kinematics.device)
        self._w, self._m = new(f, 3, b), new(f, 3, b)
        self._groups = new(5, f, 3, b)  # [w x ab, w x bc, bc x m, cd x m, gt n_ab]
        self._groups_flat = self._groups.view(5 * f, 3 * b)
        self._w_pairs = (self._w.view(1, f, 3, 1, b), self.seg[:2].unsqueeze(2))  # w x [ab, bc]
        self._m_pairs = (self.seg[1:].unsqueeze(3), self._m.view(1, f, 1, 3, b))  # [bc, cd] x m
        self._w_outer = (self._outer[:2], vee_views(self._outer[:2], self._groups[:2]))
        self._m_outer = (self._outer[2:], vee_views(self._outer[2:], self._groups[2:4]))
        self._grad_geo = new(NUM_POINTS, 3, b)
        self._grad_geo_flat = self._grad_geo.view(NUM_POINTS, 3 * b)
        self._per_point = new(NUM_POINTS, 3, b)
        self._grad_joints_n = new(NUM_POINTS, 3, b)
        self._radial, self._radial_scaled = new(b), new(1, b)
        self._grad_bone = self.grad[BONE_ROW]
        self._grad_points = self.work.grad_points
        self._grad_pose = self.grad[:NUM_POSE]
        self._grad_betas = self.grad[NUM_POSE:BONE_ROW]
        self._grad_root, self._grad_first = self._grad_points[rp], self._grad_points[0]
        self._joints_n_first = self.joints_n[0]
        self._grad_sum = self._per_point[0]

    def reset(self, targets: FitTargets, params: Tensor) -> None:
        """Reuse the buffers for another batch of the same size: new targets and parameters."""
        if targets.root_point != self.targets.root_point or params.shape != self.params.shape:
            raise ArgumentError(
                f"FitObjective.reset needs params of shape {tuple(self.params.shape)} and root "
                f"point {self.targets.root_point}, got {tuple(params.shape)} and "
                f"{targets.root_point}"
            )
        self.targets = targets
        self._pose_target_scaled = targets.pose_target * (2 * POSE_WEIGHT / NUM_POSE)
        self.params.copy_(params)

    def _forward(self) -> None:
        """Kinematics, normalised joints, finger segments, their normals, twists and bend."""
        self.work.forward()
        torch.sub(self.work.points, self._root_points, out=self.centred)
        torch.mul(self._first, self._first, out=self._first_sq)
        torch.sum(self._first_sq, 0, keepdim=True, out=self.length)
        self.length.sqrt_()
        torch.reciprocal(self.length, out=self.inv_length)
        torch.mul(self.centred, self.inv_length, out=self.joints_n)
        torch.sub(self.joints_n, self.targets.joints, out=self.miss)
        torch.mm(self._segments, self._joints_n_flat, out=self._seg_flat)
        self.seg.mul_(self.bone)  # segments of Jn * bone + root, metres
        self._cross(self._normal_pairs, self._normal_outer)
        n_ab, n_bc = self._n_ab, self._n_bc
        torch.mul(n_ab, self._cd, out=self._per_finger)
        torch.sum(self._per_finger, 1, keepdim=True, out=self.twist)
        torch.mul(n_ab, n_bc, out=self._per_finger)
        torch.sum(self._per_finger, (0, 1), out=self.bend)

    @staticmethod
    def _cross(
        pair: tuple[Tensor, Tensor], outer: tuple[Tensor, list[tuple[Tensor, Tensor, Tensor]]]
    ) -> None:
        """``pair[0] x pair[1]`` for (2, 5, 3, 1, B) and (2, 5, 1, 3, B) (broadcast) views,
        through ``outer`` = (a (2, 5, 3, 3, B) buffer, its :func:`vee_views` into the output)."""
        torch.mul(pair[0], pair[1], out=outer[0])
        vee_(outer[1])

    @torch.no_grad()
    def value(self) -> Tensor:
        """Per-sample objective (B,) at :attr:`params`."""
        self._forward()
        pose_error = self._pose - self.targets.pose_target
        reg = pose_error.square().mean(0) + self.targets.pose_spread
        planarity = self.twist.abs().mean((0, 1))
        wrong_way = -self.bend.clamp(max=0.0)
        return (
            POSE_WEIGHT * reg
            + BETA_WEIGHT * self._betas.square().sum(0)
            + KEYPOINT_WEIGHT * self.miss.square().sum((0, 1)) / (3 * NUM_POINTS)
            + GEO_WEIGHT * (PLANARITY_WEIGHT * planarity + BEND_WEIGHT * wrong_way)
        )

    def gradient(self) -> Tensor:
        """Gradient (59, B) of the per-sample objectives at :attr:`params` (a view of a buffer)."""
        self._forward()
        n_ab, n_bc = self._n_ab, self._n_bc
        # geometry term -> segments: with twist = (ab x bc) . cd and bend = (ab x bc) . (bc x cd),
        # w = gt cd + gb n_bc and m = gb n_ab (gt, gb: the weighted slopes of |twist|, -min(0, bend))
        torch.sign(self.twist, out=self._grad_twist)
        self._grad_twist.mul_(self._twist_slope)
        torch.lt(self.bend, self._zero, out=self._bend_negative)
        torch.mul(self._bend_negative, self._bend_slope, out=self._grad_bend)
        torch.mul(n_ab, self._grad_bend, out=self._m)
        torch.mul(self._cd, self._grad_twist, out=self._w)
        self._w.addcmul_(n_bc, self._grad_bend)
        self._cross(self._w_pairs, self._w_outer)
        self._cross(self._m_pairs, self._m_outer)
        torch.mul(n_ab, self._grad_twist, out=self._groups[4])
        torch.mm(self._grad_from_groups, self._groups_flat, out=self._grad_geo_flat)
        # -> bone and normalised joints (seg = segments @ Jn * bone)
        torch.mul(self._grad_geo, self.joints_n, out=self._per_point)
        torch.sum(self._per_point, (0, 1), out=self._grad_bone)
        torch.mul(self.miss, self._keypoint_slope, out=self._grad_joints_n)
        self._grad_joints_n.addcmul_(self._grad_geo, self.bone)
        # -> centred joints (Jn = centred / |centred[0]|) -> points (centred = points - points[rp])
        torch.mul(self._grad_joints_n, self.joints_n, out=self._per_point)
        torch.sum(self._per_point, (0, 1), out=self._radial)
        grad_centred = self._grad_points  # then minus its sum at the root point
        torch.mul(self._grad_joints_n, self.inv_length, out=grad_centred)
        torch.mul(self._radial, self.inv_length, out=self._radial_scaled)
        self._grad_first.addcmul_(self._joints_n_first, self._radial_scaled, value=-1.0)
        torch.sum(grad_centred, 0, out=self._grad_sum)
        self._grad_root.sub_(self._grad_sum)
        # -> MANO parameters (written into grad), plus the regularisers
        self.work.backward()
        self._grad_pose.add_(self._pose, alpha=2 * POSE_WEIGHT / NUM_POSE)
        self._grad_pose.sub_(self._pose_target_scaled)
        self._grad_betas.add_(self._betas, alpha=2 * BETA_WEIGHT)
        return self.grad
