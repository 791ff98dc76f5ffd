"""The dataset reader on a tiny tree in the published annotation formats."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from dhm_fixtures import NAMES

from handmesh.deephandmesh.annotations import read_keypoints, read_krt
from handmesh.deephandmesh.dataset import DeepHandMeshFrames
from handmesh.errors import DataError, UnsafePickleError

# right-hand keypoint ids of the .pts files -> joint name (the original's db_joint_name)
PTS_NAMES = [
    "b_r_thumb_null", "b_r_thumb3", "b_r_thumb2", "b_r_thumb1", "b_r_index_null", "b_r_index3",
    "b_r_index2", "b_r_index1", "b_r_middle_null", "b_r_middle3", "b_r_middle2", "b_r_middle1",
    "b_r_ring_null", "b_r_ring3", "b_r_ring2", "b_r_ring1", "b_r_pinky_null", "b_r_pinky3",
    "b_r_pinky2", "b_r_pinky1", "b_r_wrist",
]  # fmt: skip
COLOUR = ["400001", "400002", "400005"]


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return rx @ ry


def _cameras() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    cams = {}
    for i, name in enumerate([*COLOUR, "410001"]):
        k = np.array([[600.0 + 10 * i, 0.0, 167.0 + i], [0.0, 605.0, 256.0 - i], [0.0, 0.0, 1.0]])
        rot = _rotation(0.3 * i - 0.3, 0.1 * i)
        centre = rot.T @ np.array([0.0, 0.0, -600.0])  # the hand (near the origin) in front
        cams[name] = (k, np.hstack([rot, (-rot @ centre)[:, None]]))
    return cams


def _joints(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(21, 3)) * 40.0  # world mm, in .pts id order


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, np.ndarray, dict]:
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    ann = root / "annotations"
    ann.mkdir(parents=True)
    cams = _cameras()
    blocks = []
    for name, (k, rt) in cams.items():
        rows = [" ".join(repr(float(v)) for v in r) for r in k]
        rows.append("-0.1 0.01 0 0 0")
        rows += [" ".join(repr(float(v)) for v in r) for r in rt]
        blocks.append(name + "\n" + "\n".join(rows) + "\n\n")
    (ann / "KRT_512").write_text("".join(blocks))
    joints = _joints(rng)
    kp = ann / "keypoints" / "subject_4"
    kp.mkdir(parents=True)
    lines = [
        f"{i} {x!r} {y!r} {z!r} 3.5 4" for i, (x, y, z) in enumerate(joints.tolist()) if i != 12
    ]
    lines += [f"{i + 21} 9999 9999 9999 1 1" for i in range(21)]  # left hand: ignored
    (kp / "keypoints0007.pts").write_text("\n".join(lines) + "\n")
    for seq in ("0_RT_a", "1_RT_ROM", "2_LT_b"):
        for cam in [*COLOUR, "410001"]:
            folder = root / "images" / "subject_4" / seq / f"cam{cam}"
            folder.mkdir(parents=True)
            image = rng.integers(0, 255, size=(512, 334, 3), dtype=np.uint8)
            image = cv2.GaussianBlur(image, (0, 0), 3)
            cv2.imwrite(str(folder / "image0007.jpg"), image)
            cv2.imwrite(str(folder / "image0008.jpg"), image)  # no keypoints: skipped
    depth_dir = ann / "depthmaps" / "subject_4" / "000007"
    depth_dir.mkdir(parents=True)
    for cam in COLOUR:
        depth = rng.uniform(500, 700, size=(256, 167)).astype(np.float32)
        depth[:, :40] = 0.0
        with open(depth_dir / f"depthmap{cam}.pkl", "wb") as f:
            pickle.dump(depth, f, protocol=2)
    return root, joints, cams


def _expected_crop(image: np.ndarray, k, rt, joints, valid, out_hw):
    """The original's get_bbox + generate_patch_image, with cv2.getAffineTransform."""
    cam = joints @ rt[:, :3].T + rt[:, 3]
    x = cam[:, 0] / (cam[:, 2] + 1e-8) * k[0, 0] + k[0, 2]
    y = cam[:, 1] / (cam[:, 2] + 1e-8) * k[1, 1] + k[1, 2]
    x, y = x[valid > 0], y[valid > 0]
    cx, w = (x.min() + x.max()) / 2, x.max() - x.min()
    cy, h = (y.min() + y.max()) / 2, y.max() - y.min()
    x0, x1 = max(cx - 0.75 * w, 0), min(cx + 0.75 * w, 333)
    y0, y1 = max(cy - 0.75 * h, 0), min(cy + 0.75 * h, 511)

    def trans(c_x, c_y, bw, bh):
        src = np.float32([[c_x, c_y], [c_x, c_y + bh / 2], [c_x + bw / 2, c_y]])
        dst = np.float32([[out_hw[1] / 2, out_hw[0] / 2], [out_hw[1] / 2, out_hw[0]],
                          [out_hw[1], out_hw[0] / 2]])  # fmt: skip
        return cv2.getAffineTransform(src, dst)

    sx, sy = image.shape[1] / 334, image.shape[0] / 512
    ix0, ix1, iy0, iy1 = x0 * sx, x1 * sx, y0 * sy, y1 * sy
    bw, bh = ix1 - ix0 + 1, iy1 - iy0 + 1
    patch = cv2.warpAffine(image, trans(ix0 + bw / 2, iy0 + bh / 2, bw, bh), (out_hw[1], out_hw[0]),
                           flags=cv2.INTER_LINEAR)  # fmt: skip
    affine = trans((x0 + x1 + 1) / 2, (y0 + y1 + 1) / 2, x1 - x0 + 1, y1 - y0 + 1)
    return patch, affine


def test_samples_follow_the_published_formats(tree) -> None:
    root, joints, cams = tree
    ds = DeepHandMeshFrames(data_root=root, num_views=3, input_size=(64, 48), render_size=(32, 40))
    # one sequence (RT, not ROM), three colour cameras, one frame with keypoints
    assert len(ds) == 3
    assert {Path(p).parent.name for p, _, _ in ds.frames} == {f"cam{c}" for c in COLOUR}
    assert all("0_RT_a" in str(p) for p, _, _ in ds.frames)
    sample = ds[1]
    # joints: by name into the skeleton order, mm -> m; id 12 (middle_null) missing
    expected = np.full((22, 3), 1.0)
    valid = np.zeros(22)
    for i, name in enumerate(PTS_NAMES):
        if i != 12:
            expected[NAMES.index(name)] = joints[i]
            valid[NAMES.index(name)] = 1
    np.testing.assert_allclose(sample["target_joints_world"].numpy(), expected / 1000.0, rtol=1e-6)
    np.testing.assert_array_equal(sample["target_joints_valid"].numpy(), valid)
    assert valid[4] == 0  # thumb0 has no keypoint
    # the input crop
    image_path, cam, _ = ds.frames[1]
    k, rt = cams[cam]
    bgr = cv2.imread(str(image_path))
    patch, _ = _expected_crop(bgr[:, :, ::-1].astype(np.float32), k, rt, expected, valid, (64, 48))
    np.testing.assert_allclose(sample["image"].permute(1, 2, 0).numpy() * 255.0, patch, atol=0.05)
    # the depth views: every colour camera once, in a seeded random order
    extr = sample["target_depth_extr"].numpy()
    seen = []
    for view in range(3):
        name = next(
            n for n in COLOUR if np.allclose(extr[view, :3, :3], cams[n][1][:, :3], atol=1e-6)
        )
        seen.append(name)
        k, rt = cams[name]
        np.testing.assert_allclose(extr[view, :3, 3], rt[:, 3] / 1000.0, rtol=1e-5, atol=1e-7)
        depth = pickle.loads(
            (root / f"annotations/depthmaps/subject_4/000007/depthmap{name}.pkl").read_bytes()
        )
        crop, affine = _expected_crop(depth, k, rt, expected, valid, (32, 40))
        np.testing.assert_allclose(
            sample["target_depth_maps"][view].numpy(), crop / 1000.0, rtol=1e-4, atol=1e-6
        )
        intr = np.vstack([affine, [0, 0, 1]]) @ k
        np.testing.assert_allclose(
            sample["target_depth_intr"][view].numpy(), intr, rtol=1e-4, atol=1e-4
        )
    assert sorted(seen) == COLOUR
    again = ds[1]
    assert torch.equal(again["target_depth_extr"], sample["target_depth_extr"])  # reproducible


def test_view_draws_change_with_the_epoch(tree) -> None:
    ds = DeepHandMeshFrames(
        data_root=tree[0], num_views=2, input_size=(32, 32), render_size=(16, 16)
    )
    draws = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        draws.add(tuple(ds[0]["target_depth_extr"][:, 0, 0].tolist()))
    assert len(draws) > 1


def test_too_many_views_is_an_argument_error(tree) -> None:
    with pytest.raises(ValueError, match="num_views must be 1..3"):
        DeepHandMeshFrames(data_root=tree[0], num_views=6)


def test_malformed_annotations_are_reported(tree, tmp_path: Path) -> None:
    root = tree[0]
    pts = root / "annotations/keypoints/subject_4/keypoints0007.pts"
    text = pts.read_text().splitlines()
    text[2] = "2 1.0 2.0"
    pts.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"keypoints0007.pts, line 3: expected 6 numbers"):
        read_keypoints(pts, NAMES)
    krt = root / "annotations/KRT_512"
    lines = krt.read_text().splitlines()
    krt.write_text("\n".join(lines[:5]) + "\n")
    with pytest.raises(DataError, match="KRT_512, line 1: camera block '400001' is cut short"):
        read_krt(krt)
    lines[2] = "600 0 x"
    krt.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="KRT_512, line 3: expected 3 numbers"):
        read_krt(krt)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_depth_pickles_are_read_with_the_restricted_unpickler(tree) -> None:
    root = tree[0]
    path = root / "annotations/depthmaps/subject_4/000007/depthmap400002.pkl"
    path.write_bytes(pickle.dumps(_Exploit()))
    ds = DeepHandMeshFrames(data_root=root, num_views=3, input_size=(32, 32), render_size=(16, 16))
    with pytest.raises(UnsafePickleError, match="system"):
        ds[0]
