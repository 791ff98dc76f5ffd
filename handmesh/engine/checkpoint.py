"""Checkpoint I/O: the published layouts in, OakInk-HMR's layout out.

Recognised files (always ``torch.load(weights_only=True, map_location="cpu")``):

- a plain state dict (OakInk-HMR ``{Model}.pth.tar``, ours);
- ``{"state_dict": ...}`` (OakInk-HMR's other accepted form);
- ``{"network": ...}`` with ``module.`` prefixes (HandOccNet snapshots);
- ``{"model": ...}`` (IKNet-style).

A ``module.`` prefix is stripped or added to match the model. Loading is strict: a mismatch raises
one :class:`CheckpointError` naming the file, the model type and the first missing / unexpected
keys with their counts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from handmesh.engine.errors import CheckpointError
from handmesh.io.atomic import atomic_torch_save

WRAPPER_KEYS = ("state_dict", "network", "model")
MODULE_PREFIX = "module."
KEYS_SHOWN = 10


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel / DataParallel wrapper (or ``model``)."""
    return (
        model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model
    )


def read_checkpoint(path: str | os.PathLike) -> Any:
    """``torch.load`` the file safely; a missing or unreadable file raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file or arbitrary pickled classes
        raise CheckpointError(
            f"Cannot read checkpoint {path} safely (weights_only): {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc


def _looks_like_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def extract_state_dict(obj: Any, source: str = "<checkpoint>") -> dict[str, torch.Tensor]:
    """The state dict inside any recognised layout (see module doc)."""
    if _looks_like_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            if key in obj and _looks_like_state_dict(obj[key]):
                return dict(obj[key])
    top = sorted(map(str, obj))[:KEYS_SHOWN] if isinstance(obj, Mapping) else type(obj).__name__
    raise CheckpointError(
        f"{source}: no state dict found. Expected a plain state dict or a dict holding one under "
        f"{', '.join(repr(k) for k in WRAPPER_KEYS)}; found {top}."
    )


def match_module_prefix(
    state_dict: Mapping[str, torch.Tensor], model_keys: set[str]
) -> dict[str, torch.Tensor]:
    """Strip or add ``module.`` so the checkpoint's keys follow the model's convention."""
    keys = list(state_dict)
    ckpt_prefixed = bool(keys) and all(k.startswith(MODULE_PREFIX) for k in keys)
    model_prefixed = bool(model_keys) and all(k.startswith(MODULE_PREFIX) for k in model_keys)
    if ckpt_prefixed and not model_prefixed:
        return {k[len(MODULE_PREFIX) :]: v for k, v in state_dict.items()}
    if model_prefixed and not ckpt_prefixed:
        return {MODULE_PREFIX + k: v for k, v in state_dict.items()}
    return dict(state_dict)


def _key_list(keys: list[str]) -> str:
    shown = ", ".join(keys[:KEYS_SHOWN])
    more = f", ... (+{len(keys) - KEYS_SHOWN} more)" if len(keys) > KEYS_SHOWN else ""
    return f"{len(keys)}: [{shown}{more}]"


def mismatch_message(
    model_type: str, source: str, missing: list[str], unexpected: list[str], shapes: list[str]
) -> str:
    parts = [f"Checkpoint {source} does not fit model {model_type}"]
    if missing:
        parts.append(f"missing keys {_key_list(missing)}")
    if unexpected:
        parts.append(f"unexpected keys {_key_list(unexpected)}")
    if shapes:
        parts.append(f"shape mismatches {_key_list(shapes)}")
    hint = "; this looks like a checkpoint of a different model" if missing and unexpected else ""
    return "; ".join(parts) + hint + "."


def load_state_dict_checked(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: str = "<state dict>",
    strict: bool = True,
) -> tuple[list[str], list[str]]:
    """Load into ``model`` (unwrapped); strict mismatch -> one CheckpointError naming the keys.

    Returns (missing, unexpected) keys (both empty when strict).
    """
    target = unwrap_model(model)
    expected = target.state_dict()
    state_dict = match_module_prefix(state_dict, set(expected))
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state_dict and state_dict[k].shape != expected[k].shape
    ]
    model_type = type(target).__name__
    if shapes or (strict and (missing or unexpected)):
        raise CheckpointError(mismatch_message(model_type, source, missing, unexpected, shapes))
    target.load_state_dict(state_dict, strict=False)
    return missing, unexpected


def load_checkpoint(
    model: nn.Module, path: str | os.PathLike, strict: bool = True
) -> tuple[list[str], list[str]]:
    """Load the weights in ``path`` (any recognised layout) into ``model``; see module doc."""
    state_dict = extract_state_dict(read_checkpoint(path), source=str(path))
    return load_state_dict_checked(model, state_dict, source=str(path), strict=strict)


def model_file_name(model: nn.Module) -> str:
    """``{ModelType}.pth.tar``, the published checkpoint file name."""
    return f"{type(unwrap_model(model)).__name__}.pth.tar"


def save_model(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Write the plain state dict of the unwrapped model to ``directory/{ModelType}.pth.tar``."""
    path = Path(directory) / model_file_name(model)
    atomic_torch_save(unwrap_model(model).state_dict(), path)
    return path
