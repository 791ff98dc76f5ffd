"""``DistContext``: who this process is (rank, world size, device), passed around explicitly.

A single process is ``world_size == 1`` with no process group; every collective helper here is
then a no-op, so the trainer and tester have one code path for 1 CPU process, N CPU processes
(gloo), N GPUs (nccl) and multi-node ``torchrun``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.is_distributed:
            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def all_gather_object(self, obj: Any) -> list[Any]:
        """``obj`` from every rank, in rank order (``[obj]`` in a single process)."""
        if not self.is_distributed:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def broadcast_object(self, obj: Any, src: int = 0) -> Any:
        """Rank ``src``'s ``obj`` on every rank."""
        if not self.is_distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=src)
        return box[0]

    def all_reduce_mean(self, values: dict[str, float]) -> dict[str, float]:
        """Average a dict of floats over ranks; ranks with different keys fail together (a
        mismatched all_reduce would hang or mix values)."""
        if not self.is_distributed:
            return dict(values)
        keys = sorted(values)
        every_rank = self.all_gather_object(keys)
        if any(other != keys for other in every_rank):
            raise RuntimeError(
                "all_reduce_mean: the ranks report different keys: "
                + "; ".join(f"rank {rank} {other}" for rank, other in enumerate(every_rank))
            )
        if not keys:
            return {}
        tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
        tensor = tensor.to(self.device)
        dist.all_reduce(tensor)
        tensor /= self.world_size
        return dict(zip(keys, tensor.cpu().tolist()))


def broadcast_buffers(module: torch.nn.Module, ctx: DistContext, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (e.g. BatchNorm running statistics) to every rank.

    DDP syncs buffers at the start of each forward, so after the last training step every rank
    holds its own statistics; this makes the ranks identical before evaluating or saving.
    """
    if not ctx.is_distributed:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer.data, src=src)


def parameters_identical_across_ranks(module: torch.nn.Module, ctx: DistContext) -> bool:
    """Whether every parameter and buffer of ``module`` is bit-identical on all ranks."""
    if not ctx.is_distributed:
        return True
    tensors = [t.detach().reshape(-1).double() for t in module.state_dict().values()]
    flat = torch.cat(tensors) if tensors else torch.zeros(0, dtype=torch.float64)
    flat = flat.to(ctx.device)
    gathered = [torch.empty_like(flat) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, flat)
    return all(torch.equal(gathered[0], other) for other in gathered[1:])
