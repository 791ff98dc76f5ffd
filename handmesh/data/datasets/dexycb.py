"""``DexYCB``: HandOccNet's DexYCB split s0 reader (``data/DEX_YCB/DEX_YCB.py`` of the original).

Layout (``data_root`` is the folder holding ``DEX_YCB/``, as HandOccNet's ``data/``)::

    DEX_YCB/data/annotations/DEX_YCB_s0_{train,test}_data.json
    DEX_YCB/data/<date>-subject-XX/<sequence>/<serial>/color_XXXXXX.jpg   (the images' file_name)

The JSONs are the authors' COCO-style files: ``images`` (``id``, ``file_name``, ``width``,
``height``) and one annotation per image with ``joints_coord_cam`` (21 x 3 m, OpenCV camera frame,
canonical order), ``joints_img`` (21 x 2 px), ``cam_param`` {``focal``, ``princpt``},
``hand_type`` (``right`` / ``left``) and ``mano_param`` {``pose`` 48 axis-angle for the hand's
own MANO layer, ``flat_hand_mean=False``; ``shape`` 10}.

Samples follow the annotation order of the file. Crop boxes come from the annotated 2D joints
(``handoccnet_common``); a train sample whose box is empty (hand outside the image) is dropped, a
test sample falls back to the whole image. Left hands are mirrored to right hands by the
transform (DESIGN §2). Given the MANO models (``WITH_MESH``), the raw samples also carry the
ground-truth mesh (``verts_3d``): the hand's own MANO layer (left or right, ``flat_hand_mean=False``,
MANO_LEFT.pkl's shapedirs as they are, as DexYCB's fits) posed with ``mano_param`` and moved so
that its wrist is the annotated wrist; it gives the mesh metrics that the original lacks (MPVPE,
F-scores).

Config (``DATASET.TRAIN`` / ``DATASET.TEST``): ``TYPE: DexYCB``, ``DATA_ROOT`` (the folder holding
``DEX_YCB/``), ``DATA_SPLIT`` (``train`` / ``test``), ``AUG``, ``AUG_PARAM``, ``SEED``,
``WITH_MESH`` (default: true for the test split; needs MANO_RIGHT.pkl and MANO_LEFT.pkl at
DATA_PRESET.MANO_ROOT). Evaluation protocol: MPJPE, HandOccNet's Umeyama PA-MPJPE and, with
meshes, MPVPE, PA-MPVPE (Umeyama) and F@5 / F@15 mm.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from handmesh.data.coco_json import coco_array, read_coco_json
from handmesh.data.datasets.base import HandDataset
from handmesh.data.datasets.handoccnet_common import (
    JOINT_BOX_EXPANSION,
    cam_intrinsics,
    check_dataset_dir,
    common_kwargs,
    image_size,
    joint_box,
    read_rgb,
    stack_fields,
)
from handmesh.data.datasets.predictions import PredictionExporter
from handmesh.data.transforms import HandTransform
from handmesh.errors import ArgumentError, DataError
from handmesh.mano.loader import ManoModelData, load_mano_from_preset
from handmesh.metrics.protocol import EvalProtocol
from handmesh.registry import DATASETS

__all__ = ["DexYCB"]

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")
FIELD_SHAPES = {
    "cam_intr": (3, 3),
    "joints_3d": (21, 3),
    "joints_2d": (21, 2),
    "bbox": (4,),
    "mano_pose": (48,),
    "mano_shape": (10,),
}
HAND_TYPES = ("right", "left")


@DATASETS.register()
class DexYCB(HandDataset):
    """DexYCB s0 as HandOccNet reads it.

    Args:
        data_root: the folder holding ``DEX_YCB/``.
        data_split: ``"train"`` or ``"test"``.
        transform: the crop/augment transform (HandOccNet preset: ``DATA_PRESET.TRANSFORM:
            handoccnet``, ``CENTER_IDX: 0``).
        seed: augmentation seed.
        mano_models: ``{"right": ManoModelData, "left": ...}`` for ground-truth meshes (None: no
            ``verts_3d``); read in ``from_config`` (``load_mano_from_preset``).
        bbox_expand_ratio: ``get_bbox`` expansion of the joint boxes (1.5).
    """

    name = "DexYCB"

    def __init__(
        self,
        data_root: str | os.PathLike[str],
        data_split: str = "train",
        transform: HandTransform | None = None,
        seed: int = 0,
        mano_models: Mapping[str, ManoModelData] | None = None,
        bbox_expand_ratio: float = JOINT_BOX_EXPANSION,
    ) -> None:
        super().__init__(transform, seed)
        if data_split not in SPLITS:
            raise ArgumentError(f"DexYCB: data_split must be one of {SPLITS}, got {data_split!r}")
        self.data_split = data_split
        self.root = check_dataset_dir(data_root, os.path.join("DEX_YCB", "data"), "DexYCB")
        self.annotation_path = os.path.join(
            self.root, "annotations", f"DEX_YCB_s0_{data_split}_data.json"
        )
        if mano_models is not None and set(mano_models) != set(HAND_TYPES):
            raise ArgumentError(
                f"DexYCB: mano_models must hold the 'right' and 'left' models, got "
                f"{sorted(mano_models)}"
            )
        self.mano_models = None if mano_models is None else dict(mano_models)
        self._mano: dict[str, Any] = {}  # side -> MANO layer, built lazily in each process
        self._load(float(bbox_expand_ratio))

    def _load(self, expansion: float) -> None:
        pairs = read_coco_json(self.annotation_path)
        name = os.path.basename(self.annotation_path)
        train = self.data_split == "train"
        with_mano = train or self.mano_models is not None
        fields: dict[str, list[Any]] = {
            key: [] for key in ("file_name", "size", "is_left", "image_id", "annotation_id")
        }
        fields.update({key: [] for key in FIELD_SHAPES})
        dropped = 0
        for ann, image in pairs:
            where = f"{name} annotation {ann['id']!r}"
            size = image_size(image, name)
            hand_type = ann.get("hand_type")
            if hand_type not in HAND_TYPES:
                raise DataError(f"{where}: hand_type must be 'right' or 'left', got {hand_type!r}")
            joints_2d = coco_array(ann, "joints_img", (21, 2), where)
            box = joint_box(joints_2d, size, expansion)
            if box is None:
                if train:
                    dropped += 1
                    continue
                box = np.array([0.0, 0.0, size[0] - 1.0, size[1] - 1.0], dtype=np.float32)
            fields["file_name"].append(image["file_name"])
            fields["size"].append(size)
            fields["cam_intr"].append(cam_intrinsics(ann, where))
            fields["joints_3d"].append(coco_array(ann, "joints_coord_cam", (21, 3), where))
            fields["joints_2d"].append(joints_2d)
            fields["is_left"].append(hand_type == "left")
            fields["bbox"].append(box)
            if with_mano:
                fields["mano_pose"].append(coco_array(ann, "mano_param.pose", (48,), where))
                fields["mano_shape"].append(coco_array(ann, "mano_param.shape", (10,), where))
            fields["image_id"].append(image["id"])
            fields["annotation_id"].append(ann["id"])
        if dropped:
            logger.info("DexYCB %s: %d samples without a crop box dropped", name, dropped)
        arrays = stack_fields(fields, FIELD_SHAPES)
        self.file_names, self.sizes = arrays["file_name"], arrays["size"]
        self.cam_intr, self.joints_3d = arrays["cam_intr"], arrays["joints_3d"]
        self.joints_2d, self.is_left, self.bboxes = (
            arrays["joints_2d"],
            arrays["is_left"],
            arrays["bbox"],
        )
        self.mano_pose, self.mano_shape = arrays["mano_pose"], arrays["mano_shape"]
        self.image_ids, self.annotation_ids = arrays["image_id"], arrays["annotation_id"]

    def __len__(self) -> int:
        return len(self.file_names)

    def image_path(self, idx: int) -> str:
        return os.path.join(self.root, self.file_names[idx].decode())

    def _gt_verts(self, idx: int, side: str) -> np.ndarray:
        """(778, 3) ground-truth mesh in the camera frame (metres), wrist on the annotated wrist."""
        if side not in self._mano:
            from handmesh.mano import MANO

            assert self.mano_models is not None
            self._mano[side] = MANO(side=side, flat_hand_mean=False, model=self.mano_models[side])
        layer = self._mano[side]
        with torch.no_grad():
            out = layer(
                torch.from_numpy(self.mano_pose[idx : idx + 1]),
                torch.from_numpy(self.mano_shape[idx : idx + 1]),
            )
        offset = self.joints_3d[idx, 0] - out.joints[0, 0].numpy()
        return (out.verts[0].numpy() + offset).astype(np.float32)

    def get_raw(self, idx: int) -> dict[str, Any]:
        """RawSample ``idx`` (keys.py RAW_KEYS) plus ``bbox_xywh``, the original's crop box in the
        raw (un-mirrored) image, and the annotation's ``image_id``."""
        idx = self._check_index(idx)
        side = "left" if self.is_left[idx] else "right"
        path = self.image_path(idx)
        raw: dict[str, Any] = {
            "image": read_rgb(path, tuple(self.sizes[idx])),
            "cam_intr": self.cam_intr[idx].copy(),
            "joints_3d": self.joints_3d[idx].copy(),
            "joints_2d": self.joints_2d[idx].copy(),
            "side": side,
            "bbox_xywh": self.bboxes[idx].copy(),
            "image_path": path,
            "image_id": int(self.image_ids[idx]),
        }
        if len(self.mano_pose):
            raw["mano_pose"] = self.mano_pose[idx].copy()
            raw["mano_shape"] = self.mano_shape[idx].copy()
        if self.mano_models is not None:
            raw["verts_3d"] = self._gt_verts(idx, side)
        return raw

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_mano"] = {}  # each worker builds its own layers
        return state

    def eval_protocol(self) -> EvalProtocol:
        """MPJPE and HandOccNet's Umeyama-aligned PA-MPJPE, plus the mesh metrics with meshes;
        the exporter writes the predictions mirrored back to each hand's side."""
        metrics = ["mpjpe", "pa_mpjpe_umeyama"]
        if self.mano_models is not None:
            metrics += ["mpvpe", "pa_mpvpe_umeyama", "f_score"]
        return EvalProtocol(metrics=metrics, exporters=[PredictionExporter(self)])

    CONFIG_KEYS = ("DATA_ROOT", "DATA_SPLIT", "AUG", "AUG_PARAM", "SEED", "WITH_MESH")
    REQUIRED_KEYS = ("DATA_ROOT",)

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], *, data_preset: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """From a ``DATASET.*`` node (keys in the module docstring) and DATA_PRESET."""
        split = str(cfg.get("DATA_SPLIT", "train"))
        with_mesh = bool(cfg.get("WITH_MESH", split == "test"))
        mano_models = (
            {side: load_mano_from_preset(data_preset, side) for side in HAND_TYPES}
            if with_mesh
            else None
        )
        return {**common_kwargs(cls, cfg, data_preset), "mano_models": mano_models}
