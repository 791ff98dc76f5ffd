"""``Evaluator``: accumulate per-sample metric records over a test set and reduce them exactly.

Usage::

    evaluator = Evaluator(("mpjpe", "pa_mpjpe", "pck_auc", "mpvpe", "pa_mpvpe", "f_score"))
    for batch in loader:
        evaluator.update(model(batch), batch)
    results = evaluator.compute()   # {"mpjpe": mm, ..., "f5": .., "f15": .., "num_samples": n}
    print(evaluator.summary(results))

Records are keyed by ``batch["sample_idx"]``. ``compute`` gathers every rank's records when
``torch.distributed`` is initialised (every rank must call it and gets the same result), keeps one
record per sample index (``DistributedSampler`` repeats samples to pad the last batches), sorts
by index and only then reduces, so N processes give the single-process numbers.

Design: each metric is a small class registered in ``METRICS`` under its name (see
``handmesh.metrics.hand_metrics``); the Evaluator is a plain class built from a list of those
names or instances (``Evaluator.from_config`` also takes OakInk-HMR's ``MODEL.METRIC`` list).
``exporters`` (``handmesh.metrics.protocol``) record like metrics and write files from the
gathered, sorted set: ``evaluator.export(out_dir)`` after ``compute()``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from handmesh.metrics.config import metrics_from_config
from handmesh.metrics.distributed import gather_records, unique_sorted
from handmesh.metrics.metric import Metric
from handmesh.metrics.protocol import Exporter
from handmesh.registry import METRICS

__all__ = ["DEFAULT_METRICS", "Evaluator"]

DEFAULT_METRICS: tuple[str, ...] = ("mpjpe", "pa_mpjpe", "pck_auc")

_RATIO_KEY = re.compile(r"pck_auc|f[0-9.]+")  # reported in [0, 1]; every other value is in mm


class Evaluator:
    """Accumulates per-sample records of the chosen metrics; see the module docstring.

    Args:
        metrics: names registered in ``METRICS`` (``mpjpe``, ``pa_mpjpe``, ``pck_auc``, ``mpvpe``,
            ``pa_mpvpe``, ``f_score``) or ``Metric`` instances (e.g. ``PCKAUC(val_max=0.03)``).
    """

    def __init__(
        self, metrics: Sequence[str | Metric] = DEFAULT_METRICS, exporters: Sequence[Exporter] = ()
    ) -> None:
        if isinstance(metrics, str):
            metrics = (metrics,)
        self.metrics = [m if isinstance(m, Metric) else METRICS.get(m)() for m in metrics]
        self.exporters = list(exporters)
        names = [m.name for m in self.metrics] + [f"export:{e.name}" for e in self.exporters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Evaluator: metric(s) {duplicates} given more than once")
        if not self.metrics:
            raise ValueError("Evaluator: give at least one metric")
        self.reset()

    @classmethod
    def from_config(cls, entries: Any, where: str = "MODEL.METRIC") -> Evaluator:
        """Build from a metric list: names, ``{TYPE: name}`` nodes or OakInk-HMR entries."""
        return cls(metrics_from_config(entries, where))

    def reset(self) -> None:
        """Forget everything fed so far."""
        self._sample_idx: list[np.ndarray] = []
        self._records: dict[str, list[np.ndarray]] = {}
        self._gathered: tuple[np.ndarray, dict[str, np.ndarray]] | None = None

    def update(self, preds: Mapping[str, Any], batch: Mapping[str, Any]) -> None:
        """Record one batch. ``preds``/``batch`` hold the keys the metrics read (metres) and
        ``batch["sample_idx"]`` (B,) ints. Inputs may live on any device; records are CPU
        float64."""
        sample_idx = _sample_indices(batch)
        batch_records: dict[str, np.ndarray] = {}
        producers = [(m.name, m) for m in self.metrics]
        producers += [(f"export:{e.name}", e) for e in self.exporters]
        for name, producer in producers:  # all first: a failing one leaves the state unchanged
            for field, values in producer.records(preds, batch).items():
                if values.shape[0] != sample_idx.shape[0]:
                    raise ValueError(
                        f"Metric {name!r} produced {values.shape[0]} records for a batch of "
                        f"{sample_idx.shape[0]} samples (batch['sample_idx'])"
                    )
                batch_records[f"{name}/{field}"] = values
        for key, values in batch_records.items():
            self._records.setdefault(key, []).append(values)
        self._sample_idx.append(sample_idx)

    def compute(self) -> dict[str, float]:
        """Reported values (mm; ``pck_auc`` and ``f*`` in [0, 1]) plus ``num_samples``.

        A collective call under ``torch.distributed``: every rank must call it.
        """
        local_idx = np.concatenate(self._sample_idx) if self._sample_idx else np.zeros(0, np.int64)
        local = {key: np.concatenate(parts) for key, parts in self._records.items()}
        sample_idx, records = unique_sorted(*gather_records(local_idx, local))
        if sample_idx.size == 0:
            raise RuntimeError("Evaluator.compute(): no samples were fed (call update() first)")
        self._gathered = (sample_idx, records)
        results: dict[str, float] = {}
        for metric in self.metrics:
            prefix = f"{metric.name}/"
            own = {k[len(prefix) :]: v for k, v in records.items() if k.startswith(prefix)}
            results.update(metric.reduce(own))
        results["num_samples"] = int(sample_idx.size)
        return results

    def export(self, out_dir: Any) -> dict[str, str]:
        """Run every exporter on the set gathered by the last ``compute()`` (call on one rank);
        returns {label: path written}."""
        from pathlib import Path

        if not self.exporters:
            return {}
        if self._gathered is None:
            raise RuntimeError("Evaluator.export(): call compute() first")
        sample_idx, records = self._gathered
        written: dict[str, str] = {}
        for exporter in self.exporters:
            prefix = f"export:{exporter.name}/"
            own = {k[len(prefix) :]: v for k, v in records.items() if k.startswith(prefix)}
            written.update(exporter.export(sample_idx, own, Path(out_dir)))
        return written

    def summary(self, results: Mapping[str, float] | None = None) -> str:
        """A readable table of ``results`` (default: ``self.compute()``, a collective call)."""
        results = self.compute() if results is None else results
        width = max(len(key) for key in results)
        lines = [f"{'metric':<{width}}  {'value':>10}  unit", "-" * (width + 18)]
        for key, value in results.items():
            if key == "num_samples":
                lines.append(f"{key:<{width}}  {int(value):>10d}")
            elif _RATIO_KEY.fullmatch(key):
                lines.append(f"{key:<{width}}  {value:>10.4f}  [0, 1]")
            else:
                lines.append(f"{key:<{width}}  {value:>10.3f}  mm")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Evaluator({self.metrics})"


def _sample_indices(batch: Mapping[str, Any]) -> np.ndarray:
    if "sample_idx" not in batch:
        raise KeyError(
            "Evaluator.update: batch['sample_idx'] (B,) ints is required to count every sample "
            f"exactly once; batch has keys {sorted(batch)}"
        )
    value = batch["sample_idx"]
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    indices = np.asarray(value)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(
            f"Evaluator.update: batch['sample_idx'] must be a 1-D integer array, got dtype "
            f"{indices.dtype} and shape {indices.shape}"
        )
    return indices.astype(np.int64)
