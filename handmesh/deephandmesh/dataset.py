"""The DeepHandMesh dataset in its published layout: one RGB view in, several depth views out.

Layout under ``data_root`` (the original's ``data/``)::

    images/subject_{S}/<sequence>/cam<CAM>/image<NNNN>.jpg
    annotations/KRT_512
    annotations/keypoints/subject_{S}/keypoints{frame:04d}.pts
    annotations/depthmaps/subject_{S}/{frame:06d}/depthmap{CAM}.pkl

Sequences: subject 1 uses the folders starting ``00`` (right hand), the others those containing
``RT``; ``ROM`` sequences are excluded. Samples: every (sequence, colour camera ``40...``, jpg)
whose keypoint file exists, sorted (the original lists them in glob order). The original has no
train/test split and no augmentation; neither does this reader.

A sample (metres, like the rest of handmesh; the annotations are in mm):

=======================  ===================================================================
``image``                (3, H, W) float32 RGB crop in [0, 1] (no mean/std normalisation)
``target_joints_world``  (22, 3) world joints, m (missing ones at the original's 1 mm)
``target_joints_valid``  (22,) 0/1 (thumb0 and joints without a keypoint row are 0)
``target_depth_maps``    (N, h, w) depth crops of N colour views, m, 0 = no measurement
``target_depth_extr``    (N, 4, 4) world -> camera of those views, m
``target_depth_intr``    (N, 3, 3) their crop intrinsics (``[affine; 0 0 1] @ K``), pixels
``image_path``           str; ``sample_idx`` int
=======================  ===================================================================

The N depth views are drawn without replacement from the colour cameras (the original:
``random.sample`` per call), here from a generator seeded by (seed, epoch, index) so that runs
are reproducible; ``set_epoch`` selects the epoch's draws.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch

from handmesh.data.transforms.steps import IMAGE_NORMS, normalise_image
from handmesh.deephandmesh.annotations import (
    ORIGINAL_IMAGE_HW,
    KRTCamera,
    clip_bbox,
    crop_patch,
    joint_bbox,
    read_depth_map,
    read_keypoints,
    read_krt,
)
from handmesh.deephandmesh.constants import JOINT_NAMES
from handmesh.errors import ArgumentError, DataError, DataNotFoundError
from handmesh.registry import DATASETS

__all__ = ["COLOUR_CAMERA_PREFIX", "DeepHandMeshFrames", "sequence_names"]

COLOUR_CAMERA_PREFIX = "40"
MM_TO_M = 1e-3


def sequence_names(image_root: Path, subject: int) -> list[str]:
    """The sequences the original trains on, sorted (see the module docstring)."""
    if not image_root.is_dir():
        raise DataNotFoundError(f"DeepHandMesh: image directory {image_root} does not exist")
    names = sorted(p.name for p in image_root.iterdir() if p.is_dir())
    if subject == 1:
        names = [n for n in names if n.startswith("00")]
    else:
        names = [n for n in names if "RT" in n]
    return [n for n in names if "ROM" not in n]


@DATASETS.register("DeepHandMesh")
class DeepHandMeshFrames(torch.utils.data.Dataset):
    """Samples of the published DeepHandMesh dataset (see the module docstring).

    Config (``DATASET.TRAIN`` / ``DATASET.TEST`` node; the crop size is DATA_PRESET.IMAGE_SIZE
    and the image normalisation DATA_PRESET.IMAGE_NORM, ``unit`` as the original):
    ``TYPE: DeepHandMesh``, ``DATA_ROOT`` (required), ``SUBJECT`` (4), ``NUM_VIEWS`` (6),
    ``RENDER_SIZE`` ([W, H] of the depth crops, [256, 256]), ``SEED`` (0).

    Args:
        data_root: the directory holding ``images/`` and ``annotations/``.
        subject: subject id (the original trains and tests on 4 only).
        joint_names: the skeleton's joint names (``skeleton.txt`` order).
        num_views: depth views per sample (the original: 6).
        input_size: (H, W) of the RGB crop (256, 256).
        render_size: (H, W) of the depth crops (256, 256).
        seed: seeds the view draws.
        image_norm: "unit" (/255, the original) or "minus_half" (/255 - 0.5).
    """

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = (
        "DATA_ROOT", "SUBJECT", "NUM_VIEWS", "RENDER_SIZE", "SEED",
    )  # fmt: skip
    REQUIRED_KEYS: ClassVar[tuple[str, ...]] = ("DATA_ROOT",)

    def __init__(
        self,
        *,
        data_root: str | os.PathLike,
        subject: int = 4,
        joint_names: Sequence[str] = JOINT_NAMES,
        num_views: int = 6,
        input_size: Sequence[int] = (256, 256),
        render_size: Sequence[int] = (256, 256),
        seed: int = 0,
        image_norm: str = "unit",
    ) -> None:
        super().__init__()
        self.root = Path(data_root)
        if image_norm not in IMAGE_NORMS:
            raise ArgumentError(f"image_norm must be one of {IMAGE_NORMS}, got {image_norm!r}")
        self.image_norm = image_norm
        self.subject = int(subject)
        self.joint_names = tuple(joint_names)
        self.num_views = int(num_views)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.render_size = (int(render_size[0]), int(render_size[1]))
        self.seed = int(seed)
        self.epoch = 0
        annotations = self.root / "annotations"
        cameras = read_krt(annotations / "KRT_512")
        self.cameras: dict[str, KRTCamera] = {
            name: cam for name, cam in cameras.items() if name.startswith(COLOUR_CAMERA_PREFIX)
        }
        if self.num_views < 1 or self.num_views > len(self.cameras):
            raise ArgumentError(
                f"DeepHandMeshFrames: num_views must be 1..{len(self.cameras)} (the colour "
                f"cameras in {annotations / 'KRT_512'}), got {num_views}"
            )
        self.keypoint_dir = annotations / "keypoints" / f"subject_{self.subject}"
        self.depth_dir = annotations / "depthmaps" / f"subject_{self.subject}"
        self.frames: list[tuple[Path, str, int]] = []
        self._joints: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        image_root = self.root / "images" / f"subject_{self.subject}"
        for sequence in sequence_names(image_root, self.subject):
            for cam in self.cameras:
                for path in sorted((image_root / sequence / f"cam{cam}").glob("*.jpg")):
                    frame = self._frame_index(path)
                    if frame in self._joints or self._keypoint_path(frame).is_file():
                        self._joints.setdefault(frame, self._read_joints(frame))
                        self.frames.append((path, cam, frame))
        if not self.frames:
            raise DataNotFoundError(
                f"DeepHandMesh: no image with keypoints under {image_root} (expected "
                f"<sequence>/cam<CAM>/image<NNNN>.jpg and {self.keypoint_dir}/keypoints<NNNN>.pts)"
            )

    @staticmethod
    def _frame_index(path: Path) -> int:
        stem = path.stem
        if not stem.startswith("image") or not stem[5:].isdigit():
            raise DataError(f"DeepHandMesh: image name {path.name!r} is not image<NNNN>.jpg")
        return int(stem[5:])

    def _keypoint_path(self, frame: int) -> Path:
        return self.keypoint_dir / f"keypoints{frame:04d}.pts"

    def _read_joints(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        return read_keypoints(self._keypoint_path(frame), self.joint_names, "right")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.frames)

    def _bbox(self, cam: str, joints: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return clip_bbox(joint_bbox(self.cameras[cam], joints, valid), ORIGINAL_IMAGE_HW)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        if not -len(self) <= idx < len(self):
            raise IndexError(f"DeepHandMeshFrames: index {idx} out of range for {len(self)}")
        idx %= len(self)
        path, cam, frame = self.frames[idx]
        joints, valid = self._joints[frame]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is None:
            raise DataError(f"DeepHandMesh: cannot read image {path}")
        crop, _ = crop_patch(image[:, :, ::-1], self._bbox(cam, joints, valid), self.input_size)
        rng = np.random.default_rng([self.seed, self.epoch, idx])
        names = list(self.cameras)
        views = [names[i] for i in rng.choice(len(names), self.num_views, replace=False)]
        depths, extr, intr = [], [], []
        for view in views:
            camera = self.cameras[view]
            depth_path = self.depth_dir / f"{frame:06d}" / f"depthmap{view}.pkl"
            depth, affine = crop_patch(
                read_depth_map(depth_path), self._bbox(view, joints, valid), self.render_size
            )
            depths.append(depth * MM_TO_M)
            world_to_cam = np.eye(4, dtype=np.float32)
            world_to_cam[:3, :3] = camera.rotation
            world_to_cam[:3, 3] = -(camera.rotation @ camera.position) * MM_TO_M
            extr.append(world_to_cam)
            k = np.array([[camera.focal[0], 0.0, camera.princpt[0]],
                          [0.0, camera.focal[1], camera.princpt[1]], [0.0, 0.0, 1.0]])  # fmt: skip
            intr.append(np.vstack([affine, [0.0, 0.0, 1.0]]) @ k)
        return {
            "image": normalise_image(crop, self.image_norm),
            "target_joints_world": torch.from_numpy(joints * MM_TO_M).float(),
            "target_joints_valid": torch.from_numpy(valid).float(),
            "target_depth_maps": torch.from_numpy(np.stack(depths)).float(),
            "target_depth_extr": torch.from_numpy(np.stack(extr)).float(),
            "target_depth_intr": torch.from_numpy(np.stack(intr)).float(),
            "image_path": str(path),
            "sample_idx": idx,
        }

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], *, data_preset: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        preset = data_preset or {}
        width, height = preset.get("IMAGE_SIZE", (256, 256))
        render_w, render_h = cfg.get("RENDER_SIZE", (256, 256))
        return {
            "data_root": str(cfg["DATA_ROOT"]),
            "subject": int(cfg.get("SUBJECT", 4)),
            "num_views": int(cfg.get("NUM_VIEWS", 6)),
            "input_size": (int(height), int(width)),
            "render_size": (int(render_h), int(render_w)),
            "seed": int(cfg.get("SEED", 0)),
            "image_norm": str(preset.get("IMAGE_NORM", "unit")),
        }
