"""Metrics from a config's metric list: our names, or OakInk-HMR's ``MODEL.METRIC`` entries.

Accepted entries (a list, or one node):

* a metric name (``"mpjpe"``) or a node ``{TYPE: mpjpe, ...}`` for any name in ``METRICS``;
* OakInk-HMR's published entries, mapped so its configs load unchanged:
  ``MeanEPE`` / ``MeanEPE2`` -> ``mpjpe`` (``PRED_KEY: joints_3d``) or ``mpvpe`` (``verts_3d``);
  ``Hand3DPCK`` (``EVAL_TYPE: joints_3d``) -> ``pck_auc`` with its VAL_MIN / VAL_MAX / STEPS
  (a missing EVAL_TYPE means ``joints_3d`` here; OakInk's own default, ``joints_3d_rel``, reads a
  prediction key no OakInk model writes and is not supported);
  ``PAEval`` -> ``mpjpe`` + ``pa_mpjpe`` (+ ``mpvpe`` + ``pa_mpvpe`` when ``MESH_SCORE``);
  ``LossMetric`` and ``*_Vis_Metric`` are skipped: the engine logs losses, ``viz`` draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handmesh.metrics.hand_metrics import PCKAUC
from handmesh.metrics.metric import Metric
from handmesh.registry import METRICS, ConfigKeyError, build, check_keys

__all__ = ["metrics_from_config"]

_OAKINK_POINT_KEYS = {"joints_3d": "mpjpe", "verts_3d": "mpvpe"}


def metrics_from_config(entries: Any, where: str = "MODEL.METRIC") -> list[Metric]:
    """Build the metrics of a config entry list (see the module docstring), without duplicates."""
    if isinstance(entries, (str, Mapping)):
        entries = [entries]
    if not isinstance(entries, Sequence):
        raise ConfigKeyError(f"{where} must be a list of metric names or nodes, got {entries!r}")
    metrics: dict[str, Metric] = {}
    for position, entry in enumerate(entries):
        for metric in _entry_metrics(entry, f"{where}[{position}]"):
            metrics.setdefault(metric.name, metric)
    return list(metrics.values())


def _entry_metrics(entry: Any, where: str) -> list[Metric]:
    if isinstance(entry, str):
        return [METRICS.get(entry)()]
    if not isinstance(entry, Mapping) or "TYPE" not in entry:
        raise ConfigKeyError(f"{where} must be a metric name or a node with TYPE, got {entry!r}")
    kind = entry["TYPE"]
    if kind in METRICS:
        return [build(entry, METRICS)]
    if kind == "LossMetric" or kind.endswith("_Vis_Metric"):
        return []
    if kind in ("MeanEPE", "MeanEPE2"):
        check_keys(entry, ("TYPE", "NAME", "PRED_KEY", "GT_KEY"), where=where)
        pred_key = entry.get("PRED_KEY", entry.get("NAME"))
        if pred_key not in _OAKINK_POINT_KEYS:
            raise ConfigKeyError(
                f"{where}.PRED_KEY: {kind} is supported for {sorted(_OAKINK_POINT_KEYS)}, "
                f"got {pred_key!r}"
            )
        return [METRICS.get(_OAKINK_POINT_KEYS[pred_key])()]
    if kind == "Hand3DPCK":
        check_keys(entry, ("TYPE", "EVAL_TYPE", "VAL_MIN", "VAL_MAX", "STEPS"), where=where)
        if entry.get("EVAL_TYPE", "joints_3d") != "joints_3d":
            raise ConfigKeyError(
                f"{where}.EVAL_TYPE: only 'joints_3d' (camera-space joints) is supported, got "
                f"{entry['EVAL_TYPE']!r}"
            )
        return [PCKAUC.from_config({k: v for k, v in entry.items() if k != "EVAL_TYPE"})]
    if kind == "PAEval":
        check_keys(entry, ("TYPE", "MESH_SCORE"), where=where)
        names = ["mpjpe", "pa_mpjpe"]
        if entry.get("MESH_SCORE", False):
            names += ["mpvpe", "pa_mpvpe"]
        return [METRICS.get(name)() for name in names]
    raise ConfigKeyError(
        f"{where}.TYPE: unknown metric {kind!r}. Registered: {', '.join(METRICS.names())}; "
        f"OakInk-HMR entries: MeanEPE, MeanEPE2, Hand3DPCK, PAEval, LossMetric, *_Vis_Metric."
    )
