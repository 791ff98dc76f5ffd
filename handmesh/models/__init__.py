"""Registered models (``MODELS``): ``forward(batch) -> preds``, ``compute_loss(preds, batch)``."""

from handmesh.models.base import HandModel
from handmesh.models.handoccnet import HandOccNet
from handmesh.models.integral_pose import IntegralPose
from handmesh.models.precise_bn import PreciseBN, recompute_bn_statistics

__all__ = ["HandModel", "HandOccNet", "IntegralPose", "PreciseBN", "recompute_bn_statistics"]
