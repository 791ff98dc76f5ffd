"""A small reader for COCO-style annotation JSONs (no pycocotools).

The format (HandOccNet's HO3D / DexYCB files, and COCO itself) is one JSON object with an
``images`` list (each with an ``id``) and an ``annotations`` list (each with an ``id`` and the
``image_id`` of its image). :func:`read_coco_json` pairs every annotation with its image, in the
order the annotations appear in the file: the order pycocotools' ``COCO(path).anns`` iterates in.
Where pycocotools would silently keep only the last of two entries sharing an id, this reader
refuses the file and names the id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from handmesh.errors import DataError, DataNotFoundError

__all__ = ["CocoPair", "coco_array", "read_coco_json"]


class CocoPair(NamedTuple):
    """One annotation and the image record it points to (both the JSON objects as dicts)."""

    annotation: dict[str, Any]
    image: dict[str, Any]


def _load(path: str) -> Any:
    if not os.path.isfile(path):
        raise DataNotFoundError(f"annotation file {path!r} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise DataError(
            f"annotation file {path!r} is not valid JSON (line {err.lineno}, column {err.colno}): "
            f"{err.msg}"
        ) from None
    except UnicodeDecodeError as err:
        raise DataError(f"annotation file {path!r} is not UTF-8 text: {err}") from None


def _records(data: Mapping[str, Any], key: str, path: str) -> list[dict[str, Any]]:
    records = data.get(key)
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a list under {key!r}, got {type(records).__name__}")
    for index, record in enumerate(records):
        if not isinstance(record, dict) or "id" not in record:
            raise DataError(f"{path}: {key}[{index}] is not an object with an 'id'")
    return records


def read_coco_json(path: str | os.PathLike[str]) -> list[CocoPair]:
    """Read a COCO-style JSON: ``(annotation, image)`` pairs in annotation file order.

    Raises:
        DataNotFoundError: the file does not exist.
        DataError: not JSON, no ``images`` / ``annotations`` lists, a record without ``id``, a
            duplicated id, or an annotation whose ``image_id`` names no image (the message names
            the file and the id).
    """
    path = os.fspath(path)
    data = _load(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object with 'images' and 'annotations'")
    images: dict[Any, dict[str, Any]] = {}
    for image in _records(data, "images", path):
        if image["id"] in images:
            raise DataError(f"{path}: image id {image['id']!r} appears twice in 'images'")
        images[image["id"]] = image
    pairs: list[CocoPair] = []
    seen: set[Any] = set()
    for ann in _records(data, "annotations", path):
        if ann["id"] in seen:
            raise DataError(f"{path}: annotation id {ann['id']!r} appears twice in 'annotations'")
        seen.add(ann["id"])
        found = images.get(ann.get("image_id"))
        if found is None:
            raise DataError(
                f"{path}: annotation id {ann['id']!r} has image_id {ann.get('image_id')!r}, "
                "which is not in 'images'"
            )
        pairs.append(CocoPair(ann, found))
    return pairs


def coco_array(
    record: Mapping[str, Any],
    key: str,
    shape: Sequence[int],
    where: str,
    dtype: type = np.float32,
) -> np.ndarray:
    """``record[key]`` (possibly nested, e.g. ``"cam_param.focal"``) as an array of ``shape``.

    ``where`` names the record in messages, e.g. ``"HO3D_train_data.json annotation 12"``.
    Raises ``DataError`` naming the key when it is missing or has another shape.
    """
    value: Any = record
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise DataError(f"{where}: missing key {key!r}")
        value = value[part]
    try:
        array: np.ndarray = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {key!r} must be numbers of shape {tuple(shape)}") from None
    if array.shape != tuple(shape):
        raise DataError(f"{where}: {key!r} must have shape {tuple(shape)}, got {array.shape}")
    return array
