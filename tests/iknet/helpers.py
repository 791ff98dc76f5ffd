"""Shared fixtures of the IKNet / HandTailor tests: hands, an IKNet with sensible outputs, and a
deliberately plain per-sample reference of OakInk-HMR's fitting unit (MANO layer + autograd +
Adam written out), independent of handmesh.iknet's batched kinematics and hand-written gradients.
"""

from __future__ import annotations

import numpy as np
import torch

from handmesh.data.datasets.synthetic_pose import HandAxes, sample_articulation
from handmesh.iknet import IKNet
from handmesh.mano import MANO

FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))


def mano64() -> MANO:
    """The built-in synthetic right hand, float64, flat hand mean, centred on joint 9."""
    return MANO(
        side="right", flat_hand_mean=True, center_idx=9, allow_synthetic=True, dtype=torch.float64
    )


def natural_hands(batch: int, seed: int = 0, noise: float = 0.003) -> torch.Tensor:
    """(B, 21, 3) float64 camera-space joints of natural poses with prediction-like noise."""
    rng = np.random.default_rng(seed)
    mano = mano64()
    axes = HandAxes(mano(torch.zeros(1, 48, dtype=torch.float64)).joints[0].numpy())
    pose = np.stack([sample_articulation(rng, axes) for _ in range(batch)]).reshape(batch, 48)
    pose[:, :3] = rng.normal(0.0, 1.0, (batch, 3))
    betas = rng.normal(0.0, 1.0, (batch, 10))
    with torch.no_grad():
        joints = mano(torch.from_numpy(pose).double(), torch.from_numpy(betas)).joints
    joints = joints + torch.from_numpy(rng.normal(0.0, noise, joints.shape))
    return joints + torch.tensor([0.03, -0.02, 0.6], dtype=torch.float64)


def small_rotation_iknet(seed: int = 0) -> IKNet:
    """An eval-mode IKNet (float64) whose quaternions are near identity: ~0.2 rad rotations
    that depend on the input, like a trained IKNet's plausible initialisations."""
    torch.manual_seed(seed)
    net = IKNet().double()
    last = net.invk_layers[-1]
    with torch.no_grad():
        last.weight.mul_(0.3)
        last.bias.zero_()
        last.bias[0::4] = 1.0
    return net.eval()


def reference_objective(
    mano: MANO,
    so3: torch.Tensor,
    beta: torch.Tensor,
    bone: torch.Tensor,
    so3_init: torch.Tensor,
    target: torch.Tensor,
    root: torch.Tensor,
) -> torch.Tensor:
    """OakInk-HMR's fitting objective of ONE sample: (48,) so3, (10,) beta, () bone; so3_init
    (N, 48) is what the regulariser compares with (the whole batch, or the sample alone), target
    (21, 3) the normalised input joints, root (3,) the input joint 9."""
    hand = mano(so3[None], beta[None]).joints[0]
    hand_n = hand / (hand[0] - hand[9]).norm()
    reg = ((so3[None] - so3_init) ** 2).mean()
    placed = hand_n * bone + root
    twists, bends = [], []
    for a, b, c, d in FINGERS:
        ab, bc, cd = placed[a] - placed[b], placed[b] - placed[c], placed[c] - placed[d]
        twists.append(torch.dot(torch.linalg.cross(ab, bc), cd).abs())
        bends.append(torch.dot(torch.linalg.cross(ab, bc), torch.linalg.cross(bc, cd)))
    planarity = torch.stack(twists).mean()
    wrong_way = -torch.clamp(torch.stack(bends).sum(), max=0.0)
    return (
        0.01 * reg
        + 0.01 * (beta**2).sum()
        + ((hand_n - target) ** 2).mean()
        + 100 * (1e4 * planarity + 1e5 * wrong_way)
    )


def reference_fit(
    joints: torch.Tensor,
    iknet: IKNet,
    reg_target: str = "batch",
    adam_step_quirk: bool = True,
    optimize_bone: bool = True,
    steps: int = 20,
) -> dict[str, torch.Tensor]:
    """OakInk-HMR FittingUnit semantics, one sample at a time, in plain torch (float64)."""
    mano = mano64()
    root = joints[:, 9:10]
    rel = joints - root
    bone_in = (rel[:, 0] - rel[:, 9]).norm(dim=-1)
    with torch.no_grad():
        so3_init = iknet(rel / bone_in[:, None, None])["so3"]
    verts_out, joints_out, so3_out, beta_out = [], [], [], []
    for i in range(joints.shape[0]):
        target = rel[i] / bone_in[i]
        params = [so3_init[i].clone(), torch.zeros(10, dtype=torch.float64), bone_in[i].clone()]
        first = [torch.zeros_like(p) for p in params]
        second = [torch.zeros_like(p) for p in params]
        init = so3_init if reg_target == "batch" else so3_init[i : i + 1]
        for n in range(1, steps + 1):
            leaves = [p.clone().requires_grad_(True) for p in params]
            err = reference_objective(mano, *leaves, init, target, root[i, 0])
            grads = torch.autograd.grad(err, leaves)
            t = n + 1 if adam_step_quirk else n
            for k, (p, g) in enumerate(zip(params, grads)):
                if k == 2 and not optimize_bone:
                    continue
                first[k] = 0.5 * first[k] + 0.5 * g
                second[k] = 0.5 * second[k] + 0.5 * g * g
                m_hat = first[k] / (1 - 0.5**t)
                v_hat = second[k] / (1 - 0.5**t)
                params[k] = p - 0.03 * m_hat / (v_hat.sqrt() + 1e-8)
        so3, beta, _ = params
        with torch.no_grad():
            out = mano(so3[None], beta[None])
        length = (out.joints[0, 0] - out.joints[0, 9]).norm()
        verts_out.append(out.verts[0] / length * bone_in[i] + root[i])
        joints_out.append(out.joints[0] / length * bone_in[i] + root[i])
        so3_out.append(so3)
        beta_out.append(beta)
    return {
        "verts_3d": torch.stack(verts_out),
        "joints_3d": torch.stack(joints_out),
        "so3": torch.stack(so3_out),
        "beta": torch.stack(beta_out),
        "so3_init": so3_init,
    }
