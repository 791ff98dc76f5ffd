"""KEY VALUE overrides: types follow the replaced value, bad lists and keys fail clearly."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from handmesh.config import ConfigError, add_opts_argument, config_from_dict, load_config
from handmesh.registry import ConfigKeyError

CONFIG = Path(__file__).resolve().parents[2] / "config" / "oii" / "train_res_loglike_oii_sp0.yml"


def test_overrides_change_values_with_the_defaults_types() -> None:
    cfg = load_config(
        CONFIG,
        [
            "TRAIN.BATCH_SIZE", "8",
            "TRAIN.LR", "1e-4",
            "DATA_PRESET.IMAGE_SIZE", "[128,128]",
            "TRAIN.LR_DECAY_STEP", "[5, 9]",
            "TRAIN.AMP", "true",
            "TRAIN.GRAD_CLIP.MODE", "global",
            "TRAIN.WEIGHT_DECAY", "0",
        ],
    )  # fmt: skip
    assert cfg.TRAIN.BATCH_SIZE == 8 and type(cfg.TRAIN.BATCH_SIZE) is int
    assert pytest.approx(1e-4) == cfg.TRAIN.LR
    assert cfg.DATA_PRESET.IMAGE_SIZE == (128, 128)  # a tuple, like the default
    assert cfg.TRAIN.LR_DECAY_STEP == [5, 9]
    assert cfg.TRAIN.AMP is True
    assert cfg.TRAIN.GRAD_CLIP.MODE == "global"
    assert cfg.TRAIN.WEIGHT_DECAY == 0.0 and type(cfg.TRAIN.WEIGHT_DECAY) is float
    # Untouched values stay as in the file.
    assert pytest.approx(0.1) == cfg.TRAIN.LR_DECAY_GAMMA
    assert cfg.TRAIN.GRAD_CLIP.NORM == 35.0


def test_overrides_in_model_and_dataset_sections() -> None:
    cfg = load_config(
        CONFIG,
        [
            "MODEL.PRETRAINED", "exp/run/checkpoints/checkpoint_100/RegressFlow3D.pth.tar",
            "MODEL.BACKBONE.PRETRAINED", "False",
            "DATASET.TRAIN.DATA_ROOT", "2024",
            "DATASET.TEST.AUG_PARAM", "None",
            "MODEL.EXTRA", "[1, 2]",
        ],
    )  # fmt: skip
    assert cfg.MODEL.PRETRAINED.endswith("RegressFlow3D.pth.tar")  # replaced None
    assert cfg.MODEL.BACKBONE.PRETRAINED is False
    assert cfg.DATASET.TRAIN.DATA_ROOT == "2024"  # a string key keeps the text
    assert cfg.DATASET.TEST.AUG_PARAM is None
    assert cfg.MODEL.EXTRA == [1, 2]  # MODEL accepts new keys


def test_later_override_wins_and_python_values_are_accepted() -> None:
    cfg = config_from_dict({}, ["TRAIN.EPOCH", 3, "TRAIN.EPOCH", "7", "TRAIN.LR", 2])
    assert cfg.TRAIN.EPOCH == 7
    assert cfg.TRAIN.LR == 2.0 and type(cfg.TRAIN.LR) is float


def test_a_section_override_from_a_dict_literal() -> None:
    cfg = config_from_dict({}, ["TRAIN.GRAD_CLIP", "{'NORM': 5.0, 'MODE': 'global'}"])
    assert cfg.TRAIN.GRAD_CLIP.NORM == 5.0 and cfg.TRAIN.GRAD_CLIP.MODE == "global"
    assert cfg.TRAIN.GRAD_CLIP.TYPE == 2


def test_odd_number_of_items_fails_clearly() -> None:
    with pytest.raises(ConfigError, match=r"KEY VALUE pairs.*odd number of items \(3\)") as err:
        load_config(CONFIG, ["TRAIN.BATCH_SIZE", "8", "TRAIN.LR"])
    assert CONFIG.name in str(err.value)


def test_unknown_override_key_names_the_key_and_suggests() -> None:
    with pytest.raises(
        ConfigKeyError, match=r"TRAIN\.BATCH_SZIE .*Did you mean TRAIN\.BATCH_SIZE\?"
    ):
        load_config(CONFIG, ["TRAIN.BATCH_SZIE", "8"])
    with pytest.raises(ConfigKeyError, match=r"TRAIN\.GRAD_CLP .*Did you mean TRAIN\.GRAD_CLIP\?"):
        load_config(CONFIG, ["TRAIN.GRAD_CLP.NORM", "1.0"])
    with pytest.raises(ConfigError, match=r"TRAIN\.LR .*is a value, not a section"):
        load_config(CONFIG, ["TRAIN.LR.X", "1"])


def test_override_of_the_wrong_type_names_key_and_type() -> None:
    with pytest.raises(ConfigError, match=r"TRAIN\.BATCH_SIZE .*must be an integer.*'eight'"):
        load_config(CONFIG, ["TRAIN.BATCH_SIZE", "eight"])
    with pytest.raises(ConfigError, match=r"TRAIN\.BATCH_SIZE .*must be an integer.*2\.5"):
        load_config(CONFIG, ["TRAIN.BATCH_SIZE", "2.5"])
    with pytest.raises(ConfigError, match=r"TRAIN\.AMP .*must be true or false"):
        load_config(CONFIG, ["TRAIN.AMP", "1"])


def test_overridden_config_is_still_validated() -> None:
    with pytest.raises(ConfigError, match=r"TRAIN\.SCHEDULER .*must be one of"):
        load_config(CONFIG, ["TRAIN.SCHEDULER", "Cosine"])


def test_opts_argument_collects_pairs_before_and_after_other_options() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cfg")
    parser.add_argument("--gpu_id")
    add_opts_argument(parser)
    args = parser.parse_args(
        ["--cfg", "x.yml", "--opts", "TRAIN.LR", "1e-4", "MODEL.NUM_FC_FILTERS", "[-1]",
         "--gpu_id", "0"]
    )  # fmt: skip
    assert args.opts == ["TRAIN.LR", "1e-4", "MODEL.NUM_FC_FILTERS", "[-1]"]
    assert args.gpu_id == "0"
    assert parser.parse_args([]).opts == []
    assert parser.parse_args(["--opts", "MODEL.X", "-1"]).opts == ["MODEL.X", "-1"]
    cfg = load_config(CONFIG, args.opts)
    assert pytest.approx(1e-4) == cfg.TRAIN.LR and cfg.MODEL.NUM_FC_FILTERS == [-1]
