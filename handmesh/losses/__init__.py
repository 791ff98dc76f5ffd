"""Loss terms, registered in ``LOSSES``; each returns ``(weighted loss, {term: value})``."""

from handmesh.losses.handoccnet import HandOccNetLoss
from handmesh.losses.uvd import UVDLoss

__all__ = ["HandOccNetLoss", "UVDLoss"]
