"""The nine published ``config/oii`` configs on a generated OakInk tree (no oikit).

Each config is used as published (``USE_PACK: true``, ``DATA_ROOT: data``, its SPLIT_MODE; packed
by ``dev/pack_oakink_image.py --all``) with ``--opts`` shrinking the sizes and turning ImageNet
weights off. All nine build their model and both datasets; three of them, one per model and one
per split mode, run one epoch of the train CLI (which tests at its end), then the test CLI on the
checkpoint it wrote, which must reproduce that evaluation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dev.pack_oakink_image import main as pack_main
from tests.data.oakink.oakink_tree import OakInkTree, make_oakink_tree

REPO = Path(__file__).resolve().parents[3]
CONFIGS = sorted((REPO / "config" / "oii").glob("*.yml"))
SPLIT_FILES = {"default": "split0", "subject": "split1", "object": "split2"}
RUN_FROM_THE_CLIS = ("train_integral_pose_oii_sp0", "train_res_loglike_oii_sp1",
                     "train_i2l_meshnet_oii_sp2")  # every model, every split mode  # fmt: skip
COMMON_OPTS = [
    "TRAIN.BATCH_SIZE", "4", "TRAIN.EPOCH", "1", "TRAIN.LOG_INTERVAL", "1",
    "DATA_PRESET.ALLOW_SYNTHETIC_MANO", "True",
]  # fmt: skip
MODEL_OPTS = {  # per MODEL.TYPE: small crops and heatmaps, no ImageNet weights
    "IntegralPose": [
        "MODEL.BACKBONE.PRETRAINED", "False", "DATA_PRESET.IMAGE_SIZE", "[32, 32]",
        "MODEL.HEAD.HEATMAP_3D_SIZE", "[4, 4, 4]",
    ],
    "RegressFlow3D": ["MODEL.BACKBONE.PRETRAINED", "False", "DATA_PRESET.IMAGE_SIZE", "[32, 32]"],
    "I2L_MeshNet": [  # 64 px crops, 16^3 lixel heatmaps
        "MODEL.POSE_BACKBONE.PRETRAINED", "False", "MODEL.MESH_BACKBONE.PRETRAINED", "False",
        "DATA_PRESET.IMAGE_SIZE", "[64, 64]", "DATA_PRESET.HEATMAP_SIZE", "[16, 16, 16]",
    ],
}  # fmt: skip


def _registered_models() -> set[str]:
    import handmesh.models  # noqa: F401  (registers the models)
    from handmesh.registry import MODELS

    return set(MODELS.names())


@pytest.fixture(scope="module")
def packed_tree(tmp_path_factory: pytest.TempPathFactory) -> OakInkTree:
    """``<root>/data/OakInk`` with every split the configs read packed by the CLI's ``--all``."""
    tree = make_oakink_tree(tmp_path_factory.mktemp("oakink_e2e") / "data" / "OakInk")
    argv = ["--data_dir", str(tree.data_dir), "--all", "--workers", "2", "--no_progress"]
    assert pack_main(argv) == 0
    return tree


def _run(cwd: Path, module: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", module, *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _evaluation(exp_root: Path) -> dict:
    (exp,) = list(exp_root.iterdir())
    return json.loads((exp / "evaluations" / "test_eval.json").read_text())["metrics"]


def _split_list(tree: OakInkTree, config: Path, split: str) -> list:
    mode = yaml.safe_load(config.read_text())["DATASET"][split]["SPLIT_MODE"]
    name = "seq_test.json" if split == "TEST" else "seq_train.json"
    return tree.splits[f"split/{SPLIT_FILES[mode]}/{name}"]


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_published_config_builds_its_model_and_data(
    config: Path, packed_tree: OakInkTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handmesh.config import load_config
    from handmesh.engine.build import build_dataset, build_model

    assert len(CONFIGS) == 9
    published = yaml.safe_load(config.read_text())
    model_type = published["MODEL"]["TYPE"]
    monkeypatch.chdir(packed_tree.data_dir.parent.parent)  # DATA_ROOT: data
    cfg = load_config(str(config), opts=[*COMMON_OPTS, *MODEL_OPTS[model_type]])
    assert type(build_model(cfg, initialize=False)).__name__ == model_type
    test = build_dataset(cfg, "TEST")
    assert len(test) == len(_split_list(packed_tree, config, "TEST"))
    assert len(build_dataset(cfg, "TRAIN")) > 0


@pytest.mark.slow
@pytest.mark.parametrize("stem", RUN_FROM_THE_CLIS)
def test_published_config_trains_and_tests(
    stem: str, packed_tree: OakInkTree, tmp_path: Path
) -> None:
    config = REPO / "config" / "oii" / f"{stem}.yml"
    assert config in CONFIGS
    modes = {yaml.safe_load((REPO / "config" / "oii" / f"{s}.yml").read_text())["DATASET"][
        "TEST"]["SPLIT_MODE"] for s in RUN_FROM_THE_CLIS}  # fmt: skip
    assert modes == set(SPLIT_FILES)
    published = yaml.safe_load(config.read_text())
    model_type = published["MODEL"]["TYPE"]
    assert model_type in _registered_models()
    cwd = packed_tree.data_dir.parent.parent  # holds data/OakInk, as DATA_ROOT: data expects
    opts = ["--opts", *COMMON_OPTS, *MODEL_OPTS[model_type]]
    train_root = tmp_path / "exp"
    result = _run(cwd, "train.train_model", "--cfg", str(config), "--exp_root", str(train_root),
                  "--workers", "0", "--skip_untrained_eval", "--eval_interval", "-1", *opts)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    trained = _evaluation(train_root)
    mode = published["DATASET"]["TEST"]["SPLIT_MODE"]
    test_list = packed_tree.splits[f"split/{SPLIT_FILES[mode]}/seq_test.json"]
    assert trained["num_samples"] == len(test_list)

    (exp,) = list(train_root.iterdir())
    checkpoint = exp / "checkpoints" / "checkpoint" / f"{model_type}.pth.tar"
    test_root = tmp_path / "eval"
    result = _run(cwd, "train.test_model", "--cfg", str(exp / "dump_cfg.yaml"), "--reload",
                  str(checkpoint), "--exp_root", str(test_root), "--workers", "0")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    retested = _evaluation(test_root)
    assert retested["num_samples"] == len(test_list)
    assert retested["mpjpe"] == pytest.approx(trained["mpjpe"], rel=1e-6)
