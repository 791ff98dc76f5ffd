"""A hand box from a JSON of 2D hand keypoints written by any detector.

Accepted layouts (pixels of the input image; a third value per point is a confidence, and points
with confidence <= 0 are ignored, as OpenPose marks missed joints):

* a list of points: ``[[x, y], ...]`` or ``[[x, y, score], ...]``;
* an object with ``keypoints`` (a list of points, or COCO's flat ``[x1, y1, v1, x2, ...]``) and
  optionally ``keypoint_scores`` (MMPose / ViTPose);
* OpenPose's ``{"people": [{"hand_right_keypoints_2d": [x1, y1, c1, ...], ...}]}`` (the first
  person; ``hand_left_keypoints_2d`` for a left hand).

The box is HandOccNet's joint box (``get_bbox`` x1.5, then ``process_bbox`` x1.0), the one its
networks were trained on.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from handmesh.data.datasets.handoccnet_common import joint_box
from handmesh.errors import DataError, DataNotFoundError

__all__ = ["box_from_keypoints", "read_keypoints_json"]

MIN_POINTS = 2


def _points(value: Any, scores: Any, where: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: keypoints must be numbers") from None
    if array.ndim == 1:  # flat COCO / OpenPose triplets
        if array.size % 3:
            raise DataError(f"{where}: a flat keypoint list needs x, y, score triplets")
        array = array.reshape(-1, 3)
    if array.ndim != 2 or array.shape[1] not in (2, 3):
        raise DataError(f"{where}: keypoints must be N x 2 or N x 3, got shape {array.shape}")
    if scores is not None:
        score_array = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(score_array) != len(array):
            raise DataError(f"{where}: {len(score_array)} keypoint_scores for {len(array)} points")
        array = np.concatenate([array[:, :2], score_array[:, None]], 1)
    return array


def read_keypoints_json(path: str | os.PathLike[str], side: str = "right") -> np.ndarray:
    """The confident (N, 2) keypoints of one hand from ``path`` (layouts in the module doc)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataNotFoundError(f"keypoints file {path!r} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise DataError(f"keypoints file {path!r} is not valid JSON (line {err.lineno})") from None
    where = f"keypoints file {path!r}"
    if isinstance(data, dict) and "people" in data:
        people = data["people"]
        key = f"hand_{side}_keypoints_2d"
        if not people or key not in people[0]:
            raise DataError(f"{where}: OpenPose layout without people[0].{key}")
        array = _points(people[0][key], None, where)
    elif isinstance(data, dict):
        if "keypoints" not in data:
            raise DataError(f"{where}: expected a list of points or an object with 'keypoints'")
        array = _points(data["keypoints"], data.get("keypoint_scores"), where)
    else:
        array = _points(data, None, where)
    keep = np.isfinite(array[:, :2]).all(1)
    if array.shape[1] == 3:
        keep &= array[:, 2] > 0
    if keep.sum() < MIN_POINTS:
        raise DataError(f"{where}: fewer than {MIN_POINTS} confident keypoints")
    return array[keep, :2].astype(np.float32)


def box_from_keypoints(keypoints: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(4,) float32 square crop box ``[x, y, w, h]`` around (N, 2) keypoints in an image of
    ``image_size`` (W, H); raises ``DataError`` when the points lie outside the image."""
    box = joint_box(np.asarray(keypoints, dtype=np.float32), image_size)
    if box is None:
        raise DataError(
            f"the keypoints lie outside the {image_size[0]}x{image_size[1]} image: no hand box"
        )
    return box
