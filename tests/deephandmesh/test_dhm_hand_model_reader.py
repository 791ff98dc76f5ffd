"""The six-file hand-model reader on fixtures in the exact published format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dhm_fixtures import EXPECTED_DOF, NAMES, PARENTS, depth_first_ids, tiny_hand, write_hand_dir

from handmesh.deephandmesh import load_hand_model
from handmesh.deephandmesh.hand_model import dof_from_name
from handmesh.errors import DataError, DataNotFoundError


@pytest.fixture
def hand(tmp_path: Path) -> tuple[dict, Path]:
    arrays = tiny_hand(np.random.default_rng(3))
    return arrays, write_hand_dir(tmp_path / "hand_model", arrays)


def test_reads_every_file_with_its_pitfalls(hand: tuple[dict, Path]) -> None:
    arrays, directory = hand
    # the fixture really has the pitfalls: depth-first pose files, trailing spaces, headers
    pose_lines = (directory / "local_pose.txt").read_text().splitlines()
    assert pose_lines[0].startswith("#") and pose_lines[1].startswith("b_r_wrist ")
    assert all(line.endswith(" ") for line in pose_lines[1:])
    assert depth_first_ids() != sorted(depth_first_ids())

    model = load_hand_model(directory)
    np.testing.assert_allclose(model.verts, arrays["verts_cm"] * 10.0, rtol=1e-6)  # cm -> mm
    assert model.verts.dtype == np.float32
    np.testing.assert_array_equal(model.faces, arrays["faces"])
    np.testing.assert_array_equal(model.face_uvs, arrays["face_uvs"])
    assert not np.array_equal(model.faces, model.face_uvs)
    np.testing.assert_allclose(model.uvs, arrays["uvs"], rtol=1e-6)
    assert model.joint_names == tuple(NAMES) and model.parents == tuple(PARENTS)
    assert model.root == 21
    # matched by name although the files list the joints depth-first
    for key, attr in (
        ("local", "local_pose"),
        ("global", "global_pose"),
        ("global_inv", "global_pose_inv"),
    ):
        np.testing.assert_allclose(getattr(model, attr), arrays[key], rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(model.skinning_weights, arrays["weights"], rtol=1e-6)
    expected_segmentation = [int(np.argmax(row)) for row in arrays["weights"]]
    np.testing.assert_array_equal(model.segmentation, expected_segmentation)


def test_dof_from_the_joint_names() -> None:
    for joint, name in enumerate(NAMES):
        assert dof_from_name(name) == EXPECTED_DOF[joint], name
    assert sum(sum(d) for d in EXPECTED_DOF.values()) == 28


def test_dof_mask_of_the_loaded_skeleton(hand: tuple[dict, Path]) -> None:
    model = load_hand_model(hand[1])
    np.testing.assert_array_equal(model.dof, np.array([EXPECTED_DOF[j] for j in range(22)]))
    assert model.num_dof == 28


def test_files_without_trailing_spaces_read_the_same(hand: tuple[dict, Path]) -> None:
    arrays, directory = hand
    for name in ("skinning_weight.txt", "local_pose.txt"):
        path = directory / name
        path.write_text("\n".join(line.rstrip() for line in path.read_text().splitlines()) + "\n")
    model = load_hand_model(directory)
    np.testing.assert_allclose(model.local_pose, arrays["local"], rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(model.skinning_weights, arrays["weights"], rtol=1e-6)


def _replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("file", "line", "text", "message"),
    [
        ("hand.obj", 4, "v 1.0 abc 2.0", "expected numbers"),
        ("hand.obj", 24, "f 1 2 3", "has no UV index"),
        ("hand.obj", 24, "f 1/1 2/2 99/3", "vertex index 99 outside 1..7"),
        ("hand.obj", 24, "f 1/1 2/2 3/3 4/4", "faces must be triangles"),
        ("skeleton.txt", 3, "b_r_thumb3 1", "expected 'name id parent_id'"),
        ("skinning_weight.txt", 2, "0 b_r_elbow 1.0 ", "unknown joint 'b_r_elbow'"),
        ("skinning_weight.txt", 2, "70 b_r_wrist 1.0 ", "vertex index 70 outside 0..6"),
        ("local_pose.txt", 3, "b_r_thumb0 1 0 0 0 1 0 0 0 1 0 0 0 1 ", "16 numbers, got 13"),
        ("global_pose.txt", 2, "b_r_wrist 1 0 0 x 0 1 0 0 0 0 1 0 0 0 0 1 ", "expected numbers"),
    ],
)
def test_malformed_line_names_the_file_and_line(
    hand: tuple[dict, Path], file: str, line: int, text: str, message: str
) -> None:
    directory = hand[1]
    _replace_line(directory / file, line, text)
    with pytest.raises(DataError, match=message) as info:
        load_hand_model(directory)
    assert f"{file}, line {line}:" in str(info.value)


def test_a_joint_missing_from_a_pose_file_is_named(hand: tuple[dict, Path]) -> None:
    path = hand[1] / "global_pose_inv.txt"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("b_r_ring2 ")]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError, match=r"global_pose_inv.txt: no transform for joint\(s\) b_r_ring2"
    ):
        load_hand_model(hand[1])


def test_skeleton_with_a_cycle_or_two_roots(hand: tuple[dict, Path]) -> None:
    path = hand[1] / "skeleton.txt"
    _replace_line(path, 23, "b_r_wrist 21 4")  # wrist under thumb0: a cycle, no root
    with pytest.raises(DataError, match="exactly one root"):
        load_hand_model(hand[1])


def test_missing_directory_and_file(tmp_path: Path, hand: tuple[dict, Path]) -> None:
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_hand_model(tmp_path / "nowhere")
    (hand[1] / "skeleton.txt").unlink()
    with pytest.raises(DataNotFoundError, match="missing skeleton.txt"):
        load_hand_model(hand[1])
