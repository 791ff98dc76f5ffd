"""``server_side``: the metric of a split without local ground truth (HO-3D's evaluation split).

Its numbers come from the benchmark server, from the file the dataset's exporter writes (the HO-3D
CodaLab ``pred.zip``); locally the evaluation reports only ``num_samples``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from handmesh.metrics.metric import Metric
from handmesh.registry import METRICS

__all__ = ["ServerSide"]


@METRICS.register("server_side")
class ServerSide(Metric):
    """Records and reports nothing: the split is scored by its benchmark server."""

    name = "server_side"

    def records(self, preds: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return {}

    def reduce(self, records: Mapping[str, np.ndarray]) -> dict[str, float]:
        return {}
