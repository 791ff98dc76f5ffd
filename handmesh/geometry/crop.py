"""Bounding boxes and affine crop maths (numpy, raw-image pixels).

Conventions: points are ``(N, 2)`` pixel coordinates ``(x, y)``; an in-plane rotation ``rot``
(radians) rotates image content by ``R(rot) = [[cos, -sin], [sin, cos]]`` in pixel coordinates
(x right, y down), which is the same matrix as the 3D rotation ``R_z(rot)`` about the camera's
optical axis (OakInk-HMR's convention). ``out_size`` is always ``(W, H)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

PointLike = Union[Sequence[float], np.ndarray]
"""An (x, y) pixel position: a sequence or a (2,) array."""

__all__ = [
    "affine_to_2x3",
    "apply_affine",
    "bbox_center_scale_from_joints",
    "bbox_xywh_from_joints",
    "crop_affine",
    "crop_affine_post_rot",
    "crop_intrinsics",
    "process_bbox",
    "rotation_2d",
    "rotation_z",
    "scale_translate_affine",
]


def _as_points(points: np.ndarray, name: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"{name}: expected a non-empty (N, 2) array, got shape {points.shape}")
    return points


def bbox_center_scale_from_joints(
    joints_2d: np.ndarray, expand_ratio: float = 1.7
) -> tuple[np.ndarray, float]:
    """OakInk-HMR's square box around 2D joints.

    Args:
        joints_2d: (N, 2) raw-image pixels.
        expand_ratio: the side is ``max(w, h) * expand_ratio`` (OakInk: 1.7).
    Returns:
        center (2,) float32, the int-truncated midpoint of the joints' min/max; scale, the side of
        the square box in pixels.
    """
    joints_2d = _as_points(joints_2d, "joints_2d")
    lo, hi = joints_2d.min(0), joints_2d.max(0)
    center = np.trunc((lo + hi) / 2.0).astype(np.float32)
    scale = float(max(hi - lo)) * float(expand_ratio)
    return center, scale


def bbox_xywh_from_joints(
    joints_2d: np.ndarray, valid: np.ndarray | None = None, expansion: float = 1.0
) -> np.ndarray:
    """HandOccNet's ``get_bbox``: the tight box of the valid joints, each side times ``expansion``.

    Args:
        joints_2d: (N, 2) pixels; valid: (N,) 0/1 (default all valid).
    Returns:
        (4,) float32 ``[x, y, w, h]`` in pixels.
    """
    joints_2d = _as_points(joints_2d, "joints_2d")
    if valid is not None:
        joints_2d = joints_2d[np.asarray(valid) > 0]
        if len(joints_2d) == 0:
            raise ValueError("bbox_xywh_from_joints: no valid joint to build a box from")
    lo, hi = joints_2d.min(0), joints_2d.max(0)
    center = (lo + hi) / 2.0
    size = (hi - lo) * float(expansion)
    return np.array([*(center - size / 2.0), *size], dtype=np.float32)


def process_bbox(
    bbox_xywh: PointLike,
    image_size: Sequence[int],
    aspect_ratio: float = 1.0,
    expansion: float = 1.25,
) -> np.ndarray | None:
    """HandOccNet's ``process_bbox``: clip to the image, match the aspect ratio, expand.

    Args:
        bbox_xywh: ``[x, y, w, h]`` pixels.
        image_size: raw image ``(W, H)``.
        aspect_ratio: output ``W / H`` to match by growing the shorter side.
        expansion: both sides are multiplied by it, keeping the centre.
    Returns:
        (4,) float32 ``[x, y, w, h]``, or None when the clipped box is empty.
    """
    x, y, w, h = (float(v) for v in bbox_xywh)
    width, height = image_size
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if w * h <= 0 or x2 < x1 or y2 < y1:
        return None
    w, h = x2 - x1, y2 - y1
    cx, cy = x1 + w / 2.0, y1 + h / 2.0
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    w, h = w * expansion, h * expansion
    return np.array([cx - w / 2.0, cy - h / 2.0, w, h], dtype=np.float32)


def rotation_2d(rot: float) -> np.ndarray:
    """(3, 3) homogeneous rotation of pixel coordinates about the origin by ``rot`` radians."""
    sn, cs = np.sin(rot), np.cos(rot)
    return np.array([[cs, -sn, 0.0], [sn, cs, 0.0], [0.0, 0.0, 1.0]])


def rotation_z(rot: float) -> np.ndarray:
    """(3, 3) float32 rotation about the camera z axis; it matches ``rotation_2d`` in the image."""
    return rotation_2d(rot).astype(np.float32)


def scale_translate_affine(
    center: PointLike, scale: float | Sequence[float], out_size: Sequence[int]
) -> np.ndarray:
    """(3, 3) map from pixels to crop pixels without rotation (OakInk ``_get_affine_trans_no_rot``).

    ``center`` goes to the crop centre ``(W/2, H/2)``. A number ``scale`` is the box side (pixels)
    that spans the crop width ``W``, isotropically, so the crop covers ``scale x scale * H / W``
    pixels; a pair ``(box_w, box_h)`` spans the crop exactly, one zoom per axis (HandOccNet's
    ``generate_patch_image`` of a non-square box).
    """
    scales = np.atleast_1d(np.asarray(scale, dtype=np.float64))
    if scales.shape not in ((1,), (2,)) or not np.all(scales > 0):
        raise ValueError(f"crop scale must be a positive number or (w, h) pair, got {scale}")
    out_w, out_h = float(out_size[0]), float(out_size[1])
    zoom_x = out_w / float(scales[0])
    zoom_y = zoom_x if scales.shape == (1,) else out_h / float(scales[1])
    return np.array(
        [
            [zoom_x, 0.0, out_w / 2.0 - zoom_x * float(center[0])],
            [0.0, zoom_y, out_h / 2.0 - zoom_y * float(center[1])],
            [0.0, 0.0, 1.0],
        ]
    )


def crop_affine(
    center: PointLike, scale: float | Sequence[float], out_size: Sequence[int], rot: float = 0.0
) -> np.ndarray:
    """(3, 3) raw-image -> crop transform: rotate content by ``rot`` about the box centre, crop.

    The box ``(center, scale)`` lands on the crop (its centre at the crop centre), and the image
    content is rotated by ``rot`` radians (OakInk-HMR ``_affine_transform``).
    """
    rotation = rotation_2d(rot)
    rotated_center = rotation @ np.array([center[0], center[1], 1.0])
    return (scale_translate_affine(rotated_center[:2], scale, out_size) @ rotation).astype(
        np.float32
    )


def crop_affine_post_rot(
    center: PointLike,
    scale: float | Sequence[float],
    optical_center: PointLike,
    out_size: Sequence[int],
    rot: float = 0.0,
) -> np.ndarray:
    """(3, 3) transform from the image of the *rotated* camera scene to the crop.

    Rotating the 3D scene by ``R_z(rot)`` rotates its image about the principal point
    ``optical_center``; this affine maps that image to the same crop as ``crop_affine`` maps the
    original image, so ``crop_affine_post_rot @ K`` is the crop intrinsics of the rotated scene
    (exact when fx == fy).
    """
    rotation = rotation_2d(rot)
    cx, cy = float(optical_center[0]), float(optical_center[1])
    offset = np.array([center[0] - cx, center[1] - cy, 1.0])
    rotated = rotation @ offset
    rotated_center = (rotated[0] + cx, rotated[1] + cy)
    return scale_translate_affine(rotated_center, scale, out_size).astype(np.float32)


def crop_intrinsics(
    cam_intr: np.ndarray,
    center: PointLike,
    scale: float | Sequence[float],
    out_size: Sequence[int],
    rot: float = 0.0,
) -> np.ndarray:
    """(3, 3) float32 intrinsics of the crop for the scene rotated by ``R_z(rot)``.

    Projecting ``rotation_z(rot) @ X`` with the result gives ``apply_affine(project(X, K),
    crop_affine(center, scale, out_size, rot))`` (for fx == fy).
    """
    cam_intr = np.asarray(cam_intr, dtype=np.float64)
    if cam_intr.shape != (3, 3):
        raise ValueError(f"cam_intr: expected a (3, 3) matrix, got shape {cam_intr.shape}")
    principal_point = (float(cam_intr[0, 2]), float(cam_intr[1, 2]))
    post_rot = crop_affine_post_rot(center, scale, principal_point, out_size, rot)
    return (post_rot.astype(np.float64) @ cam_intr).astype(np.float32)


def affine_to_2x3(affine: np.ndarray) -> np.ndarray:
    """The top two rows of a (3, 3) affine, as ``cv2.warpAffine`` takes it."""
    affine = np.asarray(affine)
    if affine.shape != (3, 3):
        raise ValueError(f"affine: expected a (3, 3) matrix, got shape {affine.shape}")
    return affine[:2].astype(np.float64)


def apply_affine(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Apply a (3, 3) or (2, 3) affine to (N, 2) points; returns (N, 2) float32."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points: expected an (N, 2) array, got shape {points.shape}")
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape not in ((2, 3), (3, 3)):
        raise ValueError(f"affine: expected a (2, 3) or (3, 3) matrix, got shape {affine.shape}")
    return (points @ affine[:2, :2].T + affine[:2, 2]).astype(np.float32)
