"""Crop-and-augment transforms: RawSample -> sample (keys.py), OakInk-HMR and HandOccNet recipes."""

from handmesh.data.transforms.augment import HANDOCCNET_AUG, OAKINK_AUG, AugDraw, AugParams
from handmesh.data.transforms.mirror import (
    mirror_image,
    mirror_intrinsics,
    mirror_mano_pose,
    mirror_points_2d,
    mirror_points_3d,
    mirror_predictions,
    mirror_raw_sample,
)
from handmesh.data.transforms.pipeline import RECIPES, HandTransform, build_transform
from handmesh.data.transforms.seeding import sample_rng

__all__ = [
    "HANDOCCNET_AUG",
    "OAKINK_AUG",
    "RECIPES",
    "AugDraw",
    "AugParams",
    "HandTransform",
    "build_transform",
    "mirror_image",
    "mirror_intrinsics",
    "mirror_mano_pose",
    "mirror_points_2d",
    "mirror_points_3d",
    "mirror_predictions",
    "mirror_raw_sample",
    "sample_rng",
]
