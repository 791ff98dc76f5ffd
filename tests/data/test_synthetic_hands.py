"""SyntheticHands: rendered hands, annotations that sit on them, determinism, config, loaders."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from handmesh.data import HandTransform, SyntheticHands, collate
from handmesh.registry import DATASETS, ConfigKeyError, build

RAW = (160, 120)


def small(**kwargs) -> SyntheticHands:
    options = {
        "num_samples": 40,
        "data_split": "test",
        "raw_size": RAW,
        "allow_synthetic_mano": True,
    }
    options.update(kwargs)
    return SyntheticHands(transform=HandTransform(image_size=(64, 64)), **options)


def test_projected_joints_land_on_the_rendered_hand():
    dataset = small(occluders=True)
    hits = total = 0
    for index in range(len(dataset)):
        raw, info = dataset.render_sample(index)
        mask, occluded = info["hand_mask"], info["occluder_mask"]
        for u, v in np.round(raw["joints_2d"]).astype(int):
            if not (1 <= u < RAW[0] - 1 and 1 <= v < RAW[1] - 1) or occluded[v, u]:
                continue
            total += 1
            hits += bool(mask[v - 1 : v + 2, u - 1 : u + 2].any())
    assert total > 40 * 21 * 0.5
    assert hits / total >= 0.9, f"only {hits}/{total} joints on the hand"


def test_raw_sample_schema_and_camera():
    dataset = small(num_samples=6)
    for index in range(6):
        raw = dataset.get_raw(index)
        assert raw["image"].shape == (RAW[1], RAW[0], 3) and raw["image"].dtype == np.uint8
        assert raw["joints_3d"].shape == (21, 3) and raw["verts_3d"].shape == (778, 3)
        assert raw["mano_pose"].shape == (48,) and raw["mano_shape"].shape == (10,)
        assert raw["side"] == "right" and raw["sample_idx"] == index
        assert raw["image_path"] == f"synthetic://test/0/{index}"
        cam = raw["cam_intr"]
        assert cam[0, 0] == cam[1, 1] and abs(cam[0, 2] - RAW[0] / 2) < 0.05 * RAW[0]
        assert 0.35 <= raw["joints_3d"][9, 2] <= 0.9
        hom = raw["joints_3d"].astype(np.float64) @ cam.T.astype(np.float64)
        np.testing.assert_allclose(raw["joints_2d"], hom[:, :2] / hom[:, 2:], atol=1e-3)
        assert np.all(np.abs(raw["mano_shape"]) <= 2.5)


def test_the_hand_model_reproduces_the_annotations():
    from handmesh.mano import MANO

    dataset = small(num_samples=3)
    layer = MANO(side="right", allow_synthetic=True)
    for index in range(3):
        raw = dataset.get_raw(index)
        out = layer(
            torch.from_numpy(raw["mano_pose"])[None], torch.from_numpy(raw["mano_shape"])[None]
        )
        offset = raw["joints_3d"] - out.joints[0].numpy()
        np.testing.assert_allclose(offset, offset[:1].repeat(21, 0), atol=1e-5)  # a translation
        np.testing.assert_allclose(out.verts[0].numpy() + offset[0], raw["verts_3d"], atol=1e-5)


def test_samples_differ_by_index_and_split():
    dataset = small(num_samples=3)
    a, b = dataset.get_raw(0), dataset.get_raw(1)
    assert not np.allclose(a["joints_3d"], b["joints_3d"])
    assert not np.array_equal(a["image"], b["image"])
    other_split = small(num_samples=3, data_split="val").get_raw(0)
    assert not np.allclose(a["joints_3d"], other_split["joints_3d"])
    np.testing.assert_array_equal(dataset.get_raw(0)["image"], a["image"])


CHILD = """
import sys, numpy as np, torch
torch.set_num_threads(1)
from handmesh.data import HandTransform, SyntheticHands
ds = SyntheticHands(num_samples=5, data_split="train", raw_size=(160, 120), seed=3,
                    transform=HandTransform(image_size=(64, 64), train=True, aug=True))
s = ds[4]
np.savez(sys.argv[1], image=s["image"].numpy(), joints=s["target_joints_3d"].numpy(),
         intr=s["target_cam_intr"].numpy())
"""


@pytest.mark.slow  # a fresh interpreter imports torch and builds the hand model: ~5 s
def test_same_index_gives_identical_arrays_in_another_process(tmp_path):
    out = tmp_path / "sample.npz"
    subprocess.run([sys.executable, "-c", CHILD, str(out)], check=True, timeout=120)
    theirs = np.load(out)
    dataset = SyntheticHands(
        num_samples=5,
        data_split="train",
        raw_size=RAW,
        seed=3,
        transform=HandTransform(image_size=(64, 64), train=True, aug=True),
    )
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002 - the legacy global state must not matter
    ours = dataset[4]
    np.testing.assert_array_equal(ours["image"].numpy(), theirs["image"])
    np.testing.assert_array_equal(ours["target_joints_3d"].numpy(), theirs["joints"])
    np.testing.assert_array_equal(ours["target_cam_intr"].numpy(), theirs["intr"])
    assert not np.array_equal(dataset[3]["image"].numpy(), theirs["image"])


def test_train_samples_with_augmentation_are_consistent():
    from handmesh.geometry.camera import uvd_to_xyz, xyz_to_uvd

    cfg = {
        "TYPE": "SyntheticHands",
        "DATA_SPLIT": "train",
        "NUM_SAMPLES": 6,
        "RAW_SIZE": list(RAW),
        "AUG": True,
        "LEFT_PROB": 0.5,
        "AUG_PARAM": {"ROT_PROB": 1.0, "OCCLUSION_PROB": 0.5},
    }
    preset = {"IMAGE_SIZE": [64, 64], "ALLOW_SYNTHETIC_MANO": True}
    dataset = build(cfg, DATASETS, data_preset=preset)
    sides = set()
    for index in range(6):
        sample = dataset[index]
        sides.add(sample["side"])
        cam = sample["target_cam_intr"].double()
        hom = sample["target_joints_3d"].double() @ cam.T
        torch.testing.assert_close(
            hom[:, :2] / hom[:, 2:], sample["target_joints_2d"].double(), atol=0.5, rtol=0
        )
        root = sample["target_root_joint"]
        uvd = xyz_to_uvd(
            sample["target_joints_3d"][None], root[None], sample["target_cam_intr"][None], (64, 64)
        )
        torch.testing.assert_close(uvd[0], sample["target_joints_uvd"], atol=2e-3, rtol=0)
        back = uvd_to_xyz(
            sample["target_joints_uvd"][None], root[None], sample["target_cam_intr"][None], (64, 64)
        )
        torch.testing.assert_close(back[0], sample["target_joints_3d"], atol=1e-4, rtol=0)
        assert sample["target_joints_uvd"][9, 2].item() == pytest.approx(0.5, abs=1e-6)
    assert sides == {"left", "right"}


def test_from_config_errors():
    preset = {"ALLOW_SYNTHETIC_MANO": True}
    with pytest.raises(ConfigKeyError, match="NUM_SAMPLE"):
        build({"TYPE": "SyntheticHands", "NUM_SAMPLE": 3}, DATASETS, data_preset=preset)
    with pytest.raises(ValueError, match="DATA_SPLIT"):
        build({"TYPE": "SyntheticHands", "DATA_SPLIT": "training"}, DATASETS, data_preset=preset)
    missing = {"ALLOW_SYNTHETIC_MANO": False, "MANO_ROOT": "/nonexistent/mano"}
    with pytest.raises(FileNotFoundError, match="ALLOW_SYNTHETIC_MANO"):
        build({"TYPE": "SyntheticHands"}, DATASETS, data_preset=missing)


def test_two_workers_yield_the_same_batches_as_in_process():
    dataset = SyntheticHands(
        num_samples=8,
        data_split="train",
        raw_size=RAW,
        transform=HandTransform(image_size=(32, 32), train=True, aug=True),
    )

    def batches(workers: int) -> list:
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=4, num_workers=workers, collate_fn=collate
        )
        return list(loader)

    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == 2
    for a, b in zip(serial, parallel):
        assert a["image_path"] == b["image_path"]
        for key in ("image", "target_joints_2d", "target_verts_3d", "mano_pose"):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


# --- distribution knobs (VIEW_TILT_MAX, INPLANE_ROTATION_MAX, RANDOM_ROTATION_PROB, ...) ---


def _rest_axes():
    return small(num_samples=1).hand_model("right").axes


def _global_frames(count: int, **knobs) -> tuple[np.ndarray, np.ndarray]:
    """Palm normals and finger directions (count, 3) in the camera frame."""
    import roma

    from handmesh.data.datasets.synthetic_pose import sample_global_rotation

    axes = _rest_axes()
    rng = np.random.default_rng(7)
    rotvecs = np.stack([sample_global_rotation(rng, axes, **knobs) for _ in range(count)])
    matrices = roma.rotvec_to_rotmat(torch.from_numpy(rotvecs).double()).numpy()
    return matrices @ axes.palm_normal, matrices @ axes.finger_dir


def _tilt(normals: np.ndarray) -> np.ndarray:
    """Angle (rad) between each normal and the viewing axis, either facing."""
    return np.arccos(np.clip(np.abs(normals[:, 2]), 0.0, 1.0))


def _inplane_from_up(directions: np.ndarray) -> np.ndarray:
    """Image angle (rad) of each direction away from pointing up (-y, camera y down)."""
    return np.abs(np.arctan2(directions[:, 0], -directions[:, 1]))


def test_view_tilt_max_bounds_the_palm_normal_and_reaches_the_limit():
    normals, _ = _global_frames(300, view_tilt_max=0.5, random_rotation_prob=0.0)
    tilt = _tilt(normals)
    assert tilt.max() <= 0.5 + 1e-5
    assert tilt.max() > 0.45  # the range is used, not just its centre
    facing_camera = normals[:, 2] < 0
    assert 0.3 < facing_camera.mean() < 0.7  # palm and back both occur


def test_inplane_rotation_max_bounds_the_finger_direction():
    normals, fingers = _global_frames(
        300, view_tilt_max=0.0, inplane_rotation_max=0.6, random_rotation_prob=0.0
    )
    np.testing.assert_allclose(np.abs(normals[:, 2]), 1.0, atol=1e-5)
    np.testing.assert_allclose(fingers[:, 2], 0.0, atol=1e-5)  # in the image plane
    angle = _inplane_from_up(fingers)
    assert angle.max() <= 0.6 + 1e-5
    assert angle.max() > 0.55
    zero = _inplane_from_up(_global_frames(50, view_tilt_max=0.0, inplane_rotation_max=0.0)[1])
    # (random rotations are still on by default: those fingers point anywhere)
    assert np.mean(zero < 1e-4) > 0.6


def test_default_and_random_rotations_cover_every_direction():
    normals, fingers = _global_frames(400)
    assert _inplane_from_up(fingers).max() > 3.0  # fingers also point down
    assert _tilt(normals).max() > 1.2  # beyond 0.95 rad: the 20 % random rotations
    normals, _ = _global_frames(200, random_rotation_prob=1.0)
    assert np.mean(_tilt(normals) > 1.0) > 0.3  # uniform rotations: P(tilt > 1 rad) = 0.46


def test_articulation_scale_multiplies_the_finger_angles():
    from handmesh.data.datasets.synthetic_pose import sample_articulation

    axes = _rest_axes()
    natural = sample_articulation(np.random.default_rng(3), axes)
    half = sample_articulation(np.random.default_rng(3), axes, scale=0.5)
    assert np.abs(natural).max() > 0.3
    np.testing.assert_allclose(half, 0.5 * natural, atol=1e-6)
    flat = small(num_samples=2, articulation_scale=0.0)
    hands_mean = flat.hand_model("right").hands_mean
    for index in range(2):
        pose = flat.get_raw(index)["mano_pose"]
        np.testing.assert_allclose(pose[3:] + hands_mean, 0.0, atol=1e-6)  # the flat hand


def test_easy_view_keeps_rendered_hands_upright_and_facing_the_camera():
    dataset = small(
        num_samples=8,
        view_tilt_max=0.0,
        inplane_rotation_max=0.0,
        random_rotation_prob=0.0,
        occluders=False,
    )
    for index in range(8):
        joints = dataset.get_raw(index)["joints_3d"].astype(np.float64)
        along = joints[9] - joints[0]  # wrist -> middle knuckle (knuckles ignore articulation)
        across = joints[5] - joints[17]
        normal = np.cross(across, along)
        normal /= np.linalg.norm(normal)
        assert abs(normal[2]) > np.cos(0.2)  # random shapes move the knuckles a little
        assert along[1] < 0 and abs(along[0]) < 0.3 * abs(along[1])  # fingers point up


def test_plain_background_is_one_colour_outside_the_hand():
    dataset = small(num_samples=3, background="plain", occluders=False)
    for index in range(3):
        raw, info = dataset.render_sample(index)
        outside = raw["image"][~info["hand_mask"]]
        assert info["hand_mask"].any()
        assert np.all(outside == outside[0])  # one colour, checked pixel by pixel


def test_distribution_keys_from_config_and_their_errors():
    preset = {"ALLOW_SYNTHETIC_MANO": True}
    node = {
        "TYPE": "SyntheticHands",
        "VIEW_TILT_MAX": 0.5,
        "INPLANE_ROTATION_MAX": 1.0,
        "RANDOM_ROTATION_PROB": 0.0,
        "ARTICULATION_SCALE": 0.7,
        "BACKGROUND": "plain",
    }
    dataset = build(node, DATASETS, data_preset=preset)
    assert (dataset.view_tilt_max, dataset.inplane_rotation_max) == (0.5, 1.0)
    assert (dataset.random_rotation_prob, dataset.articulation_scale) == (0.0, 0.7)
    assert dataset.background == "plain"
    default = build({"TYPE": "SyntheticHands"}, DATASETS, data_preset=preset)
    assert default.view_tilt_max == pytest.approx(0.95)
    assert default.inplane_rotation_max == pytest.approx(np.pi)
    assert default.random_rotation_prob == pytest.approx(0.2)
    assert (default.articulation_scale, default.background) == (1.0, "random")
    bad = {
        "RANDOM_ROTATION_PROB": 1.5,
        "VIEW_TILT_MAX": -0.1,
        "INPLANE_ROTATION_MAX": 4.0,
        "ARTICULATION_SCALE": -1.0,
        "BACKGROUND": "noise",
    }
    for key, value in bad.items():
        with pytest.raises(ValueError, match=key):
            build({"TYPE": "SyntheticHands", key: value}, DATASETS, data_preset=preset)
