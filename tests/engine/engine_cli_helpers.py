"""Helpers of the engine CLI tests: a tiny SyntheticHands + IntegralPose config, CLI runners.

Importing this module puts the repository root on ``sys.path`` so the ``train`` CLIs import.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def tiny_config(epochs: int = 2, train_samples: int = 16, test_samples: int = 7) -> dict:
    """A config that trains in seconds: 64x64 crops, ResNet-18, 8^3 heatmaps."""
    return {
        "DATA_PRESET": {
            "IMAGE_SIZE": [64, 64],
            "CENTER_IDX": 9,
            "BBOX_EXPAND_RATIO": 1.7,
            "ALLOW_SYNTHETIC_MANO": True,
        },
        "DATASET": {
            "TRAIN": {
                "TYPE": "SyntheticHands",
                "DATA_SPLIT": "train",
                "NUM_SAMPLES": train_samples,
                "RAW_SIZE": [128, 128],
                "OCCLUDERS": False,
            },
            "TEST": {
                "TYPE": "SyntheticHands",
                "DATA_SPLIT": "test",
                "NUM_SAMPLES": test_samples,
                "RAW_SIZE": [128, 128],
                "OCCLUDERS": False,
            },
        },
        "TRAIN": {
            "MANUAL_SEED": 7,
            "BATCH_SIZE": 4,
            "EPOCH": epochs,
            "OPTIMIZER": "Adam",
            "LR": 0.001,
            "LR_DECAY_STEP": [100],
            "GRAD_CLIP_ENABLED": False,
            "LOG_INTERVAL": 1,
        },
        "MODEL": {
            "TYPE": "IntegralPose",
            "PRETRAINED": "",
            "MODE": "3D",
            "BACKBONE": {"TYPE": "resnet18", "PRETRAINED": False, "FREEZE_BATCHNORM": True},
            "HEAD": {
                "INPUT_CHANNEL": 512,
                "N_CLASSES": 21,
                "DECONV_WITH_BIAS": False,
                "NORM_TYPE": "sigmoid",
                "HEATMAP_3D_SIZE": [8, 8, 8],
                "NUM_DECONV_LAYERS": 2,
                "NUM_DECONV_FILTERS": [32, 32],
                "NUM_DECONV_KERNELS": [4, 4],
                "FINAL_CONV_KERNEL": 1,
            },
            "LOSS": [{"TYPE": "UVD_LOSS", "FUNCTION": "smooth_l1", "LAMBDA": 100.0}],
        },
    }


def memorise_config(epochs: int, samples: int = 4) -> dict:
    """``tiny_config`` whose DATASET.TEST is the training samples themselves, with a high LR and
    plain BatchNorm: the model fits them within a few dozen steps, so a test can check in
    seconds that learning happens end to end (generalisation is the embedded default's job)."""
    cfg = tiny_config(epochs=epochs, train_samples=samples)
    cfg["DATASET"]["TEST"] = dict(cfg["DATASET"]["TRAIN"])
    cfg["TRAIN"]["LR"] = 0.01
    cfg["MODEL"]["BACKBONE"]["FREEZE_BATCHNORM"] = False
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_module(module: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m module args`` from the repository root, one thread per process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def only_experiment(root: Path) -> Path:
    """The single experiment directory under ``root``."""
    dirs = [p for p in root.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]
