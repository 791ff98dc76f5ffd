"""The interface every metric usable by the ``Evaluator`` implements.

A metric turns one batch into per-sample *records* (numpy float64 arrays whose first dim is the
batch) and reduces the records of the whole, de-duplicated, sorted test set to reported floats.
Keeping per-sample records (not running sums) is what lets the Evaluator drop the samples that
``DistributedSampler`` repeats and give the same numbers on any number of processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch

__all__ = ["Metric", "fetch_points"]


class Metric:
    """Base class: subclasses set ``name`` (their METRICS registry name) and implement both
    methods."""

    name: ClassVar[str] = ""

    def records(self, preds: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Per-sample values of one batch: ``{field: (B, ...) float64 array}`` (metres)."""
        raise NotImplementedError

    def reduce(self, records: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Reported values (millimetres, or [0, 1] for ratios) from all samples' records."""
        raise NotImplementedError

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = ()  # node keys besides TYPE (none: no options)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor arguments from a ``{TYPE: name, ...}`` node (none by default)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def fetch_points(source: Mapping[str, Any], key: str, where: str, metric: str) -> torch.Tensor:
    """``source[key]`` as a detached CPU float64 tensor of shape (B, N, 3), with a clear error.

    ``where`` names the dict in messages (``"preds"`` or ``"batch"``).
    """
    if key not in source:
        raise KeyError(
            f"Metric {metric!r} needs {where}[{key!r}] (B, N, 3) metres; {where} has keys "
            f"{sorted(source)}"
        )
    value = source[key]
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"Metric {metric!r}: {where}[{key!r}] must be a tensor, got {type(value)}")
    if value.dim() != 3 or value.shape[-1] != 3:
        raise ValueError(
            f"Metric {metric!r}: {where}[{key!r}] must have shape (B, N, 3), got "
            f"{tuple(value.shape)}"
        )
    return value.detach().to(device="cpu", dtype=torch.float64)
