"""Evaluator under 2-process gloo DDP equals the single-process result on the full set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DistributedSampler

from handmesh.metrics import Evaluator

METRIC_NAMES = ("mpjpe", "pa_mpjpe", "pck_auc", "mpvpe", "pa_mpvpe", "f_score")
NUM_SAMPLES = 11  # odd: DistributedSampler pads rank 1 with a repeat of sample 0
WORLD_SIZE = 2
BATCH_SIZE = 2


def _dataset() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    shift = torch.tensor([0.0, 0.0, 0.5])
    joints = 0.05 * torch.randn(NUM_SAMPLES, 21, 3, generator=generator) + shift
    verts = 0.05 * torch.randn(NUM_SAMPLES, 40, 3, generator=generator) + shift
    return {
        "joints_3d": joints + 0.01 * torch.randn(joints.shape, generator=generator),
        "verts_3d": verts + 0.01 * torch.randn(verts.shape, generator=generator),
        "target_joints_3d": joints,
        "target_verts_3d": verts,
        "target_joints_vis": (torch.rand(NUM_SAMPLES, 21, generator=generator) > 0.1).float(),
        "sample_idx": torch.arange(NUM_SAMPLES),
    }


def _feed(evaluator: Evaluator, data: dict[str, torch.Tensor], indices: list[int]) -> None:
    for start in range(0, len(indices), BATCH_SIZE):
        index = torch.tensor(indices[start : start + BATCH_SIZE])
        preds = {k: data[k][index] for k in ("joints_3d", "verts_3d")}
        batch = {k: v[index] for k, v in data.items() if k not in preds}
        evaluator.update(preds, batch)


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE
    )
    try:
        sampler = DistributedSampler(
            range(NUM_SAMPLES), num_replicas=WORLD_SIZE, rank=rank, shuffle=False
        )
        evaluator = Evaluator(METRIC_NAMES)
        _feed(evaluator, _dataset(), list(sampler))
        results = evaluator.compute()
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results))
    finally:
        dist.destroy_process_group()


@pytest.mark.ddp
@pytest.mark.slow
def test_two_process_gloo_equals_single_process(tmp_path: Path) -> None:
    single = Evaluator(METRIC_NAMES)
    _feed(single, _dataset(), list(range(NUM_SAMPLES)))
    expected = single.compute()

    # the shards really overlap: 12 slots for 11 samples
    shards = [
        list(DistributedSampler(range(NUM_SAMPLES), WORLD_SIZE, r, shuffle=False)) for r in range(2)
    ]
    assert sum(len(s) for s in shards) == NUM_SAMPLES + 1

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    for rank in range(WORLD_SIZE):
        results = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert results["num_samples"] == NUM_SAMPLES
        assert results.keys() == expected.keys()
        for key, value in expected.items():
            assert results[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
