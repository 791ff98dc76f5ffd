"""Batching samples: ``torch.utils.data.default_collate`` semantics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.utils.data import default_collate

__all__ = ["collate"]


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack a list of sample dicts into a batch dict.

    Tensors and numpy arrays are stacked along a new first axis, numbers become 1-D tensors and
    strings become lists (``default_collate``). All samples must have the same keys.
    """
    if len(samples) == 0:
        raise ValueError("collate: got an empty list of samples")
    keys = set(samples[0])
    for position, sample in enumerate(samples[1:], start=1):
        if set(sample) != keys:
            diff = sorted(keys.symmetric_difference(sample))
            raise KeyError(f"collate: sample {position} has different keys from sample 0: {diff}")
    return default_collate(list(samples))
