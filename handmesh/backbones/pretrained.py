"""Pretrained backbone weights: resolve ``BACKBONE.PRETRAINED`` and load state dicts safely.

``PRETRAINED`` takes one of

* ``false`` / ``None`` / ``""``: no weights (random init);
* ``true``: the architecture's published ImageNet file, looked up by name in the torch hub cache
  (``torch.hub.get_dir()/checkpoints``) and downloaded there when missing and the machine allows;
* a path to a local file: a state dict saved with ``torch.save``.

Every file is read with ``torch.load(..., weights_only=True)`` (no arbitrary code runs) and loaded
strictly: missing or unexpected keys fail with a message listing them. The one tolerated gap is
BatchNorm's ``num_batches_tracked`` counter (files saved before PyTorch 0.4.1 lack it; it holds no
weights), which is logged and left at its current value.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import torch
from torch import nn

from handmesh.config.errors import ConfigError
from handmesh.errors import WeightsError

__all__ = [
    "PretrainedSpec",
    "PretrainedWeightsError",
    "WeightsFile",
    "hub_checkpoint_dir",
    "load_pretrained",
    "load_state_dict_strict",
    "read_state_dict",
    "resolve_pretrained",
]

logger = logging.getLogger(__name__)

PretrainedSpec = Union[bool, str, os.PathLike, None]

_FALSE_WORDS = {"", "false", "none", "null", "no", "0"}
_TRUE_WORDS = {"true", "yes", "1"}


class PretrainedWeightsError(WeightsError):
    """Pretrained weights cannot be fetched or do not fit the backbone (the message says which)."""


@dataclass(frozen=True)
class WeightsFile:
    """A published weights file: its name in the hub cache and where it can be downloaded.

    ``url`` is None for files that can only be fetched by hand (e.g. HRNet's ImageNet weights are
    shared through OneDrive / Google Drive links); ``hint`` then tells the user where to get them.
    """

    filename: str
    url: str | None = None
    hint: str = ""


def hub_checkpoint_dir() -> Path:
    """The torch hub checkpoint cache, ``$TORCH_HOME/hub/checkpoints`` by default."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _is_disabled(spec: PretrainedSpec) -> bool:
    if spec is None or spec is False:
        return True
    return isinstance(spec, str) and spec.strip().lower() in _FALSE_WORDS


def _is_hub_request(spec: PretrainedSpec) -> bool:
    if spec is True:
        return True
    return isinstance(spec, str) and spec.strip().lower() in _TRUE_WORDS


def read_state_dict(path: str | os.PathLike) -> Mapping[str, torch.Tensor]:
    """Read a state dict (name -> tensor) from ``path`` with ``torch.load(weights_only=True)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConfigError: the file does not hold a plain state dict (a ValueError).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Pretrained weights file {str(path)!r} does not exist.")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors come in many types
        raise ConfigError(
            f"Cannot read pretrained weights {str(path)!r} with torch.load(weights_only=True): "
            f"{error}"
        ) from error
    if not isinstance(loaded, Mapping):
        raise ConfigError(
            f"Pretrained weights {str(path)!r} hold a {type(loaded).__name__}, expected a state "
            "dict (parameter name -> tensor)."
        )
    for key, value in loaded.items():
        if not isinstance(value, torch.Tensor):
            raise ConfigError(
                f"Pretrained weights {str(path)!r}: entry {key!r} is a {type(value).__name__}, "
                "expected a tensor. A training checkpoint must be unpacked first (pass the file "
                "holding only its model state dict)."
            )
    return loaded  # as loaded: its _metadata (BN versions) matters to load_state_dict


def _resolve_from_hub(candidates: Sequence[WeightsFile], cache_dir: Path) -> Path:
    """The first candidate present in ``cache_dir``, else the first downloadable one, downloaded."""
    for candidate in candidates:
        cached = cache_dir / candidate.filename
        if cached.is_file():
            logger.info("Using cached pretrained weights %s", cached)
            return cached
    downloadable = [c for c in candidates if c.url is not None]
    names = ", ".join(c.filename for c in candidates)
    if not downloadable:
        hints = " ".join(c.hint for c in candidates if c.hint)
        raise FileNotFoundError(
            f"PRETRAINED: true needs one of [{names}] in the torch hub cache {str(cache_dir)!r}, "
            f"and none is there. {hints} Then put the file there, or set PRETRAINED to the "
            "file's path, or to false to start from random weights."
        )
    target = downloadable[0]
    assert target.url is not None  # filtered above
    logger.info("Downloading pretrained weights %s to %s", target.url, cache_dir)
    try:
        torch.hub.load_state_dict_from_url(
            target.url, model_dir=str(cache_dir), map_location="cpu", weights_only=True
        )
    except Exception as error:  # URLError, HTTPError, OSError, ... all mean "not available"
        raise PretrainedWeightsError(
            f"PRETRAINED: true: none of [{names}] is in the torch hub cache {str(cache_dir)!r} and "
            f"downloading {target.url} failed ({type(error).__name__}: {error}). Download that "
            f"URL by hand into {str(cache_dir / target.filename)!r}, or set PRETRAINED to the path "
            "of a local copy, or to false to start from random weights."
        ) from error
    return cache_dir / target.filename


def resolve_pretrained(
    spec: PretrainedSpec,
    candidates: Sequence[WeightsFile],
    cache_dir: str | os.PathLike | None = None,
) -> Path | None:
    """Turn a ``PRETRAINED`` value into a local file path, or None for "no weights".

    Args:
        spec: false/None/"" (no weights), true (hub cache lookup, then download), or a path.
        candidates: the architecture's published files, preferred first (used for ``true``).
        cache_dir: hub checkpoint directory; default ``hub_checkpoint_dir()``.
    """
    if _is_disabled(spec):
        return None
    if _is_hub_request(spec):
        if not candidates:
            raise ConfigError(
                "PRETRAINED: true is not available for this backbone (no published weights are "
                "known); set PRETRAINED to a local file path or to false."
            )
        return _resolve_from_hub(candidates, Path(cache_dir) if cache_dir else hub_checkpoint_dir())
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(
            f'PRETRAINED must be true, false, null, "" or a file path; got {spec!r} '
            f"({type(spec).__name__})."
        )
    path = Path(spec).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"PRETRAINED file {str(path)!r} does not exist. Pass an existing file, true (torch hub "
            "ImageNet weights) or false."
        )
    return path


def load_state_dict_strict(
    module: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str
) -> None:
    """Load ``state_dict`` into ``module`` strictly; the error lists missing/unexpected keys.

    ``source`` (a file name or description) is named in the error message.
    """
    try:
        result = module.load_state_dict(state_dict, strict=False)  # copies; keeps _metadata
    except RuntimeError as error:  # shape mismatches
        raise PretrainedWeightsError(
            f"Cannot load {source} into {type(module).__name__}: {error}"
        ) from error
    counters = [k for k in result.missing_keys if k.endswith("num_batches_tracked")]
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise PretrainedWeightsError(
            f"Cannot load {source} into {type(module).__name__} strictly: "
            f"{len(missing)} missing keys {_shorten(missing)}, "
            f"{len(result.unexpected_keys)} unexpected keys {_shorten(result.unexpected_keys)}."
        )
    if counters:
        logger.info(
            "%s has no BatchNorm num_batches_tracked counters; %d kept at their current value",
            source,
            len(counters),
        )


def _shorten(keys: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return f"[{shown}{', ...' if len(keys) > limit else ''}]"


def load_pretrained(
    module: nn.Module,
    spec: PretrainedSpec,
    candidates: Sequence[WeightsFile],
    cache_dir: str | os.PathLike | None = None,
) -> Path | None:
    """Resolve ``spec`` (see ``resolve_pretrained``) and load that file into ``module`` strictly.

    Returns the file loaded, or None when ``spec`` asks for no weights. Modules adapt foreign
    layouts (dropped classifier heads, frozen BN) in their ``_load_from_state_dict``.
    """
    path = resolve_pretrained(spec, candidates, cache_dir)
    if path is None:
        return None
    load_state_dict_strict(
        module, read_state_dict(path), source=f"pretrained weights {str(path)!r}"
    )
    logger.info("Loaded pretrained weights %s into %s", path, type(module).__name__)
    return path
