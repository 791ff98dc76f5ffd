"""Loss terms, registered in ``LOSSES``; each returns ``(weighted loss, {term: value})``."""

from handmesh.losses.handoccnet import HandOccNetLoss
from handmesh.losses.i2l import I2LMeshNetLoss
from handmesh.losses.rle import RLELoss
from handmesh.losses.uvd import UVDLoss

__all__ = ["HandOccNetLoss", "I2LMeshNetLoss", "RLELoss", "UVDLoss"]
