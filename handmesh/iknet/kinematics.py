"""MANO kinematics in a batch-last layout, with a hand-written vector-Jacobian product.

The HandTailor fit evaluates MANO and its gradient 20 times per batch. Its objective needs only
the 21 joints: the shaped rest joints are linear in beta, and only the 5 fingertip vertices need
pose blend shapes and skinning. On a CPU the cost of such small tensors is the number of operations
and their memory layout, not arithmetic, so this module keeps every quantity with the batch as the
LAST (contiguous) dimension -- rotations are (3, 3, 16, B), points (3, N, B) -- and propagates
gradients by hand (about 80 tensor operations per step instead of several hundred autograd nodes).
The full 778-vertex mesh uses the same skinning code once, at the end.

The arithmetic is MANO's (``handmesh.mano.layer``): pose blend shapes from the flattened
``R - I`` of joints 1..15, forward kinematics level by level, linear blend skinning; the tests
compare it with the ``MANO`` layer.

Internal orders (``B`` is the batch):

* joint slots (16): MANO's kinematic levels ``[0], [1, 4, 7, 10, 13], [2, 5, 8, 11, 14],
  [3, 6, 9, 12, 15]`` (native ids), each level in the finger order of its first level
  (index, middle, pinky, ring, thumb);
* points (21): the 16 slots, then the 5 fingertips in the same finger order, so
  ``points[:, 1:].view(3, 4, 5, B)`` is (level, finger); :attr:`ManoKinematics.canonical_index`
  maps them to the canonical 21-joint order;
* pose (3, 16, B): axis-angle of the slots, component first.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from handmesh.errors import ArgumentError
from handmesh.mano.constants import (
    JOINT_NAMES,
    MANO_JOINT_NAMES,
    MANO_TIPS_NAMES,
    NUM_MANO_JOINTS,
    TIP_VERTEX_IDS_LEFT,
    TIP_VERTEX_IDS_RIGHT,
)
from handmesh.mano.layer import MANO

__all__ = ["KinematicsState", "ManoKinematics", "mat", "mat_t", "mv", "mtv"]

NUM_FINGERS = 5
NUM_LEVELS = 3
NUM_POINTS = NUM_MANO_JOINTS + NUM_FINGERS
SMALL_ANGLE_SQ = 1e-24
"""Added to the squared rotation angle: zero rotations get the exact identity and gradient."""


def mat(a: Tensor, b: Tensor) -> Tensor:
    """Batch-last matrix product ``a @ b``: (3, 3, ...) x (3, 3, ...) -> (3, 3, ...)."""
    return (a.unsqueeze(2) * b.unsqueeze(0)).sum(1)


def mat_t(a: Tensor, b: Tensor) -> Tensor:
    """Batch-last ``a^T @ b``."""
    return (a.unsqueeze(2) * b.unsqueeze(1)).sum(0)


def mat_bt(a: Tensor, b: Tensor) -> Tensor:
    """Batch-last ``a @ b^T``."""
    return (a.unsqueeze(1) * b.unsqueeze(0)).sum(2)


def mv(a: Tensor, v: Tensor) -> Tensor:
    """Batch-last matrix-vector product: (3, 3, ...) x (3, ...) -> (3, ...)."""
    return (a * v.unsqueeze(0)).sum(1)


def mtv(a: Tensor, v: Tensor) -> Tensor:
    """Batch-last ``a^T @ v``."""
    return (a * v.unsqueeze(1)).sum(0)


def outer(u: Tensor, v: Tensor) -> Tensor:
    """Batch-last outer product: (3, ...) x (3, ...) -> (3, 3, ...)."""
    return u.unsqueeze(1) * v.unsqueeze(0)


class KinematicsState(NamedTuple):
    """What the forward pass keeps for :meth:`ManoKinematics.vjp` (batch-last layouts)."""

    axis: Tensor  # (3, 16, B) unit rotation axes
    angle: Tensor  # (16, B)
    sin: Tensor  # (16, B)
    cos: Tensor  # (16, B)
    rot: Tensor  # (3, 3, 16, B) local rotations
    glob: Tensor  # (3, 3, 16, B) global rotations
    parent_glob: Tensor  # (3, 3, 15, B) global rotation of each non-root slot's parent
    offsets: Tensor  # (3, 15, B) rest bone vectors (slot minus parent)
    rest: Tensor  # (3, 16, B) shaped rest joints
    tips_posed: Tensor  # (3, 5, B) fingertip vertices after shape and pose blend shapes
    tips_blend: Tensor  # (3, 3, 5, B) skinning-weighted global rotation of each fingertip
    points: Tensor  # (3, 21, B) the 16 posed joints and 5 fingertips (see module doc)


class ManoKinematics(nn.Module):
    """MANO (no PCA, flat hand mean) evaluated for the 21 joints and their gradient.

    Args:
        mano: the MANO layer whose model to use (``flat_hand_mean=True``, ``use_pca=False``); its
            centring and translation settings are not used (callers centre the points).

    Buffers follow ``.to(device / dtype)``. Poses are (3, 16, B) batch-last axis-angle in slot
    order (:meth:`pose_from_so3` converts a (B, 48) native pose), betas are (10, B).
    """

    canonical_index: list[int]
    """Internal point ``i`` is canonical joint ``canonical_index[i]``."""

    linear_const: Tensor  # (93, 1) rest joints (3, 16) and bone offsets (3, 15), metres
    linear_beta: Tensor  # (93, 10) their change per unit beta
    tips_const: Tensor  # (15, 1) fingertip template vertices (3, 5)
    tips_shape: Tensor  # (15, 10) fingertip shape blend shapes
    tips_pose: Tensor  # (15, 135) fingertip pose blend shapes (feature rows as ``forward``)
    tips_weights: Tensor  # (5, 16) fingertip skinning weights (slot order)
    mesh_const: Tensor  # (2334, 1) the same for all 778 vertices
    mesh_shape: Tensor
    mesh_pose: Tensor
    mesh_weights: Tensor
    eye: Tensor  # (3, 3, 1, 1)
    skew_basis: Tensor  # (9, 3): skew(k).view(9) = skew_basis @ k
    finger_segments: Tensor  # (15, 21): points -> the 3 bones of each finger (level, finger)

    def __init__(self, mano: MANO) -> None:
        super().__init__()
        if mano.use_pca or not mano.flat_hand_mean:
            raise ArgumentError(
                "ManoKinematics needs a MANO layer with use_pca=False and flat_hand_mean=True, got "
                f"use_pca={mano.use_pca}, flat_hand_mean={mano.flat_hand_mean}"
            )
        slots, parents = _level_slots(mano.tree.levels, mano.tree.parent_slots)
        fingers = [MANO_JOINT_NAMES[n][:-1] for n in slots[1 : 1 + NUM_FINGERS]]
        tip_ids = TIP_VERTEX_IDS_RIGHT if mano.side == "right" else TIP_VERTEX_IDS_LEFT
        tip_vertices = [tip_ids[MANO_TIPS_NAMES.index(f"{f}4") - NUM_MANO_JOINTS] for f in fingers]
        names = [MANO_JOINT_NAMES[n] for n in slots] + [f"{f}4" for f in fingers]
        self.canonical_index = [JOINT_NAMES.index(name) for name in names]
        self.slots = slots
        self.side = mano.side
        self.num_betas = int(mano.shapedirs.shape[-1])
        self.num_verts = int(mano.v_template.shape[0])

        dtype = mano.v_template.dtype
        as64 = {
            name: getattr(mano, name).detach().cpu().double()
            for name in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights")
        }
        rest_const = (as64["J_regressor"] @ as64["v_template"])[slots]  # (16, 3)
        rest_beta = torch.einsum("jv,vdk->jdk", as64["J_regressor"], as64["shapedirs"])[slots]
        parent_list = [0] + parents
        offset_const = rest_const[1:] - rest_const[parent_list[1:]]
        offset_beta = rest_beta[1:] - rest_beta[parent_list[1:]]
        # rows: rest joints (3, 16) then bone offsets (3, 15), component-major
        linear_const = torch.cat([rest_const.T.reshape(-1), offset_const.T.reshape(-1)])
        linear_beta = torch.cat(
            [rest_beta.permute(1, 0, 2).reshape(-1, self.num_betas),
             offset_beta.permute(1, 0, 2).reshape(-1, self.num_betas)]
        )  # fmt: skip
        # pose feature row (i * 3 + j) * 15 + (slot - 1) <-> MANO column (native - 1) * 9 + i * 3 + j
        feature_columns = [
            (slots[slot] - 1) * 9 + element
            for element in range(9)
            for slot in range(1, NUM_MANO_JOINTS)
        ]

        def buffer(name: str, value: Tensor) -> None:
            self.register_buffer(name, value.to(dtype).contiguous(), persistent=False)

        buffer("linear_const", linear_const.unsqueeze(1))
        buffer("linear_beta", linear_beta)
        for prefix, vertex_ids in (("tips", tip_vertices), ("mesh", list(range(self.num_verts)))):
            buffer(f"{prefix}_const", as64["v_template"][vertex_ids].T.reshape(-1, 1))
            shape_dirs = as64["shapedirs"][vertex_ids].permute(1, 0, 2)
            buffer(f"{prefix}_shape", shape_dirs.reshape(-1, self.num_betas))
            pose_dirs = as64["posedirs"][vertex_ids][:, :, feature_columns].permute(1, 0, 2)
            buffer(f"{prefix}_pose", pose_dirs.reshape(-1, 9 * (NUM_MANO_JOINTS - 1)))
            buffer(f"{prefix}_weights", as64["weights"][vertex_ids][:, slots])
        buffer("eye", torch.eye(3).view(3, 3, 1, 1))
        skew = torch.zeros(3, 3, 3)  # skew(k)[i, j] = sum_m skew_basis[i, j, m] k[m]
        for i, j, m, sign in ((0, 1, 2, -1), (0, 2, 1, 1), (1, 0, 2, 1), (1, 2, 0, -1),
                              (2, 0, 1, -1), (2, 1, 0, 1)):  # fmt: skip
            skew[i, j, m] = sign
        buffer("skew_basis", skew.view(9, 3))
        segments = torch.zeros(NUM_LEVELS * NUM_FINGERS, NUM_POINTS)
        for row in range(NUM_LEVELS * NUM_FINGERS):  # knuckle-side point minus tip-side point
            segments[row, 1 + row], segments[row, 1 + NUM_FINGERS + row] = 1.0, -1.0
        buffer("finger_segments", segments)
        pose_index = [slots[slot] * 3 + d for d in range(3) for slot in range(NUM_MANO_JOINTS)]
        self.pose_index = pose_index
        self.pose_inverse = [int(i) for i in np.argsort(pose_index)]

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the buffers."""
        return self.eye.dtype

    # ------------------------------------------------------------------ layouts

    def pose_from_so3(self, so3: Tensor) -> Tensor:
        """(B, 48) native axis-angle -> (3, 16, B) slot-order batch-last pose."""
        return so3[:, self.pose_index].T.reshape(3, NUM_MANO_JOINTS, -1)

    def so3_from_pose(self, pose: Tensor) -> Tensor:
        """(3, 16, B) slot-order pose -> (B, 48) native axis-angle."""
        return pose.reshape(3 * NUM_MANO_JOINTS, -1).T[:, self.pose_inverse]

    def points_from_canonical(self, joints: Tensor) -> Tensor:
        """(B, 21, 3) canonical joints -> (3, 21, B) internal point order."""
        return joints[:, self.canonical_index].permute(2, 1, 0)

    def canonical_from_points(self, points: Tensor) -> Tensor:
        """(3, 21, B) internal points -> (B, 21, 3) canonical joints."""
        inverse = [int(i) for i in np.argsort(self.canonical_index)]
        return points[:, inverse].permute(2, 1, 0)

    # ------------------------------------------------------------------ forward

    def forward(self, pose: Tensor, betas: Tensor) -> KinematicsState:
        """Posed joints and fingertips of (3, 16, B) ``pose`` and (10, B) ``betas``.

        Returns the :class:`KinematicsState`; ``state.points`` (3, 21, B) are in the MANO frame
        (metres, not centred).
        """
        batch = pose.shape[-1]
        angle = (pose * pose).sum(0).add_(SMALL_ANGLE_SQ).sqrt_()
        axis = pose / angle
        sin, cos = angle.sin(), angle.cos()
        skew = (self.skew_basis @ axis.reshape(3, -1)).view(3, 3, NUM_MANO_JOINTS, batch)
        rot = (cos * self.eye).addcmul_(sin, skew).addcmul_(1 - cos, outer(axis, axis))

        linear = torch.addmm(self.linear_const, self.linear_beta, betas)
        rest = linear[: 3 * NUM_MANO_JOINTS].view(3, NUM_MANO_JOINTS, batch)
        offsets = linear[3 * NUM_MANO_JOINTS :].view(3, NUM_MANO_JOINTS - 1, batch)

        root = rot[:, :, :1]
        g1 = mat(root, rot[:, :, 1:6])
        g2 = mat(g1, rot[:, :, 6:11])
        g3 = mat(g2, rot[:, :, 11:])
        glob = torch.cat([root, g1, g2, g3], 2)
        parent_glob = torch.cat([root.expand(-1, -1, NUM_FINGERS, -1), g1, g2], 2)
        steps = mv(parent_glob, offsets).view(3, NUM_LEVELS, NUM_FINGERS * batch)
        chains = steps.cumsum(1).view(3, NUM_LEVELS * NUM_FINGERS, batch)
        joints = torch.cat([rest[:, :1], chains + rest[:, :1]], 1)

        feature = (rot[:, :, 1:] - self.eye).reshape(-1, batch)
        tips_posed, tips_blend, tips = self._skin("tips", glob, joints, rest, betas, feature)
        points = torch.cat([joints, tips], 1)
        return KinematicsState(
            axis, angle, sin, cos, rot, glob, parent_glob, offsets, rest, tips_posed, tips_blend,
            points,
        )  # fmt: skip

    def _skin(
        self, prefix: str, glob: Tensor, joints: Tensor, rest: Tensor, betas: Tensor,
        feature: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
        """Blend-shaped vertices, their blended rotations and skinned positions (batch-last)."""
        batch = betas.shape[-1]
        weights = getattr(self, f"{prefix}_weights")
        shaped = torch.addmm(
            getattr(self, f"{prefix}_const"), getattr(self, f"{prefix}_shape"), betas
        )
        posed = torch.addmm(shaped, getattr(self, f"{prefix}_pose"), feature).view(3, -1, batch)
        blend = (weights @ glob.reshape(9, NUM_MANO_JOINTS, batch)).view(3, 3, -1, batch)
        shift = weights @ (joints - mv(glob, rest))
        return posed, blend, mv(blend, posed) + shift

    def mesh(self, pose: Tensor, betas: Tensor) -> tuple[Tensor, Tensor]:
        """All vertices (3, 778, B) and the points (3, 21, B), MANO frame, metres."""
        state = self.forward(pose, betas)
        joints = state.points[:, :NUM_MANO_JOINTS]
        feature = (state.rot[:, :, 1:] - self.eye).reshape(-1, pose.shape[-1])
        _, _, verts = self._skin("mesh", state.glob, joints, state.rest, betas, feature)
        return verts, state.points

    # ------------------------------------------------------------------ gradient

    def vjp(self, state: KinematicsState, grad_points: Tensor) -> tuple[Tensor, Tensor]:
        """Gradient of ``sum(grad_points * points)`` w.r.t. the pose (3, 16, B) and betas (10, B)."""
        batch = grad_points.shape[-1]
        grad_joints = grad_points[:, :NUM_MANO_JOINTS]
        grad_tips = grad_points[:, NUM_MANO_JOINTS:]

        # fingertips: tip = blend @ posed + weights @ (joints - glob @ rest)
        weights_t = self.tips_weights.T
        grad_posed = mtv(state.tips_blend, grad_tips)
        grad_blend = outer(grad_tips, state.tips_posed).reshape(9, NUM_FINGERS, batch)
        grad_glob = (weights_t @ grad_blend).view(3, 3, NUM_MANO_JOINTS, batch)
        grad_shift = weights_t @ grad_tips
        grad_joints = grad_joints + grad_shift
        grad_glob -= outer(grad_shift, state.rest)
        grad_rest = -mtv(state.glob, grad_shift)
        grad_feature = self.tips_pose.T @ grad_posed.reshape(-1, batch)

        # forward kinematics: joints[1:] = rest[0] + cumsum over levels of parent_glob @ offsets
        grad_chain = grad_joints[:, 1:].reshape(3, NUM_LEVELS, NUM_FINGERS * batch)
        grad_steps = grad_chain.flip(1).cumsum(1).flip(1).view(3, -1, batch)
        grad_rest[:, 0] += grad_joints[:, 0] + grad_chain.view(3, -1, batch).sum(1)
        grad_offsets = mtv(state.parent_glob, grad_steps)
        grad_parent = outer(grad_steps, state.offsets)
        grad_glob[:, :, 0] += grad_parent[:, :, :NUM_FINGERS].sum(2)
        grad_glob[:, :, 1:11] += grad_parent[:, :, NUM_FINGERS:]

        # global rotations, leaves first: glob[level] = glob[parent level] @ rot[level]
        rot = state.rot
        grad_g3 = grad_glob[:, :, 11:]
        grad_g2 = grad_glob[:, :, 6:11] + mat_bt(grad_g3, rot[:, :, 11:])
        grad_g1 = grad_glob[:, :, 1:6] + mat_bt(grad_g2, rot[:, :, 6:11])
        grad_root = grad_glob[:, :, :1] + mat_bt(grad_g1, rot[:, :, 1:6]).sum(2, keepdim=True)
        grad_levels = torch.cat([grad_g1, grad_g2, grad_g3], 2)
        grad_local = mat_t(state.parent_glob, grad_levels).add_(
            grad_feature.view(3, 3, NUM_MANO_JOINTS - 1, batch)
        )
        grad_rot = torch.cat([grad_root, grad_local], 2)

        grad_linear = torch.cat([grad_rest.reshape(-1, batch), grad_offsets.reshape(-1, batch)])
        grad_betas = self.linear_beta.T @ grad_linear
        grad_betas = torch.addmm(grad_betas, self.tips_shape.T, grad_posed.reshape(-1, batch))
        return self._rodrigues_vjp(state, grad_rot), grad_betas

    def _rodrigues_vjp(self, state: KinematicsState, grad_rot: Tensor) -> Tensor:
        """Gradient w.r.t. the axis-angle of ``R = cos I + sin [k]x + (1 - cos) k k^T``."""
        axis, sin, cos = state.axis, state.sin, state.cos
        flat = grad_rot.reshape(9, -1)
        grad_skew = (self.skew_basis.T @ flat).view_as(axis)  # sum_ij G_ij d[k]x_ij / dk
        sym = mv(grad_rot + grad_rot.transpose(0, 1), axis)
        trace = flat[0] + flat[4] + flat[8]
        grad_cos = trace.view_as(sin) - 0.5 * (axis * sym).sum(0)
        grad_sin = (axis * grad_skew).sum(0)
        grad_axis = grad_skew * sin + sym * (1 - cos)
        grad_angle = grad_sin * cos - grad_cos * sin
        radial = grad_angle - (grad_axis * axis).sum(0) / state.angle
        return grad_axis / state.angle + axis * radial


def _level_slots(
    levels: list[list[int]], parent_slots: list[list[int]]
) -> tuple[list[int], list[int]]:
    """Slot order (native ids) and each non-root slot's parent slot, checking MANO's tree shape."""
    shaped = (
        len(levels) == NUM_LEVELS + 1
        and len(levels[0]) == 1
        and all(len(level) == NUM_FINGERS for level in levels[1:])
        and parent_slots[1] == [0] * NUM_FINGERS
        and all(parent_slots[d] == list(range(NUM_FINGERS)) for d in range(2, NUM_LEVELS + 1))
    )
    if not shaped:
        raise ArgumentError(
            "ManoKinematics needs MANO's kinematic tree (a root, then 5 chains of 3 joints), got "
            f"levels {levels}"
        )
    slots = [joint for level in levels for joint in level]
    parents = [0] * NUM_FINGERS + [1 + i for i in range(2 * NUM_FINGERS)]
    return slots, parents
