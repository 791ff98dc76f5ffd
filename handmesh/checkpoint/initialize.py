"""The initialise phase: after a model is constructed, its weights come from exactly one source.

1. a checkpoint given by the caller (``load_model(..., checkpoint=)``, ``--reload`` at test time,
   ``--resume``), loaded strictly;
2. else ``MODEL.PRETRAINED`` (a checkpoint of the whole model), in ``MODEL.PRETRAINED_MODE``;
3. else each part's own pretrained weights: every submodule with an ``init_pretrained()``
   method (the backbones: ImageNet weights per their ``PRETRAINED`` setting) loads them.

So a checkpoint never triggers an ImageNet download, and nothing is read twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any, Union

from torch import nn

from handmesh.checkpoint.loading import LOAD_MODES, load_weights, unwrap_model
from handmesh.errors import ConfigError

__all__ = ["initialize_model", "pretrained_parts"]

PathLike = Union[str, "os.PathLike[str]"]


def pretrained_parts(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(name, module) of the outermost submodules that have an ``init_pretrained`` method."""
    skip: list[str] = []
    for name, module in model.named_modules():
        if any(name == s or name.startswith(s + ".") for s in skip):
            continue
        if callable(getattr(module, "init_pretrained", None)):
            skip.append(name)
            yield name, module


def initialize_model(
    model: nn.Module,
    checkpoint: PathLike | None = None,
    model_cfg: Mapping[str, Any] | None = None,
) -> str:
    """Initialise ``model``'s weights from one source (see the module docstring).

    Args:
        model: a freshly constructed model (or its DDP wrapper).
        checkpoint: a checkpoint file (any published layout), loaded strictly.
        model_cfg: the ``MODEL`` node, for ``PRETRAINED`` / ``PRETRAINED_MODE``.

    Returns: a short description of the source used, for the log.
    """
    net = unwrap_model(model)
    if checkpoint:
        load_weights(net, checkpoint)
        return f"checkpoint {checkpoint}"
    cfg = model_cfg or {}
    pretrained = cfg.get("PRETRAINED") or None
    if pretrained:
        mode = str(cfg.get("PRETRAINED_MODE", "strict"))
        if mode not in LOAD_MODES:
            raise ConfigError(f"MODEL.PRETRAINED_MODE must be one of {LOAD_MODES}, got {mode!r}")
        load_weights(net, str(pretrained), mode=mode)
        return f"MODEL.PRETRAINED {pretrained} ({mode})"
    loaded = []
    for name, part in pretrained_parts(net):
        path = part.init_pretrained()  # type: ignore[operator]
        if path is not None:
            loaded.append(f"{name or type(part).__name__}: {path}")
    return "pretrained parts " + "; ".join(loaded) if loaded else "random initialisation"
