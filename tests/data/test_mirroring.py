"""Left <-> right mirroring of samples, predictions and MANO poses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handmesh.data.transforms import (
    HandTransform,
    mirror_intrinsics,
    mirror_mano_pose,
    mirror_points_2d,
    mirror_predictions,
    mirror_raw_sample,
)


def make_raw(side: str = "left") -> dict:
    rng = np.random.default_rng(11)
    joints_3d = rng.uniform([-0.05, -0.05, 0.4], [0.05, 0.05, 0.5], size=(21, 3)).astype(np.float32)
    cam = np.array([[450.0, 0, 70.0], [0, 430.0, 52.0], [0, 0, 1]], dtype=np.float32)
    hom = joints_3d @ cam.T
    return {
        "image": rng.integers(0, 256, size=(100, 150, 3), dtype=np.uint8),
        "cam_intr": cam,
        "joints_3d": joints_3d,
        "verts_3d": rng.normal(size=(778, 3)).astype(np.float32),
        "joints_2d": (hom[:, :2] / hom[:, 2:]).astype(np.float32),
        "mano_pose": rng.normal(size=48).astype(np.float32),
        "mano_shape": rng.normal(size=10).astype(np.float32),
        "side": side,
        "image_path": "x",
    }


def test_mirror_twice_is_identity():
    raw = make_raw()
    twice = mirror_raw_sample(mirror_raw_sample(raw))
    for key, value in raw.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_allclose(twice[key], value, atol=1e-4, rtol=0, err_msg=key)
        else:
            assert twice[key] == value
    assert mirror_raw_sample(raw)["side"] == "right"


def test_mirrored_sample_is_consistent():
    raw = make_raw()
    mirrored = mirror_raw_sample(raw)
    width = raw["image"].shape[1]
    # pixel (x, y) moves to (W - 1 - x, y)
    assert np.array_equal(mirrored["image"][7, width - 1 - 20], raw["image"][7, 20])
    np.testing.assert_allclose(mirrored["joints_2d"][:, 0], width - 1 - raw["joints_2d"][:, 0])
    # the mirrored intrinsics project the mirrored 3D joints onto the mirrored 2D joints
    hom = mirrored["joints_3d"].astype(np.float64) @ mirrored["cam_intr"].T.astype(np.float64)
    np.testing.assert_allclose(hom[:, :2] / hom[:, 2:], mirrored["joints_2d"], atol=1e-3)
    np.testing.assert_array_equal(mirrored["joints_3d"][:, 0], -raw["joints_3d"][:, 0])


def test_mano_pose_mirror_is_reflection_of_rotation():
    from scipy.spatial.transform import Rotation

    pose = np.random.default_rng(0).normal(size=(16, 3))
    reflect = np.diag([-1.0, 1.0, 1.0])
    mirrored = mirror_mano_pose(pose)
    for original, flipped in zip(pose, mirrored):
        expected = reflect @ Rotation.from_rotvec(original).as_matrix() @ reflect
        np.testing.assert_allclose(Rotation.from_rotvec(flipped).as_matrix(), expected, atol=1e-9)
    np.testing.assert_array_equal(
        mirror_mano_pose(torch.from_numpy(pose.reshape(48))).numpy(), mirrored.reshape(48)
    )


def test_left_sample_transform_equals_transform_of_mirrored_right():
    left = make_raw("left")
    as_right = dict(mirror_raw_sample(left))
    transform = HandTransform(image_size=(40, 40))
    a, b = transform(left), transform(as_right)
    assert a["side"] == "left" and b["side"] == "right"
    for key in ("image", "target_joints_2d", "target_joints_3d", "target_cam_intr", "mano_pose"):
        torch.testing.assert_close(a[key], b[key], msg=key)


def test_mirror_predictions_only_touches_left_rows():
    joints = torch.randn(3, 21, 3)
    pose = torch.randn(3, 48)
    out = mirror_predictions(
        {"joints_3d": joints, "mano_pose": pose, "joints_2d": 1}, [False, True, False]
    )
    torch.testing.assert_close(out["joints_3d"][0], joints[0])
    torch.testing.assert_close(out["joints_3d"][1, :, 0], -joints[1, :, 0])
    torch.testing.assert_close(out["joints_3d"][1, :, 1:], joints[1, :, 1:])
    torch.testing.assert_close(out["mano_pose"][1].view(16, 3)[:, 1:], -pose[1].view(16, 3)[:, 1:])
    assert out["joints_2d"] == 1
    np.testing.assert_allclose(mirror_points_2d(np.array([[0.0, 3.0]]), 10), [[9.0, 3.0]])
    np.testing.assert_allclose(mirror_intrinsics(np.eye(3), 10)[0, 2], 9.0)
    with pytest.raises(ValueError, match="multiple of 3"):
        mirror_mano_pose(np.zeros(47))


def test_mirrored_right_pose_through_left_mano_gives_mirrored_mesh():
    from handmesh import mano

    right = mano.MANO(side="right", allow_synthetic=True, flat_hand_mean=True)
    left = mano.MANO(side="left", allow_synthetic=True, flat_hand_mean=True)
    torch.manual_seed(0)
    pose = torch.randn(2, 48) * 0.4
    betas = torch.zeros(2, 10)
    out_right = right(pose, betas)
    out_left = left(mirror_mano_pose(pose), betas)
    torch.testing.assert_close(
        out_left.verts, out_right.verts * torch.tensor([-1.0, 1.0, 1.0]), atol=1e-5, rtol=0
    )
    # every joint but the middle tip: manopth takes it from vertex 445 on the left, 444 on the right
    keep = [j for j in range(21) if j != 12]
    torch.testing.assert_close(
        out_left.joints[:, keep],
        out_right.joints[:, keep] * torch.tensor([-1.0, 1.0, 1.0]),
        atol=1e-5,
        rtol=0,
    )
