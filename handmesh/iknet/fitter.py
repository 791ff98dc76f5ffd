"""HandTailor's fitting unit as one batched torch computation: joints -> IKNet -> Adam -> mesh.

OakInk-HMR evaluates IntegralPose and RLE meshes with it (``train/test_model_hand_tailor.py``).
The original runs IKNet once for the batch, then a Python loop over samples of 20 jitted JAX Adam
steps each. Here the whole batch is optimised at once with hand-written gradients, each Adam
step a fixed list of ~130 operations on buffers allocated once per call (see
``handmesh.iknet.kinematics`` and ``handmesh.iknet.objective``), on the device of the inputs,
with nothing compiled, so a new batch size costs nothing extra. On a CPU the Adam loop runs on
one intra-op thread (restored afterwards); IKNet and the final mesh use the caller's setting.

Faithful by default; each quirk of the original is one option away (the published OakInk-HMR
numbers were computed with all three):

* ``reg_target="batch"``: the pose regulariser compares each sample with the IKNet output of
  EVERY sample in its batch (the original passes the (B, 48) batch as ``so3_init``), so results
  depend on the batch size and composition. ``"sample"`` (the fix) uses the sample's own output.
* ``adam_step_quirk=True``: the loop passes step numbers 1..20 to ``jax.example_libraries``' Adam,
  which adds one, so the bias corrections use 2..21. ``False`` is textbook Adam (1..20).
* ``optimize_bone=True``: the bone length is an optimised parameter although it only scales the
  geometry term (the mesh uses the input bone). ``False`` keeps it at the input bone.

Agreement with the original (OakInk-HMR's JAX code run on the same joints and IKNet poses, on the
synthetic hand): in float64 the objective and its gradient agree to 1e-14 (relative) and the fitted
vertices to 0.0005 mm on average. The fit is sensitive at float32 resolution (Adam with
``beta2 = 0.5`` normalises every gradient component, and ``|twist|`` and the wrong-way clip have
kinks): the original's own float32 and float64 results differ by 0.05 mm on average (up to a few
mm for a rare sample), and float32 runs of the two agree to the same level. The JAX MANO layer's
1e-8 guards in its Rodrigues formula are not reproduced (below float32 resolution).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, NamedTuple, Union

import torch
from torch import Tensor, nn

from handmesh.errors import ArgumentError
from handmesh.iknet.kinematics import NUM_BETAS, NUM_POSE, KinematicsWorkspace, ManoKinematics
from handmesh.iknet.network import ROOT_JOINT, IKNet, normalize_joints
from handmesh.iknet.objective import BONE_ROW, FitObjective, FitTargets
from handmesh.mano.layer import MANO

__all__ = ["HandTailorFitter", "RegTarget"]

PathLike = Union[str, "os.PathLike[str]"]
RegTarget = Literal["batch", "sample"]
REG_TARGETS = ("batch", "sample")


class HandTailorFitter(nn.Module):
    """Fit MANO to predicted 3D joints, initialised by IKNet (HandTailor's fitting unit).

    Args:
        iknet: the IKNet to initialise with (kept in eval mode), e.g. from ``load_iknet``.
        mano_root: the right MANO model file or its folder; None looks where the rest of handmesh
            does (``$HANDMESH_MANO_ROOT``, then ``assets/mano_v1_2/models``).
        reg_target: ``"batch"`` (the original) or ``"sample"`` (the fix); see the module doc.
        allow_synthetic: use the built-in synthetic hand when the MANO file is missing.
        mano: a MANO layer to use instead of ``mano_root`` (right side, ``flat_hand_mean=True``).
        steps: Adam steps (20).
        lr: Adam step size (0.03).
        adam_betas: Adam (beta1, beta2), (0.5, 0.5).
        eps: Adam epsilon (1e-8).
        adam_step_quirk: bias corrections at step n + 1 as the original (True) or textbook (False).
        optimize_bone: optimise the bone length as the original (True) or keep the input's.

    ``forward(joints_3d)``: (B, 21, 3) camera-space joints (metres, canonical order) -> dict with
    ``verts_3d`` (B, 778, 3) and ``joints_3d`` (B, 21, 3), camera metres, scaled by the input bone
    ``|j0 - j9|`` and placed at the input joint 9; ``so3`` (B, 48) fitted and ``so3_init`` (B, 48)
    IKNet axis-angle (native MANO order, flat hand = 0); ``beta`` (B, 10). Gradients are computed
    by hand, so it runs the same inside or outside ``torch.no_grad()``; outputs are detached.
    """

    def __init__(
        self,
        iknet: IKNet,
        mano_root: PathLike | None = None,
        reg_target: RegTarget = "batch",
        *,
        allow_synthetic: bool = False,
        mano: MANO | None = None,
        steps: int = 20,
        lr: float = 0.03,
        adam_betas: tuple[float, float] = (0.5, 0.5),
        eps: float = 1e-8,
        adam_step_quirk: bool = True,
        optimize_bone: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(iknet, IKNet):
            raise ArgumentError(f"iknet must be a handmesh.iknet.IKNet, got {type(iknet).__name__}")
        if reg_target not in REG_TARGETS:
            raise ArgumentError(f"reg_target must be 'batch' or 'sample', got {reg_target!r}")
        if steps < 0 or lr <= 0 or eps <= 0 or not all(0 <= b < 1 for b in adam_betas):
            raise ArgumentError(
                f"need steps >= 0, lr > 0, eps > 0 and Adam betas in [0, 1); got steps={steps}, "
                f"lr={lr}, eps={eps}, adam_betas={adam_betas}"
            )
        if mano is None:
            mano = MANO(
                side="right", model_path=mano_root, flat_hand_mean=True,
                allow_synthetic=allow_synthetic,
            )  # fmt: skip
        elif mano.side != "right":
            raise ArgumentError(f"mano must be the right hand's layer, got side={mano.side!r}")
        self.iknet = iknet.eval()
        self.kinematics = ManoKinematics(mano)
        self.is_synthetic = bool(mano.is_synthetic)
        self.reg_target: RegTarget = reg_target
        self.steps = steps
        self.lr = lr
        self.adam_betas = adam_betas
        self.eps = eps
        self.adam_step_quirk = adam_step_quirk
        self.optimize_bone = optimize_bone
        self.root_point = self.kinematics.canonical_index.index(ROOT_JOINT)
        self._scratch: OrderedDict[tuple[object, ...], _Scratch] = OrderedDict()

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> HandTailorFitter:
        # .to() / .cuda() / .double() move the constants: buffers built on the old ones go too
        self._scratch.clear()
        return super()._apply(fn, recurse)

    def train(self, mode: bool = True) -> HandTailorFitter:
        """Train/eval mode of the module; IKNet always stays in eval mode, as in the original."""
        super().train(mode)
        self.iknet.eval()
        return self

    @torch.no_grad()
    def prepare(self, joints_3d: Tensor) -> tuple[Tensor, FitTargets, Tensor, Tensor]:
        """IKNet initialisation of a batch.

        Returns the initial parameters (59, B), the :class:`FitTargets`, the IKNet ``so3_init``
        (B, 48) and the input bone (B,) in metres.
        """
        kin = self.kinematics
        norm = normalize_joints(joints_3d.to(kin.dtype))
        so3_init = self.iknet(norm.joints)["so3"]
        pose = kin.pose_from_so3(so3_init).reshape(NUM_POSE, -1)
        bone = norm.bone.view(1, -1)
        if self.reg_target == "batch":
            target = pose.mean(1, keepdim=True)
            spread = (pose - target).square().mean()
        else:
            target, spread = pose, pose.new_zeros(())
        targets = FitTargets(
            joints=kin.points_from_canonical(norm.joints).contiguous(),
            root=norm.root.permute(1, 2, 0),
            pose_target=target,
            pose_spread=spread,
            root_point=self.root_point,
        )
        params = torch.cat([pose, pose.new_zeros(NUM_BETAS, pose.shape[1]), bone])
        return params, targets, so3_init, bone.view(-1)

    @torch.no_grad()
    def objective(self, params: Tensor, targets: FitTargets) -> Tensor:
        """Per-sample objective (B,) of (59, B) parameters (see ``handmesh.iknet.objective``)."""
        return FitObjective(self.kinematics, targets, params).value()

    def optimize(self, params: Tensor, targets: FitTargets) -> Tensor:
        """Run the Adam steps from (59, B) ``params``; returns the final parameters."""
        with torch.inference_mode():
            final = self._adam(self._scratch_for(params, targets))
        return final.clone()

    def _scratch_for(self, params: Tensor, targets: FitTargets) -> _Scratch:
        """The objective's and the final mesh's buffers for this batch size, reused between calls
        of the same thread (building them costs ~0.5 ms; the two last sizes are kept)."""
        key = (
            threading.get_ident(),
            params.shape[-1],
            self.kinematics.device,
            self.kinematics.dtype,
        )
        scratch = self._scratch.pop(key, None)
        if scratch is None:
            problem = FitObjective(self.kinematics, targets, params)
            mesh = self.kinematics.workspace(params.shape[-1], "mesh")
            scratch = _Scratch(problem, mesh)
            while len(self._scratch) >= SCRATCH_SIZES:
                self._scratch.popitem(last=False)
        else:
            scratch.problem.reset(targets, params)
        self._scratch[key] = scratch
        return scratch

    def _adam(self, scratch: _Scratch) -> Tensor:
        """Adam from ``scratch.problem.params``, in place; returns them."""
        beta1, beta2 = self.adam_betas
        problem = scratch.problem
        first = torch.zeros_like(problem.params)
        second = torch.zeros_like(problem.params)
        denom = torch.empty_like(problem.params)
        params = problem.params

        def scalar(value: float) -> Tensor:  # an operand tensor: cheaper than a Python number
            return params.new_full((), value)

        # m / (1 - beta1^t) / (sqrt(v / (1 - beta2^t)) + eps) = m sqrt(c2) / c1 / (sqrt(v) + eps sqrt(c2))
        steps = [n + 1 if self.adam_step_quirk else n for n in range(1, self.steps + 1)]
        schedule = [
            (
                scalar(self.eps * (1 - beta2**t) ** 0.5),
                -self.lr * (1 - beta2**t) ** 0.5 / (1 - beta1**t),
            )
            for t in steps
        ]
        decay2 = scalar(beta2)
        with _intra_op_threads(1 if params.device.type == "cpu" else None):
            for eps, step_size in schedule:
                grad = problem.gradient()
                if not self.optimize_bone:
                    grad[BONE_ROW] = 0.0
                first.lerp_(grad, 1 - beta1)
                second.mul_(decay2).addcmul_(grad, grad, value=1 - beta2)
                torch.sqrt(second, out=denom).add_(eps)
                params.addcdiv_(first, denom, value=step_size)
        return params

    def forward(self, joints_3d: Tensor) -> dict[str, Tensor]:
        # inference mode skips autograd's bookkeeping on the many small tensors (the gradients
        # are hand-written); the outputs are cloned outside it, so they are ordinary tensors
        with torch.inference_mode():
            out = self._fit(joints_3d)
        return {key: value.clone() for key, value in out.items()}

    def _fit(self, joints_3d: Tensor) -> dict[str, Tensor]:
        kin = self.kinematics
        params, targets, so3_init, bone = self.prepare(joints_3d)
        scratch = self._scratch_for(params, targets)
        params = self._adam(scratch)
        batch = params.shape[1]
        pose = params[:NUM_POSE].view(-1, 3, batch)
        betas = params[NUM_POSE:BONE_ROW]
        mesh = scratch.mesh
        mesh.params[: NUM_POSE + NUM_BETAS].copy_(params[:BONE_ROW])
        mesh.forward()
        verts, points = mesh.verts, mesh.joints_and_tips()
        centre = points[self.root_point : self.root_point + 1]
        length = (points[0] - centre[0]).square().sum(0).sqrt()
        scale = bone / length
        verts = torch.addcmul(targets.root, verts - centre, scale)
        points = torch.addcmul(targets.root, points - centre, scale)
        out_dtype = joints_3d.dtype
        return {
            "verts_3d": verts.permute(2, 0, 1).contiguous().to(out_dtype),
            "joints_3d": kin.canonical_from_points(points).contiguous().to(out_dtype),
            "so3": kin.so3_from_pose(pose).contiguous(),
            "beta": betas.T.contiguous(),
            "so3_init": so3_init,
        }


SCRATCH_SIZES = 2
"""Batch sizes whose buffers a fitter keeps (an evaluation's batch size and its last batch)."""


class _Scratch(NamedTuple):
    problem: FitObjective
    mesh: KinematicsWorkspace


@contextmanager
def _intra_op_threads(count: int | None) -> Iterator[None]:
    """Run with ``count`` intra-op threads (None: as is), restoring the setting afterwards.

    The Adam loop's tensors are a few thousand numbers: on a CPU, handing each operation to a
    second thread costs more than it saves (measured: ``torch.mm`` of the step is 3-10x slower
    with 2 threads), while IKNet and the final mesh keep the caller's setting.
    """
    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
