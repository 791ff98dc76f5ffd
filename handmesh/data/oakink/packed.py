"""The packed annotation format of ``dev/pack_oakink_image.py`` and its per-split index.

``<image_root>/anno_packed/<mode_split>/<data_split>/<info_str>.pkl`` is one pickled dict per
sample, the keys and values OakInk-HMR's packer writes (from oikit's getters):

============== =======================================================================
cam_intr       (3, 3) intrinsics, as stored in ``anno/cam_intr``
hand_j         (21, 3) camera-space joints, metres, as stored in ``anno/hand_j``
hand_v         (778, 3) camera-space MANO vertices, metres, as stored in ``anno/hand_v``
mano_pose      (16, 3) float32 axis-angle, root in the camera frame (``mano_pose.py``)
mano_shape     (10,) float32 betas
obj_transf     (4, 4) float32 T_c_o
sample_status  the sequence's ``seq_status.json`` entry
============== =======================================================================

The pickle protocol is fixed (4, Python 3.8+'s default, the original's), so a sample always packs
to the same bytes. Each split folder also gets ``index.json`` once every sample is packed: the
split file's SHA-256, the sample count and the ``info_str`` list, so a dataset checks a packed
split is complete by reading one file instead of 230k.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from handmesh.data.oakink.annotations import (
    ARRAY_SHAPES,
    as_array,
    load_array,
    load_general_info,
    mano_pose_from_general_info,
    mano_shape_from_general_info,
    read_pickle_file,
)
from handmesh.data.oakink.layout import InfoItem, info_str
from handmesh.errors import DataError, DataNotFoundError
from handmesh.io.atomic import atomic_write, atomic_write_text

__all__ = [
    "INDEX_FORMAT",
    "INDEX_NAME",
    "PACKED_KEYS",
    "PACK_PROTOCOL",
    "check_index",
    "dump_packed",
    "file_sha256",
    "missing_packed",
    "pack_sample",
    "read_index",
    "read_packed",
    "write_index",
    "write_packed",
]

PACKED_KEYS = (
    "cam_intr",
    "hand_j",
    "hand_v",
    "mano_pose",
    "mano_shape",
    "obj_transf",
    "sample_status",
)
PACK_PROTOCOL = 4
INDEX_NAME = "index.json"
INDEX_FORMAT = "handmesh.oakink.anno_packed/1"

_SHAPES = {**ARRAY_SHAPES, "mano_pose": (16, 3), "mano_shape": (10,)}


def pack_sample(root: str | os.PathLike, item: InfoItem, seq_status: dict[str, Any]) -> dict:
    """The packed dict of one sample, read from the raw annotations under ``root`` (the
    OakInk-Image root); key order and values as OakInk-HMR's packer."""
    name = info_str(item)
    info, source = load_general_info(root, name)
    seq = item[0]
    if seq not in seq_status:
        raise DataError(f"OakInk sequence {seq!r} (sample {name}) is not in seq_status.json")
    return {
        "cam_intr": load_array(root, "cam_intr", name),
        "hand_j": load_array(root, "hand_j", name),
        "hand_v": load_array(root, "hand_v", name),
        "mano_pose": mano_pose_from_general_info(info, source),
        "mano_shape": mano_shape_from_general_info(info, source),
        "obj_transf": load_array(root, "obj_transf", name).astype(np.float32),
        "sample_status": seq_status[seq],
    }


def dump_packed(record: dict) -> bytes:
    """The bytes of a packed file (fixed protocol: the same record gives the same bytes)."""
    return pickle.dumps(record, protocol=PACK_PROTOCOL)


def write_packed(path: str | os.PathLike, record: dict) -> None:
    """Write one packed file atomically (a temp file beside it, then a rename)."""
    data = dump_packed(record)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as file:
            file.write(data)

    atomic_write(path, write)


def read_packed(path: str | os.PathLike) -> dict[str, Any]:
    """A packed file, checked: every PACKED_KEYS entry present with its shape.

    Raises:
        DataNotFoundError: the file is missing.
        DataError: it is corrupt or lacks a key or has a wrong shape (the message names the file).
    """
    source = os.fspath(path)
    record = read_pickle_file(path, what="OakInk packed annotation")
    if not isinstance(record, dict):
        raise DataError(f"OakInk packed annotation file {source}: expected a dict")
    missing = [key for key in PACKED_KEYS if key not in record]
    if missing:
        raise DataError(f"OakInk packed annotation file {source} lacks keys {missing}")
    for key, shape in _SHAPES.items():
        as_array(np.asarray(record[key]), shape, source, key)
    return record


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_index(
    out_dir: str | os.PathLike,
    *,
    mode_split: str,
    data_split: str,
    split_path: str | os.PathLike,
    info_strs: list[str],
) -> Path:
    """Write ``<out_dir>/index.json`` (atomically) for a completely packed split."""
    path = Path(out_dir) / INDEX_NAME
    index = {
        "format": INDEX_FORMAT,
        "mode_split": mode_split,
        "data_split": data_split,
        "split_file": Path(split_path).name,
        "split_sha256": file_sha256(split_path),
        "count": len(info_strs),
        "info_str": list(info_strs),
    }
    atomic_write_text(path, json.dumps(index, indent=0))
    return path


def read_index(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    """``<out_dir>/index.json`` or None when there is none; DataError when it is malformed."""
    path = Path(out_dir) / INDEX_NAME
    try:
        with path.open("r", encoding="utf-8") as file:
            index = json.load(file)
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"OakInk packed index {path} is not valid JSON: {error}") from None
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT:
        raise DataError(f"OakInk packed index {path}: not a {INDEX_FORMAT} index")
    return index


def check_index(
    out_dir: str | os.PathLike, *, split_path: str | os.PathLike, info_strs: list[str]
) -> bool:
    """True when ``out_dir`` holds an index for exactly this split file and sample list; False
    when it has no index.

    Raises:
        DataError: the index belongs to another split file or sample list (re-run the packer).
    """
    index = read_index(out_dir)
    if index is None:
        return False
    path = Path(out_dir) / INDEX_NAME
    same = index.get("split_sha256") == file_sha256(split_path) and index.get("info_str") == list(
        info_strs
    )
    if not same:
        raise DataError(
            f"OakInk packed index {path} was written for another version of {split_path}: "
            "re-run dev/pack_oakink_image.py for this split"
        )
    return True


def missing_packed(out_dir: str | os.PathLike, info_strs: list[str]) -> list[str]:
    """The samples of ``info_strs`` with no ``<info_str>.pkl`` in ``out_dir`` (one listing)."""
    if not os.path.isdir(out_dir):
        raise DataNotFoundError(
            f"OakInk packed annotations {out_dir} are missing: run dev/pack_oakink_image.py"
        )
    present = {entry.name for entry in os.scandir(os.fspath(out_dir))}
    return [name for name in info_strs if f"{name}.pkl" not in present]
