"""The nine published OakInk-HMR configs load unchanged and read back their published values."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from handmesh.config import CfgNode, load_config

REPO_ROOT = Path(__file__).resolve().parents[2]
OII_DIR = REPO_ROOT / "config" / "oii"
MODELS = ("integral_pose", "res_loglike", "i2l_meshnet")
SPLITS = {0: "default", 1: "subject", 2: "object"}
PUBLISHED = [OII_DIR / f"train_{m}_oii_sp{s}.yml" for m in MODELS for s in SPLITS]


def _assert_same(loaded, raw, path: str) -> None:
    """Every key and value of the raw YAML is in the loaded config (list and tuple alike)."""
    if isinstance(raw, dict):
        assert isinstance(loaded, CfgNode), path
        for key, value in raw.items():
            assert key in loaded, f"{path}.{key} missing"
            _assert_same(loaded[key], value, f"{path}.{key}")
    elif isinstance(raw, list):
        assert isinstance(loaded, (list, tuple)), path
        assert len(loaded) == len(raw), path
        for i, (got, want) in enumerate(zip(loaded, raw)):
            _assert_same(got, want, f"{path}[{i}]")
    elif raw == "None" and path.endswith("AUG_PARAM"):
        assert loaded is None, path  # OakInk's "AUG_PARAM: None" means no parameters
    else:
        assert loaded == raw and type(loaded) is type(raw), f"{path}: {loaded!r} != {raw!r}"


def test_all_nine_published_configs_are_present() -> None:
    assert sorted(p.name for p in OII_DIR.glob("*.yml")) == sorted(p.name for p in PUBLISHED)


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.stem)
def test_published_config_loads_with_every_file_value(path: Path) -> None:
    cfg = load_config(path)
    raw = yaml.safe_load(path.read_text())
    for section, values in raw.items():
        _assert_same(cfg[section], values, section)
    split = SPLITS[int(path.stem[-1])]
    assert cfg.DATASET.TRAIN.SPLIT_MODE == split == cfg.DATASET.TEST.SPLIT_MODE
    assert cfg.DATASET.TRAIN.DATA_SPLIT == "train+val" and cfg.DATASET.TEST.DATA_SPLIT == "test"
    assert cfg.is_frozen() and cfg.TRAIN.is_frozen()


@pytest.mark.parametrize("split", SPLITS)
def test_integral_pose_values(split: int) -> None:
    cfg = load_config(OII_DIR / f"train_integral_pose_oii_sp{split}.yml")
    assert cfg.TRAIN.BATCH_SIZE == 256
    assert pytest.approx(1e-3) == cfg.TRAIN.LR
    assert cfg.TRAIN.LR_DECAY_STEP == [70]
    assert pytest.approx(0.1) == cfg.TRAIN.GRAD_CLIP.NORM
    assert cfg.DATA_PRESET.IMAGE_SIZE == (224, 224)
    assert cfg.DATA_PRESET.CENTER_IDX == 9
    assert cfg.MODEL.TYPE == "IntegralPose"
    assert cfg.MODEL.HEAD.HEATMAP_3D_SIZE == [28, 28, 28]
    assert [m.TYPE for m in cfg.MODEL.METRIC] == [
        "LossMetric",
        "Integal_Pose_Vis_Metric",
        "MeanEPE",
    ]
    (loss,) = cfg.MODEL.LOSS
    assert isinstance(loss, CfgNode)
    assert (loss.TYPE, loss.FUNCTION, loss.LAMBDA) == ("UVD_LOSS", "smooth_l1", 100.0)
    # Keys the file does not set keep OakInk's defaults.
    assert cfg.DATA_PRESET.HEATMAP_SIZE == (64, 64)
    assert cfg.TRAIN.LOG_INTERVAL == 50


@pytest.mark.parametrize("split", SPLITS)
def test_res_loglike_values(split: int) -> None:
    cfg = load_config(OII_DIR / f"train_res_loglike_oii_sp{split}.yml")
    assert cfg.TRAIN.BATCH_SIZE == 256
    assert cfg.TRAIN.LR_DECAY_STEP == [30, 60]
    assert cfg.TRAIN.GRAD_CLIP.NORM == 35.0
    assert cfg.DATA_PRESET.CENTER_IDX == 0
    assert cfg.MODEL.PRETRAINED is None
    assert cfg.MODEL.NUM_FC_FILTERS == [-1]
    assert cfg.MODEL.LOSS.TYPE == "RLE_Loss"  # a single node, not a list
    assert cfg.MODEL.LOSS.SIZE_AVERAGE is True
    metric_types = [m.TYPE for m in cfg.MODEL.METRIC]
    assert metric_types == ["LossMetric", "MeanEPE", "PAEval", "RLE_Vis_Metric"]
    assert cfg.MODEL.METRIC[2].MESH_SCORE is False


@pytest.mark.parametrize("split", SPLITS)
def test_i2l_meshnet_values(split: int) -> None:
    cfg = load_config(OII_DIR / f"train_i2l_meshnet_oii_sp{split}.yml")
    assert cfg.TRAIN.BATCH_SIZE == 128
    assert pytest.approx(1e-4) == cfg.TRAIN.LR
    assert cfg.TRAIN.LR_DECAY_STEP == [20, 40]
    assert cfg.DATA_PRESET.IMAGE_SIZE == (256, 256)
    assert cfg.DATA_PRESET.HEATMAP_SIZE == (64, 64, 64)
    assert cfg.TRAIN.FIND_UNUSED_PARAMETERS is True
    assert pytest.approx(0.1) == cfg.MODEL.LOSS.LAMBDA_MESH_NORMAL
    assert cfg.MODEL.LOSS.LAMBDA_POSE_PARAM == 0.0
    assert cfg.MODEL.METRIC[2].TYPE == "MeanEPE2"
    assert cfg.MODEL.METRIC[2].GT_KEY == "target_verts_3d"
    assert cfg.DATASET.TRAIN.WITH_HAND_FACES is True


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.stem)
def test_published_training_settings(path: Path) -> None:
    """All published runs: seed, 100 epochs, Adam without weight decay, OakInk's augmentation."""
    cfg = load_config(path)
    assert cfg.TRAIN.MANUAL_SEED == 874449194
    assert cfg.TRAIN.EPOCH == 100
    assert cfg.TRAIN.OPTIMIZER == "adam" and cfg.TRAIN.WEIGHT_DECAY == 0.0
    assert cfg.TRAIN.SCHEDULER == "MultiStepLR"
    assert cfg.TRAIN.GRAD_CLIP.MODE == "per_tensor"  # not in the files: reproduces OakInk
    aug = cfg.DATASET.TRAIN.AUG_PARAM
    assert (aug.SCALE_JIT, aug.COLOR_JIT, aug.ROT_JIT) == (0.125, 0.3, 60)
    assert aug.OCCLUSION is True and aug.OCCLUSION_PROB == 0.1
    assert cfg.DATASET.TEST.AUG is False and cfg.DATASET.TEST.AUG_PARAM is None
