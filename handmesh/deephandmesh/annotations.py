"""Readers of the DeepHandMesh dataset annotations and the original's bbox / crop maths.

Formats (``data/annotations/``):

* ``keypoints/subject_{S}/keypoints{frame:04d}.pts``: one ``joint_idx x y z score_sum num_view``
  row per triangulated joint; ids 0..20 are the right hand (``KEYPOINT_NAMES`` order), 21..41 the
  left; world coordinates in mm. Joints without a row are missing.
* ``depthmaps/subject_{S}/{frame:06d}/depthmap{CAM}.pkl``: a pickled 2-D numpy depth map, mm,
  0 = no measurement (read with handmesh's restricted unpickler).
* ``KRT_512``: per camera a name line, 3 lines K (3 x 3), 1 line of distortion coefficients
  (unused), 3 lines [R | t] (3 x 4, world -> camera, mm) and a blank line. The intrinsics are for
  the 512 x 334 (H x W) images. Colour cameras are named ``40...``.

Crops (``data/dataset.py`` of the original): the bbox of a view is the min/max of the valid
joints projected into it, enlarged x1.5 independently in x and y (not squared), clipped to the
334 x 512 image; the crop affine maps the bbox centre ``((x0 + x1 + 1) / 2, (y0 + y1 + 1) / 2)``
and size ``(x1 - x0 + 1, y1 - y0 + 1)`` onto the output crop.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from handmesh.deephandmesh.constants import KEYPOINT_NAMES
from handmesh.errors import DataError, DataNotFoundError
from handmesh.io.safe_pickle import safe_load_pickle

__all__ = [
    "ORIGINAL_IMAGE_HW",
    "KRTCamera",
    "bbox_affine",
    "clip_bbox",
    "crop_patch",
    "joint_bbox",
    "read_depth_map",
    "read_keypoints",
    "read_krt",
]

ORIGINAL_IMAGE_HW = (512, 334)
"""(H, W) of the images the KRT_512 intrinsics and the bboxes refer to."""

BBOX_ENLARGE = 1.5
MISSING_JOINT_MM = 1.0
"""Coordinate the original gives joints with no keypoint row (valid = 0)."""


@dataclass(frozen=True)
class KRTCamera:
    """One camera of ``KRT_512``: K (3, 3), distortion (unused), extrinsic [R | t] (3, 4), mm."""

    name: str
    intrinsics: np.ndarray
    distortion: np.ndarray
    extrinsics: np.ndarray

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) float32 world -> camera rotation (the original's ``camrot``)."""
        return self.extrinsics[:, :3].astype(np.float32)

    @property
    def position(self) -> np.ndarray:
        """(3,) float32 camera centre in world mm, ``-R^T t`` (the original's ``campos``)."""
        return (-self.extrinsics[:, :3].T @ self.extrinsics[:, 3]).astype(np.float32)

    @property
    def focal(self) -> np.ndarray:
        return np.array([self.intrinsics[0, 0], self.intrinsics[1, 1]], dtype=np.float32)

    @property
    def princpt(self) -> np.ndarray:
        return self.intrinsics[:2, 2].astype(np.float32)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world mm -> (N, 2) pixels of the 512 x 334 image (``x/z * f + c``)."""
        cam = (points - self.position) @ self.rotation.T
        return cam[:, :2] / (cam[:, 2:] + 1e-8) * self.focal + self.princpt


def _number_row(path: Path, number: int, line: str, count: int, what: str) -> list[float]:
    tokens = line.split()
    try:
        values = [float(token) for token in tokens]
    except ValueError:
        values = []
    if len(values) != count:
        raise DataError(f"{path}, line {number}: expected {count} numbers ({what}), got {line!r}")
    return values


def read_krt(path: str | os.PathLike) -> dict[str, KRTCamera]:
    """Read ``KRT_512`` -> {camera name: :class:`KRTCamera`} in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"DeepHandMesh cameras: {path} does not exist")
    lines = path.read_text(encoding="utf-8").splitlines()
    cameras: dict[str, KRTCamera] = {}
    index = 0
    while index < len(lines):
        if not lines[index].strip():  # tolerate extra blank lines between blocks
            index += 1
            continue
        if index + 8 > len(lines):
            raise DataError(
                f"{path}, line {index + 1}: camera block {lines[index].strip()!r} is cut short "
                "(expected a name, 3 lines K, 1 line distortion, 3 lines [R | t])"
            )
        name = lines[index].strip()
        rows = [
            _number_row(path, index + 2 + i, lines[index + 1 + i], 3, "a row of K")
            for i in range(3)
        ]
        dist_line = lines[index + 4]
        try:
            dist = [float(token) for token in dist_line.split()]
        except ValueError:
            raise DataError(
                f"{path}, line {index + 5}: bad distortion line {dist_line!r}"
            ) from None
        extr = [
            _number_row(path, index + 6 + i, lines[index + 5 + i], 4, "a row of [R | t]")
            for i in range(3)
        ]
        cameras[name] = KRTCamera(name, np.array(rows), np.array(dist), np.array(extr))
        index += 8
    if not cameras:
        raise DataError(f"{path}: no camera blocks")
    return cameras


def read_keypoints(
    path: str | os.PathLike, joint_names: Sequence[str], hand: str = "right"
) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``keypoints*.pts`` file into the skeleton's joint order.

    Args:
        path: the file; joint_names: the skeleton's J joint names (``skeleton.txt`` order);
        hand: "right" (ids 0..20, the only hand the model uses) or "left" (ids 21..41).

    Returns:
        (J, 3) float32 world coordinates in mm (1.0 for joints without a row) and (J,) float32
        validity (1 where the file has the joint).
    """
    path = Path(path)
    if hand not in ("right", "left"):
        raise ValueError(f"hand must be 'right' or 'left', got {hand!r}")
    index = {name: j for j, name in enumerate(joint_names)}
    coords = np.full((len(joint_names), 3), MISSING_JOINT_MM, dtype=np.float32)
    valid = np.zeros(len(joint_names), dtype=np.float32)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataNotFoundError(f"DeepHandMesh keypoints: {path} does not exist") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = _number_row(path, number, line, 6, "joint_idx x y z score_sum num_view")
        file_id = int(row[0])
        if row[0] != file_id or not 0 <= file_id < 2 * len(KEYPOINT_NAMES):
            raise DataError(f"{path}, line {number}: joint id {row[0]} outside 0..41")
        if (file_id >= len(KEYPOINT_NAMES)) != (hand == "left"):
            continue
        name = KEYPOINT_NAMES[file_id % len(KEYPOINT_NAMES)]
        if name not in index:
            raise DataError(f"{path}, line {number}: joint {name!r} is not in the skeleton")
        coords[index[name]] = row[1:4]
        valid[index[name]] = 1.0
    return coords, valid


def read_depth_map(path: str | os.PathLike) -> np.ndarray:
    """Read a ``depthmap*.pkl`` -> (H, W) float32 depth in mm (0 = no measurement)."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"DeepHandMesh depth map: {path} does not exist")
    depth = safe_load_pickle(path)
    if not isinstance(depth, np.ndarray) or depth.ndim != 2:
        shape = getattr(depth, "shape", type(depth).__name__)
        raise DataError(f"{path}: expected a pickled 2-D numpy depth map, got {shape}")
    return depth.astype(np.float32)


def joint_bbox(camera: KRTCamera, joints: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(4,) float32 ``xmin, ymin, xmax, ymax`` of the valid joints projected into ``camera``,
    each side enlarged x1.5 about the centre (512 x 334 pixels, not clipped)."""
    points = camera.project(joints)[np.asarray(valid).reshape(-1) > 0]
    if len(points) == 0:
        raise DataError(f"camera {camera.name}: no valid joint to build a bounding box from")
    lo, hi = points.min(0), points.max(0)
    centre, half = (lo + hi) / 2.0, (hi - lo) / 2.0 * BBOX_ENLARGE
    return np.concatenate([centre - half, centre + half]).astype(np.float32)


def clip_bbox(bbox: np.ndarray, image_hw: Sequence[int] = ORIGINAL_IMAGE_HW) -> np.ndarray:
    """Clip ``xmin, ymin, xmax, ymax`` to ``[0, W - 1] x [0, H - 1]``."""
    height, width = image_hw
    x0, y0, x1, y1 = (float(v) for v in bbox)
    return np.array(
        [max(x0, 0.0), max(y0, 0.0), min(x1, width - 1.0), min(y1, height - 1.0)], dtype=np.float32
    )


def bbox_affine(
    centre: Sequence[float], size: Sequence[float], out_hw: Sequence[int]
) -> np.ndarray:
    """(2, 3) float32 map of a box (centre, (w, h)) onto an ``out_hw`` crop: the centre to the crop
    centre, w to the crop width and h to its height (the original's ``gen_trans_from_patch_cv``
    without rotation or scale augmentation)."""
    out_h, out_w = float(out_hw[0]), float(out_hw[1])
    sx, sy = out_w / float(size[0]), out_h / float(size[1])
    return np.array(
        [
            [sx, 0.0, out_w / 2.0 - sx * float(centre[0])],
            [0.0, sy, out_h / 2.0 - sy * float(centre[1])],
        ],
        dtype=np.float32,
    )


def crop_patch(
    image: np.ndarray,
    bbox: np.ndarray,
    out_hw: Sequence[int],
    reference_hw: Sequence[int] = ORIGINAL_IMAGE_HW,
) -> tuple[np.ndarray, np.ndarray]:
    """Crop a clipped ``xmin, ymin, xmax, ymax`` box (``reference_hw`` pixels) from ``image``.

    The box is first rescaled to the image's own resolution (depth maps may be smaller), then
    warped bilinearly to ``out_hw`` (``generate_patch_image``).

    Returns:
        the (out_h, out_w[, C]) float32 crop and the (2, 3) affine of the box in
        ``reference_hw`` pixels onto the crop (the one the depth renderer uses).
    """
    x0, y0, x1, y1 = (float(v) for v in bbox)
    sx, sy = image.shape[1] / float(reference_hw[1]), image.shape[0] / float(reference_hw[0])
    ix0, ix1, iy0, iy1 = x0 * sx, x1 * sx, y0 * sy, y1 * sy
    size = (ix1 - ix0 + 1.0, iy1 - iy0 + 1.0)
    warp = bbox_affine((ix0 + 0.5 * size[0], iy0 + 0.5 * size[1]), size, out_hw)
    patch = cv2.warpAffine(
        image.astype(np.float32),
        warp.astype(np.float64),
        (int(out_hw[1]), int(out_hw[0])),
        flags=cv2.INTER_LINEAR,
    )
    affine = bbox_affine(
        ((x0 + x1 + 1.0) / 2.0, (y0 + y1 + 1.0) / 2.0), (x1 - x0 + 1.0, y1 - y0 + 1.0), out_hw
    )
    return patch, affine
