"""Build models, datasets and data loaders from a full config."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from handmesh.engine.checkpoint import load_checkpoint
from handmesh.engine.dist import DistContext
from handmesh.engine.errors import HandmeshError
from handmesh.engine.log import get_logger
from handmesh.engine.seeding import loader_generator, worker_init_fn
from handmesh.registry import DATASETS, MODELS, build

logger = get_logger()

SPLITS = ("TRAIN", "TEST")


def build_model(cfg: Mapping[str, Any], checkpoint: str | os.PathLike | None = None) -> nn.Module:
    """``cfg.MODEL`` built from the MODELS registry, with weights loaded strictly from
    ``checkpoint`` or else ``MODEL.PRETRAINED`` (a checkpoint path; "" or null: none)."""
    import handmesh.models  # noqa: F401  (registers the models)

    model = build(cfg["MODEL"], MODELS, data_preset=cfg.get("DATA_PRESET"))
    source = checkpoint or cfg["MODEL"].get("PRETRAINED") or None
    if source:
        load_checkpoint(model, source)
    return model


def build_dataset(cfg: Mapping[str, Any], split: str) -> Dataset:
    """``cfg.DATASET.{split}`` (split "TRAIN" or "TEST") from the DATASETS registry."""
    import handmesh.data.datasets  # noqa: F401  (registers the datasets)

    if split not in SPLITS:
        raise ValueError(f"split {split!r}: expected one of {SPLITS}")
    node = cfg.get("DATASET", {}).get(split)
    if not node or "TYPE" not in node:
        raise HandmeshError(
            f"The config has no DATASET.{split}.TYPE: which dataset should be used?"
        )
    return build(node, DATASETS, data_preset=cfg.get("DATA_PRESET"))


def _collate() -> Any:
    from handmesh.data.collate import collate

    return collate


def build_loader(
    dataset: Dataset,
    ctx: DistContext,
    batch_size: int,
    train: bool,
    workers: int,
    seed: int,
) -> DataLoader:
    """A loader over this rank's share of ``dataset``.

    Training: shuffled ``DistributedSampler`` (same ``seed`` on every rank; call
    ``loader.sampler.set_epoch``), incomplete last batch dropped. Evaluation: dataset order,
    nothing dropped (the sampler pads with repeats; the Evaluator de-duplicates by sample_idx).
    The loader's generator fixes worker seeds; reseed it per epoch with :func:`reseed_loader`.
    ``workers`` is capped at the CPUs this process may use.
    """
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if available and workers > available:
        # more workers than cores only costs memory (samples do not depend on the worker count)
        logger.info(
            "DataLoader workers: %d requested, %d CPUs available: using %d",
            workers,
            available,
            available,
        )
        workers = available
    sampler: DistributedSampler = DistributedSampler(
        dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=train, seed=seed
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=_collate(),
        drop_last=train,
        pin_memory=ctx.device.type == "cuda",
        worker_init_fn=worker_init_fn,
        generator=loader_generator(seed, ctx.rank, 0),
    )


def reseed_loader(loader: DataLoader, seed: int, rank: int, epoch: int) -> None:
    """Make epoch ``epoch`` of ``loader`` independent of what ran before (exact resume)."""
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)
    loader.generator = loader_generator(seed, rank, epoch)
    set_epoch = getattr(loader.dataset, "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch)


def per_process_batch(total: int, world_size: int, what: str = "TRAIN.BATCH_SIZE") -> int:
    """``total // world_size``; an error unless it divides evenly and is positive."""
    if total < world_size or total % world_size:
        raise HandmeshError(
            f"{what} {total} is the total batch over {world_size} processes and must be a "
            f"positive multiple of {world_size}"
        )
    return total // world_size


def train_batches_per_process(num_samples: int, batch_size: int, world_size: int) -> int:
    """Full training batches per process and epoch; an error when there are none.

    The sampler gives every process ``ceil(num_samples / world_size)`` samples and the incomplete
    last batch is dropped, so a training set smaller than one per-process batch trains nothing.
    """
    batches = -(-num_samples // world_size) // batch_size
    if batches == 0:
        raise HandmeshError(
            f"DATASET.TRAIN has {num_samples} samples: fewer than one batch of {batch_size} per "
            f"process ({world_size} process(es)); lower TRAIN.BATCH_SIZE or use more samples"
        )
    return batches


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors of ``batch`` moved to ``device``; other values kept."""
    non_blocking = device.type == "cuda"
    return {
        key: value.to(device, non_blocking=non_blocking) if torch.is_tensor(value) else value
        for key, value in batch.items()
    }
