"""The experiment directory (DESIGN §4, the published layout)::

    exp/{exp_id}_{YYYY_MMDD_HHMM_SS}/
      dump_cfg.yaml          the full merged config
      train.log              the log file (rank 0)
      runs/                  TensorBoard event files
      evaluations/           train_eval.txt, val_eval.txt, test_eval.txt (appended), test_eval.json
      checkpoints/checkpoint/          latest: {ModelType}.pth.tar, train_param.pth.tar,
                                       random_state.pth
      checkpoints/checkpoint_{N}/      snapshot after N epochs (same files)

``--resume`` continues in the same directory. Only rank 0 writes; every write is atomic.
A new directory is created exclusively: two runs with the same ``exp_id`` started in the same
second get ``{exp_id}_{stamp}`` and ``{exp_id}_{stamp}_1``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from pprint import pformat
from typing import Any

from handmesh.engine.errors import ExperimentError
from handmesh.io.atomic import (
    atomic_append_text,
    atomic_write_text,
    copy_dir_atomic,
    recover_dir,
    remove_stale_temps,
)

TIMESTAMP_FORMAT = "%Y_%m%d_%H%M_%S"
DUMP_CFG = "dump_cfg.yaml"
LOG_FILE = "train.log"
TEST_LOG_FILE = "test.log"
TRAIN_PARAM_FILE = "train_param.pth.tar"
RANDOM_STATE_FILE = "random_state.pth"
LATEST = "checkpoint"


def timestamp(now: float | None = None) -> str:
    """Local time as ``YYYY_MMDD_HHMM_SS`` (OakInk-HMR's format)."""
    return time.strftime(TIMESTAMP_FORMAT, time.localtime(now))


_EPOCH_HEADER = re.compile(r"Epoch (\d+) evaluator msg:")
_EPOCH_BLOCK = re.compile(r"(?=^Epoch \d+ evaluator msg:)", re.MULTILINE)


def _entry_epoch(block: str) -> int:
    match = _EPOCH_HEADER.match(block)
    return int(match[1]) if match else -1


def check_writable(exp_root: str | os.PathLike) -> None:
    """Fail with an ExperimentError, before anything is built, when ``exp_root`` (or the folder it
    would be created in) is not a writable directory."""
    path = Path(exp_root).absolute()
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ExperimentError(f"--exp_root {exp_root}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ExperimentError(
            f"--exp_root {exp_root}: cannot write in {existing} (permission denied)"
        )


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The current git commit hash, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


class ExperimentDir:
    """Paths and writers of one experiment directory."""

    def __init__(self, root: str | os.PathLike, log_name: str = LOG_FILE) -> None:
        self.root = Path(root)
        self.log_name = log_name

    @classmethod
    def create(
        cls, exp_root: str | os.PathLike, exp_id: str, stamp: str, log_name: str = LOG_FILE
    ) -> ExperimentDir:
        """Make a new ``exp_root/{exp_id}_{stamp}`` (``_1``, ``_2``, ... if taken) with its
        sub-folders; never reuses an existing directory."""
        check_writable(exp_root)
        Path(exp_root).mkdir(parents=True, exist_ok=True)
        base = Path(exp_root) / f"{exp_id}_{stamp}"
        for attempt in range(1000):
            root = base if attempt == 0 else base.with_name(f"{base.name}_{attempt}")
            try:
                root.mkdir()
            except FileExistsError:
                continue
            exp = cls(root, log_name)
            for folder in (exp.runs_dir, exp.evaluations_dir, exp.checkpoints_dir):
                folder.mkdir()
            return exp
        raise ExperimentError(f"Cannot create a new experiment directory next to {base}")

    @classmethod
    def open_existing(cls, root: str | os.PathLike) -> ExperimentDir:
        """An experiment directory that must already hold ``dump_cfg.yaml`` (for --resume)."""
        exp = cls(root)
        if not exp.root.is_dir():
            raise ExperimentError(f"Experiment directory not found: {exp.root}")
        if not exp.config_path.is_file():
            raise ExperimentError(f"{exp.root} is not an experiment directory: no {DUMP_CFG}")
        return exp

    @property
    def config_path(self) -> Path:
        return self.root / DUMP_CFG

    @property
    def log_path(self) -> Path:
        return self.root / self.log_name

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def evaluations_dir(self) -> Path:
        return self.root / "evaluations"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint_dir(self, epoch: int | None = None) -> Path:
        """``checkpoints/checkpoint`` (latest) or ``checkpoints/checkpoint_{epoch}``."""
        name = LATEST if epoch is None else f"{LATEST}_{epoch}"
        return self.checkpoints_dir / name

    def latest_checkpoint_dir(self) -> Path:
        """The latest complete checkpoint directory (recovering from a crash mid-swap)."""
        latest = recover_dir(self.checkpoint_dir())
        remove_stale_temps(self.checkpoints_dir)  # half-written saves of a killed run
        if not (latest / TRAIN_PARAM_FILE).is_file():
            raise ExperimentError(
                f"Cannot resume from {self.root}: no complete checkpoint in {latest} "
                f"(expected {TRAIN_PARAM_FILE}; was the first epoch finished?)"
            )
        return latest

    def snapshot(self, epoch: int) -> Path:
        """Copy the latest checkpoint to ``checkpoint_{epoch}``."""
        target = self.checkpoint_dir(epoch)
        copy_dir_atomic(self.checkpoint_dir(), target)
        return target

    def append_evaluation(self, split: str, epoch: int, results: dict[str, Any]) -> None:
        """Append ``Epoch N evaluator msg:`` and the results to ``evaluations/{split}_eval.txt``."""
        text = f"Epoch {epoch} evaluator msg:\n {pformat(results)}\n\n"
        atomic_append_text(self.evaluations_dir / f"{split}_eval.txt", text)

    def truncate_evaluations(self, after_epoch: int) -> None:
        """Drop the ``Epoch N`` entries with N > ``after_epoch`` from every ``*_eval.txt``
        (epochs that a resumed run will write again)."""
        for path in self.evaluations_dir.glob("*_eval.txt"):
            blocks = _EPOCH_BLOCK.split(path.read_text(encoding="utf-8"))
            kept = [b for b in blocks if b and _entry_epoch(b) <= after_epoch]
            atomic_write_text(path, "".join(kept))

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        path = self.evaluations_dir / name
        atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
        return path
