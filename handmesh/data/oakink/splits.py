"""OakInk-Image sample lists: the split JSON files, read in their stored order, and handover pairs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from handmesh.data.oakink.layout import (
    CAMERA_NAMES,
    HANDOVER_INTENT,
    InfoItem,
    decode_seq_cat,
    split_file,
)
from handmesh.errors import DataError, DataNotFoundError

__all__ = ["handover_pairs", "load_info_list", "read_info_file"]


def read_info_file(path: str | os.PathLike) -> list[InfoItem]:
    """The info items of one split file, in the file's order (which is the dataset's order).

    Raises:
        DataNotFoundError: the file is missing.
        DataError: it is not JSON, or an entry is not ``["<seq_id>/<ts>", sbj_flag, frame,
            cam_id]`` (the message names the file and the entry's position).
    """
    path = Path(path)
    try:
        with path.open("r", encoding="utf-8") as file:
            entries = json.load(file)
    except FileNotFoundError:
        raise DataNotFoundError(
            f"OakInk split file {path} is missing (is DATA_ROOT / --data_dir the folder that "
            "holds OakInk/image, and is the annotation release unpacked?)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"OakInk split file {path} is not valid JSON: {error}") from None
    if not isinstance(entries, list):
        raise DataError(f"OakInk split file {path}: expected a JSON list of info items")
    return [_info_item(entry, path, position) for position, entry in enumerate(entries)]


def _info_item(entry: Any, path: Path, position: int) -> InfoItem:
    valid = (
        isinstance(entry, (list, tuple))
        and len(entry) == 4
        and isinstance(entry[0], str)
        and entry[0].count("/") == 1
        and all(isinstance(x, int) and not isinstance(x, bool) for x in entry[1:])
        and entry[1] in (0, 1)
        and 0 <= entry[3] < len(CAMERA_NAMES)
    )
    if not valid:
        raise DataError(
            f"OakInk split file {path}, entry {position}: expected "
            f'["<seq_id>/<timestamp>", sbj_flag 0|1, frame, cam_id 0-3], got {entry!r}'
        )
    return (entry[0], entry[1], entry[2], entry[3])


def load_info_list(root: str | os.PathLike, mode_split: str, data_split: str) -> list[InfoItem]:
    """The samples of (``mode_split``, ``data_split``) under the OakInk-Image ``root``, in order."""
    return read_info_file(split_file(root, mode_split, data_split))


def handover_pairs(info_list: list[InfoItem], source: str = "the sample list") -> dict[int, int]:
    """oikit's handover map as positions: each handover sample -> the other subject's sample.

    A handover (intent 0004) frame shows two hands in one image: items that differ only in
    ``sbj_flag``. oikit pairs them (``enable_handover``, split ``all``) and requires every pair to
    be complete.

    Raises:
        DataError: a handover item's partner is not in the list.
    """
    positions = {item: position for position, item in enumerate(info_list)}
    pairs: dict[int, int] = {}
    for position, item in enumerate(info_list):
        seq, sbj_flag, frame, cam = item
        if decode_seq_cat(seq.split("/")[0]).intent_id != HANDOVER_INTENT:
            continue
        partner = (seq, 1 - sbj_flag, frame, cam)
        if partner not in positions:
            raise DataError(
                f"OakInk {source}: handover sample {list(item)} has no partner {list(partner)} "
                "(both subjects of a handover frame must be listed)"
            )
        pairs[position] = positions[partner]
    return pairs
