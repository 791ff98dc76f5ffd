"""The crop-and-augment pipeline on hand-made RawSamples (no MANO needed)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from handmesh.data.transforms import AugParams, HandTransform, build_transform, sample_rng
from handmesh.errors import ArgumentError, DataError
from handmesh.registry import ConfigKeyError

FX, CX, CY = 500.0, 161.0, 118.0
RAW_W, RAW_H = 320, 240


def make_raw(seed: int = 0, side: str = "right") -> dict:
    """A RawSample: random joints ~0.5 m in front of a pinhole camera, a noise image."""
    rng = np.random.default_rng(seed)
    joints_3d = rng.uniform([-0.06, -0.06, 0.45], [0.06, 0.06, 0.55], size=(21, 3)).astype(
        np.float32
    )
    verts_3d = rng.uniform([-0.07, -0.07, 0.44], [0.07, 0.07, 0.56], size=(50, 3)).astype(
        np.float32
    )
    cam = np.array([[FX, 0, CX], [0, FX, CY], [0, 0, 1]], dtype=np.float32)
    joints_2d = (joints_3d[:, :2] / joints_3d[:, 2:] * FX + [CX, CY]).astype(np.float32)
    return {
        "image": rng.integers(0, 256, size=(RAW_H, RAW_W, 3), dtype=np.uint8),
        "cam_intr": cam,
        "joints_3d": joints_3d,
        "verts_3d": verts_3d,
        "joints_2d": joints_2d,
        "mano_pose": rng.normal(0, 0.3, size=48).astype(np.float32),
        "mano_shape": rng.normal(size=10).astype(np.float32),
        "side": side,
        "image_path": f"test://{seed}",
        "sample_idx": seed,
    }


def train_transform(**kwargs) -> HandTransform:
    params = AugParams(rot_prob=1.0, occlusion=False, **kwargs)
    return HandTransform(image_size=(64, 64), train=True, aug=True, aug_param=params)


def reproject(points: np.ndarray, cam: np.ndarray) -> np.ndarray:
    out = []
    for x, y, z in points.astype(np.float64):
        out.append([cam[0, 0] * x / z + cam[0, 2], cam[1, 1] * y / z + cam[1, 2]])
    return np.array(out)


def test_crop_intrinsics_reproject_rotated_joints_in_train_mode():
    transform = train_transform()
    rotations = []
    for seed in range(10):
        sample = transform(make_raw(seed), sample_rng(7, seed))
        rotations.append(float(sample["rot_rad"]))
        cam = sample["target_cam_intr"].numpy()
        for key, points_key in (("target_joints_3d", "target_joints_2d"),):
            np.testing.assert_allclose(
                reproject(sample[key].numpy(), cam), sample[points_key].numpy(), atol=0.5
            )
        verts_uv = sample["target_verts_uvd"].numpy()[:, :2] * 64
        np.testing.assert_allclose(
            reproject(sample["target_verts_3d"].numpy(), cam), verts_uv, atol=0.5
        )
    assert np.ptp(rotations) > 0.5  # rotation jitter really happened


def test_uvd_inverts_to_xyz_and_root_depth_is_half():
    transform = train_transform()
    for seed in range(5):
        sample = transform(make_raw(seed), sample_rng(1, seed))
        uvd = sample["target_joints_uvd"].numpy().astype(np.float64)
        cam = sample["target_cam_intr"].numpy().astype(np.float64)
        root = sample["target_root_joint"].numpy()
        assert uvd[9, 2] == pytest.approx(0.5, abs=1e-6)
        z = (uvd[:, 2] - 0.5) * 0.4 + root[2]
        x = (uvd[:, 0] * 64 - cam[0, 2]) / cam[0, 0] * z
        y = (uvd[:, 1] * 64 - cam[1, 2]) / cam[1, 1] * z
        np.testing.assert_allclose(np.stack([x, y, z], 1), sample["target_joints_3d"], atol=2e-4)
        np.testing.assert_allclose(sample["target_joints_3d_rel"][9], 0.0, atol=1e-7)
        assert sample["target_root_d"].item() == pytest.approx(root[2])


def test_rotation_is_applied_to_3d_targets_and_mano_root():
    raw = make_raw(2)
    sample = train_transform()(raw, sample_rng(0, 2))
    rot = float(sample["rot_rad"])
    rz = Rotation.from_euler("z", rot).as_matrix()
    np.testing.assert_allclose(sample["target_joints_3d"], raw["joints_3d"] @ rz.T, atol=1e-5)
    expected_root = (
        Rotation.from_matrix(rz) * Rotation.from_rotvec(raw["mano_pose"][:3])
    ).as_matrix()
    got_root = Rotation.from_rotvec(sample["mano_pose"][:3].numpy()).as_matrix()
    np.testing.assert_allclose(got_root, expected_root, atol=1e-5)
    np.testing.assert_array_equal(sample["mano_pose"][3:].numpy(), raw["mano_pose"][3:])


def test_warped_image_matches_warped_joints():
    raw = make_raw(4)
    raw["image"][:] = 0
    joint = 8
    u, v = np.round(raw["joints_2d"][joint]).astype(int)
    raw["joints_2d"][joint] = [u, v]
    raw["image"][v - 1 : v + 2, u - 1 : u + 2] = 255
    transform = HandTransform(
        image_size=(128, 128),
        image_norm="unit",
        train=True,
        aug=True,
        aug_param=AugParams(scale_jit=0.0, color_jit=0.0, rot_prob=1.0, occlusion=False),
    )
    sample = transform(raw, sample_rng(0, 9))
    image = sample["image"].numpy().max(0)
    row, col = np.unravel_index(np.argmax(image), image.shape)
    np.testing.assert_allclose([col, row], sample["target_joints_2d"][joint].numpy(), atol=1.5)


def test_visibility_rules():
    raw = make_raw(5)
    tight = {"image_size": (64, 64), "bbox_expand_ratio": 0.7}  # the box cuts off outer joints
    test_sample = HandTransform(train=False, **tight)(raw)
    assert test_sample["target_joints_vis"].tolist() == [1.0] * 21
    train_sample = HandTransform(train=True, **tight)(raw)
    crop_2d = train_sample["target_joints_2d"].numpy()
    inside = ((crop_2d >= 0) & (crop_2d < 64)).all(1)
    assert 0 < inside.sum() < 21
    np.testing.assert_array_equal(
        train_sample["target_joints_vis"].numpy(), inside.astype(np.float32)
    )
    # fewer than 30 % of the joints inside the raw image: everything invisible
    mostly_out = dict(raw, joints_2d=raw["joints_2d"] + [1000.0, 0.0])
    mostly_out["joints_2d"][:5] -= [1000.0, 0.0]
    assert (
        HandTransform(image_size=(64, 64), train=True)(mostly_out)["target_joints_vis"].sum() == 0
    )


def test_image_normalisation_and_colour_jitter_range():
    raw = make_raw(6)
    raw["image"][:] = 200
    minus_half = HandTransform(image_size=(32, 32), image_norm="minus_half")(raw)["image"]
    unit = HandTransform(image_size=(32, 32), image_norm="unit")(raw)["image"]
    assert minus_half.shape == (3, 32, 32)
    assert float(minus_half[:, 16, 16].mean()) == pytest.approx(200 / 255 - 0.5, abs=1e-6)
    assert float(unit[:, 16, 16].mean()) == pytest.approx(200 / 255, abs=1e-6)
    jittered = HandTransform(
        image_size=(32, 32),
        image_norm="unit",
        aug=True,
        aug_param=AugParams(scale_jit=0, rot_prob=0, occlusion=False),
    )
    centre = jittered(raw, sample_rng(0, 1))["image"][:, 16, 16].numpy() * 255
    assert np.all(centre >= 200 * 0.7 - 1e-3) and np.all(centre <= 200 * 1.3 + 1e-3)
    assert np.ptp(centre) > 0


def test_augmentation_draws_stay_in_oakink_ranges_and_are_seeded():
    transform = HandTransform(
        image_size=(32, 32),
        train=True,
        aug=True,
        aug_param=AugParams(occlusion=True, occlusion_prob=1.0),
    )
    raw = make_raw(0)
    base = transform.crop_box(raw["joints_2d"], (RAW_W, RAW_H))[1]
    for index in range(20):
        sample = transform(raw, sample_rng(3, index))
        assert 0.875 * base - 1e-3 <= float(sample["target_bbox_scale"]) <= 1.125 * base + 1e-3
        assert abs(float(sample["rot_rad"])) <= np.deg2rad(120) + 1e-6
    again = [transform(raw, sample_rng(3, 5)), transform(raw, sample_rng(3, 5))]
    assert np.array_equal(again[0]["image"].numpy(), again[1]["image"].numpy())
    other = transform(raw, sample_rng(3, 6))
    assert not np.array_equal(again[0]["image"].numpy(), other["image"].numpy())


def test_handoccnet_recipe_box_and_config_errors():
    preset = {"TRANSFORM": "handoccnet", "IMAGE_SIZE": [48, 48], "BBOX_EXPAND_RATIO": 1.5}
    transform = build_transform(preset, train=False, aug=False)
    assert transform.image_norm == "unit" and transform.image_size == (48, 48)
    raw = make_raw(1)
    center, side = transform.crop_box(raw["joints_2d"], (RAW_W, RAW_H))
    lo, hi = raw["joints_2d"].min(0), raw["joints_2d"].max(0)
    longest = max(hi - lo) * 1.5
    assert side == pytest.approx(longest - 1.0, abs=1e-3)  # process_bbox clips w - 1
    with pytest.raises(ArgumentError, match=r"recipe 'handoccnet'\) needs joints_2d or given_box"):
        transform.crop_box(None, (RAW_W, RAW_H))
    with pytest.raises(ConfigKeyError, match="ROT_JITTER"):
        build_transform({}, train=True, aug=True, aug_param={"ROT_JITTER": 1})
    with pytest.raises(ValueError, match="IMAGE_NORM"):
        build_transform({"IMAGE_NORM": "imagenet"}, train=False, aug=False)
    with pytest.raises(DataError, match="joints_3d"):
        transform({k: v for k, v in raw.items() if k != "joints_3d"})
    with pytest.raises(ValueError, match="rng"):
        HandTransform(aug=True)(raw)


def test_crop_inputs_of_a_sample_without_targets() -> None:
    """A box-only RawSample (HO-3D's evaluation split) gets the same inputs as a full one."""
    raw = make_raw()
    transform = HandTransform(image_size=(64, 64), recipe="handoccnet")
    raw["bbox_xywh"] = np.array([20.0, 30.0, 50.0, 50.0], dtype=np.float32)
    full = transform(raw)
    box_only = {k: raw[k] for k in ("image", "cam_intr", "side", "bbox_xywh")}
    inputs = transform.crop_inputs(box_only)
    for key in ("image", "target_cam_intr", "target_bbox_center", "affine"):
        np.testing.assert_array_equal(inputs[key].numpy(), full[key].numpy())
    np.testing.assert_allclose(inputs["target_bbox_center"].numpy(), [45.0, 55.0])
    del box_only["bbox_xywh"]
    with pytest.raises(DataError, match="has no joints_2d or bbox_xywh"):
        transform.crop_inputs(box_only)
