"""Train IKNet on random MANO poses (when the official ``iknet.pt`` is not at hand).

Each batch: natural finger articulations (``handmesh.data.datasets.synthetic_pose``, whose bending
axes come from the hand model's own rest skeleton, so they fit the real MANO and the built-in
synthetic hand alike) from a fixed pool, jittered per joint, with a uniformly random global
rotation and random shape; the MANO joints (``handmesh.iknet.kinematics``) are normalised as the
fit normalises its input (:func:`handmesh.iknet.network.normalize_joints`), with Gaussian noise
standing in for prediction errors. The loss is the sign-invariant squared distance between the
predicted and the true unit quaternions of the 16 joints (w-first, flat hand = identity).

Batches depend only on (seed, step), so a run resumed from its state file continues exactly.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor

from handmesh.checkpoint import read_checkpoint
from handmesh.data.datasets.synthetic_pose import HandAxes, sample_articulation
from handmesh.errors import ArgumentError, CheckpointError
from handmesh.geometry.rotations import (
    axis_angle_to_quaternion_wxyz,
    matrix_to_axis_angle,
    quaternion_xyzw_to_matrix,
)
from handmesh.iknet.kinematics import ManoKinematics
from handmesh.iknet.network import IKNet, normalize_joints
from handmesh.io.atomic import atomic_torch_save
from handmesh.mano.constants import NUM_MANO_JOINTS
from handmesh.mano.layer import MANO

__all__ = ["IKNetTrainConfig", "PoseSampler", "ik_error_mm", "quaternion_loss", "train_iknet"]

PathLike = Union[str, "os.PathLike[str]"]
BETA_CLIP = 2.5
HELD_OUT_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class IKNetTrainConfig:
    """IKNet training settings (``python -m train.train_iknet`` flags of the same names)."""

    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    pool_size: int = 16384
    pose_jitter: float = 0.1  # radians, per joint and axis-angle component
    joint_noise: float = 0.02  # in units of the bone |j0 - j9| (about 2 mm)
    save_every: int = 500

    def check(self) -> None:
        positive = {"steps": self.steps, "batch_size": self.batch_size, "pool_size": self.pool_size,
                    "save_every": self.save_every}  # fmt: skip
        for name, value in positive.items():
            if value < 1:
                raise ArgumentError(f"IKNet training: {name} must be >= 1, got {value}")
        if self.lr <= 0 or self.pose_jitter < 0 or self.joint_noise < 0:
            raise ArgumentError(
                f"IKNet training: need lr > 0, pose_jitter >= 0, joint_noise >= 0; got lr="
                f"{self.lr}, pose_jitter={self.pose_jitter}, joint_noise={self.joint_noise}"
            )


class PoseSampler:
    """Random MANO poses, shapes and the resulting normalised joints (see the module doc).

    Args:
        mano: the right-hand MANO layer (``flat_hand_mean=True``).
        pool_size: number of natural articulations drawn once from ``seed``.
        seed: seed of the pool.
    """

    def __init__(self, mano: MANO, pool_size: int, seed: int) -> None:
        self.kinematics = ManoKinematics(mano)
        with torch.no_grad():
            rest = mano(torch.zeros(1, 3 * NUM_MANO_JOINTS, dtype=mano.v_template.dtype))
        axes = HandAxes(rest.joints[0].double().numpy())
        rng = np.random.default_rng(seed)
        pool = np.stack([sample_articulation(rng, axes) for _ in range(pool_size)])
        self.pool = torch.from_numpy(pool.reshape(pool_size, -1)).float()

    def sample(
        self, batch_size: int, generator: torch.Generator, pose_jitter: float
    ) -> tuple[Tensor, Tensor]:
        """(B, 48) axis-angle poses (random global rotation) and (B, 10) betas."""
        index = torch.randint(len(self.pool), (batch_size,), generator=generator)
        pose = self.pool[index] + pose_jitter * torch.randn(batch_size, 48, generator=generator)
        quat = torch.randn(batch_size, 4, generator=generator)
        pose[:, :3] = matrix_to_axis_angle(quaternion_xyzw_to_matrix(quat))
        betas = torch.randn(batch_size, 10, generator=generator).clamp(-BETA_CLIP, BETA_CLIP)
        return pose, betas

    @torch.no_grad()
    def joints(self, so3: Tensor, betas: Tensor) -> Tensor:
        """(B, 21, 3) canonical MANO joints (metres, MANO frame) of native (B, 48) poses."""
        kin = self.kinematics
        points = kin(kin.pose_from_so3(so3.to(kin.dtype)), betas.T.to(kin.dtype))
        return kin.canonical_from_points(points)


def quaternion_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean over joints of ``min(|p - q|^2, |p + q|^2)`` for (B, 16, 4) unit quaternions."""
    minus = (pred - target).square().sum(-1)
    plus = (pred + target).square().sum(-1)
    return torch.minimum(minus, plus).mean()


@torch.no_grad()
def ik_error_mm(net: IKNet, sampler: PoseSampler, so3: Tensor, betas: Tensor) -> float:
    """Mean joint error (mm, centred on joint 9) of MANO(IKNet(joints)) with the true shape."""
    truth = sampler.joints(so3, betas)
    was_training = net.training
    net.eval()
    param = next(net.parameters())
    pred = net(normalize_joints(truth).joints.to(param))["so3"].to(truth)
    net.train(was_training)
    posed = sampler.joints(pred, betas)
    centre = 9
    error = (posed - posed[:, centre : centre + 1]) - (truth - truth[:, centre : centre + 1])
    return float(error.norm(dim=-1).mean()) * 1000.0


def _step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(
        int(np.random.SeedSequence([seed, step]).generate_state(1)[0])
    )


def train_iknet(
    mano: MANO,
    out: PathLike,
    config: IKNetTrainConfig = IKNetTrainConfig(),
    device: str | torch.device = "cpu",
    resume: bool = False,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> tuple[IKNet, dict[str, float]]:
    """Train IKNet for ``config.steps`` steps; write ``out`` (official layout) at the end.

    A state file ``out`` + ``.state.pt`` is written every ``save_every`` steps; ``resume=True``
    continues from it. ``progress(step, steps, info)`` is called after every step.

    Returns the trained IKNet (eval mode) and {"ik_error_mm_before", "ik_error_mm_after"} on a
    held-out set of poses.
    """
    from handmesh.iknet.weights import save_iknet

    config.check()
    out = Path(out)
    state_file = out.with_name(out.name + ".state.pt")
    sampler = PoseSampler(mano, config.pool_size, config.seed)
    held_out = PoseSampler(mano, 512, config.seed + HELD_OUT_SEED_OFFSET)
    held_pose, held_betas = held_out.sample(
        512, _step_generator(config.seed + HELD_OUT_SEED_OFFSET, 0), 0.0
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = IKNet().to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps)
    start, before = 0, ik_error_mm(net, sampler, held_pose, held_betas)
    if resume:
        start, before = _load_state(state_file, net, optimizer, scheduler, config)

    net.train()
    for step in range(start, config.steps):
        generator = _step_generator(config.seed, step)
        so3, betas = sampler.sample(config.batch_size, generator, config.pose_jitter)
        joints = normalize_joints(sampler.joints(so3, betas)).joints
        joints = joints + config.joint_noise * torch.randn(joints.shape, generator=generator)
        target = axis_angle_to_quaternion_wxyz(so3.view(-1, NUM_MANO_JOINTS, 3))
        loss = quaternion_loss(net.quaternions(joints.to(device)), target.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        done = step + 1
        if done % config.save_every == 0 and done < config.steps:
            _save_state(state_file, net, optimizer, scheduler, config, done, before)
        if progress is not None:
            progress(done, config.steps, {"loss": loss.item()})

    after = ik_error_mm(net, sampler, held_pose, held_betas)
    training: dict[str, str | int | float] = {
        "mano_source": str(mano.source), "steps": config.steps, "seed": config.seed,
        "ik_error_mm": after,
    }  # fmt: skip
    save_iknet(net, out, training=training)
    if state_file.exists():
        state_file.unlink()
    return net.eval(), {"ik_error_mm_before": before, "ik_error_mm_after": after}


def _save_state(
    path: Path, net: IKNet, optimizer: torch.optim.Optimizer, scheduler: Any,
    config: IKNetTrainConfig, step: int, before: float,
) -> None:  # fmt: skip
    atomic_torch_save(
        {
            "model": net.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "config": dataclasses.asdict(config),
            "step": step,
            "ik_error_mm_before": before,
        },
        path,
    )


def _load_state(
    path: Path, net: IKNet, optimizer: torch.optim.Optimizer, scheduler: Any,
    config: IKNetTrainConfig,
) -> tuple[int, float]:  # fmt: skip
    if not path.is_file():
        raise CheckpointError(f"--resume: no IKNet training state at {path}")
    state = read_checkpoint(path)
    saved = state.get("config") if isinstance(state, dict) else None
    if saved != dataclasses.asdict(config):
        raise CheckpointError(
            f"--resume: {path} was written with other settings ({saved}); run with the same "
            f"flags ({dataclasses.asdict(config)}) or without --resume"
        )
    net.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["step"]), float(state["ik_error_mm_before"])
