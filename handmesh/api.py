"""Python API: ``load_model`` builds a registered model from a config and loads a checkpoint.

>>> model = load_model("exp/my_run_2024_0101_1200_00", device="cpu")   # doctest: +SKIP
>>> preds = model({"image": img, "target_root_joint": root, "target_cam_intr": K})  # +SKIP
>>> preds["joints_3d"].shape                                           # doctest: +SKIP
torch.Size([B, 21, 3])
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from handmesh.engine.build import build_model
from handmesh.engine.experiment import DUMP_CFG, ExperimentDir
from handmesh.errors import ArgumentError, ExperimentError, HandmeshError


def _resolve_config(cfg_or_path: Any) -> tuple[Any, Path | None]:
    """(config, experiment dir or None) from a CfgNode, a config file or an experiment dir."""
    from handmesh.config import load_config

    if isinstance(cfg_or_path, Mapping):
        return cfg_or_path, None
    if not isinstance(cfg_or_path, (str, os.PathLike)):
        raise ArgumentError(
            "load_model: cfg_or_path must be a config (handmesh.config.load_config), a YAML "
            f"file or an experiment directory, got {type(cfg_or_path).__name__} {cfg_or_path!r}"
        )
    path = Path(cfg_or_path)
    if path.is_dir():
        if not (path / DUMP_CFG).is_file():
            raise HandmeshError(f"{path} is a directory without {DUMP_CFG}: not an experiment dir")
        return load_config(path / DUMP_CFG), path
    return load_config(path), None


def _default_checkpoint(exp_root: Path, model_type: str) -> Path:
    latest = ExperimentDir(exp_root).checkpoint_dir() / f"{model_type}.pth.tar"
    if not latest.is_file():
        raise ExperimentError(f"No checkpoint given and {latest} does not exist")
    return latest


def load_model(
    cfg_or_path: Any,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """The model described by ``cfg_or_path``, with weights loaded, in eval mode on ``device``.

    Args:
        cfg_or_path: a config node, a config file (YAML), or an experiment directory holding
            ``dump_cfg.yaml`` (its latest checkpoint is used when ``checkpoint`` is None).
        checkpoint: a checkpoint file in any published layout (loaded strictly); None: the
            experiment's latest, else the config's ``MODEL.PRETRAINED``, else the parts' own
            pretrained weights. A checkpoint is the only source read: no ImageNet weights are
            looked up or downloaded for a model that gets one.
        device: where the model goes.

    ``model(batch)`` takes ``image`` (B, 3, H, W) normalised as the config's DATA_PRESET says,
    ``target_root_joint`` (B, 3) metres and ``target_cam_intr`` (B, 3, 3) crop intrinsics, and
    returns e.g. ``uvd`` (B, 21, 3) and ``joints_3d`` (B, 21, 3) camera metres.
    """
    cfg, exp_root = _resolve_config(cfg_or_path)
    if checkpoint is None and exp_root is not None:
        checkpoint = _default_checkpoint(exp_root, str(cfg["MODEL"]["TYPE"]))
    return build_model(cfg, checkpoint).to(device).eval()
