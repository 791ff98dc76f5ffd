"""handmesh: 3D hand pose and hand mesh recovery from single RGB images.

``import handmesh`` registers every dataset, backbone, head, model, loss and metric in the
registries below (and does nothing else: no file is read until a part is built).
"""

from handmesh import (  # noqa: F401  (registration)
    backbones,
    data,
    heads,
    losses,
    metrics,
    models,
    postprocess,
)
from handmesh.api import load_model
from handmesh.registry import (
    BACKBONES,
    DATASETS,
    HEADS,
    LOSSES,
    METRICS,
    MODELS,
    POSTPROCESS,
    TRAIN_HOOKS,
    build,
)

__version__ = "0.1.0"

__all__ = [
    "BACKBONES",
    "DATASETS",
    "HEADS",
    "LOSSES",
    "METRICS",
    "MODELS",
    "POSTPROCESS",
    "TRAIN_HOOKS",
    "__version__",
    "build",
    "load_model",
]
