"""A dataset's evaluation protocol: its own metric set and exporters (e.g. a submission file).

A dataset may define ``eval_protocol() -> EvalProtocol``; the engine then uses its ``metrics``
when the config names none, and runs its ``exporters`` after every test. An exporter records
per-sample values like a metric (so the Evaluator gathers them exactly under DDP: every sample
once, in dataset order) and writes files from the whole set at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from handmesh.metrics.metric import Metric

__all__ = ["EvalProtocol", "Exporter"]


class Exporter:
    """Base class: ``records`` per batch (like ``Metric.records``), ``export`` once at the end."""

    name: ClassVar[str] = ""

    def records(self, preds: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Per-sample values of one batch: ``{field: (B, ...) array}``."""
        raise NotImplementedError

    def export(
        self, sample_idx: np.ndarray, records: Mapping[str, np.ndarray], out_dir: Path
    ) -> dict[str, str]:
        """Write files from every sample's records (sorted by ``sample_idx``, each sample once)
        into ``out_dir``; returns {label: path written}."""
        raise NotImplementedError


@dataclass(frozen=True)
class EvalProtocol:
    """What a dataset adds to its evaluation.

    Attributes:
        metrics: the dataset's metric set (names or instances), used when the config names none
            (e.g. DexYCB's Umeyama-aligned PA metrics); None: the model's defaults.
        exporters: run after every test on this dataset (e.g. the HO3D submission writer).
    """

    metrics: Sequence[str | Metric] | None = None
    exporters: Sequence[Exporter] = ()
