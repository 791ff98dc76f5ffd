"""Seeds and RNG state capture, so a resumed run continues the uninterrupted one exactly.

The legacy global numpy RNG is seeded and saved on purpose (NPY002 silenced): code outside the
library (and older augmentation code) draws from it.

RNG states are stored as plain tensors / lists / ints (no pickled classes), loadable with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int, deterministic_conv: bool = True) -> None:
    """Seed python, numpy and torch (CPU and CUDA); optionally make cuDNN deterministic."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002
    torch.manual_seed(seed)
    if deterministic_conv:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def worker_init_fn(worker_id: int) -> None:
    """DataLoader worker set-up: python and numpy follow the worker's torch seed, and the worker
    dies with its process (``die_with_parent``)."""
    from handmesh.engine.process import die_with_parent

    die_with_parent()
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002


def loader_generator(seed: int, rank: int, epoch: int) -> torch.Generator:
    """A generator fixing the DataLoader's worker seeds for (seed, rank, epoch), nothing else."""
    generator = torch.Generator()
    generator.manual_seed(seed * 1_000_003 + rank * 10_007 + epoch)
    return generator


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as tensors and ints.

    The CUDA state is that of the current device only (each process owns one GPU), and only when
    CUDA is in use here: a CPU process never initialises CUDA, and a resume may see other GPUs.
    """
    version, py_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)  # noqa: NPY002
    state: dict[str, Any] = {
        "python_version": version,
        "python_state": torch.tensor(py_state, dtype=torch.int64),
        "python_gauss": gauss,
        "numpy_name": np_name,
        "numpy_keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
        "numpy_pos": int(np_pos),
        "numpy_has_gauss": int(np_has_gauss),
        "numpy_gauss": float(np_gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["torch_cuda"] = torch.cuda.get_rng_state()  # this process's own (current) device
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    random.setstate(
        (state["python_version"], tuple(state["python_state"].tolist()), state["python_gauss"])
    )
    np.random.set_state(  # noqa: NPY002
        (
            state["numpy_name"],
            state["numpy_keys"].numpy().astype(np.uint32),
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_gauss"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["torch_cuda"])
