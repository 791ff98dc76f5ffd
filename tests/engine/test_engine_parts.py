# ruff: noqa: NPY002  (the legacy global numpy RNG is what the RNG-state test is about)
"""Engine parts: optimiser/scheduler/clipping, RNG capture, launch settings, experiment layout."""

from __future__ import annotations

import math
import os
import random
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DistributedSampler

from handmesh.engine.build import per_process_batch, train_batches_per_process
from handmesh.engine.dist import DistContext, parameters_identical_across_ranks
from handmesh.engine.errors import ExperimentError, HandmeshError, LaunchError
from handmesh.engine.experiment import ExperimentDir, timestamp
from handmesh.engine.launch import LaunchSettings, parse_gpu_ids, world_size_of
from handmesh.engine.optim import build_optimizer, build_scheduler, clip_gradients
from handmesh.engine.seeding import capture_rng_state, restore_rng_state
from handmesh.engine.tester import default_test_exp_id
from handmesh.io import atomic


def _params_with_grads() -> list[nn.Parameter]:
    a = nn.Parameter(torch.zeros(2))
    b = nn.Parameter(torch.zeros(3))
    a.grad = torch.tensor([3.0, 4.0])  # norm 5
    b.grad = torch.tensor([0.0, 0.0, 12.0])  # norm 12
    return [a, b]


def test_global_clipping_scales_all_gradients_together() -> None:
    a, b = _params_with_grads()
    clip_gradients([a, b], max_norm=1.0, norm_type=2, mode="global")
    scale = 1.0 / 13.0  # total norm sqrt(25 + 144) = 13
    assert a.grad.tolist() == pytest.approx([3 * scale, 4 * scale], rel=1e-5)
    assert b.grad.tolist() == pytest.approx([0, 0, 12 * scale], rel=1e-5)


def test_per_tensor_clipping_scales_each_tensor_alone() -> None:
    a, b = _params_with_grads()
    clip_gradients([a, b], max_norm=1.0, norm_type=2, mode="per_tensor")
    assert a.grad.tolist() == pytest.approx([0.6, 0.8], rel=1e-5)
    assert b.grad.tolist() == pytest.approx([0, 0, 1.0], rel=1e-5)
    with pytest.raises(HandmeshError, match="GRAD_CLIP.MODE 'tensor'"):
        clip_gradients([a, b], 1.0, 2, "tensor")


def _lrs(scheduler_name: str, epochs: int = 6) -> list[float]:
    param = nn.Parameter(torch.zeros(1))
    train = {
        "OPTIMIZER": "adam",
        "LR": 1.0,
        "SCHEDULER": scheduler_name,
        "LR_DECAY_STEP": [2, 4],
        "LR_DECAY_GAMMA": 0.5,
        "EPOCH": epochs,
    }
    optimizer = build_optimizer([param], train)
    scheduler = build_scheduler(optimizer, train)
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_schedulers_follow_their_formulas() -> None:
    assert _lrs("MultiStepLR") == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25])
    assert _lrs("StepLR") == _lrs("MultiStepLR")  # OakInk's alias
    cosine = [0.5 * (1 + math.cos(math.pi * e / 6)) for e in range(6)]
    assert _lrs("CosineAnnealingLR") == pytest.approx(cosine)
    with pytest.raises(HandmeshError, match="TRAIN.SCHEDULER 'Poly'"):
        _lrs("Poly")


def test_optimizers() -> None:
    param = nn.Parameter(torch.zeros(1))
    sgd = build_optimizer([param], {"OPTIMIZER": "SGD", "LR": 0.1, "MOMENTUM": 0.9})
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9
    assert isinstance(build_optimizer([param], {"OPTIMIZER": "adam", "LR": 0.1}), torch.optim.Adam)
    with pytest.raises(HandmeshError, match="TRAIN.OPTIMIZER 'RMSprop'"):
        build_optimizer([param], {"OPTIMIZER": "RMSprop", "LR": 0.1})


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached gaussian in the legacy numpy state
    path = tmp_path / "random_state.pth"
    torch.save(capture_rng_state(), path)
    expected = (random.random(), np.random.standard_normal(), np.random.rand(), torch.rand(3))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    restore_rng_state(torch.load(path, weights_only=True))
    got = (random.random(), np.random.standard_normal(), np.random.rand(), torch.rand(3))
    assert got[:3] == expected[:3]
    assert torch.equal(got[3], expected[3])


def test_per_process_batch() -> None:
    assert per_process_batch(256, 4) == 64
    with pytest.raises(HandmeshError, match="TRAIN.BATCH_SIZE 6 .* multiple of 4"):
        per_process_batch(6, 4)


def test_cuda_rng_state_is_the_current_device_only(monkeypatch) -> None:
    """Captured only where CUDA is in use; restored onto the current device (fake CUDA here)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    assert "torch_cuda" not in capture_rng_state()  # a CPU run never touches CUDA
    device_state = torch.arange(16, dtype=torch.uint8)
    restored: list[torch.Tensor] = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device="cuda": device_state.clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device="cuda": restored.append(s))
    state = capture_rng_state()
    assert torch.equal(state["torch_cuda"], device_state)
    restore_rng_state(state)
    assert len(restored) == 1 and torch.equal(restored[0], device_state)


def test_train_batches_per_process_counts_what_the_sampler_yields() -> None:
    for samples, world, batch in [(16, 1, 4), (17, 2, 4), (7, 2, 4), (8, 2, 4), (100, 3, 8)]:
        sampler = DistributedSampler(range(samples), num_replicas=world, rank=world - 1)
        expected = len(list(sampler)) // batch
        if expected == 0:
            with pytest.raises(HandmeshError, match=f"DATASET.TRAIN has {samples} samples"):
                train_batches_per_process(samples, batch, world)
        else:
            assert train_batches_per_process(samples, batch, world) == expected


def test_recover_dir_tolerates_a_concurrent_recovery(tmp_path, monkeypatch) -> None:
    dst = tmp_path / "checkpoint"
    old = tmp_path / "checkpoint.old"
    old.mkdir()
    (old / "model.pth.tar").write_text("weights")
    real_replace = os.replace

    def another_rank_wins(src, target) -> None:  # the move happens, but not by us
        real_replace(src, target)
        raise FileNotFoundError(src)

    monkeypatch.setattr(atomic.os, "replace", another_rank_wins)
    assert atomic.recover_dir(dst) == dst
    assert (dst / "model.pth.tar").read_text() == "weights" and not old.exists()


def test_launch_settings(monkeypatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # _plan sets it for --gpu_id
    assert parse_gpu_ids("0,1, 3") == (0, 1, 3)
    assert parse_gpu_ids(None) is None
    with pytest.raises(LaunchError, match="--gpu_id 'a,b'"):
        parse_gpu_ids("a,b")
    assert world_size_of(LaunchSettings(device="cpu", nproc=3)) == 3
    assert world_size_of(LaunchSettings(device="cpu", nproc=2, nodes=2, master_port="1234")) == 4
    with pytest.raises(LaunchError, match="--nproc 0"):
        world_size_of(LaunchSettings(device="cpu", nproc=0))
    with pytest.raises(LaunchError, match="explicit port"):
        world_size_of(LaunchSettings(device="cpu", nodes=2))
    with pytest.raises(LaunchError, match="node_rank 2"):
        world_size_of(LaunchSettings(device="cpu", nodes=2, node_rank=2, master_port="1"))
    if not torch.cuda.is_available():  # GPUs asked for on a machine without any
        with pytest.raises(LaunchError, match="--gpu_id 0,1 was given but CUDA is not available"):
            world_size_of(LaunchSettings(gpu_ids=(0, 1)))
    for port in ("http", "0", "70000"):
        with pytest.raises(LaunchError, match=f"--dist_master_port '{port}'"):
            world_size_of(LaunchSettings(device="cpu", nproc=2, master_port=port))


def test_single_process_context_needs_no_process_group() -> None:
    ctx = DistContext()
    assert ctx.is_main and not ctx.is_distributed
    assert ctx.all_gather_object({"a": 1}) == [{"a": 1}]
    assert ctx.broadcast_object(5) == 5
    assert ctx.all_reduce_mean({"loss": 2.0}) == {"loss": 2.0}
    assert parameters_identical_across_ranks(nn.Linear(2, 2), ctx)
    ctx.barrier()


class _TwoRanksOtherHasExtraKey(DistContext):
    """Rank 0 of a fake 2-rank world whose rank 1 logged one more loss term."""

    def all_gather_object(self, obj):
        return [obj, [*obj, "extra_loss"]]


def test_all_reduce_mean_fails_on_every_rank_when_keys_differ() -> None:
    ctx = _TwoRanksOtherHasExtraKey(rank=0, world_size=2)
    with pytest.raises(RuntimeError, match=r"rank 1 \['final_loss', 'extra_loss'\]"):
        ctx.all_reduce_mean({"final_loss": 1.0})  # raises before any all_reduce is issued


def test_experiment_layout(tmp_path) -> None:
    stamp = timestamp(0)
    assert re.fullmatch(r"\d{4}_\d{4}_\d{4}_\d{2}", stamp)
    exp = ExperimentDir.create(tmp_path, "run", stamp)
    assert exp.root == tmp_path / f"run_{stamp}"
    for sub in ("runs", "evaluations", "checkpoints"):
        assert (exp.root / sub).is_dir()
    assert exp.checkpoint_dir(20) == exp.root / "checkpoints" / "checkpoint_20"
    exp.append_evaluation("val", 5, {"mpjpe": 1.5})
    exp.append_evaluation("val", 10, {"mpjpe": 1.0})
    text = (exp.root / "evaluations" / "val_eval.txt").read_text()
    assert text.index("Epoch 5 evaluator msg:") < text.index("Epoch 10 evaluator msg:")
    with pytest.raises(ExperimentError, match="no dump_cfg.yaml"):
        ExperimentDir.open_existing(exp.root)
    (exp.root / "dump_cfg.yaml").write_text("{}")
    with pytest.raises(ExperimentError, match="no complete checkpoint"):
        ExperimentDir.open_existing(exp.root).latest_checkpoint_dir()


def test_default_test_exp_id() -> None:
    path = "exp/oakink_h_sp0_integral_pose_2022_1020_1542_45/checkpoints/checkpoint_100/IntegralPose.pth.tar"
    assert default_test_exp_id(path) == "eval_oakink_h_sp0_integral_pose_2022_1020_1542_45_ckp100"
    assert default_test_exp_id("/a/b/IntegralPose.pth.tar") == "eval_IntegralPose"
    assert default_test_exp_id(None) == "eval"


def test_loader_workers_are_capped_at_the_available_cpus() -> None:
    from handmesh.engine.build import build_loader

    available = len(os.sched_getaffinity(0))
    ctx = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    dataset = list(range(10))
    many = build_loader(dataset, ctx, batch_size=2, train=False, workers=available + 5, seed=0)
    few = build_loader(dataset, ctx, batch_size=2, train=False, workers=0, seed=0)
    assert many.num_workers == available
    assert few.num_workers == 0
