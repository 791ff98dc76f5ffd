"""handmesh: 3D hand pose and hand mesh recovery from single RGB images."""

from handmesh.registry import BACKBONES, DATASETS, HEADS, LOSSES, METRICS, MODELS, build

__version__ = "0.1.0"

__all__ = ["BACKBONES", "DATASETS", "HEADS", "LOSSES", "METRICS", "MODELS", "__version__", "build"]
