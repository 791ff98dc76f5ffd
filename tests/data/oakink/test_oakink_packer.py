"""The packer: published format, parallel == single process byte for byte, resume, failures, CLI."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dev.pack_oakink_image import main as pack_main
from handmesh.data.oakink import OakInkImageReader, pack_split
from tests.data.oakink.oakink_tree import STATUS, OakInkTree, make_oakink_tree

REPO = Path(__file__).resolve().parents[3]
PUBLISHED_KEYS = [
    "cam_intr", "hand_j", "hand_v", "mano_pose", "mano_shape", "obj_transf", "sample_status",
]  # fmt: skip
CONFIG_PAIRS = [(m, s) for m in ("default", "subject", "object") for s in ("train+val", "test")]


def _packed_dir(tree: OakInkTree, mode: str, split: str) -> Path:
    return tree.root / "anno_packed" / mode / split


def _all_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_pack_writes_the_published_keys_and_values(fresh_tree: OakInkTree) -> None:
    report = pack_split(fresh_tree.data_dir, "default", "train+val", progress=False)
    entries = fresh_tree.splits["split/split0/seq_train.json"]
    assert report.complete and report.written == len(entries) and report.skipped == 0
    reader = OakInkImageReader(fresh_tree.data_dir, data_split="train+val")
    out = _packed_dir(fresh_tree, "default", "train+val")
    for idx, name in enumerate(reader.info_str_list):
        with (out / f"{name}.pkl").open("rb") as file:
            record = pickle.load(file)
        generated = fresh_tree.samples[name]
        assert list(record) == PUBLISHED_KEYS
        assert np.array_equal(record["cam_intr"], generated.cam_intr)
        assert record["hand_j"].dtype == np.float32
        assert np.array_equal(record["hand_j"], generated.joints)
        assert np.array_equal(record["hand_v"], generated.verts)
        assert record["mano_pose"].dtype == np.float32 and record["mano_pose"].shape == (16, 3)
        assert np.array_equal(record["mano_pose"], reader.mano_pose(idx))
        assert np.array_equal(record["mano_shape"], generated.hand_shape.numpy())
        assert record["obj_transf"].dtype == np.float32
        assert np.array_equal(record["obj_transf"], generated.obj_transf.astype(np.float32))
        assert record["sample_status"] == STATUS[generated.item[0]]
    index = json.loads((out / "index.json").read_text())
    assert index["info_str"] == [
        f"{seq.replace('/', '__')}__{sbj}__{frame}__{cam}" for seq, sbj, frame, cam in entries
    ]
    assert index["count"] == len(entries)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{name}.pkl" for name in index["info_str"]] + ["index.json"]
    )


def test_parallel_output_equals_single_process_byte_for_byte(fresh_tree: OakInkTree) -> None:
    out = _packed_dir(fresh_tree, "default", "all")
    pack_split(fresh_tree.data_dir, "default", "all", workers=1, progress=False)
    single = _all_bytes(out)
    shutil.rmtree(out)
    report = pack_split(
        fresh_tree.data_dir, "default", "all", workers=3, chunk_size=2, progress=False
    )
    assert report.complete and report.written == 22
    assert _all_bytes(out) == single


def test_rerun_skips_complete_files_and_repairs_the_rest(fresh_tree: OakInkTree) -> None:
    out = _packed_dir(fresh_tree, "object", "test")
    pack_split(fresh_tree.data_dir, "object", "test", progress=False)
    before = _all_bytes(out)
    names = sorted(name for name in before if name.endswith(".pkl"))
    (out / names[0]).write_bytes(before[names[0]][:100])  # truncated (a non-atomic writer's)
    (out / names[1]).unlink()
    (out / "index.json").unlink()
    stale = out / f".{names[2]}.abc123.tmp"  # what a killed atomic write leaves
    stale.write_bytes(b"partial")
    report = pack_split(fresh_tree.data_dir, "object", "test", workers=2, progress=False)
    assert (report.written, report.skipped) == (2, len(names) - 2)
    assert not stale.exists()
    assert _all_bytes(out) == before


def test_corrupt_or_missing_raw_files_are_reported_by_name(
    fresh_tree: OakInkTree, capsys: pytest.CaptureFixture[str]
) -> None:
    reader = OakInkImageReader(fresh_tree.data_dir, data_split="test", mode_split="subject")
    corrupt = fresh_tree.root / "anno" / "hand_v" / f"{reader.info_str_list[2]}.pkl"
    corrupt.write_bytes(b"\x80\x04not a pickle at all")
    missing = fresh_tree.root / "anno" / "cam_intr" / f"{reader.info_str_list[5]}.pkl"
    missing.unlink()
    argv = ["--data_dir", str(fresh_tree.data_dir), "--mode_split", "subject"]
    argv += ["--data_split", "test", "--workers", "2", "--no_progress"]
    assert pack_main(argv) == 1
    err = capsys.readouterr().err
    assert str(corrupt) in err and str(missing) in err
    assert "2 sample(s) could not be packed" in err
    out = _packed_dir(fresh_tree, "subject", "test")
    packed = sorted(path.stem for path in out.glob("*.pkl"))
    others = [n for i, n in enumerate(reader.info_str_list) if i not in (2, 5)]
    assert packed == sorted(others)  # the rest carried on
    assert not (out / "index.json").exists()  # incomplete: no index


def test_cli_honours_data_dir_and_all(
    fresh_tree: OakInkTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    argv = ["--data_dir", str(fresh_tree.data_dir), "--all", "--workers", "1", "--no_progress"]
    assert pack_main(argv) == 0
    assert not (elsewhere / "data").exists()
    packed = {(p.parent.name, p.name) for p in (fresh_tree.root / "anno_packed").glob("*/*")}
    assert packed == set(CONFIG_PAIRS)
    for mode, split in CONFIG_PAIRS:
        assert (_packed_dir(fresh_tree, mode, split) / "index.json").is_file()


def test_cli_setup_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert pack_main(["--data_dir", str(tmp_path / "nowhere"), "--no_progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: OakInk split file") and "seq_all.json" in err
    assert len(err.splitlines()) == 1


def _start_packer(data_dir: Path) -> subprocess.Popen:
    command = [sys.executable, str(REPO / "dev" / "pack_oakink_image.py"), "--data_dir"]
    command += [str(data_dir), "--data_split", "all", "--workers", "2", "--no_progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL)


@pytest.mark.slow
def test_killed_run_resumes_to_identical_files(tmp_path: Path) -> None:
    scale = 20
    tree = make_oakink_tree(tmp_path / "killed" / "OakInk", images=False, frames_scale=scale)
    total = len(tree.samples)
    out = _packed_dir(tree, "default", "all")
    process = _start_packer(tree.data_dir)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("*.pkl"))) < 20:
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGSTOP)  # freeze the packer and its workers at once
    done = len(list(out.glob("*.pkl")))
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert 20 <= done < total, "the packer was not stopped mid-run"
    assert not (out / "index.json").exists()
    rerun = _start_packer(tree.data_dir)
    assert rerun.wait(timeout=300) == 0
    clean = make_oakink_tree(tmp_path / "clean" / "OakInk", images=False, frames_scale=scale)
    report = pack_split(clean.data_dir, "default", "all", progress=False)
    assert report.complete and report.total == total
    assert _all_bytes(out) == _all_bytes(_packed_dir(clean, "default", "all"))
