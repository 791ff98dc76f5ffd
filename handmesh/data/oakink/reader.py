"""``OakInkImageReader``: the raw OakInk-Image release, sample by sample, without oikit.

It offers what oikit's ``OakInkImage`` offers (same sample list and order, ``info_str``, image
paths, annotations, MANO pose, object meshes, handover partners) and reads nothing until asked:
constructing it reads only the split list.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from handmesh.data.oakink.annotations import (
    load_array,
    load_general_info,
    mano_pose_from_general_info,
    mano_shape_from_general_info,
)
from handmesh.data.oakink.layout import (
    INTENTS,
    InfoItem,
    decode_seq_cat,
    image_path,
    image_root,
    info_str,
    split_file,
)
from handmesh.data.oakink.objects import bbox_corners, load_object, object_files
from handmesh.data.oakink.splits import handover_pairs, read_info_file
from handmesh.errors import ArgumentError, DataError, DataNotFoundError
from handmesh.geometry.camera import project_points

__all__ = ["PROJECTION_EPS", "OakInkImageReader", "load_seq_status", "persp_project", "read_image"]

PROJECTION_EPS = 1e-6
"""OakInk's ``persp_project`` adds this to the depth before dividing."""


def persp_project(points: np.ndarray, cam_intr: np.ndarray) -> np.ndarray:
    """(N, 3) camera points -> (N, 2) float32 pixels, as OakInk projects (depth + 1e-6)."""
    return np.asarray(project_points(points, cam_intr, eps=PROJECTION_EPS), dtype=np.float32)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB image at ``path``.

    Raises:
        DataNotFoundError: the file is missing.
        DataError: it cannot be decoded.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataNotFoundError(f"OakInk image {path} is missing")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"OakInk image {path} cannot be decoded")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_seq_status(root: str | os.PathLike) -> dict[str, Any]:
    """``anno/seq_status.json``: ``"<seq_id>/<timestamp>" -> status``."""
    path = Path(root) / "anno" / "seq_status.json"
    try:
        with path.open("r", encoding="utf-8") as file:
            status = json.load(file)
    except FileNotFoundError:
        raise DataNotFoundError(f"OakInk sequence status file {path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"OakInk sequence status file {path} is not valid JSON: {error}") from None
    if not isinstance(status, dict):
        raise DataError(f"OakInk sequence status file {path}: expected a JSON object")
    return status


class OakInkImageReader:
    """One (``mode_split``, ``data_split``) of an OakInk-Image release under ``data_dir``.

    Args:
        data_dir: oikit's ``OAKINK_DIR``, the folder holding ``image/`` (e.g. ``data/OakInk``).
        data_split: ``all``, ``train+val``, ``train``, ``val`` or ``test``.
        mode_split: ``default`` (SP0), ``subject`` (SP1), ``object`` (SP2) or ``handobject``;
            ignored for ``all``, as in oikit.
        enable_handover: pair each handover sample with the other subject's (split ``all`` only,
            as in oikit); see :meth:`hand_over`.

    Samples are positions ``0 .. len - 1`` in the split file's order.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        data_split: str = "all",
        mode_split: str = "default",
        enable_handover: bool = False,
    ) -> None:
        if enable_handover and data_split != "all":
            raise ArgumentError(
                f"OakInkImageReader: enable_handover needs data_split 'all', got {data_split!r}"
            )
        self.data_dir = os.fspath(data_dir)
        self.root = image_root(self.data_dir)
        self.data_split = data_split
        self.mode_split = mode_split
        self.split_path = split_file(self.root, mode_split, data_split)
        self.info_list: list[InfoItem] = read_info_file(self.split_path)
        self.info_str_list = [info_str(item) for item in self.info_list]
        self._handover = (
            handover_pairs(self.info_list, str(self.split_path)) if enable_handover else None
        )
        self._seq_status: dict[str, Any] | None = None
        self._object_files: dict[str, Path] | None = None
        self._objects: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.info_list)

    def __repr__(self) -> str:
        return (
            f"OakInkImageReader({self.data_dir!r}, data_split={self.data_split!r}, "
            f"mode_split={self.mode_split!r}, {len(self)} samples)"
        )

    # -- images ---------------------------------------------------------------------------
    def image_path(self, idx: int) -> str:
        """``<data_dir>/image/stream_release_v2/<seq_id>/<ts>/<cam_name>_<frame>.png``."""
        return image_path(self.root, self.info_list[idx])

    def image(self, idx: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB (848 x 480 in the release)."""
        return read_image(self.image_path(idx))

    # -- hand and camera --------------------------------------------------------------------
    def cam_intr(self, idx: int) -> np.ndarray:
        """(3, 3) intrinsics, pixels, as stored."""
        return load_array(self.root, "cam_intr", self.info_str_list[idx])

    def joints_3d(self, idx: int) -> np.ndarray:
        """(21, 3) camera-space joints, metres (OpenPose order), as stored."""
        return load_array(self.root, "hand_j", self.info_str_list[idx])

    def verts_3d(self, idx: int) -> np.ndarray:
        """(778, 3) camera-space MANO vertices, metres, as stored."""
        return load_array(self.root, "hand_v", self.info_str_list[idx])

    def joints_2d(self, idx: int) -> np.ndarray:
        """(21, 2) float32 pixels."""
        return persp_project(self.joints_3d(idx), self.cam_intr(idx))

    def verts_2d(self, idx: int) -> np.ndarray:
        """(778, 2) float32 pixels."""
        return persp_project(self.verts_3d(idx), self.cam_intr(idx))

    def general_info(self, idx: int) -> dict[str, Any]:
        """The ``general_info`` dict (torch tensors as stored)."""
        return load_general_info(self.root, self.info_str_list[idx])[0]

    def mano_pose(self, idx: int) -> np.ndarray:
        """(16, 3) float32 axis-angle, root in the camera frame (see ``mano_pose.py``)."""
        info, source = load_general_info(self.root, self.info_str_list[idx])
        return mano_pose_from_general_info(info, source)

    def mano_shape(self, idx: int) -> np.ndarray:
        """(10,) float32 betas."""
        info, source = load_general_info(self.root, self.info_str_list[idx])
        return mano_shape_from_general_info(info, source)

    # -- sequence facts -----------------------------------------------------------------------
    @property
    def seq_status(self) -> dict[str, Any]:
        """``anno/seq_status.json``, read on first use."""
        if self._seq_status is None:
            self._seq_status = load_seq_status(self.root)
        return self._seq_status

    def sample_status(self, idx: int) -> Any:
        """The ``seq_status.json`` entry of the sample's ``<seq_id>/<timestamp>``."""
        seq = self.info_list[idx][0]
        if seq not in self.seq_status:
            raise DataError(
                f"OakInk sequence {seq!r} (sample {self.info_str_list[idx]}) is not in "
                f"{Path(self.root) / 'anno' / 'seq_status.json'}"
            )
        return self.seq_status[seq]

    def obj_id(self, idx: int) -> str:
        return decode_seq_cat(self.info_list[idx][0].split("/")[0]).obj_id

    def intent_mode(self, idx: int) -> str:
        """``use``, ``hold``, ``liftup`` or ``handover``."""
        intent = decode_seq_cat(self.info_list[idx][0].split("/")[0]).intent_id
        if intent not in INTENTS:
            raise DataError(f"OakInk sample {self.info_str_list[idx]}: unknown intent {intent!r}")
        return INTENTS[intent]

    # -- objects ------------------------------------------------------------------------------
    def obj_transf(self, idx: int) -> np.ndarray:
        """(4, 4) float32 T_c_o: centred object mesh -> camera."""
        return load_array(self.root, "obj_transf", self.info_str_list[idx]).astype(np.float32)

    def _object(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        obj_id = self.obj_id(idx)
        if obj_id not in self._objects:
            if self._object_files is None:
                self._object_files = object_files(os.path.join(self.root, "obj"))
            if obj_id not in self._object_files:
                raise DataNotFoundError(
                    f"OakInk object {obj_id!r} (sample {self.info_str_list[idx]}): no "
                    f"{obj_id}.obj or {obj_id}.ply in {os.path.join(self.root, 'obj')}"
                )
            self._objects[obj_id] = load_object(self._object_files[obj_id])
        return self._objects[obj_id]

    def obj_verts_can(self, idx: int) -> np.ndarray:
        """(V, 3) float32 object vertices, centred on their bounding box (object frame)."""
        return self._object(idx)[0].astype(np.float32)

    def obj_faces(self, idx: int) -> np.ndarray:
        """(F, 3) int32 object triangles."""
        return self._object(idx)[1].astype(np.int32)

    def obj_verts_3d(self, idx: int) -> np.ndarray:
        """(V, 3) float32 object vertices in the camera frame, metres."""
        return _transform(self.obj_transf(idx), self.obj_verts_can(idx))

    def obj_verts_2d(self, idx: int) -> np.ndarray:
        return persp_project(self.obj_verts_3d(idx), self.cam_intr(idx))

    def corners_can(self, idx: int) -> np.ndarray:
        """(8, 3) float64 bounding-box corners of the centred object (trimesh's order)."""
        return bbox_corners(self._object(idx)[0])

    def corners_3d(self, idx: int) -> np.ndarray:
        return _transform(self.obj_transf(idx), self.corners_can(idx))

    def corners_2d(self, idx: int) -> np.ndarray:
        return persp_project(self.corners_3d(idx), self.cam_intr(idx))

    # -- handover -----------------------------------------------------------------------------
    def hand_over(self, idx: int) -> dict[str, Any] | None:
        """oikit's ``get_hand_over``: for a handover sample (with ``enable_handover``), the other
        subject's hand in the same image: ``sample_status``, ``intent_mode`` and ``alt_``-prefixed
        ``sample_status``, ``intent_mode``, ``joints`` (21, 3), ``verts`` (778, 3); else None."""
        if self._handover is None or idx not in self._handover:
            return None
        alt = self._handover[idx]
        result = {"sample_status": self.sample_status(idx), "intent_mode": self.intent_mode(idx)}
        result.update(
            {
                "alt_sample_status": self.sample_status(alt),
                "alt_intent_mode": self.intent_mode(alt),
                "alt_joints": self.joints_3d(alt),
                "alt_verts": self.verts_3d(alt),
            }
        )
        return result

    def handover_partner(self, idx: int) -> int | None:
        """Position of the other subject's sample of a handover frame (``enable_handover``)."""
        return None if self._handover is None else self._handover.get(idx)


def _transform(transf: np.ndarray, points: np.ndarray) -> np.ndarray:
    rot, tsl = transf[:3, :3], transf[:3, 3]
    return (points @ rot.T + tsl).astype(np.float32)
