"""The small steps of the crop pipeline (numpy in, numpy out)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import roma
import torch

from handmesh.errors import ArgumentError
from handmesh.geometry.crop import affine_to_2x3

__all__ = [
    "IMAGE_NORMS",
    "crop_visibility",
    "image_visibility",
    "normalise_image",
    "project",
    "rotate_mano_root",
    "rotate_points",
    "warp_crop",
]

IMAGE_NORMS = ("minus_half", "unit")
"""``minus_half``: RGB / 255 - 0.5 (OakInk-HMR); ``unit``: RGB / 255 (HandOccNet)."""

MIN_VISIBLE_SHARE = 0.3
"""OakInk-HMR: with fewer than 30 % of the joints visible, all are marked invisible."""


def project(points: np.ndarray, cam_intr: np.ndarray) -> np.ndarray:
    """(N, 3) camera points (metres) -> (N, 2) float32 pixels with (3, 3) intrinsics."""
    from handmesh.geometry.camera import project_points

    return np.asarray(project_points(points, cam_intr), dtype=np.float32)


def warp_crop(image: np.ndarray, affine: np.ndarray, out_size: Sequence[int]) -> np.ndarray:
    """Warp an (H, W, 3) raw image with a (3, 3) affine into an (out_H, out_W, 3) crop.

    Bilinear interpolation, constant 0 border (OakInk-HMR and HandOccNet); dtype is kept.
    """
    return cv2.warpAffine(
        image,
        affine_to_2x3(affine),
        (int(out_size[0]), int(out_size[1])),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def normalise_image(image: np.ndarray, norm: str) -> torch.Tensor:
    """(H, W, 3) RGB in [0, 255] -> (3, H, W) float32 tensor normalised by ``norm``."""
    if norm not in IMAGE_NORMS:
        raise ArgumentError(f"image_norm: expected one of {IMAGE_NORMS}, got {norm!r}")
    chw = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))
    chw = chw / 255.0
    return chw - 0.5 if norm == "minus_half" else chw


def image_visibility(points_2d: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """(N,) float32 1 where an (N, 2) pixel point lies in ``[0, W) x [0, H)`` of ``size`` (W, H)."""
    x, y = points_2d[:, 0], points_2d[:, 1]
    inside = (x >= 0) & (x < size[0]) & (y >= 0) & (y < size[1])
    return inside.astype(np.float32)


def crop_visibility(
    raw_vis: np.ndarray, crop_points: np.ndarray, out_size: Sequence[int], train: bool
) -> np.ndarray:
    """OakInk-HMR's visibility targets.

    Test: all ones. Train: zeros if fewer than 30 % of the points are inside the raw image;
    otherwise inside-the-crop, and zeros again if fewer than 30 % are inside the crop.

    Args:
        raw_vis: (N,) 0/1 inside the raw image; crop_points: (N, 2) crop pixels.
    """
    count = len(raw_vis)
    if not train:
        return np.ones(count, dtype=np.float32)
    if raw_vis.sum() < count * MIN_VISIBLE_SHARE:
        return np.zeros(count, dtype=np.float32)
    vis = image_visibility(crop_points, out_size)
    if vis.sum() < count * MIN_VISIBLE_SHARE:
        return np.zeros(count, dtype=np.float32)
    return vis


def rotate_points(points: np.ndarray, rot_mat: np.ndarray) -> np.ndarray:
    """(N, 3) camera points rotated by a (3, 3) matrix: ``R @ p``; float32."""
    return (np.asarray(points, dtype=np.float64) @ np.asarray(rot_mat, dtype=np.float64).T).astype(
        np.float32
    )


def rotate_mano_root(mano_pose: np.ndarray, rot_mat: np.ndarray) -> np.ndarray:
    """(48,) MANO axis-angle with the global rotation replaced by ``R @ R_root``; float32."""
    pose = np.array(mano_pose, dtype=np.float32).reshape(-1)
    if pose.shape[0] % 3 != 0 or pose.shape[0] < 3:
        raise ValueError(f"mano_pose: expected (48,) axis-angle, got shape {np.shape(mano_pose)}")
    root = roma.rotvec_to_rotmat(torch.from_numpy(pose[:3]).double())
    rotated = torch.from_numpy(np.asarray(rot_mat, dtype=np.float64)) @ root
    pose[:3] = roma.rotmat_to_rotvec(rotated).numpy()
    return pose
