"""Registered models (``MODELS``): ``forward(batch) -> preds``, ``compute_loss(preds, batch)``."""

from handmesh.models.base import HandModel
from handmesh.models.deephandmesh import DeepHandMesh
from handmesh.models.i2l_meshnet import I2L_MeshNet
from handmesh.models.integral_pose import IntegralPose
from handmesh.models.regress_flow import RegressFlow3D

__all__ = ["DeepHandMesh", "HandModel", "I2L_MeshNet", "IntegralPose", "RegressFlow3D"]
