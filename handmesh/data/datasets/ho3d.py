"""``HO3D``: HandOccNet's HO-3D reader (``data/HO3D/HO3D.py`` of the original).

Layout (``data_root`` is the folder holding ``HO3D/``, as HandOccNet's ``data/``; HO-3D v3, whose
annotation files have the same format, lives in ``HO3D_v3/``)::

    HO3D/data/annotations/HO3D_{train,evaluation}_data.json
    HO3D/data/{train,evaluation}/<SEQ>/rgb/<frame>.png          (the images' file_name)

The JSONs are the authors' COCO-style files (``images``: ``id``, ``file_name``, ``width``,
``height``; one annotation per image):

* train: ``joints_coord_cam`` (21 x 3 m, OpenCV camera frame, canonical order), ``cam_param``
  {``focal``, ``princpt``}, ``mano_param`` {``pose`` 48, ``shape`` 10} (right hand,
  ``flat_hand_mean=False``). The 2D joints are the projection of the 3D joints; the crop box comes
  from them (``handoccnet_common``) and a sample whose box is empty is dropped.
* evaluation: ``root_joint_cam`` (3, m: the wrist), ``cam_param`` and ``bbox`` (xywh px); the crop
  box is ``process_bbox(bbox, x1.5)``. There is no ground truth here: predictions go to the HO-3D
  CodaLab server as a submission (``handmesh.io.write_ho3d_submission``).

Samples follow the annotation order of the file (the submission's order). Evaluation samples
(no joints) are cropped here with the transform's settings from the annotated box (crop, root,
crop intrinsics), since ``HandTransform`` needs 21 joints to build its box; predictions placed at
the annotated root go to ``pred.zip`` through the dataset's exporter.

Config (``DATASET.TRAIN`` / ``DATASET.TEST``): ``TYPE: HO3D``, ``DATA_ROOT`` (the folder holding
``HO3D/``), ``DATA_SPLIT`` (``train`` / ``evaluation``), ``VERSION`` (``v2`` / ``v3``), ``AUG``,
``AUG_PARAM``, ``SEED``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

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
from handmesh.data.datasets.predictions import HO3DSubmissionExporter
from handmesh.data.transforms import HandTransform
from handmesh.errors import ArgumentError, DataError
from handmesh.geometry.camera import project_points
from handmesh.geometry.crop import process_bbox
from handmesh.metrics.protocol import EvalProtocol
from handmesh.registry import DATASETS

__all__ = ["HO3D", "HO3D_VERSIONS"]

logger = logging.getLogger(__name__)

HO3D_VERSIONS = {"v2": "HO3D", "v3": "HO3D_v3"}
"""Dataset version -> folder under ``data_root``."""

SPLITS = {"train": "train", "evaluation": "evaluation", "test": "evaluation"}
FIELD_SHAPES = {
    "cam_intr": (3, 3),
    "joints_3d": (21, 3),
    "root_joint": (3,),
    "bbox": (4,),
    "mano_pose": (48,),
    "mano_shape": (10,),
}
EVAL_BOX_EXPANSION = 1.5
"""``process_bbox`` expansion of the annotated evaluation boxes."""


@DATASETS.register()
class HO3D(HandDataset):
    """HO-3D (v2, or v3 in the same format) as HandOccNet reads it.

    Args:
        data_root: the folder holding ``HO3D/`` (or ``HO3D_v3/``).
        data_split: ``"train"``, or ``"evaluation"`` (alias ``"test"``).
        transform: the crop/augment transform (HandOccNet preset: ``DATA_PRESET.TRANSFORM:
            handoccnet``, ``CENTER_IDX: 0``).
        seed: augmentation seed.
        version: ``"v2"`` or ``"v3"`` (the folder, see ``HO3D_VERSIONS``).
        bbox_expand_ratio: ``get_bbox`` expansion of the train joint boxes (1.5).
    """

    name = "HO3D"

    def __init__(
        self,
        data_root: str | os.PathLike[str],
        data_split: str = "train",
        transform: HandTransform | None = None,
        seed: int = 0,
        version: str = "v2",
        bbox_expand_ratio: float = JOINT_BOX_EXPANSION,
    ) -> None:
        super().__init__(transform, seed)
        if data_split not in SPLITS:
            raise ArgumentError(
                f"HO3D: data_split must be one of {tuple(SPLITS)}, got {data_split!r}"
            )
        if version not in HO3D_VERSIONS:
            raise ArgumentError(
                f"HO3D: version must be one of {tuple(HO3D_VERSIONS)}, got {version!r}"
            )
        self.data_split = SPLITS[data_split]
        self.version = version
        self.root = check_dataset_dir(
            data_root, os.path.join(HO3D_VERSIONS[version], "data"), "HO3D"
        )
        self.annotation_path = os.path.join(
            self.root, "annotations", f"HO3D_{self.data_split}_data.json"
        )
        self._load(float(bbox_expand_ratio))

    @property
    def has_ground_truth(self) -> bool:
        """Train samples have 3D joints and MANO; evaluation samples only the root and a box."""
        return self.data_split == "train"

    def _load(self, expansion: float) -> None:
        pairs = read_coco_json(self.annotation_path)
        name = os.path.basename(self.annotation_path)
        fields: dict[str, list[Any]] = {key: [] for key in ("file_name", "size", "image_id")}
        fields.update({key: [] for key in FIELD_SHAPES})
        dropped = 0
        for ann, image in pairs:
            where = f"{name} annotation {ann['id']!r}"
            size = image_size(image, name)
            intr = cam_intrinsics(ann, where)
            if self.has_ground_truth:
                joints_3d = coco_array(ann, "joints_coord_cam", (21, 3), where)
                box = joint_box(project_points(joints_3d, intr), size, expansion)
                if box is None:
                    dropped += 1
                    continue
                fields["joints_3d"].append(joints_3d)
                fields["root_joint"].append(joints_3d[0])
                fields["mano_pose"].append(coco_array(ann, "mano_param.pose", (48,), where))
                fields["mano_shape"].append(coco_array(ann, "mano_param.shape", (10,), where))
            else:
                fields["root_joint"].append(coco_array(ann, "root_joint_cam", (3,), where))
                box = process_bbox(
                    coco_array(ann, "bbox", (4,), where), size, expansion=EVAL_BOX_EXPANSION
                )
                if box is None:
                    raise DataError(f"{where}: 'bbox' lies outside the {size[0]}x{size[1]} image")
            fields["file_name"].append(image["file_name"])
            fields["size"].append(size)
            fields["cam_intr"].append(intr)
            fields["bbox"].append(box)
            fields["image_id"].append(image["id"])
        if dropped:
            logger.info("HO3D %s: %d samples without a crop box dropped", name, dropped)
        arrays = stack_fields(fields, FIELD_SHAPES)
        self.file_names, self.sizes = arrays["file_name"], arrays["size"]
        self.cam_intr, self.joints_3d = arrays["cam_intr"], arrays["joints_3d"]
        self.root_joints, self.bboxes = arrays["root_joint"], arrays["bbox"]
        self.mano_pose, self.mano_shape = arrays["mano_pose"], arrays["mano_shape"]
        self.image_ids = arrays["image_id"]

    def __len__(self) -> int:
        return len(self.file_names)

    def image_path(self, idx: int) -> str:
        return os.path.join(self.root, self.data_split, self.file_names[idx].decode())

    def get_raw(self, idx: int) -> dict[str, Any]:
        """RawSample ``idx``: train samples have every RAW_KEYS entry (no mesh); evaluation
        samples have ``image``, ``cam_intr``, ``root_joint`` (3,) m and ``side``. Both add
        ``bbox_xywh``, the original's crop box, and ``image_id``."""
        idx = self._check_index(idx)
        path = self.image_path(idx)
        raw: dict[str, Any] = {
            "image": read_rgb(path, tuple(self.sizes[idx])),
            "cam_intr": self.cam_intr[idx].copy(),
            "root_joint": self.root_joints[idx].copy(),
            "side": "right",
            "bbox_xywh": self.bboxes[idx].copy(),
            "image_path": path,
            "image_id": int(self.image_ids[idx]),
        }
        if self.has_ground_truth:
            raw["joints_3d"] = self.joints_3d[idx].copy()
            raw["joints_2d"] = project_points(self.joints_3d[idx], self.cam_intr[idx])
            raw["mano_pose"] = self.mano_pose[idx].copy()
            raw["mano_shape"] = self.mano_shape[idx].copy()
        return raw

    def __getitem__(self, idx: int) -> dict[str, Any]:
        if self.has_ground_truth:
            return super().__getitem__(idx)
        idx = self._check_index(int(idx))
        return self.evaluation_sample(self.get_raw(idx), idx)

    def evaluation_sample(self, raw: Mapping[str, Any], idx: int) -> dict[str, Any]:
        """An evaluation sample: the annotated box cropped with the transform's crop size and
        normalisation (no augmentation), ``target_root_joint`` (the annotated wrist, metres),
        ``target_cam_intr`` of the crop, the affine and the box."""
        return {
            **self.transform.crop_inputs(raw),
            "target_root_joint": torch.from_numpy(raw["root_joint"]),
            "sample_idx": idx,
        }

    def eval_protocol(self) -> EvalProtocol:
        """Evaluation split: no local metric (the numbers come from the HO-3D server), the
        CodaLab submission zip. Train split (joints, no meshes): MPJPE and PA-MPJPE."""
        if self.has_ground_truth:
            return EvalProtocol(metrics=["mpjpe", "pa_mpjpe"])
        return EvalProtocol(metrics=["server_side"], exporters=[HO3DSubmissionExporter(self)])

    CONFIG_KEYS = ("DATA_ROOT", "DATA_SPLIT", "VERSION", "AUG", "AUG_PARAM", "SEED")
    REQUIRED_KEYS = ("DATA_ROOT",)

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], *, data_preset: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """From a ``DATASET.*`` node (keys in the module docstring) and DATA_PRESET."""
        return {**common_kwargs(cls, cfg, data_preset), "version": str(cfg.get("VERSION", "v2"))}
