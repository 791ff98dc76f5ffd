"""What HandOccNet's HO3D and DexYCB readers share: paths, images, cameras and crop boxes.

Crop boxes follow ``common/utils/preprocessing.py`` of the original:

* from 2D joints (HO3D train, DexYCB train and test): ``get_bbox`` (the tight box of the joints,
  each side x1.5) then ``process_bbox`` (x1.0): the box is clipped to the image — a box reaching
  past the left or top border is SHIFTED inside (it keeps its width), one past the right or bottom
  border is cut — made square, and expanded; None when nothing is left (train samples are then
  dropped, DexYCB test samples fall back to the whole image ``[0, 0, W - 1, H - 1]``);
* from an annotated box (HO3D evaluation): ``process_bbox`` (x1.5).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from handmesh.data.coco_json import coco_array
from handmesh.data.datasets.base import HandDataset
from handmesh.errors import ArgumentError, DataError, DataNotFoundError
from handmesh.geometry.crop import bbox_xywh_from_joints, process_bbox

__all__ = [
    "JOINT_BOX_EXPANSION",
    "cam_intrinsics",
    "check_dataset_dir",
    "common_kwargs",
    "image_size",
    "joint_box",
    "read_rgb",
    "stack_fields",
]

JOINT_BOX_EXPANSION = 1.5
"""``get_bbox`` expansion factor of HandOccNet's joint boxes."""


def common_kwargs(
    dataset: type[HandDataset], cfg: Mapping[str, Any], data_preset: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The constructor arguments HO3D and DexYCB read the same way from their ``DATASET.*``
    node: ``data_root`` (DATA_ROOT), ``data_split`` (DATA_SPLIT, default train), ``seed`` (SEED)
    and the ``transform`` of DATA_PRESET with AUG / AUG_PARAM."""
    split = str(cfg.get("DATA_SPLIT", "train"))
    transform = dataset.transform_from_preset(
        data_preset, split, aug=bool(cfg.get("AUG", False)), aug_param=cfg.get("AUG_PARAM")
    )
    return {
        "data_root": str(cfg["DATA_ROOT"]),
        "data_split": split,
        "transform": transform,
        "seed": int(cfg.get("SEED", 0)),
    }


def check_dataset_dir(data_root: str | os.PathLike[str], subdir: str, dataset: str) -> str:
    """``data_root/subdir`` if it is a folder, else a DataNotFoundError saying what goes where."""
    root = os.fspath(data_root)
    path = os.path.join(root, subdir)
    if not os.path.isdir(path):
        raise DataNotFoundError(
            f"{dataset}: {path!r} does not exist (DATA_ROOT {root!r} must be the folder holding "
            f"{subdir.split(os.sep)[0]}/, as HandOccNet's data/)"
        )
    return path


def image_size(image: Mapping[str, Any], source: str) -> tuple[int, int]:
    """(W, H) of a COCO image record that must have ``file_name``, ``width`` and ``height``."""
    size = (int(image.get("width", 0)), int(image.get("height", 0)))
    if min(size) <= 0 or not isinstance(image.get("file_name"), str):
        raise DataError(f"{source} image {image['id']!r}: needs file_name, width and height")
    return size


def stack_fields(
    fields: Mapping[str, list[Any]], shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, np.ndarray]:
    """Per-sample lists -> compact arrays (safe to share with forked DataLoader workers).

    ``shapes`` gives the per-sample shape of the float32 fields; ``file_name`` becomes bytes,
    ``size`` int32 (N, 2), ``is_left`` bool; other fields (ids) keep numpy's choice.
    """
    out: dict[str, np.ndarray] = {}
    for key, values in fields.items():
        if key == "file_name":
            out[key] = np.asarray(values, dtype=np.bytes_)
        elif key == "size":
            out[key] = np.asarray(values, dtype=np.int32).reshape(-1, 2)
        elif key == "is_left":
            out[key] = np.asarray(values, dtype=bool)
        elif key in shapes:
            out[key] = np.asarray(values, dtype=np.float32).reshape(-1, *shapes[key])
        else:
            out[key] = np.asarray(values)
    return out


def read_rgb(path: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB image (EXIF orientation ignored, as the original ``load_img``).

    ``size`` (W, H), when given, must match the image (the annotation's ``width`` / ``height``).
    """
    if not os.path.isfile(path):
        raise DataNotFoundError(f"image {path!r} does not exist")
    image = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise DataError(f"image {path!r} cannot be decoded")
    if size is not None and (image.shape[1], image.shape[0]) != tuple(size):
        raise DataError(
            f"image {path!r} is {image.shape[1]}x{image.shape[0]} but its annotation says "
            f"{size[0]}x{size[1]}"
        )
    return np.ascontiguousarray(image[:, :, ::-1])


def cam_intrinsics(annotation: Mapping[str, Any], where: str) -> np.ndarray:
    """(3, 3) float32 pinhole matrix from ``cam_param`` {``focal``: [fx, fy], ``princpt``: [cx, cy]}."""
    focal = coco_array(annotation, "cam_param.focal", (2,), where)
    princpt = coco_array(annotation, "cam_param.princpt", (2,), where)
    return np.array(
        [[focal[0], 0.0, princpt[0]], [0.0, focal[1], princpt[1]], [0.0, 0.0, 1.0]],
        dtype=np.float32,
    )


def joint_box(
    joints_2d: np.ndarray,
    image_size: tuple[int, int],
    expansion: float = JOINT_BOX_EXPANSION,
    aspect_ratio: float = 1.0,
) -> np.ndarray | None:
    """HandOccNet's crop box of a hand from its (21, 2) pixel joints: ``get_bbox(x expansion)``
    then ``process_bbox(x 1.0)`` in an image of ``image_size`` (W, H); (4,) xywh or None."""
    if expansion <= 0:
        raise ArgumentError(f"joint_box: expansion must be > 0, got {expansion}")
    tight = bbox_xywh_from_joints(joints_2d, expansion=expansion)
    return process_bbox(tight, image_size, aspect_ratio=aspect_ratio, expansion=1.0)
