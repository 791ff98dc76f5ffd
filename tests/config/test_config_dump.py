"""dump_config writes the full merged config atomically and load_config reads it back equal."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from handmesh.config import config_from_dict, config_to_dict, dump_config, load_config

OII_DIR = Path(__file__).resolve().parents[2] / "config" / "oii"


@pytest.mark.parametrize("model", ["integral_pose", "res_loglike", "i2l_meshnet"])
def test_dump_then_load_gives_an_equal_config(model: str, tmp_path: Path) -> None:
    cfg = load_config(OII_DIR / f"train_{model}_oii_sp1.yml", ["TRAIN.BATCH_SIZE", "16"])
    target = tmp_path / "exp" / "dump_cfg.yaml"
    dump_config(cfg, target)
    reloaded = load_config(target)
    assert reloaded == cfg
    assert reloaded.TRAIN.BATCH_SIZE == 16  # the dump holds the overridden value
    assert isinstance(reloaded.DATA_PRESET.IMAGE_SIZE, tuple)
    assert isinstance(reloaded.DATA_PRESET.HEATMAP_SIZE, tuple)
    assert reloaded.DATA_PRESET.HEATMAP_SIZE == cfg.DATA_PRESET.HEATMAP_SIZE
    assert sorted(p.name for p in target.parent.iterdir()) == ["dump_cfg.yaml"]  # no temp file
    assert target.stat().st_mode & 0o777 == 0o644


def test_dump_key_order_and_plain_yaml(tmp_path: Path) -> None:
    cfg = config_from_dict({"MODEL": {"TYPE": "X"}, "EXTRA": {"A": 1}, "TRAIN": {"EPOCH": 2}})
    target = tmp_path / "dump_cfg.yaml"
    dump_config(cfg, target)
    text = target.read_text()
    top_level = [line.rstrip(":") for line in text.splitlines() if line and line[0] != " "]
    assert top_level == ["DATA_PRESET", "DATASET", "TRAIN", "MODEL", "TEST", "EXTRA"]
    train_keys = list(yaml.safe_load(text)["TRAIN"])
    assert train_keys[:4] == ["MANUAL_SEED", "CONV_REPEATABLE", "BATCH_SIZE", "EPOCH"]
    raw = yaml.safe_load(text)  # plain YAML: no python tags, tuples as lists
    assert raw["DATA_PRESET"]["IMAGE_SIZE"] == [256, 256]
    assert raw["TRAIN"]["EPOCH"] == 2 and raw["EXTRA"] == {"A": 1}
    assert load_config(target) == cfg


def test_nodes_inside_lists_dump_as_mappings(tmp_path: Path) -> None:
    cfg = load_config(OII_DIR / "train_integral_pose_oii_sp0.yml")
    raw = yaml.safe_load(cfg.dump())
    assert raw["MODEL"]["METRIC"][2] == {
        "TYPE": "MeanEPE",
        "NAME": "joints_3d",
        "PRED_KEY": "joints_3d",
        "GT_KEY": "target_joints_3d",
    }
    assert raw["DATASET"]["TEST"]["AUG_PARAM"] is None
    assert config_to_dict(cfg) == raw


def test_dump_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "dump_cfg.yaml"
    target.write_text("old contents that are not a config\n")
    dump_config(config_from_dict({"TRAIN": {"EPOCH": 5}}), target)
    assert load_config(target).TRAIN.EPOCH == 5


def test_loaded_config_is_frozen_down_to_list_entries_and_pickles() -> None:
    cfg = load_config(OII_DIR / "train_i2l_meshnet_oii_sp2.yml")
    with pytest.raises(AttributeError):
        cfg.TRAIN.LR = 1.0
    with pytest.raises(AttributeError):
        cfg.MODEL.METRIC[1].NAME = "other"  # a node inside a list
    copy = pickle.loads(pickle.dumps(cfg))  # DataLoader workers and spawned processes
    assert copy == cfg and type(copy) is type(cfg) and copy.MODEL.METRIC[1].TYPE == "MeanEPE"
