"""Pretrained backbone weights: resolve ``BACKBONE.PRETRAINED`` to a file and load it.

``PRETRAINED`` takes one of

* ``false`` / ``None`` / ``""``: no weights (random init);
* ``true``: the architecture's published ImageNet file, looked up by name in the torch hub cache
  (``torch.hub.get_dir()/checkpoints``) and downloaded there when missing and the machine allows;
* a path to a local file: a state dict saved with ``torch.save``.

Nothing happens at construction: a backbone stores the setting and ``init_pretrained()`` (called
by the initialise phase, ``handmesh.checkpoint.initialize_model``, only when no checkpoint of the
whole model is given) resolves and loads it through the one loader
(``handmesh.checkpoint.load_weights``: ``weights_only``, strict, the backbone's registered layout
adapters, e.g. a dropped ImageNet classifier).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import torch
from torch import nn

from handmesh.errors import ArgumentError, WeightsError

__all__ = [
    "PretrainedSpec",
    "PretrainedWeightsError",
    "WeightsFile",
    "check_pretrained_spec",
    "hub_checkpoint_dir",
    "load_pretrained",
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
        raise PretrainedWeightsError(
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


def check_pretrained_spec(spec: PretrainedSpec) -> PretrainedSpec:
    """``spec`` if it is a valid ``PRETRAINED`` value (checked at construction, no I/O)."""
    if spec is None or isinstance(spec, (bool, str, os.PathLike)):
        return spec
    raise ArgumentError(
        f'pretrained must be true, false, null, "" or a file path; got {spec!r} '
        f"({type(spec).__name__})."
    )


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
            raise PretrainedWeightsError(
                "PRETRAINED: true is not available for this backbone (no published weights are "
                "known); set PRETRAINED to a local file path or to false."
            )
        return _resolve_from_hub(candidates, Path(cache_dir) if cache_dir else hub_checkpoint_dir())
    spec = check_pretrained_spec(spec)
    assert isinstance(spec, (str, os.PathLike)), spec  # false/None/true were handled above
    path = Path(spec).expanduser()
    if not path.is_file():
        raise PretrainedWeightsError(
            f"PRETRAINED file {str(path)!r} does not exist. Pass an existing file, true (torch hub "
            "ImageNet weights) or false."
        )
    return path


def load_pretrained(
    module: nn.Module,
    spec: PretrainedSpec,
    candidates: Sequence[WeightsFile],
    cache_dir: str | os.PathLike | None = None,
) -> Path | None:
    """Resolve ``spec`` (see ``resolve_pretrained``) and load that file into ``module`` strictly.

    Returns the file loaded, or None when ``spec`` asks for no weights.
    """
    from handmesh.checkpoint import load_weights

    path = resolve_pretrained(spec, candidates, cache_dir)
    if path is None:
        return None
    load_weights(module, path)
    logger.info("Loaded pretrained weights %s into %s", path, type(module).__name__)
    return path
