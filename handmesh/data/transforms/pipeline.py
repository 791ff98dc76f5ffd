"""``HandTransform``: RawSample (full image, camera metres) -> sample (crop, targets), keys.py.

The chain (OakInk-HMR ``SimpleTransform3DMANO``, reference oakink-hmr.md §5.3):

1. left hands are mirrored to right hands (image, 2D/3D points, intrinsics, MANO pose);
2. crop box from the 2D joints: ``"oakink"`` = int-truncated centre, side ``max(w, h) *
   BBOX_EXPAND_RATIO``; ``"handoccnet"`` = the dataset's box (``bbox_xywh``: HO3D / DexYCB,
   computed by the original's rules in the un-mirrored image, its centre mirrored as the original
   does) or else ``get_bbox(x BBOX_EXPAND_RATIO)`` + ``process_bbox(x 1.0)`` to the crop aspect
   ratio (full image when empty);
3. augmentation draw (train with AUG only): box scale jitter, in-plane rotation, occlusion patch;
4. occlusion patch pasted on the raw image;
5. ``cv2.warpAffine`` crop (bilinear, black border) with the rotation about the box centre;
6. colour jitter after the warp, then normalisation (IMAGE_NORM);
7. targets: 2D joints through the affine; visibility (all ones in test mode); uvd through the
   ``UVDCodec`` built from DATA_PRESET (0.4 m depth range about the CENTER_IDX joint); 3D joints/verts rotated by ``R_z(rot)``; crop
   intrinsics that reproject the rotated 3D joints onto the warped 2D joints; MANO root rotated.

HandOccNet's draws use the same distributions (``augment.py``) with HANDOCCNET_AUG strengths; its
rotation sign convention (content rotated by -rot) is immaterial because the draw is symmetric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from handmesh.codecs import UVD_DEPTH_RANGE, UVDCodec
from handmesh.data.transforms.augment import (
    HANDOCCNET_AUG,
    OAKINK_AUG,
    AugDraw,
    AugParams,
    apply_occlusion,
    jitter_colour,
    sample_augmentation,
)
from handmesh.data.transforms.mirror import mirror_raw_sample
from handmesh.data.transforms.steps import (
    IMAGE_NORMS,
    crop_visibility,
    image_visibility,
    normalise_image,
    project,
    rotate_mano_root,
    rotate_points,
    warp_crop,
)
from handmesh.errors import ArgumentError, ConfigError, DataError
from handmesh.geometry.crop import (
    apply_affine,
    bbox_center_scale_from_joints,
    bbox_xywh_from_joints,
    crop_affine,
    crop_intrinsics,
    process_bbox,
    rotation_z,
)

__all__ = ["RECIPES", "HandTransform", "build_transform"]


class _Crop(NamedTuple):
    """What cropping a RawSample gives ``HandTransform.__call__`` (see ``_crop``)."""

    raw: Mapping[str, Any]  # mirrored to a right hand where it was a left one
    raw_size: tuple[int, int]
    draw: AugDraw
    affine: np.ndarray
    inputs: dict[str, Any]


RECIPES = ("oakink", "handoccnet")
DEFAULT_AUG = {"oakink": OAKINK_AUG, "handoccnet": HANDOCCNET_AUG}
DEFAULT_IMAGE_SIZE = {"oakink": (224, 224), "handoccnet": (256, 256)}
REQUIRED_RAW_KEYS = ("image", "cam_intr", "joints_3d", "joints_2d", "side")


class HandTransform:
    """Crop, augment and normalise a RawSample into a sample dict (keys.py SAMPLE_KEYS).

    Args:
        image_size: crop (W, H) in pixels.
        center_idx: canonical joint used as the root (OakInk: 9, middle knuckle).
        bbox_expand_ratio: box expansion (OakInk 1.7; HandOccNet's get_bbox factor 1.5).
        image_norm: ``"minus_half"`` (/255 - 0.5) or ``"unit"`` (/255).
        recipe: ``"oakink"`` or ``"handoccnet"`` (box recipe, default strengths).
        train: train-mode visibility targets.
        aug: draw augmentations (needs an ``rng`` per call).
        aug_param: strengths; None uses the recipe's defaults.
        depth_range: uvd depth range in metres (``UVD_DEPTH_RANGE``, 0.4).

    ``self.codec`` (a ``UVDCodec`` of image_size, depth_range, center_idx) makes the uvd targets.
    """

    def __init__(
        self,
        image_size: Sequence[int] = (224, 224),
        center_idx: int = 9,
        bbox_expand_ratio: float = 1.7,
        image_norm: str = "minus_half",
        recipe: str = "oakink",
        train: bool = False,
        aug: bool = False,
        aug_param: AugParams | None = None,
        depth_range: float = UVD_DEPTH_RANGE,
    ) -> None:
        if recipe not in RECIPES:
            raise ArgumentError(f"DATA_PRESET.TRANSFORM: expected one of {RECIPES}, got {recipe!r}")
        if image_norm not in IMAGE_NORMS:
            raise ArgumentError(
                f"DATA_PRESET.IMAGE_NORM: expected one of {IMAGE_NORMS}, got {image_norm!r}"
            )
        if len(image_size) != 2 or min(image_size) <= 0:
            raise ArgumentError(f"DATA_PRESET.IMAGE_SIZE: expected (W, H) > 0, got {image_size}")
        self.codec = UVDCodec(
            image_size=(int(image_size[0]), int(image_size[1])),
            depth_range=depth_range,
            center_idx=center_idx,
        )
        self.image_size = self.codec.image_size
        self.center_idx = self.codec.center_idx
        self.bbox_expand_ratio = float(bbox_expand_ratio)
        self.image_norm = image_norm
        self.recipe = recipe
        self.train = bool(train)
        self.aug = bool(aug)
        self.aug_param = aug_param if aug_param is not None else DEFAULT_AUG[recipe]

    def __repr__(self) -> str:
        return (
            f"HandTransform(recipe={self.recipe!r}, image_size={self.image_size}, "
            f"train={self.train}, aug={self.aug}, image_norm={self.image_norm!r})"
        )

    def crop_box(
        self,
        joints_2d: np.ndarray | None,
        raw_size: tuple[int, int],
        given_box: np.ndarray | None = None,
        mirrored: bool = False,
    ) -> tuple[np.ndarray, float | tuple[float, float]]:
        """The un-augmented crop box ``(center (2,), scale)`` in raw pixels for the recipe.

        ``scale`` is the square box's side; a ``(w, h)`` pair only for HandOccNet's non-square
        full-image fallback. ``given_box`` (``[x, y, w, h]`` of a RawSample's ``bbox_xywh``, in the
        un-mirrored image) is used by the ``"handoccnet"`` recipe as the original uses its
        dataset's box: for a mirrored hand its centre becomes ``W - cx - 1``.
        """
        if joints_2d is None and (self.recipe == "oakink" or given_box is None):
            raise ArgumentError(
                f"crop_box (recipe {self.recipe!r}) needs joints_2d"
                + (" or given_box" if self.recipe == "handoccnet" else "")
            )
        if self.recipe == "oakink":
            assert joints_2d is not None
            return bbox_center_scale_from_joints(joints_2d, self.bbox_expand_ratio)
        if given_box is not None:
            x, y, w, h = (float(v) for v in given_box)
            cx, cy = x + w / 2.0, y + h / 2.0
            if mirrored:
                cx = raw_size[0] - cx - 1.0
            center = np.array([cx, cy], dtype=np.float32)
            return center, (w if w == h else (w, h))
        assert joints_2d is not None
        aspect = self.image_size[0] / self.image_size[1]
        tight = bbox_xywh_from_joints(joints_2d, expansion=self.bbox_expand_ratio)
        box = process_bbox(tight, raw_size, aspect_ratio=aspect, expansion=1.0)
        if box is None:
            box = process_bbox((0, 0, raw_size[0], raw_size[1]), raw_size, aspect, expansion=1.0)
        assert box is not None  # the full image is never empty
        center = np.array([box[0] + box[2] / 2.0, box[1] + box[3] / 2.0], dtype=np.float32)
        return center, float(box[2])

    def draw(
        self,
        rng: np.random.Generator | None,
        center: np.ndarray,
        scale: float,
        raw_size: tuple[int, int],
    ) -> AugDraw:
        """This sample's augmentation (identity unless ``aug``)."""
        if not self.aug:
            return AugDraw()
        if rng is None:
            raise ValueError(
                "HandTransform(aug=True) needs an rng (see data.transforms.sample_rng)"
            )
        return sample_augmentation(rng, self.aug_param, center, scale, raw_size)

    def crop_inputs(
        self, raw: Mapping[str, Any], rng: np.random.Generator | None = None
    ) -> dict[str, Any]:
        """The network inputs of a RawSample without targets (``image``, ``cam_intr``, ``side`` and
        ``bbox_xywh``, e.g. HO-3D's evaluation split): ``image``, ``target_cam_intr`` of the crop,
        ``target_bbox_center`` / ``target_bbox_scale``, ``affine``, ``rot_rad``, ``side``,
        ``image_path`` (tensors where numeric)."""
        return {key: _to_tensor(value) for key, value in self._crop(raw, rng).inputs.items()}

    def _crop(self, raw: Mapping[str, Any], rng: np.random.Generator | None) -> _Crop:
        """Mirror a left hand, choose the box, draw the augmentation, warp and normalise."""
        _check_raw(raw, ("image", "cam_intr", "side"))
        side = raw["side"]
        if side == "left":
            raw = mirror_raw_sample(raw)
        image = raw["image"]
        raw_size = (image.shape[1], image.shape[0])
        given_box = raw.get("bbox_xywh") if self.recipe == "handoccnet" else None
        joints_2d = np.asarray(raw["joints_2d"], np.float32) if "joints_2d" in raw else None
        if given_box is None and joints_2d is None:
            needs = "joints_2d or bbox_xywh" if self.recipe == "handoccnet" else "joints_2d"
            raise DataError(
                f"RawSample {raw.get('image_path', '?')!r} has no {needs}: nothing to crop around "
                f"(recipe {self.recipe!r})"
            )
        center, box_scale = self.crop_box(joints_2d, raw_size, given_box, side == "left")
        side_px = box_scale if isinstance(box_scale, float) else float(box_scale[0])
        draw = self.draw(rng, center, side_px, raw_size)
        scale: float | tuple[float, float] = (
            box_scale * draw.scale
            if isinstance(box_scale, float)
            else (box_scale[0] * draw.scale, box_scale[1] * draw.scale)
        )
        affine = crop_affine(center, scale, self.image_size, draw.rot)
        crop = warp_crop(apply_occlusion(image, draw), affine, self.image_size)
        if self.aug:
            crop = jitter_colour(crop, draw.colour)
        cam_intr = np.asarray(raw["cam_intr"], dtype=np.float32)
        inputs = {
            "image": normalise_image(crop, self.image_norm),
            "target_cam_intr": crop_intrinsics(cam_intr, center, scale, self.image_size, draw.rot),
            "target_bbox_center": center.astype(np.float32),
            "target_bbox_scale": np.float32(side_px * draw.scale),
            "affine": affine,
            "rot_rad": np.float32(draw.rot),
            "side": side,
            "image_path": str(raw.get("image_path", "")),
        }
        return _Crop(raw, raw_size, draw, affine, inputs)

    def __call__(
        self, raw: Mapping[str, Any], rng: np.random.Generator | None = None
    ) -> dict[str, Any]:
        """Transform one RawSample; ``rng`` drives the augmentation (required when ``aug``)."""
        _check_raw(raw, REQUIRED_RAW_KEYS)
        raw, raw_size, draw, affine, inputs = self._crop(raw, rng)
        joints_2d = np.asarray(raw["joints_2d"], dtype=np.float32)
        cam_intr = np.asarray(raw["cam_intr"], dtype=np.float32)

        target_joints_2d = apply_affine(joints_2d, affine)
        joints_vis = crop_visibility(
            image_visibility(joints_2d, raw_size), target_joints_2d, self.image_size, self.train
        )
        rot_mat3d = rotation_z(draw.rot)
        joints_3d = rotate_points(raw["joints_3d"], rot_mat3d)
        root = joints_3d[self.center_idx].copy()
        sample: dict[str, Any] = {
            **inputs,
            "target_joints_2d": target_joints_2d,
            "target_joints_vis": joints_vis,
            "target_joints_uvd": self.codec.encode(target_joints_2d, joints_3d[:, 2], root[2]),
            "target_joints_3d": joints_3d,
            "target_joints_3d_rel": joints_3d - root,
            "target_root_joint": root,
            "target_root_d": root[2:3].copy(),
            "rot_mat3d": rot_mat3d,
        }
        if raw.get("verts_3d") is not None:
            sample.update(
                self._verts_targets(raw["verts_3d"], cam_intr, affine, rot_mat3d, root, raw_size)
            )
        if raw.get("mano_pose") is not None:
            sample["mano_pose"] = rotate_mano_root(raw["mano_pose"], rot_mat3d)
        if raw.get("mano_shape") is not None:
            sample["mano_shape"] = np.asarray(raw["mano_shape"], dtype=np.float32)
        if "sample_idx" in raw:
            sample["sample_idx"] = int(raw["sample_idx"])
        return {key: _to_tensor(value) for key, value in sample.items()}

    def _verts_targets(
        self,
        verts_3d: np.ndarray,
        cam_intr: np.ndarray,
        affine: np.ndarray,
        rot_mat3d: np.ndarray,
        root: np.ndarray,
        raw_size: tuple[int, int],
    ) -> dict[str, np.ndarray]:
        """Vertex targets: rotated 3D, root-relative 3D, crop pixels (through the raw
        projection), their visibility (the joints' rule) and uvd."""
        verts_3d = np.asarray(verts_3d, dtype=np.float32)
        raw_points = project(verts_3d, cam_intr)
        crop_points = apply_affine(raw_points, affine)
        rotated = rotate_points(verts_3d, rot_mat3d)
        visible = crop_visibility(
            image_visibility(raw_points, raw_size), crop_points, self.image_size, self.train
        )
        return {
            "target_verts_3d": rotated,
            "target_verts_3d_rel": rotated - root,
            "target_verts_2d": crop_points,
            "target_verts_vis": visible,
            "target_verts_uvd": self.codec.encode(crop_points, rotated[:, 2], root[2]),
        }


def _to_tensor(value: Any) -> Any:
    """numpy arrays and numpy scalars -> torch tensors; strings and ints are kept."""
    if isinstance(value, (np.ndarray, np.generic)):
        return torch.from_numpy(np.asarray(value))
    return value


def _check_raw(raw: Mapping[str, Any], required: Sequence[str]) -> None:
    missing = [key for key in required if key not in raw]
    if missing:
        raise DataError(
            f"RawSample {raw.get('image_path', '?')!r} lacks keys {missing} "
            f"(see handmesh.data.keys.RAW_KEYS)"
        )
    image = raw["image"]
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise DataError(
            f"RawSample {raw.get('image_path', '?')!r}: image must be an (H, W, 3) uint8 array, "
            f"got {type(image).__name__} {getattr(image, 'shape', '')}"
        )
    for key, shape in (("joints_2d", (21, 2)), ("joints_3d", (21, 3)), ("cam_intr", (3, 3))):
        if key in raw and np.shape(raw[key]) != shape:
            raise DataError(
                f"RawSample {raw.get('image_path', '?')!r}: {key} must have shape {shape}, "
                f"got {np.shape(raw[key])}"
            )
    if raw["side"] not in ("right", "left"):
        raise DataError(f"RawSample side must be 'right' or 'left', got {raw['side']!r}")


def build_transform(
    data_preset: Mapping[str, Any] | None,
    train: bool,
    aug: bool,
    aug_param: Mapping[str, Any] | None = None,
) -> HandTransform:
    """A HandTransform from a DATA_PRESET node.

    Reads IMAGE_SIZE (W, H), CENTER_IDX, UVD_DEPTH_RANGE (through ``UVDCodec.from_preset``, as the
    models do), BBOX_EXPAND_RATIO, IMAGE_NORM and TRANSFORM (defaults: the OakInk values); ``aug_param`` is a dataset's AUG_PARAM node (OakInk-HMR names), None for the
    recipe's defaults.
    """
    preset = data_preset or {}
    recipe = str(preset.get("TRANSFORM", "oakink")).lower()
    if recipe not in RECIPES:
        raise ConfigError(f"DATA_PRESET.TRANSFORM: expected one of {RECIPES}, got {recipe!r}")
    defaults = DEFAULT_AUG[recipe]
    norm_default = "minus_half" if recipe == "oakink" else "unit"
    codec = UVDCodec.from_preset({"IMAGE_SIZE": DEFAULT_IMAGE_SIZE[recipe], **preset})
    return HandTransform(
        image_size=codec.image_size,
        center_idx=codec.center_idx,
        depth_range=codec.depth_range,
        bbox_expand_ratio=float(
            preset.get("BBOX_EXPAND_RATIO", 1.7 if recipe == "oakink" else 1.5)
        ),
        image_norm=str(preset.get("IMAGE_NORM", norm_default)),
        recipe=recipe,
        train=train,
        aug=aug,
        aug_param=AugParams.from_config(aug_param, defaults),
    )
