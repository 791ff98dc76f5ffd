"""Every config error names the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from handmesh.config import ConfigError, config_from_dict, load_config, validate_config
from handmesh.registry import ConfigKeyError


def _write(tmp_path: Path, text: str, name: str = "x.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_misspelled_key_names_file_key_path_and_suggestion(tmp_path: Path) -> None:
    path = _write(tmp_path, "TRAIN:\n  BATCH_SZIE: 8\n")
    with pytest.raises(ConfigKeyError) as err:
        load_config(path)
    message = str(err.value)
    assert (
        f"TRAIN.BATCH_SZIE in {path} is not a valid key. Did you mean TRAIN.BATCH_SIZE?" in message
    )


@pytest.mark.parametrize(
    ("text", "wrong", "right"),
    [
        ("DATA_PRESET:\n  IMAGE_SIZ: [1, 1]\n", "DATA_PRESET.IMAGE_SIZ", "DATA_PRESET.IMAGE_SIZE"),
        ("TRAIN:\n  GRAD_CLIP:\n    NROM: 1.0\n", "TRAIN.GRAD_CLIP.NROM", "TRAIN.GRAD_CLIP.NORM"),
        ("DATASET:\n  TETS: {}\n", "DATASET.TETS", "DATASET.TEST"),
        ("TRIAN:\n  LR: 0.1\n", "TRIAN", "TRAIN"),
        ("model:\n  TYPE: X\n", "model", "MODEL"),
    ],
)
def test_unknown_keys_in_closed_sections(tmp_path: Path, text: str, wrong: str, right: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(
        ConfigKeyError, match=rf"{wrong} in .*x\.yml is not a valid key\. Did you mean {right}\?"
    ):
        load_config(path)


def test_new_keys_are_accepted_in_open_sections(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "MODEL:\n  ANYTHING: 1\nDATASET:\n  TRAIN:\n    NEW: a\nNOTES: {A: 1}\n"
    )
    cfg = load_config(path)
    assert cfg.MODEL.ANYTHING == 1 and cfg.DATASET.TRAIN.NEW == "a" and cfg.NOTES.A == 1


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "TRAIN:\n  LR: 0.1\n  EPOCH: [1, 2\n  BATCH_SIZE: 3\n")
    with pytest.raises(ConfigError, match=rf"YAML error in {path}, line 4, column \d+"):
        load_config(path)


def test_duplicate_key_is_a_yaml_error_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "TRAIN:\n  LR: 0.1\n  LR: 0.2\n")
    with pytest.raises(ConfigError, match=rf"{path}, line 3.*duplicate key 'LR'"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("TRAIN:\n  LR: abc\n", r"TRAIN\.LR in .* must be a number .*got 'abc' \(str\)"),
        ("TRAIN:\n  EPOCH: 2.5\n", r"TRAIN\.EPOCH in .* must be an integer .*got 2\.5 \(float\)"),
        ("TRAIN:\n  AMP: 1\n", r"TRAIN\.AMP in .* must be true or false .*got 1 \(int\)"),
        ("TRAIN:\n  LR: null\n", r"TRAIN\.LR in .* must be a number .*got None"),
        ("DATA_PRESET:\n  IMAGE_SIZE: 224\n", r"DATA_PRESET\.IMAGE_SIZE in .* must be a list"),
        ("DATA_PRESET:\n  IMAGE_SIZE: [a, 2]\n", r"DATA_PRESET\.IMAGE_SIZE\[0\] in .* integer"),
        ("TRAIN:\n  GRAD_CLIP: 3\n", r"TRAIN\.GRAD_CLIP in .* is a section"),
        ("MODEL:\n  WHEN: 2021-09-26\n", r"MODEL\.WHEN in .* type date .*quote it"),
    ],
)
def test_wrong_types_name_the_key_and_expected_type(
    tmp_path: Path, text: str, pattern: str
) -> None:
    with pytest.raises(ConfigError, match=pattern) as err:
        load_config(_write(tmp_path, text))
    assert "x.yml" in str(err.value)


def test_yaml_float_spellings_and_ints_are_accepted_for_floats(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "TRAIN:\n  LR: 1e-3\n  WEIGHT_DECAY: 0\n"))
    assert cfg.TRAIN.LR == 0.001 and cfg.TRAIN.WEIGHT_DECAY == 0.0
    assert type(cfg.TRAIN.LR) is float and type(cfg.TRAIN.WEIGHT_DECAY) is float


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "missing.yml"
    with pytest.raises(FileNotFoundError, match=rf"Config file {path} does not exist"):
        load_config(path)


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"x\.yml must hold a mapping of sections.*got list"):
        load_config(_write(tmp_path, "- 1\n- 2\n"))


def test_empty_file_and_empty_sections_give_the_defaults(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "")) == load_config(_write(tmp_path, "TRAIN:\n", "y.yml"))


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"TRAIN": {"OPTIMIZER": "adamw"}}, r"TRAIN\.OPTIMIZER in src must be one of Adam, SGD"),
        ({"TRAIN": {"SCHEDULER": "cosine"}}, r"TRAIN\.SCHEDULER in src must be one of"),
        ({"TRAIN": {"GRAD_CLIP": {"MODE": "all"}}}, r"TRAIN\.GRAD_CLIP\.MODE in src must be one"),
        ({"DATA_PRESET": {"IMAGE_NORM": "imagenet"}}, r"DATA_PRESET\.IMAGE_NORM in src must be"),
        ({"DATA_PRESET": {"TRANSFORM": "x"}}, r"DATA_PRESET\.TRANSFORM in src must be one of"),
        ({"DATA_PRESET": {"IMAGE_SIZE": [1, 2, 3]}}, r"IMAGE_SIZE in src must be a list of 2 pos"),
        (
            {"DATA_PRESET": {"HEATMAP_SIZE": [0, 8]}},
            r"HEATMAP_SIZE in src must be a list of 2 or 3",
        ),
        (
            {"DATA_PRESET": {"CENTER_IDX": 21}},
            r"CENTER_IDX in src must be a joint index in 0\.\.20",
        ),
        ({"TRAIN": {"BATCH_SIZE": 0}}, r"TRAIN\.BATCH_SIZE in src must be at least 1, got 0"),
        ({"TRAIN": {"LR": 0.0}}, r"TRAIN\.LR in src must be greater than 0, got 0\.0"),
        ({"TRAIN": {"LR_DECAY_STEP": [3, -1]}}, r"TRAIN\.LR_DECAY_STEP in src must list epochs"),
    ],
)
def test_validation_of_choices_and_ranges(data: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        config_from_dict(data, source="src")


def test_choices_are_case_insensitive_and_all_accepted() -> None:
    for optimizer, scheduler, mode in [
        ("SGD", "CosineAnnealingLR", "global"),
        ("adam", "steplr", "per_tensor"),
    ]:
        cfg = config_from_dict(
            {"TRAIN": {"OPTIMIZER": optimizer, "SCHEDULER": scheduler, "GRAD_CLIP": {"MODE": mode}}}
        )
        assert optimizer == cfg.TRAIN.OPTIMIZER


def test_validate_config_catches_changes_made_in_python() -> None:
    cfg = config_from_dict({})
    cfg.defrost()
    cfg.TRAIN.LR = "fast"
    with pytest.raises(ConfigError, match=r"TRAIN\.LR in the config must be a number"):
        validate_config(cfg)
    cfg.TRAIN.LR = 0.1
    cfg.TRAIN.NEW_KEY = 1
    with pytest.raises(ConfigKeyError, match=r"TRAIN\.NEW_KEY in the config is not a valid key"):
        validate_config(cfg)
