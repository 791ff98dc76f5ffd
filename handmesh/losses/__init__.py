"""Loss terms, registered in ``LOSSES``; each returns ``(weighted loss, {term: value})``."""

from handmesh.losses.i2l import I2LMeshNetLoss
from handmesh.losses.rle import RLELoss
from handmesh.losses.uvd import UVDLoss

__all__ = ["I2LMeshNetLoss", "RLELoss", "UVDLoss"]
