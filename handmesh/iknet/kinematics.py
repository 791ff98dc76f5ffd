"""MANO kinematics for the HandTailor fit: preallocated buffers, batch last, hand-written VJP.

The HandTailor fit evaluates MANO and its gradient 20 times per batch. Its objective needs only
the 21 joints: the shaped rest joints are linear in beta, and only the 5 fingertip vertices need
pose blend shapes and skinning. On a CPU, tensors this small cost the number of operations (each
~1-5 us of dispatch), not arithmetic. So a :class:`KinematicsWorkspace` allocates every
intermediate tensor and every view of it once per batch size, and each evaluation is a fixed list
of ``out=`` / in-place operations (about 35 for the forward pass, 50 for the gradient), with
every linear rearrangement folded into a constant matrix. The batch is the LAST (contiguous)
dimension, so a linear map over joints or vertices is one ``mm`` on a ``(rows, 3 * B)`` view.
The full 778-vertex mesh is the same computation with all vertices, once, at the end.

The arithmetic is MANO's (``handmesh.mano.layer``): pose blend shapes from the flattened
``R - I`` of joints 1..15, forward kinematics level by level, linear blend skinning; the tests
compare it with the ``MANO`` layer and its gradient with autograd through that layer.

Internal orders (``B`` is the batch):

* joint slots (16): MANO's kinematic levels ``[0], [1, 4, 7, 10, 13], [2, 5, 8, 11, 14],
  [3, 6, 9, 12, 15]`` (native ids), each level in the finger order of its first level
  (index, middle, pinky, ring, thumb);
* points (21): the 16 slots, then the 5 fingertips in the same finger order, so
  ``points[1:]`` is (level, finger); :attr:`ManoKinematics.canonical_index` maps them to the
  canonical 21-joint order;
* pose (16, 3, B): axis-angle of the slots; rotations (16, 3, 3, B); points (21, 3, B).

No autograd: the workspace writes into its own buffers (callers get copies).
"""

from __future__ import annotations

from typing import Literal

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

__all__ = ["KinematicsWorkspace", "ManoKinematics", "VertexSet"]

VertexSet = Literal["tips", "mesh"]

NUM_SLOTS = NUM_MANO_JOINTS
NUM_FINGERS = 5
NUM_LEVELS = 3
NUM_POINTS = NUM_SLOTS + NUM_FINGERS
NUM_POSE = 3 * NUM_SLOTS
NUM_BETAS = 10
NUM_FEATURES = 9 * (NUM_SLOTS - 1)
NUM_JOINT_ROWS = 3 * NUM_SLOTS + 3 * (NUM_SLOTS - 1)  # rest joints, then bone offsets
ANGLE_EPS_SQ = 1e-24
"""Added to the squared rotation angle: zero rotations get the exact identity and gradient."""

VEE_ENTRIES = ((0, 1, 2), (1, 2, 0), (2, 0, 1))
"""``(c, i, j)``: component ``c`` of ``vee(S) = S - S^T`` is ``S[i, j] - S[j, i]``, so
``a x b = vee(outer(a, b))``, and the skew matrix ``[v]x`` is ``v[c]`` at ``(j, i)`` and ``-v[c]``
at ``(i, j)``."""


def level_slots(level: int) -> slice:
    """The slots of kinematic level ``level`` (0: the root; 1..3: five fingers each)."""
    if level == 0:
        return slice(0, 1)
    return slice(1 + (level - 1) * NUM_FINGERS, 1 + level * NUM_FINGERS)


def vee_views(square: Tensor, out: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Views ``(square[..., i, j, :], square[..., j, i, :], out[..., c, :])`` of a (..., 3, 3, B)
    and a (..., 3, B) tensor for the three :data:`VEE_ENTRIES` (strided views: a cross product
    is then three subtractions, cheaper than a gather)."""
    return [(square[..., i, j, :], square[..., j, i, :], out[..., c, :]) for c, i, j in VEE_ENTRIES]


def vee_(views: list[tuple[Tensor, Tensor, Tensor]]) -> None:
    """Write ``vee`` through :func:`vee_views`."""
    for upper, lower, out in views:
        torch.sub(upper, lower, out=out)


class ManoKinematics(nn.Module):
    """MANO (no PCA, flat hand mean) re-laid out for the fit: constants and batch layouts.

    Args:
        mano: the MANO layer whose model to use (``flat_hand_mean=True``, ``use_pca=False``); its
            centring and translation settings are not used (callers centre the points).

    Buffers follow ``.to(device / dtype)``. Poses are (16, 3, B) slot-order axis-angle
    (:meth:`pose_from_so3` converts a native (B, 48) pose), betas are (10, B).
    """

    canonical_index: list[int]
    """Internal point ``i`` is canonical joint ``canonical_index[i]``."""

    chain_sum: Tensor  # (16, 15) joints from the bone steps
    chain_sum_t: Tensor  # (16, 16) its transpose, plus a row summing the joints (the root's)
    parent_scatter: Tensor  # (16, 15) the parent slot of each step
    finger_sum: Tensor  # (1, 5)
    skew_plus: Tensor  # (3,) flat 3x3 entries where [v]x is +v
    skew_minus: Tensor  # (3,) and -v

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
        self.tip_vertices = [
            tip_ids[MANO_TIPS_NAMES.index(f"{f}4") - NUM_MANO_JOINTS] for f in fingers
        ]
        names = [MANO_JOINT_NAMES[n] for n in slots] + [f"{f}4" for f in fingers]
        self.canonical_index = [JOINT_NAMES.index(name) for name in names]
        self.canonical_inverse = [int(i) for i in np.argsort(self.canonical_index)]
        self.side = mano.side
        self.num_verts = int(mano.v_template.shape[0])
        if int(mano.shapedirs.shape[-1]) != NUM_BETAS:
            raise ArgumentError(
                f"ManoKinematics needs {NUM_BETAS} shape coefficients, the MANO model has "
                f"{int(mano.shapedirs.shape[-1])}"
            )

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
        joint_const = torch.cat([rest_const.reshape(-1), offset_const.reshape(-1)])
        joint_beta = torch.cat(
            [rest_beta.reshape(-1, NUM_BETAS), offset_beta.reshape(-1, NUM_BETAS)]
        )
        # pose feature (slot - 1) * 9 + e is MANO's column (native - 1) * 9 + e, e = 3 i + j
        feature_columns = [(slots[s] - 1) * 9 + e for s in range(1, NUM_SLOTS) for e in range(9)]
        flat_eye = torch.eye(3, dtype=torch.float64).reshape(-1).repeat(NUM_SLOTS - 1)

        def buffer(name: str, value: Tensor) -> None:
            self.register_buffer(name, value.to(dtype).contiguous(), persistent=False)

        for prefix, vertex_ids in (
            ("tips", self.tip_vertices),
            ("mesh", list(range(self.num_verts))),
        ):
            pose_dirs = as64["posedirs"][vertex_ids][:, :, feature_columns].reshape(
                -1, NUM_FEATURES
            )
            # posed = template + shape dirs @ beta + pose dirs @ (R - I): the "- I" is constant
            vertex_const = as64["v_template"][vertex_ids].reshape(-1) - pose_dirs @ flat_eye
            vertex_beta = as64["shapedirs"][vertex_ids].reshape(-1, NUM_BETAS)
            buffer(f"{prefix}_linear_const", torch.cat([joint_const, vertex_const]).unsqueeze(1))
            buffer(f"{prefix}_linear_beta", torch.cat([joint_beta, vertex_beta]))
            buffer(f"{prefix}_pose_dirs", pose_dirs)
            weights = as64["weights"][vertex_ids][:, slots]
            buffer(f"{prefix}_weights", weights)
            buffer(f"{prefix}_weights_t_neg", -weights.T)  # the VJP's minus, without an operation

        # joints = chain_sum @ steps (+ the root joint); steps[i] moves slot i + 1 from its parent
        chain_sum = torch.zeros(NUM_SLOTS, NUM_SLOTS - 1)
        for slot in range(1, NUM_SLOTS):
            for step in range(NUM_SLOTS - 1):
                if step % NUM_FINGERS == (slot - 1) % NUM_FINGERS and step < slot:
                    chain_sum[slot, step] = 1.0
        # backward: rows 0..14 give the steps' gradient, row 15 the root joint's (sum over joints)
        buffer("chain_sum", chain_sum)
        buffer("chain_sum_t", torch.cat([chain_sum.T, torch.ones(1, NUM_SLOTS)]))
        parent_scatter = torch.zeros(NUM_SLOTS, NUM_SLOTS - 1)  # parent slot of steps[i]
        for step in range(NUM_SLOTS - 1):
            parent_scatter[0 if step < NUM_FINGERS else step - NUM_FINGERS + 1, step] = 1.0
        buffer("parent_scatter", parent_scatter)
        buffer("finger_sum", torch.ones(1, NUM_FINGERS))
        # flat entries of the skew matrix: +v[c] at (j, i), -v[c] at (i, j)
        for name, entries in (("skew_plus", [3 * j + i for _, i, j in VEE_ENTRIES]),
                              ("skew_minus", [3 * i + j for _, i, j in VEE_ENTRIES])):  # fmt: skip
            self.register_buffer(name, torch.tensor(entries), persistent=False)
        self.pose_index = [slots[s] * 3 + d for s in range(NUM_SLOTS) for d in range(3)]
        self.pose_inverse = [int(i) for i in np.argsort(self.pose_index)]

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the buffers."""
        return self.chain_sum.dtype

    @property
    def device(self) -> torch.device:
        """Device of the buffers."""
        return self.chain_sum.device

    def constant(self, vertices: VertexSet, name: str) -> Tensor:
        """The ``{vertices}_{name}`` buffer (``linear_const``, ``pose_dirs``, ``weights``, ...)."""
        value = getattr(self, f"{vertices}_{name}")
        assert isinstance(value, Tensor)
        return value

    # ------------------------------------------------------------------ layouts

    def pose_from_so3(self, so3: Tensor) -> Tensor:
        """(B, 48) native axis-angle -> (16, 3, B) slot-order batch-last pose."""
        return so3[:, self.pose_index].T.reshape(NUM_SLOTS, 3, -1)

    def so3_from_pose(self, pose: Tensor) -> Tensor:
        """(16, 3, B) slot-order pose -> (B, 48) native axis-angle."""
        return pose.reshape(NUM_POSE, -1).T[:, self.pose_inverse]

    def points_from_canonical(self, joints: Tensor) -> Tensor:
        """(B, 21, 3) canonical joints -> (21, 3, B) internal point order."""
        return joints[:, self.canonical_index].permute(1, 2, 0)

    def canonical_from_points(self, points: Tensor) -> Tensor:
        """(21, 3, B) internal points -> (B, 21, 3) canonical joints."""
        return points[self.canonical_inverse].permute(2, 0, 1)

    # ------------------------------------------------------------------ evaluation

    def workspace(
        self, batch: int, vertices: VertexSet = "tips", params: Tensor | None = None,
        gradient: bool = False, grad_params: Tensor | None = None,
    ) -> KinematicsWorkspace:  # fmt: skip
        """Buffers for ``batch`` samples (see :class:`KinematicsWorkspace`)."""
        return KinematicsWorkspace(
            self, batch, vertices, params=params, gradient=gradient, grad_params=grad_params
        )

    @torch.no_grad()
    def forward(self, pose: Tensor, betas: Tensor) -> Tensor:
        """(21, 3, B) posed joints and fingertips (MANO frame, metres, not centred) of (16, 3, B)
        ``pose`` and (10, B) ``betas``."""
        work = self._evaluate(pose, betas, "tips")
        return work.points.clone()

    @torch.no_grad()
    def mesh(self, pose: Tensor, betas: Tensor) -> tuple[Tensor, Tensor]:
        """All vertices (778, 3, B) and the points (21, 3, B), MANO frame, metres."""
        work = self._evaluate(pose, betas, "mesh")
        return work.verts.clone(), work.joints_and_tips()

    def _evaluate(self, pose: Tensor, betas: Tensor, vertices: VertexSet) -> KinematicsWorkspace:
        batch = pose.shape[-1]
        if pose.shape != (NUM_SLOTS, 3, batch) or betas.shape != (NUM_BETAS, batch):
            raise ArgumentError(
                f"ManoKinematics needs a (16, 3, B) slot-order pose (pose_from_so3) and (10, B) "
                f"betas, got {tuple(pose.shape)} and {tuple(betas.shape)}"
            )
        work = self.workspace(batch, vertices)
        work.pose.copy_(pose)
        work.betas.copy_(betas)
        work.forward()
        return work


class KinematicsWorkspace:
    """The buffers, views and operations of MANO's forward pass and VJP for one batch size.

    Args:
        kinematics: the constants.
        batch: number of samples ``B``.
        vertices: ``"tips"`` (the 5 fingertips: ``points`` are the 21 joints) or ``"mesh"``.
        params: a (>= 58, B) tensor whose rows 0..47 are the (16, 3) slot-order pose and 48..57 the
            betas; it is read in place by :meth:`forward` (default: a new zero tensor).
        gradient: allocate the buffers of :meth:`backward`.
        grad_params: where :meth:`backward` writes: a (>= 58, B) tensor laid out as ``params``
            (default: a new one).

    :meth:`forward` fills ``joints`` (16, 3, B), ``verts`` (V, 3, B) and ``points`` (16 + V, 3,
    B, the two stacked). :meth:`backward` takes ``grad_points`` (16 + V, 3, B, fill it in place)
    and fills ``grad_pose`` (16, 3, B) and ``grad_betas`` (10, B), the gradient of
    ``sum(grad_points * points)``. Both run in about 85 tensor operations in total and allocate
    nothing.
    """

    def __init__(
        self, kinematics: ManoKinematics, batch: int, vertices: VertexSet = "tips",
        params: Tensor | None = None, gradient: bool = False, grad_params: Tensor | None = None,
    ) -> None:  # fmt: skip
        if vertices not in ("tips", "mesh"):
            raise ArgumentError(f"vertices must be 'tips' or 'mesh', got {vertices!r}")
        kin = self.kinematics = kinematics
        b = self.batch = batch
        v = len(kin.tip_vertices) if vertices == "tips" else kin.num_verts
        self._vertex_set: VertexSet = vertices
        s, f = NUM_SLOTS, NUM_FINGERS

        def new(*shape: int) -> Tensor:  # every buffer is written before it is read
            return torch.empty(*shape, dtype=kin.dtype, device=kin.device)

        if params is None:
            params = torch.zeros(NUM_POSE + NUM_BETAS, b, dtype=kin.dtype, device=kin.device)
        elif params.dim() != 2 or params.shape[0] < NUM_POSE + NUM_BETAS or params.shape[1] != b:
            raise ArgumentError(
                f"KinematicsWorkspace params must be (>= {NUM_POSE + NUM_BETAS}, {b}), got "
                f"{tuple(params.shape)}"
            )
        self.params = params
        self.pose = params[:NUM_POSE].view(s, 3, b)
        self.betas = params[NUM_POSE : NUM_POSE + NUM_BETAS]
        self._linear_const, self._linear_beta, self._pose_dirs, self._weights = (
            kin.constant(vertices, name)
            for name in ("linear_const", "linear_beta", "pose_dirs", "weights")
        )

        # constants, bound here: a module attribute lookup costs as much as a small operation
        self._chain_sum, self._chain_sum_t = kin.chain_sum, kin.chain_sum_t
        self._parent_scatter, self._finger_sum = kin.parent_scatter, kin.finger_sum
        self._angle_eps = torch.full((), ANGLE_EPS_SQ, dtype=kin.dtype, device=kin.device)
        self._one = torch.ones((), dtype=kin.dtype, device=kin.device)
        # Rodrigues: rot = cos I + sin [k]x + (1 - cos) k k^T, k = pose / angle
        self.angle, self.inv_angle, self.sin, self.cos = (new(s, 1, b) for _ in range(4))
        self.one_minus_cos = new(s, 1, b)
        self.axis, self._sin_axis, self._vec = new(s, 3, b), new(s, 3, b), new(s, 3, b)
        self.rot = new(s, 3, 3, b)
        self._rot_flat = self.rot.view(s, 9, b)
        self._rot_diag = self._rot_flat[:, ::4]
        self._skew_plus, self._skew_minus = kin.skew_plus, kin.skew_minus
        self._axis_col, self._axis_row = self.axis.view(s, 3, 1, b), self.axis.view(s, 1, 3, b)
        self._one_minus_cos_4d = self.one_minus_cos.view(s, 1, 1, b)
        self._rot_fingers = self.rot[1:].view(NUM_FEATURES, b)
        # shaped rest joints, bone offsets and blend-shaped vertices: linear in beta
        self.linear = new(NUM_JOINT_ROWS + 3 * v, b)
        self.rest = self.linear[: 3 * s].view(s, 3, b)
        self.offsets = self.linear[3 * s : NUM_JOINT_ROWS].view(s - 1, 3, b)
        self.posed = self.linear[NUM_JOINT_ROWS:].view(v, 3, b)
        self._rest_root, self._rest_row = self.rest[:1], self.rest.view(s, 1, 3, b)
        self._offsets_row = self.offsets.view(s - 1, 1, 3, b)
        self._posed_flat, self._posed_row = self.posed.view(3 * v, b), self.posed.view(v, 1, 3, b)
        # forward kinematics, level by level: glob[child] = glob[parent] @ rot[child]
        self.glob = new(s, 3, 3, b)
        self.parent_glob = new(s - 1, 3, 3, b)  # glob of the parent of slot i + 1
        self._level_prod = new(f, 3, 3, 3, b)
        self._levels = [
            (
                self.glob[level_slots(level - 1)].unsqueeze(3),  # (n, 3, 3, 1, B): [i, j, .]
                self.rot[level_slots(level)].unsqueeze(1),  # (5, 1, 3, 3, B): [., j, k]
                self.glob[level_slots(level)],
            )
            for level in range(1, NUM_LEVELS + 1)
        ]
        self._glob_root, self._rot_root = self.glob[0], self.rot[0]
        self._parent_copies = [
            (self.parent_glob[:f], self.glob[:1].expand(f, 3, 3, b)),
            (self.parent_glob[f:], self.glob[1 : s - f]),
        ]
        self.steps = new(s - 1, 3, b)
        self._prod_steps = new(s - 1, 3, 3, b)
        self.points = new(s + v, 3, b)
        self.joints, self.verts = self.points[:s], self.points[s:]
        self._joints_flat, self._steps_flat = (
            self.joints.view(s, 3 * b),
            self.steps.view(s - 1, 3 * b),
        )
        # skinning: verts = blend @ posed + weights @ (joints - glob @ rest)
        self.glob_rest, self.transl = new(s, 3, b), new(s, 3, b)
        self._prod_slots = new(s, 3, 3, b)
        self._glob_flat = self.glob.view(s, 9 * b)
        self.shift = new(v, 3, b)
        self.blend = new(v, 3, 3, b)
        self._transl_flat, self._shift_flat = self.transl.view(s, 3 * b), self.shift.view(v, 3 * b)
        self._blend_flat = self.blend.view(v, 9 * b)
        self._blend_columns = [(self.blend[:, :, j], self.posed[:, j : j + 1]) for j in range(3)]
        if gradient:
            self._allocate_gradient(v, grad_params)

    def _allocate_gradient(self, v: int, grad_params: Tensor | None) -> None:
        s, f, b = NUM_SLOTS, NUM_FINGERS, self.batch

        def new(*shape: int) -> Tensor:  # every buffer is written before it is read
            return torch.empty(*shape, dtype=self.kinematics.dtype, device=self.kinematics.device)

        self.grad_points = new(s + v, 3, b)
        self._grad_joints_in, self._grad_verts = self.grad_points[:s], self.grad_points[s:]
        self._grad_verts_col = self._grad_verts.view(v, 3, 1, b)
        self._grad_verts_flat = self._grad_verts.view(v, 3 * b)
        # transposes as views (BLAS reads them as they are)
        self._linear_beta_t, self._pose_dirs_t = self._linear_beta.T, self._pose_dirs.T
        self._weights_t = self._weights.T
        self._weights_t_neg = self.kinematics.constant(self._vertex_set, "weights_t_neg")
        self._prod_verts = new(v, 3, 3, b)
        self.grad_linear = new(NUM_JOINT_ROWS + 3 * v, b)
        self._grad_rest = self.grad_linear[: 3 * s].view(s, 3, b)
        self._grad_offsets = self.grad_linear[3 * s : NUM_JOINT_ROWS].view(s - 1, 3, b)
        self._grad_posed = self.grad_linear[NUM_JOINT_ROWS:].view(v, 3, b)
        self._grad_posed_flat = self._grad_posed.view(3 * v, b)
        self._grad_blend = new(v, 3, 3, b)
        self._grad_blend_flat = self._grad_blend.view(v, 9 * b)
        self._grad_glob_rest = new(s, 3, b)
        self._grad_glob_rest_col = self._grad_glob_rest.view(s, 3, 1, b)
        self._grad_glob_rest_flat = self._grad_glob_rest.view(s, 3 * b)
        self._grad_joints = new(s, 3, b)
        self._grad_joints_flat = self._grad_joints.view(s, 3 * b)
        self._grad_steps_ext = new(s, 3, b)  # rows 0..14: steps; row 15: the root joint
        self._grad_steps_ext_flat = self._grad_steps_ext.view(s, 3 * b)
        self._grad_steps, self._grad_root_joint = (
            self._grad_steps_ext[: s - 1],
            self._grad_steps_ext[s - 1],
        )
        self._grad_rest_root = self._grad_rest[0]
        self._grad_steps_col = self._grad_steps.view(s - 1, 3, 1, b)
        self._grad_parent = new(s - 1, 3, 3, b)
        self._grad_parent_flat = self._grad_parent.view(s - 1, 9 * b)
        self.grad_rot = new(s, 3, 3, b)  # first the gradient w.r.t. glob, then w.r.t. rot
        self._grad_rot_flat = self.grad_rot.view(s, 9 * b)
        self._grad_local = self.grad_rot[1:]
        self._grad_rot_fingers = self._grad_local.view(NUM_FEATURES, b)
        self._level_sum = new(f, 3, 3, b)
        self._level_sum_flat = self._level_sum.view(f, 9 * b)
        self._grad_root_flat = self.grad_rot[:1].view(1, 9 * b)
        self._levels_back = [
            (
                self.grad_rot[level_slots(level)].unsqueeze(2),  # [i, ., k]
                self.rot[level_slots(level)].unsqueeze(1),  # [., j, k]
                None if level == 1 else self.grad_rot[level_slots(level - 1)],
            )
            for level in range(NUM_LEVELS, 0, -1)
        ]
        self._prod_local = new(s - 1, 3, 3, 3, b)
        self._parent_glob_col = self.parent_glob.unsqueeze(3)  # [i, j, .]
        self._grad_fingers_row = self.grad_rot[1:].unsqueeze(2)  # [i, ., k]
        self._prod_rodrigues = new(s, 3, 3, 3, b)
        self._mtr = new(s, 3, 3, b)
        self._grad_rot_col, self._rot_row_i = self.grad_rot.unsqueeze(3), self.rot.unsqueeze(2)
        self._vee, self._vee_other, self._axis_cross = new(s, 3, b), new(s, 3, b), new(s, 3, b)
        self._mtr_vee = vee_views(self._mtr, self._vee)
        self._vee_row = self._vee.view(s, 1, 3, b)
        self._axis_cross_vee = vee_views(self._prod_slots, self._axis_cross)
        self._a, self._b, self._axis_dot, self._q = (new(s, 1, b) for _ in range(4))
        if grad_params is None:
            grad_params = new(NUM_POSE + NUM_BETAS, b)
        self.grad_pose = grad_params[:NUM_POSE].view(s, 3, b)
        self.grad_betas = grad_params[NUM_POSE : NUM_POSE + NUM_BETAS]

    def joints_and_tips(self) -> Tensor:
        """(21, 3, B) the joints and fingertips after :meth:`forward` (a new tensor)."""
        if self._vertex_set == "tips":
            return self.points.clone()
        return torch.cat([self.joints, self.verts[self.kinematics.tip_vertices]])

    # ------------------------------------------------------------------ forward

    def forward(self) -> None:
        """Fill ``joints``, ``verts`` and ``points`` from ``pose`` and ``betas``."""
        torch.mul(self.pose, self.pose, out=self._vec)
        torch.sum(self._vec, 1, keepdim=True, out=self.angle)
        self.angle.add_(self._angle_eps).sqrt_()
        torch.reciprocal(self.angle, out=self.inv_angle)
        torch.mul(self.pose, self.inv_angle, out=self.axis)
        torch.sin(self.angle, out=self.sin)
        torch.cos(self.angle, out=self.cos)
        torch.sub(self._one, self.cos, out=self.one_minus_cos)
        torch.mul(self.axis, self.sin, out=self._sin_axis)
        torch.mul(self._axis_col, self._axis_row, out=self.rot)  # k k^T
        self.rot.mul_(self._one_minus_cos_4d)  # (1 - cos) k k^T
        self._rot_diag.add_(self.cos)  # + cos I
        self._rot_flat.index_add_(1, self._skew_plus, self._sin_axis)  # + sin [k]x
        self._rot_flat.index_add_(1, self._skew_minus, self._sin_axis, alpha=-1.0)

        torch.addmm(self._linear_const, self._linear_beta, self.betas, out=self.linear)
        self._posed_flat.addmm_(self._pose_dirs, self._rot_fingers)

        self._glob_root.copy_(self._rot_root)
        for parent, local, out in self._levels:
            torch.mul(parent, local, out=self._level_prod)
            torch.sum(self._level_prod, 2, out=out)
        for target, source in self._parent_copies:
            target.copy_(source)
        torch.mul(self.parent_glob, self._offsets_row, out=self._prod_steps)
        torch.sum(self._prod_steps, 2, out=self.steps)
        torch.mm(self._chain_sum, self._steps_flat, out=self._joints_flat)
        self.joints.add_(self._rest_root)

        torch.mul(self.glob, self._rest_row, out=self._prod_slots)
        torch.sum(self._prod_slots, 2, out=self.glob_rest)
        torch.sub(self.joints, self.glob_rest, out=self.transl)
        torch.mm(self._weights, self._transl_flat, out=self._shift_flat)
        torch.mm(self._weights, self._glob_flat, out=self._blend_flat)
        # verts = blend @ posed, column by column (no (V, 9, B) temporary for the mesh)
        (column, posed), *others = self._blend_columns
        torch.mul(column, posed, out=self.verts)
        for column, posed in others:
            self.verts.addcmul_(column, posed)
        self.verts.add_(self.shift)

    # ------------------------------------------------------------------ gradient

    def backward(self) -> None:
        """Fill ``grad_pose`` and ``grad_betas`` from ``grad_points`` (after :meth:`forward`)."""
        # vertices: verts = blend @ posed + weights @ (joints - glob @ rest)
        torch.mul(self.blend, self._grad_verts_col, out=self._prod_verts)
        torch.sum(self._prod_verts, 1, out=self._grad_posed)
        torch.mul(self._grad_verts_col, self._posed_row, out=self._grad_blend)
        torch.mm(self._weights_t_neg, self._grad_verts_flat, out=self._grad_glob_rest_flat)
        torch.sub(self._grad_joints_in, self._grad_glob_rest, out=self._grad_joints)
        torch.mm(self._weights_t, self._grad_blend_flat, out=self._grad_rot_flat)
        self.grad_rot.addcmul_(self._grad_glob_rest_col, self._rest_row)
        torch.mul(self.glob, self._grad_glob_rest_col, out=self._prod_slots)
        torch.sum(self._prod_slots, 1, out=self._grad_rest)
        # joints = chain_sum @ steps + rest[0]; steps = parent_glob @ offsets
        torch.mm(self._chain_sum_t, self._grad_joints_flat, out=self._grad_steps_ext_flat)
        self._grad_rest_root.add_(self._grad_root_joint)
        torch.mul(self.parent_glob, self._grad_steps_col, out=self._prod_steps)
        torch.sum(self._prod_steps, 1, out=self._grad_offsets)
        torch.mul(self._grad_steps_col, self._offsets_row, out=self._grad_parent)
        self._grad_rot_flat.addmm_(self._parent_scatter, self._grad_parent_flat)
        # global rotations, leaves first: grad_glob[parent] += grad_glob[child] @ rot[child]^T
        for grad_child, local, grad_parent in self._levels_back:
            torch.mul(grad_child, local, out=self._level_prod)
            torch.sum(self._level_prod, 3, out=self._level_sum)
            if grad_parent is None:  # the root: sum over the five fingers
                self._grad_root_flat.addmm_(self._finger_sum, self._level_sum_flat)
            else:
                grad_parent.add_(self._level_sum)
        # local rotations: grad_rot = parent_glob^T @ grad_glob (+ the pose blend shapes)
        torch.mul(self._parent_glob_col, self._grad_fingers_row, out=self._prod_local)
        torch.sum(self._prod_local, 1, out=self._grad_local)
        self._grad_rot_fingers.addmm_(self._pose_dirs_t, self._grad_posed_flat)
        # axis-angle: the gradient u w.r.t. a right perturbation rot exp([d]x) is the vee of
        # rot^T grad_rot - grad_rot^T rot; then pose gradient = J_r(pose)^T u with the right Jacobian
        torch.mul(self._grad_rot_col, self._rot_row_i, out=self._prod_rodrigues)
        torch.sum(self._prod_rodrigues, 1, out=self._mtr)  # grad_rot^T rot
        vee_(self._mtr_vee)
        # J_r^T u = a u + b (k x u) + (1 - a) (k . u) k, a = sin / angle, b = (1 - cos) / angle
        torch.mul(self.sin, self.inv_angle, out=self._a)
        torch.mul(self.one_minus_cos, self.inv_angle, out=self._b)
        torch.mul(self._axis_col, self._vee_row, out=self._prod_slots)
        vee_(self._axis_cross_vee)  # k x u
        torch.mul(self.axis, self._vee, out=self._vee_other)
        torch.sum(self._vee_other, 1, keepdim=True, out=self._axis_dot)
        torch.mul(self._a, self._axis_dot, out=self._q)
        torch.sub(self._axis_dot, self._q, out=self._q)
        torch.mul(self._vee, self._a, out=self.grad_pose)
        self.grad_pose.addcmul_(self._axis_cross, self._b)
        self.grad_pose.addcmul_(self.axis, self._q)
        torch.mm(self._linear_beta_t, self.grad_linear, out=self.grad_betas)


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
