"""Defaults (OakInk-HMR's, plus handmesh's keys), fresh copies, and the augmentation presets."""

from __future__ import annotations

import pytest

from handmesh.config import (
    DEFAULT_AUG_PARAM,
    OPTIMIZERS,
    ZERO_AUG_PARAM,
    ConfigError,
    canonical_choice,
    get_default_config,
    validate_config,
)


def test_defaults_hold_oakink_values_and_new_keys() -> None:
    cfg = get_default_config()
    assert list(cfg) == ["DATA_PRESET", "DATASET", "TRAIN", "MODEL", "TEST"]
    preset, train = cfg.DATA_PRESET, cfg.TRAIN
    assert preset.BBOX_EXPAND_RATIO == 1.7 and preset.IMAGE_SIZE == (256, 256)
    assert preset.HEATMAP_SIZE == (64, 64) and preset.HEATMAP_SIGMA == 2.0
    assert preset.CENTER_IDX == 9 and preset.USE_CACHE is True
    assert preset.IMAGE_NORM == "minus_half" and preset.TRANSFORM == "oakink"
    assert (
        preset.MANO_ROOT == "" and preset.ALLOW_SYNTHETIC_MANO is False
    )  # "": the env/assets rule
    assert preset.UVD_DEPTH_RANGE == 0.4
    assert (train.MANUAL_SEED, train.BATCH_SIZE, train.EPOCH, train.LR) == (1, 4, 100, 0.001)
    assert (train.OPTIMIZER, train.SCHEDULER) == ("Adam", "StepLR")
    assert train.LR_DECAY_GAMMA == 0.1 and train.LR_DECAY_STEP == [70]
    assert train.WEIGHT_DECAY == 0.0 and train.MOMENTUM == 0.9 and train.AMP is False
    assert train.LOG_INTERVAL == 50 and train.FIND_UNUSED_PARAMETERS is False
    assert train.GRAD_CLIP_ENABLED is True
    assert (train.GRAD_CLIP.TYPE, train.GRAD_CLIP.NORM) == (2, 0.001)
    assert train.GRAD_CLIP.MODE == "per_tensor"
    assert train.METRIC == [] and train.HOOKS == []
    assert cfg.TEST.METRIC == [] and cfg.TEST.POSTPROCESS == []
    assert len(cfg.DATASET.TRAIN) == 0 and len(cfg.DATASET.TEST) == 0 and len(cfg.MODEL) == 0
    validate_config(cfg)


def test_each_call_returns_an_independent_mutable_copy() -> None:
    first = get_default_config()
    assert not first.is_frozen()
    first.TRAIN.LR = 0.5
    first.DATA_PRESET.IMAGE_SIZE = (8, 8)
    first.TRAIN.LR_DECAY_STEP.append(90)
    second = get_default_config()
    assert second.TRAIN.LR == 0.001
    assert second.DATA_PRESET.IMAGE_SIZE == (256, 256)
    assert second.TRAIN.LR_DECAY_STEP == [70]


def test_closed_and_open_sections() -> None:
    cfg = get_default_config()
    assert not cfg.DATA_PRESET.is_new_allowed() and not cfg.TRAIN.is_new_allowed()
    assert not cfg.TRAIN.GRAD_CLIP.is_new_allowed() and not cfg.DATASET.is_new_allowed()
    assert not cfg.TEST.is_new_allowed()
    assert cfg.MODEL.is_new_allowed() and cfg.DATASET.TRAIN.is_new_allowed()
    assert cfg.DATASET.TEST.is_new_allowed() and cfg.is_new_allowed()


def test_aug_presets_match_oakink() -> None:
    assert dict(DEFAULT_AUG_PARAM) == {
        "SCALE_JIT": 0.125,
        "COLOR_JIT": 0.3,
        "ROT_JIT": 60.0,
        "ROT_PROB": 1.0,
        "OCCLUSION": True,
        "OCCLUSION_PROB": 0.3,
    }
    assert set(ZERO_AUG_PARAM) == set(DEFAULT_AUG_PARAM)
    assert all(not value for value in ZERO_AUG_PARAM.values())
    assert DEFAULT_AUG_PARAM.is_frozen() and ZERO_AUG_PARAM.is_frozen()


def test_canonical_choice() -> None:
    assert canonical_choice("adam", OPTIMIZERS, "TRAIN.OPTIMIZER") == "Adam"
    assert canonical_choice("SGD", OPTIMIZERS, "TRAIN.OPTIMIZER") == "SGD"
    with pytest.raises(ConfigError, match=r"TRAIN\.OPTIMIZER in f\.yml .*got 'Adamm'.*'Adam'\?"):
        canonical_choice("Adamm", OPTIMIZERS, "TRAIN.OPTIMIZER", "f.yml")
