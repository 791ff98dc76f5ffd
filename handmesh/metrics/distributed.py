"""Exact gathering of per-sample records across ``torch.distributed`` ranks."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch.distributed as dist

__all__ = ["gather_records", "unique_sorted"]

Records = dict[str, np.ndarray]


def gather_records(
    sample_idx: np.ndarray, records: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, Records]:
    """Concatenate every rank's ``(sample_idx, records)`` in rank order (identity without DDP).

    Ranks that recorded nothing are skipped. Uses ``all_gather_object``, so every rank gets the
    full set; it works on gloo and on nccl (there the current CUDA device must be set, as the
    engine does). Every rank must call it.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return sample_idx, dict(records)
    gathered: list[tuple[np.ndarray, Records] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, (sample_idx, dict(records)))
    parts = {rank: part for rank, part in enumerate(gathered) if part is not None and len(part[0])}
    if not parts:
        return sample_idx[:0], {}
    first_rank, (_, first_records) = next(iter(parts.items()))
    fields = first_records.keys()
    for rank, (_, rank_records) in parts.items():
        if rank_records.keys() != fields:
            raise RuntimeError(
                f"Evaluator ranks disagree on the recorded fields: rank {first_rank} has "
                f"{sorted(fields)}, rank {rank} has {sorted(rank_records)} (were they built with "
                "the same metrics?)"
            )
    all_idx = np.concatenate([idx for idx, _ in parts.values()])
    return all_idx, {f: np.concatenate([r[f] for _, r in parts.values()]) for f in fields}


def unique_sorted(
    sample_idx: np.ndarray, records: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, Records]:
    """Keep the first occurrence of every sample index and sort by it.

    ``DistributedSampler`` pads the last batches by repeating samples; a repeated index is counted
    once, so the result does not depend on the number of processes.
    """
    unique_idx, first = np.unique(sample_idx, return_index=True)
    return unique_idx, {field: values[first] for field, values in records.items()}
