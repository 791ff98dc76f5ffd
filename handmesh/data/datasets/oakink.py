"""``OakInk``: OakInk-Image hands (reference oakink-hmr.md §5.3), from the raw release or its packs.

Config (``DATASET.TRAIN`` / ``DATASET.TEST``), OakInk-HMR's keys:

===============  ==========================================================================
TYPE             ``OakInk``
DATA_MODE        ``3D`` (the only mode the published configs use)
DATA_SPLIT       ``all`` | ``train+val`` | ``train`` | ``val`` | ``test``; a name containing
                 "train" gets train-mode visibility targets
DATA_ROOT        the folder holding ``OakInk/image`` (default ``data``)
SPLIT_MODE       ``default`` (SP0, by view) | ``subject`` (SP1) | ``object`` (SP2) |
                 ``handobject``
USE_PACK         read ``OakInk/image/anno_packed/<SPLIT_MODE>/<DATA_SPLIT>/<info_str>.pkl``
                 (``dev/pack_oakink_image.py``) instead of the raw ``anno/`` pickles; both give
                 the same samples
AUG, AUG_PARAM   augmentation (OakInk-HMR names; ``AUG_PARAM: None`` = the recipe's defaults)
WITH_VERTS_2D    keep the transform's ``target_verts_2d`` and ``target_verts_vis`` (dropped
                 otherwise, as the original gives them only with this flag)
WITH_HAND_FACES  also give ``hand_faces`` (1538, 3) int64, the MANO faces (from
                 DATA_PRESET.MANO_ROOT, or the synthetic hand's with ALLOW_SYNTHETIC_MANO)
WITH_MANO        also give ``mano_pose`` (48,) (camera-frame axis-angle of the full joint
                 rotations, manotorch ``flat_hand_mean=True``) and ``mano_shape`` (10,)
===============  ==========================================================================

As the original: every sample is a right hand, the crop box is the int-truncated centre of the
projected joints with side ``max(w, h) * BBOX_EXPAND_RATIO``, handover frames give one sample per
hand (same image). Unlike the original, a sample that fails to load raises an error naming the file
(never a random other sample), and ``USE_PACK`` checks the packed split is complete at start-up from
its ``index.json`` (one file, not one per sample).

Projection: the original adds 1e-6 m to the depth before dividing (``persp_project``), which moves
a point by ``u * 1e-6 / z`` pixels (up to ~1.5e-3 px) away from where ``target_cam_intr`` projects
the 3D joints. By default the projection here is exact, so ``target_joints_2d`` and
``target_cam_intr @ target_joints_3d`` agree to float precision; the difference can move the
int-truncated box centre by one pixel in about 0.1 % of the samples. ``projection_eps=1e-6``
reproduces the original exactly (the packer and ``OakInkImageReader`` keep oikit's offset).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from handmesh.data.datasets.base import HandDataset
from handmesh.data.oakink.layout import MODE_SPLITS, packed_dir
from handmesh.data.oakink.packed import check_index, missing_packed, read_packed
from handmesh.data.oakink.reader import OakInkImageReader, read_image
from handmesh.data.transforms import HandTransform
from handmesh.errors import ArgumentError, DataNotFoundError
from handmesh.geometry.camera import project_points
from handmesh.mano.loader import load_mano_from_preset
from handmesh.registry import DATASETS

__all__ = ["OakInk"]

logger = logging.getLogger(__name__)

CONFIG_KEYS = (
    "DATA_MODE",
    "DATA_SPLIT",
    "DATA_ROOT",
    "SPLIT_MODE",
    "USE_PACK",
    "AUG",
    "AUG_PARAM",
    "WITH_VERTS_2D",
    "WITH_HAND_FACES",
    "WITH_MANO",
)
DATA_MODES = ("3D",)
NO_AUG_PARAM = (None, "None", "none", "")  # YAML ``AUG_PARAM: None`` is the string "None"
MAX_LISTED_MISSING = 3
VERTS_2D_KEYS = ("target_verts_2d", "target_verts_vis")


@DATASETS.register()
class OakInk(HandDataset):
    """OakInk-Image samples as RawSamples (keys.py), transformed by ``transform``.

    Args:
        data_root: the folder holding ``OakInk/image``.
        data_split: ``all``, ``train+val``, ``train``, ``val`` or ``test``.
        split_mode: ``default``, ``subject``, ``object`` or ``handobject``.
        use_pack: read the packed annotations (``dev/pack_oakink_image.py``).
        with_verts_2d: keep ``target_verts_2d`` and ``target_verts_vis`` in the samples.
        with_mano: add ``mano_pose`` (48,) and ``mano_shape`` (10,).
        hand_faces: (1538, 3) MANO faces to attach to every sample as ``hand_faces``; None for
            none (``WITH_HAND_FACES: false``).
        data_mode: ``3D``.
        transform: the crop transform (default: the OakInk test transform, 224 x 224).
        seed: augmentation seed.
        projection_eps: metres added to the depth when projecting (0: exact; 1e-6: OakInk-HMR's
            ``persp_project``, see the module docstring).
    """

    name = "OakInk"
    CONFIG_KEYS = CONFIG_KEYS

    def __init__(
        self,
        data_root: str | os.PathLike = "data",
        data_split: str = "train+val",
        split_mode: str = "default",
        use_pack: bool = False,
        with_verts_2d: bool = False,
        with_mano: bool = False,
        hand_faces: np.ndarray | None = None,
        data_mode: str = "3D",
        transform: HandTransform | None = None,
        seed: int = 0,
        projection_eps: float = 0.0,
    ) -> None:
        if data_mode not in DATA_MODES:
            raise ArgumentError(
                f"OakInk data_mode: expected one of {DATA_MODES}, got {data_mode!r}"
            )
        if split_mode not in MODE_SPLITS:
            raise ArgumentError(
                f"OakInk split_mode: expected one of {tuple(MODE_SPLITS)}, got {split_mode!r}"
            )
        faces = None
        if hand_faces is not None:
            faces = np.array(hand_faces, dtype=np.int64)  # a writable copy
            if faces.ndim != 2 or faces.shape[1] != 3:
                raise ArgumentError(f"OakInk hand_faces: expected (F, 3), got {faces.shape}")
        super().__init__(transform=transform, seed=seed)
        self.data_root = os.fspath(data_root)
        self.data_dir = os.path.join(self.data_root, "OakInk")
        if not os.path.isdir(os.path.join(self.data_dir, "image")):
            raise DataNotFoundError(
                f"OakInk: {os.path.join(self.data_dir, 'image')} does not exist (DATA_ROOT "
                f"{self.data_root!r} must hold OakInk/image, e.g. `mkdir data && ln -s "
                "/path/to/OakInk data/OakInk`)"
            )
        self.data_split = data_split
        self.split_mode = split_mode
        self.use_pack = bool(use_pack)
        self.with_verts_2d = bool(with_verts_2d)
        self.with_mano = bool(with_mano)
        self.hand_faces = faces
        self.projection_eps = float(projection_eps)
        self.reader = OakInkImageReader(self.data_dir, data_split=data_split, mode_split=split_mode)
        self.pack_dir = packed_dir(self.reader.root, split_mode, data_split)
        if self.use_pack:
            self._check_pack()

    @property
    def info_str_list(self) -> list[str]:
        """The sample names (``<seq_id>__<ts>__<sbj_flag>__<frame>__<cam_id>``), in order."""
        return self.reader.info_str_list

    def __len__(self) -> int:
        return len(self.reader)

    def __repr__(self) -> str:
        return (
            f"OakInk({self.data_root!r}, data_split={self.data_split!r}, split_mode="
            f"{self.split_mode!r}, use_pack={self.use_pack}, {len(self)} samples)"
        )

    def _check_pack(self) -> None:
        """Fail now (not in a worker, mid-epoch) when the packed split is incomplete."""
        names = self.info_str_list
        if check_index(self.pack_dir, split_path=self.reader.split_path, info_strs=names):
            return
        missing = missing_packed(self.pack_dir, names)
        if missing:
            listed = ", ".join(f"{name}.pkl" for name in missing[:MAX_LISTED_MISSING])
            raise DataNotFoundError(
                f"OakInk: {len(missing)} of {len(names)} samples of {self.split_mode}/"
                f"{self.data_split} are not packed in {self.pack_dir} ({listed}"
                f"{', ...' if len(missing) > MAX_LISTED_MISSING else ''}): run python "
                f"dev/pack_oakink_image.py --data_dir {self.data_dir} --mode_split "
                f"{self.split_mode} --data_split {self.data_split}"
            )
        logger.info(
            "OakInk: %s has no index.json (packed by another tool?); rerun "
            "dev/pack_oakink_image.py on it to write one and skip this check",
            self.pack_dir,
        )

    def _annotations(self, idx: int) -> dict[str, Any]:
        """cam_intr, hand_j, hand_v (and mano_pose, mano_shape) from the pack or the raw files."""
        if self.use_pack:
            record = read_packed(self.pack_dir / f"{self.info_str_list[idx]}.pkl")
            return {key: record[key] for key in ("cam_intr", "hand_j", "hand_v", "mano_pose",
                                                 "mano_shape")}  # fmt: skip
        annotations = {
            "cam_intr": self.reader.cam_intr(idx),
            "hand_j": self.reader.joints_3d(idx),
            "hand_v": self.reader.verts_3d(idx),
        }
        if self.with_mano:
            annotations["mano_pose"] = self.reader.mano_pose(idx)
            annotations["mano_shape"] = self.reader.mano_shape(idx)
        return annotations

    def get_raw(self, idx: int) -> dict[str, Any]:
        """RawSample ``idx`` (keys.py RAW_KEYS): full image, camera metres, right hand."""
        idx = self._check_index(int(idx))
        annotations = self._annotations(idx)
        cam_intr = np.asarray(annotations["cam_intr"])
        joints_3d = np.asarray(annotations["hand_j"])
        verts_3d = np.asarray(annotations["hand_v"])
        image_path = self.reader.image_path(idx)
        raw: dict[str, Any] = {
            "image": read_image(image_path),
            "cam_intr": cam_intr.astype(np.float32),
            "joints_3d": joints_3d.astype(np.float32),
            "verts_3d": verts_3d.astype(np.float32),
            "joints_2d": self._project(joints_3d, cam_intr),
            "side": "right",
            "image_path": image_path,
            "sample_idx": idx,
        }
        if self.with_mano:
            raw["mano_pose"] = np.asarray(annotations["mano_pose"], np.float32).reshape(48)
            raw["mano_shape"] = np.asarray(annotations["mano_shape"], np.float32).reshape(10)
        return raw

    def _project(self, points: np.ndarray, cam_intr: np.ndarray) -> np.ndarray:
        projected = project_points(points, cam_intr, eps=self.projection_eps)
        return np.asarray(projected, dtype=np.float32)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        sample = super().__getitem__(idx)
        if not self.with_verts_2d:
            for key in VERTS_2D_KEYS:
                sample.pop(key, None)
        if self.hand_faces is not None:
            sample["hand_faces"] = torch.from_numpy(self.hand_faces)
        return sample

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], *, data_preset: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The constructor's arguments from a ``DATASET.*`` node and DATA_PRESET (the transform;
        MANO_ROOT / ALLOW_SYNTHETIC_MANO for WITH_HAND_FACES)."""
        preset = data_preset or {}
        split = str(cfg.get("DATA_SPLIT", "train+val"))
        aug_param = cfg.get("AUG_PARAM")
        if isinstance(aug_param, str) and aug_param in NO_AUG_PARAM:
            aug_param = None
        transform = cls.transform_from_preset(
            preset, split, aug=bool(cfg.get("AUG", False)), aug_param=aug_param
        )
        faces = None
        if bool(cfg.get("WITH_HAND_FACES", False)):
            faces = load_mano_from_preset(preset, "right").faces
        return {
            "data_root": str(cfg.get("DATA_ROOT", "data")),
            "data_split": split,
            "split_mode": str(cfg.get("SPLIT_MODE", "default")),
            "use_pack": bool(cfg.get("USE_PACK", False)),
            "with_verts_2d": bool(cfg.get("WITH_VERTS_2D", False)),
            "with_mano": bool(cfg.get("WITH_MANO", False)),
            "hand_faces": faces,
            "data_mode": str(cfg.get("DATA_MODE", "3D")),
            "transform": transform,
        }
