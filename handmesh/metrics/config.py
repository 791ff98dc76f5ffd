"""Metrics from a config's metric list: our names, or OakInk-HMR's ``MODEL.METRIC`` entries.

Accepted entries (a list, or one node):

* a metric name (``"mpjpe"``) or a node ``{TYPE: mpjpe, ...}`` for any name in ``METRICS``;
* OakInk-HMR's published entries, mapped so its configs load unchanged and select exactly what
  they name: ``MeanEPE`` / ``MeanEPE2`` -> ``mpjpe`` (``PRED_KEY: joints_3d``) or ``mpvpe``
  (``verts_3d``); ``Hand3DPCK`` (``EVAL_TYPE: joints_3d``) -> ``pck_auc`` with its VAL_MIN /
  VAL_MAX / STEPS (a missing EVAL_TYPE means ``joints_3d`` here; OakInk's own default,
  ``joints_3d_rel``, reads a prediction key no OakInk model writes and is not supported);
  ``PAEval`` -> ``mpjpe`` + ``pa_mpjpe`` (+ ``mpvpe`` + ``pa_mpvpe`` when ``MESH_SCORE``);
  ``LossMetric`` and ``*_Vis_Metric`` select no metric: the engine logs every loss term, and
  drawings are ``handmesh.viz``'s job.

``select_metrics`` picks the list an evaluation uses (DESIGN §8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handmesh.metrics.hand_metrics import PCKAUC
from handmesh.metrics.metric import Metric
from handmesh.registry import METRICS, ConfigKeyError, build, check_keys

__all__ = ["metrics_from_config", "select_metrics"]

_OAKINK_POINT_KEYS = {"joints_3d": "mpjpe", "verts_3d": "mpvpe"}
_OAKINK_ENTRIES = "MeanEPE, MeanEPE2, Hand3DPCK, PAEval, LossMetric, *_Vis_Metric"


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


def select_metrics(
    cfg: Mapping[str, Any],
    model_defaults: Sequence[str],
    dataset_metrics: Sequence[str | Metric] | None = None,
    train: bool = False,
) -> tuple[list[Metric], str]:
    """The metrics of an evaluation and where they came from (for the log).

    Test (``train=False``): ``TEST.METRIC`` if it names any, else ``MODEL.METRIC``, else the test
    dataset's protocol, else the model's ``DEFAULT_METRICS``. Training: ``TRAIN.METRIC``, else the
    model's ``TRAIN_METRICS``. A list that selects nothing (e.g. only ``LossMetric``) falls through
    to the next source.
    """
    sources: list[tuple[str, Any]] = (
        [("TRAIN.METRIC", (cfg.get("TRAIN") or {}).get("METRIC"))]
        if train
        else [
            ("TEST.METRIC", (cfg.get("TEST") or {}).get("METRIC")),
            ("MODEL.METRIC", (cfg.get("MODEL") or {}).get("METRIC")),
        ]
    )
    for where, entries in sources:
        if entries:
            metrics = metrics_from_config(entries, where)
            if metrics:
                return metrics, where
    if dataset_metrics and not train:
        return [_as_metric(m) for m in dataset_metrics], "the test dataset's protocol"
    return [_as_metric(m) for m in model_defaults], "the model's defaults"


def _as_metric(metric: str | Metric) -> Metric:
    return metric if isinstance(metric, Metric) else METRICS.get(metric)()


def _entry_metrics(entry: Any, where: str) -> list[Metric]:
    if isinstance(entry, str):
        try:
            return [METRICS.get(entry)()]
        except ConfigKeyError as err:
            raise ConfigKeyError(f"{where}: {err} OakInk-HMR entries: {_OAKINK_ENTRIES}.") from None
    if not isinstance(entry, Mapping) or "TYPE" not in entry:
        raise ConfigKeyError(f"{where} must be a metric name or a node with TYPE, got {entry!r}")
    kind = entry["TYPE"]
    if kind in METRICS:
        return [build(entry, METRICS, where=where)]
    if kind == "LossMetric" or str(kind).endswith("_Vis_Metric"):
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
        return [PCKAUC(**PCKAUC.from_config(entry))]
    if kind == "PAEval":
        check_keys(entry, ("TYPE", "MESH_SCORE"), where=where)
        names = ["mpjpe", "pa_mpjpe"]
        if entry.get("MESH_SCORE", False):
            names += ["mpvpe", "pa_mpvpe"]
        return [METRICS.get(name)() for name in names]
    raise ConfigKeyError(
        f"{where}.TYPE: unknown metric {kind!r}. Registered: {', '.join(METRICS.names())}; "
        f"OakInk-HMR entries: {_OAKINK_ENTRIES}."
    )
