"""Registered models (``MODELS``): ``forward(batch) -> preds``, ``compute_loss(preds, batch)``."""

from handmesh.models.base import HandModel
from handmesh.models.handoccnet import HandOccNet
from handmesh.models.integral_pose import IntegralPose

__all__ = ["HandModel", "HandOccNet", "IntegralPose"]
