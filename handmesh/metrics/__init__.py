"""Hand pose / mesh metrics and the distributed-exact ``Evaluator``.

Importing this package registers the metrics ``mpjpe``, ``pa_mpjpe``, ``pck_auc``, ``mpvpe``,
``pa_mpvpe``, ``f_score``, ``pa_mpjpe_umeyama``, ``pa_mpvpe_umeyama`` and ``server_side`` in
``handmesh.registry.METRICS``.
"""

from handmesh.metrics.config import metrics_from_config, select_metrics
from handmesh.metrics.evaluator import DEFAULT_METRICS, Evaluator
from handmesh.metrics.functional import (
    DEFAULT_FSCORE_THRESHOLDS,
    DEFAULT_PCK_THRESHOLDS,
    f_score,
    f_scores,
    mean_point_error,
    pa_point_errors,
    pck_auc,
    pck_curve,
    point_errors,
    trapezoid,
)
from handmesh.metrics.hand_metrics import MPJPE, MPVPE, PAMPJPE, PAMPVPE, PCKAUC, FScore
from handmesh.metrics.metric import Metric
from handmesh.metrics.protocol import EvalProtocol, Exporter
from handmesh.metrics.server_side import ServerSide
from handmesh.metrics.umeyama import PAMPJPEUmeyama, PAMPVPEUmeyama

__all__ = [
    "DEFAULT_FSCORE_THRESHOLDS",
    "DEFAULT_METRICS",
    "DEFAULT_PCK_THRESHOLDS",
    "MPJPE",
    "MPVPE",
    "PAMPJPE",
    "PAMPJPEUmeyama",
    "PAMPVPE",
    "PAMPVPEUmeyama",
    "PCKAUC",
    "EvalProtocol",
    "Evaluator",
    "Exporter",
    "FScore",
    "Metric",
    "ServerSide",
    "f_score",
    "f_scores",
    "mean_point_error",
    "metrics_from_config",
    "pa_point_errors",
    "pck_auc",
    "pck_curve",
    "point_errors",
    "select_metrics",
    "trapezoid",
]
