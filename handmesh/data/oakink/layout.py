"""Where things are in an OakInk-Image release (v2.1), and how samples are named.

The tree below ``<data_dir>/image`` (``data_dir`` is oikit's ``OAKINK_DIR``, e.g. ``data/OakInk``;
OakInk-HMR's ``DATA_ROOT: data`` means ``data/OakInk/image``)::

    anno/seq_all.json, anno/seq_status.json
    anno/split/{split0,split0_ho,split1,split2}/seq_{train,test}.json
    anno/split_train_val/{split0,split1,split2}/example_split_{train,val}.json
    anno/{general_info,cam_intr,hand_j,hand_v,obj_transf}/<info_str>.pkl
    obj/<obj_id>.obj | .ply
    stream_release_v2/<seq_id>/<timestamp>/<cam_name>_<frame>.png
    anno_packed/<mode_split>/<data_split>/<info_str>.pkl   (written by dev/pack_oakink_image.py)

A sample is an *info item* ``["<seq_id>/<timestamp>", sbj_flag, frame_idx, cam_id]``; its
``info_str`` joins the items with ``"__"`` and replaces ``"/"`` by ``"__"``, e.g.
``A01001_0001_0000__2021-09-26-19-59-58__0__123__2``. ``seq_id`` is
``<obj_id>_<intent_id>_<subject_id>[_<subject_id_2>]``; intent 0004 (handover) has two subjects and
``sbj_flag`` 0/1 selects the hand, both hands sharing one image.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from handmesh.errors import ArgumentError

__all__ = [
    "ANNOTATION_KINDS",
    "CAMERA_NAMES",
    "DATA_SPLITS",
    "HANDOVER_INTENT",
    "INTENTS",
    "MODE_SPLITS",
    "InfoItem",
    "SeqCategory",
    "annotation_path",
    "decode_seq_cat",
    "image_path",
    "image_root",
    "info_str",
    "packed_dir",
    "split_file",
]

CAMERA_NAMES = ("north_east_color", "south_east_color", "north_west_color", "south_west_color")
"""Image file prefix of each ``cam_id`` (0-3)."""

MODE_SPLITS = {
    "default": "split0",
    "subject": "split1",
    "object": "split2",
    "handobject": "split0_ho",
}
"""``mode_split`` -> split folder: SP0 by view, SP1 by subject, SP2 by object, view split restricted
to hand-object contact frames."""

DATA_SPLITS = ("all", "train+val", "train", "val", "test")

INTENTS = {"0001": "use", "0002": "hold", "0003": "liftup", "0004": "handover"}
HANDOVER_INTENT = "0004"

ANNOTATION_KINDS = ("general_info", "cam_intr", "hand_j", "hand_v", "obj_transf")

InfoItem = tuple[str, int, int, int]
"""(``"<seq_id>/<timestamp>"``, sbj_flag, frame_idx, cam_id)."""


class SeqCategory(NamedTuple):
    """The fields of a ``seq_id``: object, intent and the one or two subjects."""

    obj_id: str
    intent_id: str
    subject_ids: tuple[str, ...]


def decode_seq_cat(seq_id: str) -> SeqCategory:
    """Split ``"<obj>_<intent>_<subject>[_<subject2>]"`` (two subjects only for handover)."""
    fields = seq_id.split("_")
    if len(fields) < 3:
        raise ArgumentError(
            f"OakInk seq_id {seq_id!r}: expected <obj>_<intent>_<subject>[_<subject>]"
        )
    subjects = tuple(fields[2:4]) if fields[1] == HANDOVER_INTENT else (fields[2],)
    return SeqCategory(fields[0], fields[1], subjects)


def info_str(item: InfoItem) -> str:
    """The file stem of a sample: the items joined by ``"__"``, ``"/"`` replaced by ``"__"``."""
    return "__".join(str(x) for x in item).replace("/", "__")


def image_root(data_dir: str | os.PathLike) -> str:
    """``<data_dir>/image``, the OakInk-Image root."""
    return os.path.join(os.fspath(data_dir), "image")


def image_path(root: str | os.PathLike, item: InfoItem) -> str:
    """``<root>/stream_release_v2/<seq_id>/<timestamp>/<cam_name>_<frame>.png``, joined as oikit
    joins it (``os.path.join``, no normalisation)."""
    seq, _, frame, cam = item
    offset = os.path.join(seq, f"{CAMERA_NAMES[cam]}_{frame}.png")
    return os.path.join(os.fspath(root), "stream_release_v2", offset)


def annotation_path(root: str | os.PathLike, kind: str, name: str) -> Path:
    """``<root>/anno/<kind>/<info_str>.pkl`` for ``kind`` in ANNOTATION_KINDS."""
    if kind not in ANNOTATION_KINDS:
        raise ArgumentError(
            f"OakInk annotation kind must be one of {ANNOTATION_KINDS}, got {kind!r}"
        )
    return Path(root) / "anno" / kind / f"{name}.pkl"


def split_file(root: str | os.PathLike, mode_split: str, data_split: str) -> Path:
    """The JSON list of info items of (``mode_split``, ``data_split``), as oikit chooses it.

    ``all`` is ``anno/seq_all.json`` whatever the mode; ``train+val`` and ``test`` come from
    ``anno/split/<key>/seq_{train,test}.json``; ``train`` and ``val`` from
    ``anno/split_train_val/<key>/example_split_{train,val}.json``.
    """
    if data_split not in DATA_SPLITS:
        raise ArgumentError(f"OakInk data_split must be one of {DATA_SPLITS}, got {data_split!r}")
    if mode_split not in MODE_SPLITS:
        raise ArgumentError(
            f"OakInk mode_split must be one of {tuple(MODE_SPLITS)}, got {mode_split!r}"
        )
    anno = Path(root) / "anno"
    key = MODE_SPLITS[mode_split]
    if data_split == "all":
        return anno / "seq_all.json"
    if data_split == "train+val":
        return anno / "split" / key / "seq_train.json"
    if data_split == "test":
        return anno / "split" / key / "seq_test.json"
    return anno / "split_train_val" / key / f"example_split_{data_split}.json"


def packed_dir(root: str | os.PathLike, mode_split: str, data_split: str) -> Path:
    """``<root>/anno_packed/<mode_split>/<data_split>``, where the packer writes a split."""
    split_file(root, mode_split, data_split)  # validates both names
    return Path(root) / "anno_packed" / mode_split / data_split
