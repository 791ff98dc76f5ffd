"""No process outlives its run: killing the launcher, or one rank, ends every rank and every
DataLoader worker within seconds (multi-process training on CPU, gloo)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from engine_cli_helpers import REPO, tiny_config, write_config

MARKER = "HANDMESH_ORPHAN_TEST"


def _marked_pids(marker: str) -> list[int]:
    """Processes whose environment carries ``MARKER=marker`` (ranks and workers inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"{MARKER}={marker}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _ranks(launcher: int) -> list[int]:
    """The launcher's spawned ranks (not multiprocessing's resource tracker)."""
    ranks = []
    for pid in _children(launcher):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            ranks.append(pid)
    return ranks


def _start_training(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    cfg = tiny_config(epochs=1000, train_samples=64)
    path = write_config(tmp_path / "long.yml", cfg)
    marker = uuid.uuid4().hex
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), MARKER: marker}
    args = ["--cfg", str(path), "--exp_root", str(tmp_path / "exp"), "--device", "cpu"]
    args += ["--nproc", "2", "--workers", "2", "--eval_interval", "-1", "--skip_untrained_eval"]
    launcher = subprocess.Popen(
        [sys.executable, "-m", "train.train_model", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # both ranks training: their DataLoader workers exist
        ranks = _ranks(launcher.pid)
        if len(ranks) == 2 and all(_children(rank) for rank in ranks):
            return launcher, marker
        time.sleep(0.5)
    launcher.kill()
    pytest.fail("the two ranks and their workers did not start")


def _wait_until_gone(marker: str, seconds: float = 30.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = _marked_pids(marker)
        if not alive:
            return []
        time.sleep(0.5)
    return _marked_pids(marker)


@pytest.mark.slow
@pytest.mark.ddp
def test_killing_the_launcher_ends_ranks_and_workers(tmp_path: Path) -> None:
    launcher, marker = _start_training(tmp_path)
    assert len(_marked_pids(marker)) >= 5  # launcher, 2 ranks, their workers
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    left = _wait_until_gone(marker)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], "processes outlived the launcher"


@pytest.mark.slow
@pytest.mark.ddp
def test_killing_one_rank_ends_the_run(tmp_path: Path) -> None:
    launcher, marker = _start_training(tmp_path)
    rank = _ranks(launcher.pid)[-1]
    os.kill(rank, signal.SIGKILL)
    launcher.wait(timeout=60)
    assert launcher.returncode != 0
    left = _wait_until_gone(marker)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], "processes outlived the killed rank"
