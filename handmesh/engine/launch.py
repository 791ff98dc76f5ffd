"""Process launch: one process per listed GPU, N CPU processes, or whatever ``torchrun`` started.

``launch(worker, settings, *args)`` calls ``worker(ctx, *args)`` in every process with a
:class:`DistContext`:

- under ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` set) it spawns nothing and joins the
  process group from the environment; the device is ``cuda:LOCAL_RANK`` (never the global rank,
  so multi-node works);
- with ``gpu_ids`` (``--gpu_id 0,1``) it sets ``CUDA_VISIBLE_DEVICES`` and spawns one process per
  listed GPU (backend nccl), device ``cuda:local_rank``; with CUDA but no ``gpu_ids``, ``nproc``
  processes on GPUs 0..nproc-1;
- on CPU (no CUDA or ``device="cpu"``) it spawns ``nproc`` processes (backend gloo); ``gpu_ids``
  without CUDA is an error unless ``device="cpu"`` says CPU is meant;
- one process in total runs ``worker`` in the calling process, with no process group.

``--nodes/--node_rank`` give ``world_size = procs_per_node * nodes`` and
``rank = procs_per_node * node_rank + local_rank``, as in OakInk-HMR.

Every rank dies with its launcher (``handmesh.engine.process.die_with_parent``); when one rank
fails, ``torch.multiprocessing.spawn`` ends the others. A ``HandmeshError`` raised in a spawned
rank is re-raised in the launcher with its message, so the CLI prints it as one line.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from handmesh.engine.dist import DistContext
from handmesh.engine.process import die_with_parent
from handmesh.errors import HandmeshError, LaunchError

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
PROCESS_GROUP_TIMEOUT = timedelta(minutes=30)
BACKENDS = ("gloo", "nccl", "mpi")
RANK_FAILED = 2  # exit code of a spawned rank that raised a HandmeshError


@dataclass(frozen=True)
class LaunchSettings:
    """How many processes on which devices; mirrors the published CLI flags."""

    device: str = "auto"  # "auto" | "cpu" | "cuda"
    gpu_ids: tuple[int, ...] | None = None
    nproc: int = 1
    nodes: int = 1
    node_rank: int = 0
    master_addr: str = "localhost"
    master_port: str = "auto"
    backend: str | None = None  # None: nccl on CUDA, gloo on CPU


def parse_gpu_ids(text: str | None) -> tuple[int, ...] | None:
    """``"0,1,3"`` -> ``(0, 1, 3)``; None or "" -> None."""
    if text is None or str(text).strip() == "":
        return None
    try:
        return tuple(int(part) for part in str(text).split(",") if part.strip() != "")
    except ValueError:
        raise LaunchError(
            f"--gpu_id {text!r}: expected comma-separated integers like 0,1,2"
        ) from None


def free_port() -> int:
    """A TCP port that was free a moment ago on this machine."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def under_torchrun() -> bool:
    return all(key in os.environ for key in TORCHRUN_ENV)


@dataclass(frozen=True)
class _Plan:
    use_cuda: bool
    procs_per_node: int
    nodes: int
    node_rank: int
    backend: str

    @property
    def world_size(self) -> int:
        return self.procs_per_node * self.nodes


def _resolve_use_cuda(device: str) -> bool:
    if device not in ("auto", "cpu", "cuda"):
        raise LaunchError(f"--device {device!r}: expected one of auto, cpu, cuda")
    if device == "cpu":
        return False
    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        raise LaunchError("--device cuda was requested but CUDA is not available here")
    return available


def _plan(settings: LaunchSettings) -> _Plan:
    if settings.gpu_ids is not None and settings.device != "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in settings.gpu_ids)
    use_cuda = _resolve_use_cuda(settings.device)
    if settings.gpu_ids is not None and settings.device == "auto" and not use_cuda:
        raise LaunchError(
            f"--gpu_id {','.join(map(str, settings.gpu_ids))} was given but CUDA is not available "
            "here; for CPU processes use --device cpu --nproc N"
        )
    procs = len(settings.gpu_ids) if use_cuda and settings.gpu_ids is not None else settings.nproc
    if use_cuda and procs > torch.cuda.device_count():
        raise LaunchError(
            f"{procs} GPU processes requested (--gpu_id / --nproc) but only "
            f"{torch.cuda.device_count()} GPUs are visible"
        )
    if procs < 1:
        raise LaunchError(f"--nproc {procs}: expected at least 1 process")
    if settings.nodes < 1 or not 0 <= settings.node_rank < settings.nodes:
        raise LaunchError(
            f"--nodes {settings.nodes} --node_rank {settings.node_rank}: expected "
            "0 <= node_rank < nodes"
        )
    if settings.nodes > 1 and settings.master_port == "auto":
        raise LaunchError("--dist_master_port auto only works on one node; give an explicit port")
    if settings.master_port != "auto" and not _is_port(settings.master_port):
        raise LaunchError(
            f"--dist_master_port {settings.master_port!r}: expected a port number in "
            f"1..65535 or 'auto'"
        )
    backend = _check_backend(settings.backend or ("nccl" if use_cuda else "gloo"), use_cuda)
    return _Plan(use_cuda, procs, settings.nodes, settings.node_rank, backend)


def _check_backend(backend: str, use_cuda: bool) -> str:
    if backend not in BACKENDS:
        raise LaunchError(f"--dist_backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    available = {"gloo": dist.is_gloo_available, "nccl": dist.is_nccl_available}
    if backend in available and not available[backend]():
        raise LaunchError(f"--dist_backend {backend}: not available in this PyTorch build")
    if backend == "nccl" and not use_cuda:
        raise LaunchError("--dist_backend nccl needs CUDA; on CPU use gloo")
    return backend


def _is_port(text: str) -> bool:
    return text.isdigit() and 0 < int(text) < 65536


def _set_threads(procs_per_node: int) -> None:
    """Share the CPU cores between the processes of this node, unless the user chose."""
    if "OMP_NUM_THREADS" not in os.environ:
        threads = max(1, (os.cpu_count() or 1) // procs_per_node)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


def _device(use_cuda: bool, local_rank: int) -> torch.device:
    if use_cuda:
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _spawned_entry(
    local_rank: int, plan: _Plan, worker: Callable[..., Any], args: tuple, errors: Any
) -> None:
    die_with_parent()
    _set_threads(plan.procs_per_node)
    rank = plan.procs_per_node * plan.node_rank + local_rank
    device = _device(plan.use_cuda, local_rank)
    ctx = DistContext(rank, plan.world_size, local_rank, device)
    dist.init_process_group(
        plan.backend, rank=rank, world_size=plan.world_size, timeout=PROCESS_GROUP_TIMEOUT
    )
    try:
        worker(ctx, *args)
    except HandmeshError as error:  # bad input found in a rank: one message for the launcher
        errors.put((rank, type(error).__name__, str(error)))
        raise SystemExit(RANK_FAILED) from None
    finally:
        dist.destroy_process_group()


def _torchrun_entry(settings: LaunchSettings, worker: Callable[..., Any], args: tuple) -> None:
    die_with_parent()  # the torchrun agent
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    use_cuda = _resolve_use_cuda(settings.device)
    device = _device(use_cuda, local_rank)
    ctx = DistContext(rank, world_size, local_rank, device)
    if world_size == 1:
        worker(ctx, *args)
        return
    backend = _check_backend(settings.backend or ("nccl" if use_cuda else "gloo"), use_cuda)
    dist.init_process_group(backend, timeout=PROCESS_GROUP_TIMEOUT)
    try:
        worker(ctx, *args)
    finally:
        dist.destroy_process_group()


def world_size_of(settings: LaunchSettings) -> int:
    """The number of processes ``launch`` would run in total (checks the settings)."""
    if under_torchrun():
        return int(os.environ["WORLD_SIZE"])
    return _plan(settings).world_size


def launch(worker: Callable[..., Any], settings: LaunchSettings, *args: Any) -> None:
    """Run ``worker(ctx, *args)`` in every process described by ``settings`` (see module doc).

    ``worker`` and ``args`` must be picklable when processes are spawned (a module-level function).
    """
    if under_torchrun():
        _torchrun_entry(settings, worker, args)
        return
    plan = _plan(settings)
    if plan.world_size == 1:
        worker(DistContext(0, 1, 0, _device(plan.use_cuda, 0)), *args)
        return
    port = free_port() if settings.master_port == "auto" else int(settings.master_port)
    os.environ["MASTER_ADDR"] = settings.master_addr
    os.environ["MASTER_PORT"] = str(port)
    errors = mp.get_context("spawn").SimpleQueue()
    try:
        mp.spawn(
            _spawned_entry,
            args=(plan, worker, args, errors),
            nprocs=plan.procs_per_node,
            join=True,
        )
    except mp.ProcessExitedException:
        if errors.empty():
            raise
        rank, kind, message = errors.get()
        raise _RankError(f"{message} (rank {rank}, {kind})") from None


class _RankError(HandmeshError):
    """A spawned rank stopped on bad input; the message is that rank's."""


__all__ = ["LaunchSettings", "launch", "parse_gpu_ids", "world_size_of", "free_port"]
