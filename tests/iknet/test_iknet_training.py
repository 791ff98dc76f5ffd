"""IKNet training: the loss, exact resumption, and the CLI lowering the IK error (slow)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import mano64

from handmesh.errors import CheckpointError
from handmesh.iknet import IKNet, load_iknet, normalize_joints
from handmesh.iknet.training import IKNetTrainConfig, PoseSampler, quaternion_loss, train_iknet
from handmesh.mano import MANO

REPO = Path(__file__).resolve().parents[2]


def test_quaternion_loss_ignores_the_sign_of_each_quaternion() -> None:
    target = torch.nn.functional.normalize(torch.randn(4, 16, 4), dim=-1)
    flipped = target * torch.where(torch.rand(4, 16, 1) < 0.5, -1.0, 1.0)
    assert quaternion_loss(flipped, target).item() == pytest.approx(0.0, abs=1e-12)
    other = torch.nn.functional.normalize(torch.randn(4, 16, 4), dim=-1)
    dot = (other * target).sum(-1).abs()
    assert quaternion_loss(other, target).item() == pytest.approx(
        (2 - 2 * dot).mean().item(), rel=1e-5
    )


def test_sampled_joints_are_the_mano_joints_of_the_sampled_pose() -> None:
    mano = MANO(flat_hand_mean=True, allow_synthetic=True)
    sampler = PoseSampler(mano, pool_size=16, seed=0)
    so3, betas = sampler.sample(6, torch.Generator().manual_seed(1), pose_jitter=0.1)
    torch.testing.assert_close(
        sampler.joints(so3, betas), mano(so3, betas).joints, atol=1e-6, rtol=0
    )


def test_interrupted_training_resumes_exactly(tmp_path: Path) -> None:
    mano = MANO(flat_hand_mean=True, allow_synthetic=True)
    config = IKNetTrainConfig(steps=6, batch_size=8, pool_size=32, save_every=2)
    straight, _ = train_iknet(mano, tmp_path / "a.pt", config)

    def stop_after_3(step: int, steps: int, info: dict[str, float]) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_iknet(mano, tmp_path / "b.pt", config, progress=stop_after_3)
    assert (tmp_path / "b.pt.state.pt").is_file() and not (tmp_path / "b.pt").exists()
    with pytest.raises(CheckpointError, match=r"--resume: .* was written with other settings"):
        train_iknet(mano, tmp_path / "b.pt", IKNetTrainConfig(steps=7, batch_size=8,
                    pool_size=32, save_every=2), resume=True)  # fmt: skip
    resumed, _ = train_iknet(mano, tmp_path / "b.pt", config, resume=True)
    for key, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key
    assert not (tmp_path / "b.pt.state.pt").exists()
    assert set(torch.load(tmp_path / "b.pt", weights_only=True)) == {"model", "training"}


def ik_error_mm(net: torch.nn.Module, so3: torch.Tensor, betas: torch.Tensor) -> float:
    """Independent check with the MANO layer: MANO(IKNet(joints)) vs the joints, centred."""
    mano = mano64()
    truth = mano(so3, betas).joints
    with torch.no_grad():
        pred = net.double()(normalize_joints(truth).joints)["so3"]
    return 1000 * (mano(pred, betas).joints - truth).norm(dim=-1).mean().item()


@pytest.mark.slow
def test_train_iknet_cli_lowers_the_ik_error_on_held_out_poses(tmp_path: Path) -> None:
    out = tmp_path / "iknet.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "train.train_iknet", "--allow_synthetic", "--steps", "200",
         "--batch_size", "32", "--pool_size", "1024", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "SYNTHETIC" in done.stdout
    reported = re.search(r"([\d.]+) mm untrained -> ([\d.]+) mm trained", done.stdout)
    assert reported is not None, done.stdout
    assert float(reported.group(2)) < 0.7 * float(reported.group(1))
    trained = load_iknet(out)
    held_out = PoseSampler(MANO(flat_hand_mean=True, allow_synthetic=True), pool_size=64, seed=99)
    so3, betas = held_out.sample(64, torch.Generator().manual_seed(5), pose_jitter=0.0)
    torch.manual_seed(0)  # the CLI's initial weights (--seed 0)
    untrained = IKNet().eval()
    assert ik_error_mm(trained, so3.double(), betas.double()) < 0.7 * ik_error_mm(
        untrained, so3.double(), betas.double()
    )
