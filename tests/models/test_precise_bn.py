"""PreciseBN: BatchNorm statistics set to the population statistics of the training batches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from handmesh.errors import ConfigError
from handmesh.models.precise_bn import PreciseBN, recompute_bn_statistics
from handmesh.registry import TRAIN_HOOKS, build


def _net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1), nn.BatchNorm2d(2)
    )


def test_statistics_are_the_population_moments() -> None:
    torch.manual_seed(0)
    net = _net()
    batches = [torch.randn(2, 3, 1 + 2, 1 + 2) * 3 + 1 for _ in range(3)]  # 1x1 maps after conv
    assert recompute_bn_statistics(net.eval(), batches) == 3
    assert not net.training
    first = torch.cat([net[0](b) for b in batches])  # what the first BatchNorm saw
    mean = first.mean(dim=(0, 2, 3))
    var = ((first - mean[None, :, None, None]) ** 2).mean(dim=(0, 2, 3))  # biased
    assert torch.allclose(net[1].running_mean, mean, atol=1e-6)
    assert torch.allclose(net[1].running_var, var, atol=1e-5)


def test_a_memorised_batch_evaluates_as_it_trained() -> None:
    torch.manual_seed(1)
    net = _net()
    batch = torch.randn(2, 3, 3, 3)
    train_out = net.train()(batch)  # batch statistics (N = 2 per channel at the 1x1 maps)
    net.eval()
    assert not torch.allclose(net(batch), train_out, atol=1e-3)  # running statistics lag
    recompute_bn_statistics(net, [batch])
    assert torch.allclose(net(batch), train_out, atol=1e-4)


def test_hook_config() -> None:
    hook = build({"TYPE": "PreciseBN", "NUM_BATCHES": 3}, TRAIN_HOOKS)
    assert isinstance(hook, PreciseBN) and hook.num_batches == 3
    with pytest.raises(ConfigError, match="num_batches must be >= 1"):
        build({"TYPE": "PreciseBN", "NUM_BATCHES": 0}, TRAIN_HOOKS)


def _rank(rank: int, init_file: str, out_dir: str) -> None:
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=2
    )
    try:
        torch.manual_seed(0)  # the same weights on both ranks
        net = _net()
        torch.manual_seed(10 + rank)  # different batches
        batch = torch.randn(2, 3, 3, 3) * (1 + rank) + rank
        recompute_bn_statistics(net, [batch])
        torch.save({"batch": batch, "state": net.state_dict()}, f"{out_dir}/rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.ddp
def test_two_ranks_share_the_population_statistics(tmp_path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_rank, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for key, value in results[0]["state"].items():
        assert torch.equal(value, results[1]["state"][key]), key  # equal replicas
    torch.manual_seed(0)
    net = _net()
    both = torch.cat([net[0](r["batch"]) for r in results])  # the first BatchNorm's inputs
    mean = both.mean(dim=(0, 2, 3))
    var = ((both - mean[None, :, None, None]) ** 2).mean(dim=(0, 2, 3))
    assert torch.allclose(results[0]["state"]["1.running_mean"], mean.detach(), atol=1e-6)
    assert torch.allclose(results[0]["state"]["1.running_var"], var.detach(), atol=1e-5)
