"""Whole-config checks: schema keys and types, accepted choices and value ranges."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from handmesh.config.defaults import (
    GRAD_CLIP_MODES,
    IMAGE_NORMS,
    OPTIMIZERS,
    SCHEDULERS,
    TRANSFORMS,
    get_default_config,
)
from handmesh.config.errors import ConfigError
from handmesh.config.merge import merge_mapping
from handmesh.config.node import CfgNode, config_to_dict
from handmesh.registry import closest

__all__ = ["canonical_choice", "validate_config"]

_NUM_JOINTS = 21
MAX_SEED = 2**32 - 1 - 65536  # room for MANUAL_SEED + rank (+ epoch on re-seeding)


def canonical_choice(
    value: Any, choices: Sequence[str], key_path: str, source: str = "the config"
) -> str:
    """The entry of ``choices`` equal to ``value`` ignoring case (OakInk writes "adam" for "Adam").

    >>> canonical_choice("adam", OPTIMIZERS, "TRAIN.OPTIMIZER")
    'Adam'
    """
    if isinstance(value, str):
        for choice in choices:
            if choice.lower() == value.lower():
                return choice
    guess = closest(value, choices) if isinstance(value, str) else None
    hint = f" Did you mean {guess!r}?" if guess else ""
    raise ConfigError(
        f"{key_path} in {source} must be one of {', '.join(choices)} (any case), "
        f"got {value!r}.{hint}"
    )


def validate_config(cfg: CfgNode, source: str = "the config") -> None:
    """Check a whole config; raise ConfigError / ConfigKeyError naming ``source`` and the key.

    Checks the closed sections' keys and types against the defaults (also for a config changed
    in Python after loading), the accepted choices (TRAIN.OPTIMIZER, TRAIN.SCHEDULER,
    TRAIN.GRAD_CLIP.MODE, DATA_PRESET.IMAGE_NORM, DATA_PRESET.TRANSFORM) and value ranges.
    MODEL and DATASET.TRAIN / TEST are left to the classes that read them.
    """
    merge_mapping(get_default_config(), config_to_dict(cfg), "", source)
    preset, train = cfg.DATA_PRESET, cfg.TRAIN
    _check_finite(cfg, ("DATA_PRESET", "TRAIN"), source)

    canonical_choice(preset.IMAGE_NORM, IMAGE_NORMS, "DATA_PRESET.IMAGE_NORM", source)
    canonical_choice(preset.TRANSFORM, TRANSFORMS, "DATA_PRESET.TRANSFORM", source)
    canonical_choice(train.OPTIMIZER, OPTIMIZERS, "TRAIN.OPTIMIZER", source)
    canonical_choice(train.SCHEDULER, SCHEDULERS, "TRAIN.SCHEDULER", source)
    canonical_choice(train.GRAD_CLIP.MODE, GRAD_CLIP_MODES, "TRAIN.GRAD_CLIP.MODE", source)

    _check_sizes(preset.IMAGE_SIZE, (2,), "DATA_PRESET.IMAGE_SIZE", source)
    _check_sizes(preset.HEATMAP_SIZE, (2, 3), "DATA_PRESET.HEATMAP_SIZE", source)
    if not 0 <= preset.CENTER_IDX < _NUM_JOINTS:
        raise ConfigError(
            f"DATA_PRESET.CENTER_IDX in {source} must be a joint index in 0..{_NUM_JOINTS - 1}, "
            f"got {preset.CENTER_IDX}."
        )
    for key_path, value, low, inclusive in (
        ("DATA_PRESET.BBOX_EXPAND_RATIO", preset.BBOX_EXPAND_RATIO, 0, False),
        ("DATA_PRESET.HEATMAP_SIGMA", preset.HEATMAP_SIGMA, 0, False),
        ("DATA_PRESET.UVD_DEPTH_RANGE", preset.UVD_DEPTH_RANGE, 0, False),
        ("TRAIN.MANUAL_SEED", train.MANUAL_SEED, 0, True),
        ("TRAIN.BATCH_SIZE", train.BATCH_SIZE, 1, True),
        ("TRAIN.EPOCH", train.EPOCH, 1, True),
        ("TRAIN.LR", train.LR, 0, False),
        ("TRAIN.WEIGHT_DECAY", train.WEIGHT_DECAY, 0, True),
        ("TRAIN.MOMENTUM", train.MOMENTUM, 0, True),
        ("TRAIN.LR_DECAY_GAMMA", train.LR_DECAY_GAMMA, 0, False),
        ("TRAIN.LOG_INTERVAL", train.LOG_INTERVAL, 1, True),
        ("TRAIN.GRAD_CLIP.TYPE", train.GRAD_CLIP.TYPE, 0, False),
        ("TRAIN.GRAD_CLIP.NORM", train.GRAD_CLIP.NORM, 0, False),
    ):
        if value < low or (value == low and not inclusive):
            bound = f"at least {low}" if inclusive else f"greater than {low}"
            raise ConfigError(f"{key_path} in {source} must be {bound}, got {value}.")
    if train.MANUAL_SEED > MAX_SEED:
        raise ConfigError(
            f"TRAIN.MANUAL_SEED in {source} must be at most {MAX_SEED} (each process seeds numpy "
            f"with MANUAL_SEED + rank, below 2**32), got {train.MANUAL_SEED}."
        )
    if any(step < 0 for step in train.LR_DECAY_STEP):
        raise ConfigError(
            f"TRAIN.LR_DECAY_STEP in {source} must list epochs (integers >= 0), "
            f"got {list(train.LR_DECAY_STEP)}."
        )


def _check_sizes(
    value: Sequence[int], lengths: tuple[int, ...], key_path: str, source: str
) -> None:
    if len(value) not in lengths or any(size < 1 for size in value):
        wanted = " or ".join(str(n) for n in lengths)
        raise ConfigError(
            f"{key_path} in {source} must be a list of {wanted} positive integers, "
            f"got {list(value)}."
        )


def _check_finite(cfg: CfgNode, sections: Sequence[str], source: str) -> None:
    """Every float in the closed sections must be finite (``TRAIN.LR nan`` is an error)."""

    def visit(value: Any, path: str) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{path} in {source} must be a finite number, got {value}.")
        if isinstance(value, CfgNode):
            for key, item in value.items():
                visit(item, f"{path}.{key}")
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(item, f"{path}[{i}]")

    for section in sections:
        visit(cfg[section], section)
