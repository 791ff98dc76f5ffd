"""The one state-dict loader: every weight file handmesh reads goes through ``load_state_dict``.

Order: find the state dict in the file's layout (``reading``), match a ``module.`` prefix to the
model, apply the registered layout adapters (``adapters``), match BatchNorm ``num_batches_tracked``
counters to the model (dropped where the model has frozen BN, filled where an old file lacks them;
they hold no weights, and it is logged), then compare with the model and load.
Modes:

- ``"strict"`` (default): any missing or unexpected key, or a shape mismatch, is one
  ``CheckpointError`` naming the file, the model type and the keys (with counts);
- ``"allow_missing"``: keys of the model absent from the file keep their current values
  (e.g. I2L-MeshNet's param stage initialised from a lixel-stage checkpoint); unexpected keys and
  shape mismatches still fail;
- ``"partial"``: missing and unexpected keys are both allowed; shape mismatches still fail.

Non-strict loads log one report of what was left out. Nothing is ever loaded silently partially.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from handmesh.checkpoint.adapters import adapt_state_dict, match_batchnorm_counters
from handmesh.checkpoint.reading import KEYS_SHOWN, extract_state_dict, read_checkpoint
from handmesh.errors import ArgumentError, CheckpointError

__all__ = [
    "LOAD_MODES",
    "LoadReport",
    "load_state_dict",
    "load_weights",
    "match_module_prefix",
    "unwrap_model",
]

logger = logging.getLogger("handmesh")

LOAD_MODES = ("strict", "allow_missing", "partial")
MODULE_PREFIX = "module."


@dataclass
class LoadReport:
    """What a load did: the source, and the keys left out (empty for a strict load)."""

    source: str
    loaded: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel / DataParallel wrapper (or ``model``)."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def match_module_prefix(
    state_dict: Mapping[str, torch.Tensor], model_keys: set[str]
) -> dict[str, torch.Tensor]:
    """Strip or add ``module.`` so the file's keys follow the model's convention."""
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


def _mismatch_message(
    model_type: str, source: str, missing: list[str], unexpected: list[str], shapes: list[str]
) -> str:
    parts = [f"{source} does not fit model {model_type}"]
    if missing:
        parts.append(f"missing keys {_key_list(missing)}")
    if unexpected:
        parts.append(f"unexpected keys {_key_list(unexpected)}")
    if shapes:
        parts.append(f"shape mismatches {_key_list(shapes)}")
    hint = "; this looks like weights of a different model" if missing and unexpected else ""
    return "; ".join(parts) + hint + "."


def _check_finite(entries: Mapping[str, torch.Tensor], source: str) -> None:
    """Refuse weights holding NaN or infinity (e.g. saved from a diverged run)."""
    bad = [
        key
        for key, value in entries.items()
        if value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]
    if bad:
        raise CheckpointError(
            f"{source} holds non-finite values (NaN or inf) in {_key_list(bad)}: it was saved "
            "from a diverged run and is refused."
        )


def load_state_dict(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: str = "<state dict>",
    mode: str = "strict",
) -> LoadReport:
    """Load ``state_dict`` into ``model`` (unwrapped) as described in the module docstring."""
    if mode not in LOAD_MODES:
        raise ArgumentError(f"load mode must be one of {LOAD_MODES}, got {mode!r}")
    target = unwrap_model(model)
    expected = target.state_dict()
    entries = adapt_state_dict(target, match_module_prefix(state_dict, set(expected)))
    entries = match_batchnorm_counters(entries, target)
    missing = [k for k in expected if k not in entries]
    unexpected = [k for k in entries if k not in expected]
    shapes = [
        f"{k} {tuple(entries[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in entries and entries[k].shape != expected[k].shape
    ]
    refused_missing = missing if mode == "strict" else []
    refused_unexpected = unexpected if mode != "partial" else []
    model_type = type(target).__name__
    if shapes or refused_missing or refused_unexpected:
        raise CheckpointError(
            _mismatch_message(model_type, source, refused_missing, refused_unexpected, shapes)
        )
    _check_finite(entries, source)
    target.load_state_dict(entries, strict=False)
    if missing or unexpected:
        logger.warning(
            "Loaded %s into %s in %r mode: %s%s",
            source,
            model_type,
            mode,
            f"{len(missing)} model keys kept their initial values {_key_list(missing)}"
            if missing
            else "",
            f"; {len(unexpected)} file entries ignored {_key_list(unexpected)}"
            if unexpected
            else "",
        )
    return LoadReport(source, len(entries) - len(unexpected), missing, unexpected)


def load_weights(
    model: nn.Module, path: str | os.PathLike[str], mode: str = "strict"
) -> LoadReport:
    """Read ``path`` (any recognised layout, weights_only) and load it into ``model``."""
    state_dict = extract_state_dict(read_checkpoint(path), source=str(path))
    return load_state_dict(model, state_dict, source=f"Checkpoint {path}", mode=mode)
