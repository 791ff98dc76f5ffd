"""Configs: yacs defaults (OakInk-HMR's schema), loading with overrides, dumping, validation.

>>> from handmesh.config import load_config
>>> cfg = load_config("config/oii/train_integral_pose_oii_sp0.yml", ["TRAIN.BATCH_SIZE", "8"])
>>> cfg.TRAIN.BATCH_SIZE, cfg.DATA_PRESET.IMAGE_SIZE
(8, (224, 224))
"""

from handmesh.config.cli import add_opts_argument
from handmesh.config.defaults import (
    DEFAULT_AUG_PARAM,
    GRAD_CLIP_MODES,
    IMAGE_NORMS,
    OPTIMIZERS,
    SCHEDULERS,
    TRANSFORMS,
    ZERO_AUG_PARAM,
    get_default_config,
)
from handmesh.config.errors import ConfigError
from handmesh.config.loader import config_from_dict, dump_config, load_config
from handmesh.config.node import SECTION_ORDER, CfgNode, config_to_dict
from handmesh.config.validate import canonical_choice, validate_config

__all__ = [
    "DEFAULT_AUG_PARAM",
    "GRAD_CLIP_MODES",
    "IMAGE_NORMS",
    "OPTIMIZERS",
    "SCHEDULERS",
    "SECTION_ORDER",
    "TRANSFORMS",
    "ZERO_AUG_PARAM",
    "CfgNode",
    "ConfigError",
    "add_opts_argument",
    "canonical_choice",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "get_default_config",
    "load_config",
    "validate_config",
]
