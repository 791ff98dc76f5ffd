"""IKNet weight files: the official ``assets/postprocess/iknet.pt`` layout, read and written.

Layout (OakInk-HMR's ``CheckpointIO``): a dict whose ``"model"`` entry is the IKNet state dict
(``invk_layers.*``). Entries of that state dict whose key contains ``"mano_layer"`` are dropped
before the strict load, as the original does (a layout adapter registered for ``IKNet`` with
``handmesh.checkpoint``, the one loader); other top-level entries are metadata and ignored
(``python -m train.train_iknet`` writes a ``"training"`` entry saying which MANO model it used).
Files are read with ``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import torch

from handmesh.checkpoint import load_state_dict, read_checkpoint, state_dict_adapter
from handmesh.errors import CheckpointError
from handmesh.iknet.network import IKNet
from handmesh.io.atomic import atomic_torch_save

__all__ = [
    "DEFAULT_IKNET_PATH",
    "MANO_LAYER_KEY",
    "MODEL_KEY",
    "TRAINING_KEY",
    "iknet_state_dict",
    "load_iknet",
    "save_iknet",
]

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_IKNET_PATH = Path("assets/postprocess/iknet.pt")
"""Where the original looks for the weights (relative to the working directory)."""

MODEL_KEY = "model"
MANO_LAYER_KEY = "mano_layer"
TRAINING_KEY = "training"

OFFICIAL_SOURCE = (
    "the official IKNet weights are assets/postprocess/iknet.pt of the OakInk-HMR repository "
    "(https://github.com/oakink/OakInk-HMR): copy that file to assets/postprocess/iknet.pt "
    "(relative to the working directory), or train IKNet weights for the MANO model in use with "
    "`python -m train.train_iknet` (it writes assets/postprocess/iknet.pt)"
)


@state_dict_adapter(IKNet)
def _drop_mano_layer(entries: dict[str, torch.Tensor], module: IKNet) -> dict[str, torch.Tensor]:
    """OakInk-HMR drops every entry whose key contains ``mano_layer`` before its strict load."""
    return {k: v for k, v in entries.items() if MANO_LAYER_KEY not in k}


def iknet_state_dict(checkpoint: Any, source: str) -> dict[str, torch.Tensor]:
    """The IKNet state dict inside a loaded ``iknet.pt`` (its ``"model"`` entry).

    Raises:
        CheckpointError: the object is not ``{"model": state_dict, ...}``.
    """
    state = checkpoint.get(MODEL_KEY) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        found = (
            sorted(map(str, checkpoint))
            if isinstance(checkpoint, Mapping)
            else [type(checkpoint).__name__]
        )
        raise CheckpointError(
            f"{source}: not an IKNet weight file; expected a dict with the IKNet state dict "
            f"under {MODEL_KEY!r} (the layout of OakInk-HMR's assets/postprocess/iknet.pt), "
            f"found {found[:10]}"
        )
    return dict(state)


def load_iknet(path: PathLike | None = None, map_location: str | torch.device = "cpu") -> IKNet:
    """Build IKNet, load ``path`` strictly and return it in eval mode.

    Args:
        path: an ``iknet.pt`` file; None means ``assets/postprocess/iknet.pt``
            (relative to the working directory, where the original looks).
        map_location: device the weights are loaded onto.

    Raises:
        CheckpointError: the file is missing (the message says where the official file comes
            from and how to train one), unreadable, not in the official layout, or its keys or
            shapes do not match IKNet.
    """
    file = Path(DEFAULT_IKNET_PATH if path is None else path).expanduser()
    if not file.is_file():
        raise CheckpointError(f"IKNet weights not found: {file}; {OFFICIAL_SOURCE}.")
    state = iknet_state_dict(read_checkpoint(file), str(file))
    net = IKNet()
    load_state_dict(net, state, source=f"IKNet weights {file}", mode="strict")
    return net.to(map_location).eval()


def save_iknet(
    net: IKNet, path: PathLike, training: Mapping[str, str | int | float] | None = None
) -> Path:
    """Write ``{"model": state_dict}`` (plus the ``"training"`` metadata) atomically to ``path``."""
    payload: dict[str, Any] = {
        MODEL_KEY: {k: v.detach().cpu() for k, v in net.state_dict().items()}
    }
    if training is not None:
        payload[TRAINING_KEY] = dict(training)
    file = Path(path)
    atomic_torch_save(payload, file)
    return file
