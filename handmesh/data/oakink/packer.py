"""Pack OakInk-Image annotations for a (mode_split, data_split): parallel, resumable, reporting.

``pack_split`` writes one packed file per sample (``packed.py``) under
``<data_dir>/image/anno_packed/<mode_split>/<data_split>/``:

* in ``workers`` processes (chunks of samples), with a tqdm progress bar;
* each file atomically, so a killed run leaves only complete files (and temp files, removed by
  the next run);
* skipping files already complete (they unpickle with every key and shape), so a rerun resumes;
* a sample whose raw file is missing or corrupt is reported by name and the others carry on; the
  failures come back in the report, sorted by sample position;
* ``index.json`` is written once the whole split is packed.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from handmesh.data.oakink.layout import InfoItem, image_root, info_str, packed_dir, split_file
from handmesh.data.oakink.packed import pack_sample, read_packed, write_index, write_packed
from handmesh.data.oakink.reader import load_seq_status
from handmesh.data.oakink.splits import read_info_file
from handmesh.errors import ArgumentError, HandmeshError

__all__ = ["CONFIG_PAIRS", "PackFailure", "PackReport", "pack_split"]

CONFIG_PAIRS = tuple(
    (mode, split) for mode in ("default", "subject", "object") for split in ("train+val", "test")
)
"""Every (mode_split, data_split) the nine published ``config/oii`` configs read."""

WRITTEN, SKIPPED, FAILED = "written", "skipped", "failed"


@dataclass(frozen=True)
class PackFailure:
    """A sample that could not be packed: its position, ``info_str`` and the error (which names
    the file)."""

    position: int
    info_str: str
    error: str


@dataclass
class PackReport:
    """What one ``pack_split`` did."""

    mode_split: str
    data_split: str
    out_dir: Path
    total: int
    written: int = 0
    skipped: int = 0
    failures: list[PackFailure] = field(default_factory=list)
    index_path: Path | None = None

    @property
    def complete(self) -> bool:
        return not self.failures and self.written + self.skipped == self.total


_WORKER: dict[str, Any] = {}


def _init_worker(root: str, out_dir: str, seq_status: dict[str, Any]) -> None:
    _WORKER.update(root=root, out_dir=out_dir, seq_status=seq_status)


def _pack_one(position: int, item: InfoItem) -> tuple[int, str, str]:
    name = info_str(item)
    path = os.path.join(_WORKER["out_dir"], f"{name}.pkl")
    if os.path.exists(path):
        try:
            read_packed(path)
            return position, SKIPPED, ""
        except HandmeshError:
            pass  # incomplete or stale: pack it again
    try:
        record = pack_sample(_WORKER["root"], item, _WORKER["seq_status"])
        write_packed(path, record)
    except (HandmeshError, OSError) as error:
        return position, FAILED, str(error)
    return position, WRITTEN, ""


def _pack_chunk(chunk: Sequence[tuple[int, InfoItem]]) -> list[tuple[int, str, str]]:
    return [_pack_one(position, item) for position, item in chunk]


def _chunks(items: Sequence[InfoItem], size: int) -> Iterator[list[tuple[int, InfoItem]]]:
    for start in range(0, len(items), size):
        yield [(start + i, item) for i, item in enumerate(items[start : start + size])]


def _remove_stale_temp_files(out_dir: Path) -> None:
    """Temp files an earlier, killed run left behind (atomic writes name them ``.<name>.*.tmp``)."""
    for tmp in out_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def pack_split(
    data_dir: str | os.PathLike,
    mode_split: str = "default",
    data_split: str = "all",
    *,
    workers: int = 1,
    chunk_size: int = 64,
    progress: bool = True,
    on_failure: Callable[[PackFailure], None] | None = None,
) -> PackReport:
    """Pack every sample of (``mode_split``, ``data_split``) of the release under ``data_dir``.

    Args:
        data_dir: the folder holding ``image/`` (oikit's ``OAKINK_DIR``, e.g. ``data/OakInk``).
        mode_split, data_split: the split (``layout.MODE_SPLITS``, ``layout.DATA_SPLITS``).
        workers: processes; 1 packs in this process.
        chunk_size: samples per task handed to a worker.
        progress: show a tqdm bar.
        on_failure: called with each failure as it arrives (e.g. to print it).

    Raises:
        DataNotFoundError / DataError: the split file or ``seq_status.json`` is missing or
            malformed (nothing can be packed). Per-sample problems are reported, not raised.
    """
    if int(workers) < 1:
        raise ArgumentError(f"pack_split: workers must be >= 1, got {workers}")
    if int(chunk_size) < 1:
        raise ArgumentError(f"pack_split: chunk_size must be >= 1, got {chunk_size}")
    root = image_root(data_dir)
    split_path = split_file(root, mode_split, data_split)
    info_list = read_info_file(split_path)
    seq_status = load_seq_status(root)
    out_dir = packed_dir(root, mode_split, data_split)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files(out_dir)
    report = PackReport(mode_split, data_split, out_dir, total=len(info_list))
    names = [info_str(item) for item in info_list]
    counts = {WRITTEN: 0, SKIPPED: 0}
    bar = tqdm(
        total=len(info_list),
        desc=f"pack {mode_split}/{data_split}",
        unit="sample",
        disable=not progress,
        dynamic_ncols=True,
    )
    chunks = _chunks(info_list, int(chunk_size))
    init_args = (root, str(out_dir), seq_status)
    try:
        if int(workers) == 1:
            _init_worker(*init_args)
            results: Iterator[list[tuple[int, str, str]]] = map(_pack_chunk, chunks)
            _collect(results, report, names, counts, bar, on_failure)
        else:
            context = multiprocessing.get_context()
            with context.Pool(int(workers), _init_worker, init_args) as pool:
                results = pool.imap_unordered(_pack_chunk, chunks)
                _collect(results, report, names, counts, bar, on_failure)
    finally:
        bar.close()
    report.written, report.skipped = counts[WRITTEN], counts[SKIPPED]
    report.failures.sort(key=lambda failure: failure.position)
    if report.complete:
        report.index_path = write_index(
            out_dir,
            mode_split=mode_split,
            data_split=data_split,
            split_path=split_path,
            info_strs=names,
        )
    return report


def _collect(
    results: Iterator[list[tuple[int, str, str]]],
    report: PackReport,
    names: list[str],
    counts: dict[str, int],
    bar: tqdm,
    on_failure: Callable[[PackFailure], None] | None,
) -> None:
    for chunk in results:
        for position, status, error in chunk:
            if status == FAILED:
                failure = PackFailure(position, names[position], error)
                report.failures.append(failure)
                if on_failure is not None:
                    on_failure(failure)
            else:
                counts[status] += 1
        bar.update(len(chunk))
        if report.failures:
            bar.set_postfix(failed=len(report.failures), refresh=False)
