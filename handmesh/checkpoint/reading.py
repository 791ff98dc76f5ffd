"""Reading checkpoint files safely and finding the state dict inside the published layouts.

Every file is read with ``torch.load(..., weights_only=True, map_location="cpu")``: only tensors
and plain containers are reconstructed, no code from the file runs. Recognised layouts:

- a plain state dict (OakInk-HMR ``{Model}.pth.tar``, handmesh's own, torchvision ImageNet files);
- ``{"state_dict": ...}`` (OakInk-HMR's other accepted form);
- ``{"network": ...}`` (HandOccNet / DeepHandMesh snapshots, keys prefixed ``module.``);
- ``{"model": ...}`` (IKNet's ``iknet.pt``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from handmesh.errors import CheckpointError

__all__ = ["WRAPPER_KEYS", "extract_state_dict", "read_checkpoint", "unsafe_load_reason"]

WRAPPER_KEYS = ("state_dict", "network", "model")
KEYS_SHOWN = 10

# torch's message around the real reason advises turning the safety check off; keep the reason only
_ADVICE = re.compile(
    r"weights_only|Weights only load failed|file an issue|Check the documentation|"
    r"safe_globals|trusted source|trust this|do those steps|two options",
    re.IGNORECASE,
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def unsafe_load_reason(error: BaseException) -> str:
    """The reason ``torch.load(weights_only=True)`` refused a file, without torch's advice to
    disable the check (e.g. ``Trying to load unsupported GLOBAL posix.system ...``)."""
    text = _ANSI.sub("", str(error))
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    sentences = [
        sentence
        for line in text.splitlines()
        for sentence in _SENTENCE_END.split(" ".join(line.split()))
    ]
    kept = [part for part in sentences if part and not _ADVICE.search(part)]
    return " ".join(kept).rstrip(".") or type(error).__name__


def read_checkpoint(path: str | os.PathLike[str]) -> Any:
    """``torch.load`` the file with ``weights_only=True`` on the CPU.

    Raises:
        CheckpointError: the file is missing, or it cannot be read as tensors and containers
            (corrupt, truncated, or holding objects that would run code); the message gives the
            real reason.
    """
    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            raise CheckpointError(f"Checkpoint {path} is a directory, not a file")
        raise CheckpointError(f"Checkpoint file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, or pickled classes/callables outside tensors
        raise CheckpointError(
            f"Cannot read checkpoint {path}: {unsafe_load_reason(exc)}. handmesh reads "
            "checkpoints with torch.load(weights_only=True), which runs no code from the file; "
            "this file is corrupt or holds objects other than tensors and plain containers, and "
            "is refused."
        ) from None


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def extract_state_dict(obj: Any, source: str = "<checkpoint>") -> dict[str, torch.Tensor]:
    """The state dict inside any recognised layout (see the module docstring)."""
    if _is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            if key in obj and _is_state_dict(obj[key]):
                return dict(obj[key])
    found = sorted(map(str, obj))[:KEYS_SHOWN] if isinstance(obj, Mapping) else type(obj).__name__
    raise CheckpointError(
        f"{source}: no state dict found. Expected a plain state dict (name -> tensor) or a dict "
        f"holding one under {', '.join(repr(k) for k in WRAPPER_KEYS)}; found {found}."
    )
