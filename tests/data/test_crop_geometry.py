"""Bounding boxes and affine crop maths against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from handmesh.geometry.crop import (
    affine_to_2x3,
    apply_affine,
    bbox_center_scale_from_joints,
    bbox_xywh_from_joints,
    crop_affine,
    crop_intrinsics,
    process_bbox,
    rotation_z,
)


def test_oakink_bbox_truncates_centre_and_expands_longest_side():
    joints = np.array([[10.7, 20.2], [31.9, 25.0], [15.0, 60.9]])
    center, scale = bbox_center_scale_from_joints(joints, expand_ratio=1.7)
    assert center.tolist() == [
        21.0,
        40.0,
    ]  # int((10.7 + 31.9) / 2) = 21, int((20.2 + 60.9) / 2) = 40
    assert scale == pytest.approx((60.9 - 20.2) * 1.7)


def test_handoccnet_bbox_and_process_bbox_by_hand():
    joints = np.array([[10.0, 20.0], [30.0, 60.0], [500.0, 500.0]])
    xywh = bbox_xywh_from_joints(joints, valid=np.array([1, 1, 0]), expansion=1.5)
    np.testing.assert_allclose(xywh, [5.0, 10.0, 30.0, 60.0])
    # clip: x1=5, y1=10, x2=5+29=34, y2=10+59=69 -> w=29, h=59, centre (19.5, 39.5); square: 59x59
    box = process_bbox(xywh, image_size=(100, 100), aspect_ratio=1.0, expansion=1.0)
    np.testing.assert_allclose(box, [19.5 - 29.5, 39.5 - 29.5, 59.0, 59.0], atol=1e-5)
    assert process_bbox([200.0, 200.0, 10.0, 10.0], image_size=(100, 100)) is None


def test_crop_affine_maps_box_centre_to_crop_centre_and_rotates_about_it():
    center, scale, out_size, rot = (120.0, 80.0), 50.0, (64, 48), math.radians(30)
    affine = crop_affine(center, scale, out_size, rot)
    zoom = 64 / 50.0
    offset = np.array([10.0, -4.0])
    points = np.array([center, np.add(center, offset)])
    mapped = apply_affine(points, affine)
    rotated = np.array(
        [math.cos(rot) * offset[0] - math.sin(rot) * offset[1],
         math.sin(rot) * offset[0] + math.cos(rot) * offset[1]]
    )  # fmt: skip
    np.testing.assert_allclose(mapped[0], [32.0, 24.0], atol=1e-4)
    np.testing.assert_allclose(mapped[1], [32.0, 24.0] + zoom * rotated, atol=1e-4)
    assert affine_to_2x3(affine).shape == (2, 3)


def test_crop_intrinsics_reproject_rotated_points_onto_cropped_points():
    rng = np.random.default_rng(3)
    cam = np.array([[600.0, 0, 310.0], [0, 600.0, 250.0], [0, 0, 1]])
    points = rng.uniform([-0.1, -0.1, 0.4], [0.1, 0.1, 0.6], size=(30, 3))
    for rot in (0.0, 0.7, -2.0):
        center, scale = (340.0, 200.0), 180.0
        raw_2d = points[:, :2] / points[:, 2:] * 600.0 + [310.0, 250.0]
        expected = apply_affine(raw_2d, crop_affine(center, scale, (224, 224), rot))
        rotated = points @ rotation_z(rot).T.astype(np.float64)
        k_crop = crop_intrinsics(cam, center, scale, (224, 224), rot).astype(np.float64)
        hom = rotated @ k_crop.T
        np.testing.assert_allclose(hom[:, :2] / hom[:, 2:], expected, atol=1e-3)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="joints_2d"):
        bbox_center_scale_from_joints(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="cam_intr"):
        crop_intrinsics(np.eye(2), (0, 0), 1.0, (8, 8))
    with pytest.raises(ValueError, match="scale"):
        crop_affine((0, 0), 0.0, (8, 8))


def test_non_square_box_spans_the_crop_with_one_zoom_per_axis():
    """HandOccNet's generate_patch_image of a (w, h) box: the three points it maps by hand."""
    center, box = (320.0, 240.0), (639.0, 479.0)
    affine = crop_affine(center, box, (256, 256))
    src = np.array([center, (center[0], center[1] + box[1] / 2), (center[0] + box[0] / 2, 240.0)])
    expected = np.array([[128.0, 128.0], [128.0, 256.0], [256.0, 128.0]])
    np.testing.assert_allclose(apply_affine(src, affine), expected, atol=1e-4)
    K = np.array([[600.0, 0.0, 310.0], [0.0, 600.0, 250.0], [0.0, 0.0, 1.0]])
    points = np.array([[0.05, -0.02, 0.5], [-0.1, 0.04, 0.7]])
    crop_K = crop_intrinsics(K, center, box, (256, 256))
    projected = (points @ crop_K.T)[:, :2] / points[:, 2:]
    raw = (points @ K.T)[:, :2] / points[:, 2:]
    np.testing.assert_allclose(projected, apply_affine(raw, affine), atol=1e-3)
    with pytest.raises(ValueError, match="positive number or"):
        crop_affine(center, (10.0, 0.0), (256, 256))
