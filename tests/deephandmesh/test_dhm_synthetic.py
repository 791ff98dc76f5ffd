"""The synthetic hand model and the synthetic multi-view dataset of the embedded default."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from dhm_fixtures import EXPECTED_DOF, NAMES, PARENTS, fk_recursive, lbs_loop

from handmesh.deephandmesh import load_hand_model
from handmesh.deephandmesh.dataset import DeepHandMeshFrames
from handmesh.deephandmesh.depth_render import render_depth_views
from handmesh.deephandmesh.synthetic_data import (
    SYNTHETIC_MARKER,
    ensure_synthetic_dataset,
    ground_truth_frame,
    write_synthetic_dataset,
)
from handmesh.deephandmesh.synthetic_model import build_synthetic_template, write_hand_model
from handmesh.errors import DataError


def test_synthetic_rig_is_consistent() -> None:
    tpl = build_synthetic_template()
    assert tpl.joint_names == tuple(NAMES) and tpl.parents == tuple(PARENTS)
    np.testing.assert_array_equal(tpl.dof, [EXPECTED_DOF[j] for j in range(22)])
    # the bind poses are the FK of the local poses, and the inverses invert them
    glob = fk_recursive(
        PARENTS, tpl.local_pose.astype(np.float64), tpl.global_pose[21].astype(np.float64)
    )
    np.testing.assert_allclose(glob, tpl.global_pose, atol=1e-3)
    np.testing.assert_allclose(
        tpl.global_pose_inv @ tpl.global_pose, np.tile(np.eye(4), (22, 1, 1)), atol=1e-5
    )
    np.testing.assert_allclose(tpl.skinning_weights.sum(1), 1.0, atol=1e-5)
    # the skin segments the penetration loss needs exist
    assert (tpl.segmentation == 3).sum() > 10 and (tpl.segmentation == 21).sum() > 100
    # mm: a hand is about 19 cm long
    assert 150 < np.ptp(tpl.verts[:, 0]) < 250
    # rest pose skinned by the bind matrices is the template itself
    rest = lbs_loop(
        tpl.verts.astype(np.float64), tpl.skinning_weights, tpl.global_pose @ tpl.global_pose_inv
    )
    np.testing.assert_allclose(rest, tpl.verts, atol=1e-3)


def test_demo_pose_bends_the_four_fingers_by_ninety_degrees() -> None:
    tpl = build_synthetic_template()
    local = tpl.local_pose.astype(np.float64).copy()
    for knuckle in (8, 12, 16, 20):
        rot = np.eye(4)
        rot[:2, :2] = [[0.0, -1.0], [1.0, 0.0]]  # Rz(pi / 2)
        local[knuckle] = local[knuckle] @ rot
    posed = fk_recursive(PARENTS, local, np.eye(4))
    rest = fk_recursive(PARENTS, tpl.local_pose.astype(np.float64), np.eye(4))
    palmar = -tpl.global_pose[21, :3, :3].T @ np.array([0.0, 1.0, 0.0])  # wrist frame; +y is dorsal
    for knuckle, middle in ((8, 7), (12, 11), (16, 15), (20, 19)):
        before = rest[middle, :3, 3] - rest[knuckle, :3, 3]
        after = posed[middle, :3, 3] - posed[knuckle, :3, 3]
        angle = math.degrees(
            math.acos(before @ after / np.linalg.norm(before) / np.linalg.norm(after))
        )
        assert angle == pytest.approx(90.0, abs=1e-4)
        assert after @ palmar > 0.9 * np.linalg.norm(after)  # towards the palm
    np.testing.assert_allclose(posed[:5], rest[:5])  # the thumb does not move


def test_writer_round_trips_through_the_reader(tmp_path: Path) -> None:
    tpl = build_synthetic_template()
    write_hand_model(tpl, tmp_path)
    obj = (tmp_path / "hand.obj").read_text().splitlines()
    assert obj[0].startswith("#")
    face = next(line for line in obj if line.startswith("f "))
    assert all("/" in corner for corner in face.split()[1:])
    assert (tmp_path / "local_pose.txt").read_text().splitlines()[1].startswith("b_r_wrist ")
    back = load_hand_model(tmp_path)
    np.testing.assert_allclose(back.verts, tpl.verts, atol=1e-4)
    np.testing.assert_array_equal(back.faces, tpl.faces)
    np.testing.assert_array_equal(back.face_uvs, tpl.face_uvs)
    assert len(back.uvs) > back.num_verts  # seams: more UVs than vertices
    np.testing.assert_allclose(back.skinning_weights, tpl.skinning_weights, atol=1e-7)
    for attr in ("local_pose", "global_pose", "global_pose_inv"):
        np.testing.assert_allclose(getattr(back, attr), getattr(tpl, attr), atol=1e-4)


@pytest.fixture(scope="module")
def full_res(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_dataset(
        tmp_path_factory.mktemp("dhm") / "syn", num_frames=2, num_cameras=4, image_hw=(512, 334),
        depth_hw=(512, 334), progress=False, first_frame=5,
    )  # fmt: skip


def test_synthetic_dataset_layout(full_res: Path) -> None:
    assert (full_res / SYNTHETIC_MARKER).is_file()
    assert "410001" in (full_res / "annotations/KRT_512").read_text()  # a non-colour camera
    ds = DeepHandMeshFrames(
        data_root=full_res, num_views=4, input_size=(64, 64), render_size=(64, 64)
    )
    assert len(ds) == 2 * 4  # frames x colour cameras
    assert {frame for _, _, frame in ds.frames} == {5, 6}


def test_ground_truth_depth_is_the_rendered_subject(full_res: Path) -> None:
    """Rendering the subject's mesh with a sample's cameras gives the sample's depth maps: the
    cameras, crops and units of writer and reader agree."""
    ds = DeepHandMeshFrames(
        data_root=full_res, num_views=4, input_size=(64, 64), render_size=(96, 96)
    )
    sample = ds[3]
    joints, verts = ground_truth_frame(build_synthetic_template(), ds.frames[3][2], seed=0)
    valid = sample["target_joints_valid"].numpy() > 0
    np.testing.assert_allclose(
        sample["target_joints_world"].numpy()[valid], joints[valid] / 1000, atol=1e-6
    )
    extr = sample["target_depth_extr"][None].clone()
    extr[..., :3, 3] *= 1000.0
    rendered = render_depth_views(
        torch.from_numpy(verts)[None], torch.from_numpy(build_synthetic_template().faces), extr,
        sample["target_depth_intr"][None], (96, 96), pixel_convention="centered",
    )[0]  # fmt: skip
    target = sample["target_depth_maps"] * 1000.0
    both = (rendered > 0) & (target > 0)
    assert both.sum() > 0.2 * both.numel()
    assert (rendered - target)[both].abs().median() < 0.05  # mm
    assert ((rendered > 0) & (target == 0)).sum() < 0.01 * both.sum()


def test_ensure_writes_once_and_rewrites_on_other_settings(tmp_path: Path) -> None:
    root = tmp_path / "syn"
    small = {"num_frames": 1, "num_cameras": 2, "image_hw": [64, 42], "depth_hw": [32, 21]}
    ensure_synthetic_dataset(root, progress=False, **small)
    sentinel = root / "kept.txt"
    sentinel.write_text("the same settings must not rewrite the tree")
    ensure_synthetic_dataset(root, progress=False, **small)
    assert sentinel.is_file()
    ensure_synthetic_dataset(root, progress=False, **{**small, "seed": 3})
    assert not sentinel.is_file()
    assert '"seed": 3' in (root / SYNTHETIC_MARKER).read_text()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "precious.txt").write_text("not synthetic data")
    with pytest.raises(DataError, match="not a synthetic DeepHandMesh dataset"):
        ensure_synthetic_dataset(other, progress=False, **small)
    assert (other / "precious.txt").is_file()
