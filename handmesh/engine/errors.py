"""The engine's error types, defined in ``handmesh.errors`` (re-exported here)."""

from __future__ import annotations

from handmesh.errors import CheckpointError, ExperimentError, HandmeshError, LaunchError

__all__ = ["CheckpointError", "ExperimentError", "HandmeshError", "LaunchError"]
