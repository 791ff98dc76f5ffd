"""Registered models (``MODELS``): ``forward(batch) -> preds``, ``compute_loss(preds, batch)``."""

from handmesh.models.base import HandModel
from handmesh.models.deephandmesh import DeepHandMesh
from handmesh.models.handoccnet import HandOccNet
from handmesh.models.i2l_meshnet import I2L_MeshNet
from handmesh.models.integral_pose import IntegralPose
from handmesh.models.precise_bn import PreciseBN, recompute_bn_statistics
from handmesh.models.regress_flow import RegressFlow3D

__all__ = [
    "DeepHandMesh",
    "HandModel",
    "HandOccNet",
    "I2L_MeshNet",
    "IntegralPose",
    "PreciseBN",
    "RegressFlow3D",
    "recompute_bn_statistics",
]
