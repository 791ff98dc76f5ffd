"""Loss terms, registered in ``LOSSES``; each returns ``(weighted loss, {term: value})``."""

from handmesh.losses.uvd import UVDLoss

__all__ = ["UVDLoss"]
