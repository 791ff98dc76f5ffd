"""Build models (construct, then initialise), datasets, evaluators and data loaders from a full
config (DESIGN §8)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sized
from typing import Any, cast

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from handmesh.checkpoint import initialize_model
from handmesh.engine.dist import DistContext
from handmesh.engine.log import get_logger
from handmesh.engine.seeding import loader_generator, worker_init_fn
from handmesh.errors import ConfigKeyError, LaunchError
from handmesh.registry import DATASETS, MODELS, build

logger = get_logger()

SPLITS = ("TRAIN", "TEST")


def build_model(
    cfg: Mapping[str, Any],
    checkpoint: str | os.PathLike | None = None,
    initialize: bool = True,
) -> nn.Module:
    """``cfg.MODEL`` constructed from the MODELS registry (no weights read), then initialised
    from one source (``handmesh.checkpoint.initialize_model``): ``checkpoint`` if given, else
    ``MODEL.PRETRAINED``, else the parts' own pretrained weights. ``initialize=False`` returns the
    constructed model (the caller initialises it, e.g. from a ``--resume`` checkpoint)."""
    import handmesh  # noqa: F401  (registers every part)

    model = build(cfg["MODEL"], MODELS, where="MODEL", data_preset=cfg.get("DATA_PRESET"))
    if initialize:
        source = initialize_model(model, checkpoint, cfg["MODEL"])
        logger.info("%s weights: %s", type(model).__name__, source)
    return model


def build_evaluator(
    cfg: Mapping[str, Any], model: nn.Module, dataset: Dataset | None = None, train: bool = False
) -> Any:
    """The Evaluator of a test (or, with ``train``, of the training batches): metrics chosen by
    ``handmesh.metrics.select_metrics`` and, for a test, the dataset protocol's exporters."""
    from handmesh.checkpoint import unwrap_model
    from handmesh.metrics import EvalProtocol, Evaluator, select_metrics

    net = unwrap_model(model)
    protocol_fn = getattr(dataset, "eval_protocol", None)
    protocol = protocol_fn() if callable(protocol_fn) else EvalProtocol()
    defaults = getattr(net, "TRAIN_METRICS" if train else "DEFAULT_METRICS", ("mpjpe",))
    metrics, source = select_metrics(cfg, defaults, protocol.metrics, train=train)
    logger.info(
        "%s metrics (%s): %s",
        "train" if train else "test",
        source,
        ", ".join(m.name for m in metrics),
    )
    return Evaluator(metrics, exporters=() if train else protocol.exporters)


def build_dataset(cfg: Mapping[str, Any], split: str) -> Dataset:
    """``cfg.DATASET.{split}`` (split "TRAIN" or "TEST") from the DATASETS registry."""
    import handmesh.data.datasets  # noqa: F401  (registers the datasets)

    if split not in SPLITS:
        raise ValueError(f"split {split!r}: expected one of {SPLITS}")
    node = cfg.get("DATASET", {}).get(split)
    if not node or "TYPE" not in node:
        raise ConfigKeyError(
            f"The config has no DATASET.{split}.TYPE: which dataset should be used?"
        )
    return build(node, DATASETS, where=f"DATASET.{split}", data_preset=cfg.get("DATA_PRESET"))


def _collate() -> Any:
    from handmesh.data.collate import collate

    return collate


def _usable_workers(workers: int) -> int:
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if available and workers > available:
        # more workers than cores only costs memory (samples do not depend on the worker count)
        logger.info(
            "DataLoader workers: %d requested, %d CPUs available: using %d",
            workers,
            available,
            available,
        )
        return available
    return workers


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
    ``loader.sampler.set_epoch``), incomplete last batch dropped. Evaluation: see
    :func:`build_eval_loader`. The loader's generator fixes worker seeds; reseed it per epoch
    with :func:`reseed_loader`. ``workers`` is capped at the CPUs this process may use.
    """
    if not train:
        return build_eval_loader(dataset, ctx, batch_size, workers, seed)
    sampler: DistributedSampler = DistributedSampler(
        dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=_usable_workers(workers),
        collate_fn=_collate(),
        drop_last=True,
        pin_memory=ctx.device.type == "cuda",
        worker_init_fn=worker_init_fn,
        generator=loader_generator(seed, ctx.rank, 0),
    )


class ShardedBatchSampler(Sampler[list[int]]):
    """The batches of a single-process evaluation (dataset order, ``batch_size`` samples each,
    the last one smaller) dealt round-robin: rank r gets batches r, r + W, r + 2W, ...

    So every batch has the same composition on any number of processes (what a batch-dependent
    postprocess step such as OakInk's HandTailor fit needs to match the original), every sample is
    seen exactly once, and nothing is padded.
    """

    def __init__(self, num_samples: int, batch_size: int, rank: int, world_size: int) -> None:
        if batch_size < 1:
            raise LaunchError(f"evaluation batch size must be >= 1, got {batch_size}")
        self.num_samples, self.batch_size = int(num_samples), int(batch_size)
        self.rank, self.world_size = int(rank), int(world_size)

    def _batch_ids(self) -> range:
        count = -(-self.num_samples // self.batch_size)
        return range(self.rank, count, self.world_size)

    def __iter__(self) -> Iterator[list[int]]:
        for b in self._batch_ids():
            start = b * self.batch_size
            yield list(range(start, min(start + self.batch_size, self.num_samples)))

    def __len__(self) -> int:
        return len(self._batch_ids())


def build_eval_loader(
    dataset: Dataset, ctx: DistContext, batch_size: int, workers: int, seed: int
) -> DataLoader:
    """An evaluation loader: whole batches of ``batch_size`` in dataset order, dealt round-robin
    over the ranks (:class:`ShardedBatchSampler`)."""
    sampler = ShardedBatchSampler(len(cast(Sized, dataset)), batch_size, ctx.rank, ctx.world_size)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=_usable_workers(workers),
        collate_fn=_collate(),
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
        raise LaunchError(
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
        raise LaunchError(
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
