"""Checkpoint output: OakInk-HMR's layout (``{ModelType}.pth.tar``, a plain state dict).

Reading and loading any published layout is ``handmesh.checkpoint``'s job (one loader).
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from handmesh.checkpoint import unwrap_model
from handmesh.io.atomic import atomic_torch_save

__all__ = ["model_file_name", "save_model"]


def model_file_name(model: nn.Module) -> str:
    """``{ModelType}.pth.tar``, the published checkpoint file name."""
    return f"{type(unwrap_model(model)).__name__}.pth.tar"


def save_model(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Write the plain state dict of the unwrapped model to ``directory/{ModelType}.pth.tar``."""
    path = Path(directory) / model_file_name(model)
    atomic_torch_save(unwrap_model(model).state_dict(), path)
    return path
