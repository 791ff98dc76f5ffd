"""The raw-release reader against values computed here from the generated files."""

from __future__ import annotations

import json
import math
import os
import pickle

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from handmesh.data.oakink import OakInkImageReader, handover_pairs
from handmesh.data.oakink.objects import read_mesh
from handmesh.errors import ArgumentError, DataError, DataNotFoundError
from tests.data.oakink.oakink_tree import (
    BORDER_ITEM,
    CAMERA_NAMES,
    HANDOVER_SEQ,
    OBJ_OFFSETS,
    STATUS,
    OakInkTree,
    info_name,
)

# (mode_split, data_split) -> the file oikit reads, written out independently of the library
SPLIT_FILES = {
    ("default", "train+val"): "split/split0/seq_train.json",
    ("default", "test"): "split/split0/seq_test.json",
    ("default", "train"): "split_train_val/split0/example_split_train.json",
    ("default", "val"): "split_train_val/split0/example_split_val.json",
    ("subject", "train+val"): "split/split1/seq_train.json",
    ("subject", "test"): "split/split1/seq_test.json",
    ("subject", "train"): "split_train_val/split1/example_split_train.json",
    ("subject", "val"): "split_train_val/split1/example_split_val.json",
    ("object", "train+val"): "split/split2/seq_train.json",
    ("object", "test"): "split/split2/seq_test.json",
    ("object", "train"): "split_train_val/split2/example_split_train.json",
    ("object", "val"): "split_train_val/split2/example_split_val.json",
    ("handobject", "train+val"): "split/split0_ho/seq_train.json",
    ("handobject", "test"): "split/split0_ho/seq_test.json",
    **{(mode, "all"): "seq_all.json" for mode in ("default", "subject", "object", "handobject")},
}


@pytest.mark.parametrize(("mode_split", "data_split"), sorted(SPLIT_FILES))
def test_sample_list_order_info_str_and_image_paths(
    oakink_tree: OakInkTree, mode_split: str, data_split: str
) -> None:
    reader = OakInkImageReader(oakink_tree.data_dir, data_split=data_split, mode_split=mode_split)
    path = oakink_tree.root / "anno" / SPLIT_FILES[(mode_split, data_split)]
    entries = json.loads(path.read_text())
    assert len(entries) > 0
    assert [list(item) for item in reader.info_list] == entries  # the file's order, not sorted
    for position, (seq, sbj, frame, cam) in enumerate(entries):
        seq_id, stamp = seq.split("/")
        assert reader.info_str_list[position] == f"{seq_id}__{stamp}__{sbj}__{frame}__{cam}"
        expected_image = os.path.join(
            str(oakink_tree.data_dir), "image", "stream_release_v2", seq_id, stamp,
            f"{CAMERA_NAMES[cam]}_{frame}.png",
        )  # fmt: skip
        assert reader.image_path(position) == expected_image


def test_split_lists_are_kept_unsorted(oakink_tree: OakInkTree) -> None:
    reader = OakInkImageReader(oakink_tree.data_dir, data_split="all")
    assert reader.info_list != sorted(reader.info_list)


def test_missing_split_file_is_named(oakink_tree: OakInkTree) -> None:
    # the release has no split_train_val for split0_ho
    with pytest.raises(DataNotFoundError, match=r"split_train_val/split0_ho/example_split_train"):
        OakInkImageReader(oakink_tree.data_dir, data_split="train", mode_split="handobject")
    with pytest.raises(ArgumentError, match="mode_split"):
        OakInkImageReader(oakink_tree.data_dir, data_split="test", mode_split="views")


def test_malformed_split_entry_names_file_and_position(fresh_tree: OakInkTree) -> None:
    path = fresh_tree.root / "anno" / "split" / "split1" / "seq_test.json"
    entries = json.loads(path.read_text())
    entries[3] = [entries[3][0], 0, "12", 0]
    path.write_text(json.dumps(entries))
    with pytest.raises(DataError, match=r"seq_test\.json, entry 3"):
        OakInkImageReader(fresh_tree.data_dir, data_split="test", mode_split="subject")


def test_annotations_and_projection(oakink_tree: OakInkTree) -> None:
    reader = OakInkImageReader(oakink_tree.data_dir, data_split="all")
    for idx, name in enumerate(reader.info_str_list):
        generated = oakink_tree.samples[name]
        assert np.array_equal(reader.cam_intr(idx), generated.cam_intr)
        assert np.array_equal(reader.joints_3d(idx), generated.joints)
        assert np.array_equal(reader.verts_3d(idx), generated.verts)
        obj_transf = reader.obj_transf(idx)
        assert obj_transf.dtype == np.float32
        assert np.array_equal(obj_transf, generated.obj_transf.astype(np.float32))
        assert reader.sample_status(idx) == STATUS[generated.item[0]]
        assert reader.mano_shape(idx).dtype == np.float32
        assert np.array_equal(reader.mano_shape(idx), generated.hand_shape.numpy())
        k = generated.cam_intr.astype(np.float64)
        for joint, (x, y, z) in enumerate(generated.joints.astype(np.float64)):
            u = (k[0, 0] * x + k[0, 1] * y + k[0, 2] * z) / (z + 1e-6)
            v = (k[1, 1] * y + k[1, 2] * z) / (z + 1e-6)
            assert reader.joints_2d(idx)[joint] == pytest.approx((u, v), abs=2e-4)
        assert reader.verts_2d(idx).shape == (778, 2)
    assert reader.intent_mode(reader.info_list.index(BORDER_ITEM)) == "liftup"


def _rotvec_keeping_sign(quat_wxyz: np.ndarray) -> np.ndarray:
    """Closed form: angle 2 atan2(|v|, w) about v / |v|, whatever the sign of w."""
    w, v = quat_wxyz[0], quat_wxyz[1:]
    norm = np.linalg.norm(v)
    return v / norm * 2.0 * math.atan2(norm, w)


def test_mano_pose_as_oikit_computes_it(oakink_tree: OakInkTree) -> None:
    reader = OakInkImageReader(oakink_tree.data_dir, data_split="all")
    long_vectors = 0
    for idx, name in enumerate(reader.info_str_list):
        generated = oakink_tree.samples[name]
        quats = generated.hand_pose.double().numpy()
        pose = reader.mano_pose(idx)
        assert pose.shape == (16, 3) and pose.dtype == np.float32
        # fingers: straight from the stored quaternions, sign kept
        for joint in range(1, 16):
            assert np.allclose(pose[joint], _rotvec_keeping_sign(quats[joint]), atol=1e-5)
        long_vectors += int((np.linalg.norm(pose[1:], axis=1) > math.pi).sum())
        # wrist: camera rotation times the world wrist rotation (scipy: scalar-last quaternions)
        extr = generated.cam_extr.double().numpy()[:3, :3]
        wrist = extr @ Rotation.from_quat(np.roll(quats[0], -1)).as_matrix()
        assert np.allclose(Rotation.from_rotvec(pose[0]).as_matrix(), wrist, atol=1e-5)
        xyzw = Rotation.from_matrix(wrist).as_quat()
        xyzw *= np.sign(xyzw[np.argmax(np.abs(xyzw))])  # Shepperd: largest component positive
        assert np.allclose(pose[0], _rotvec_keeping_sign(np.roll(xyzw, 1)), atol=1e-5)
    assert long_vectors > 0  # the generated w < 0 quaternions give vectors longer than pi


def test_object_meshes_are_centred_on_their_box(oakink_tree: OakInkTree) -> None:
    reader = OakInkImageReader(oakink_tree.data_dir, data_split="all")
    seen = set()
    for idx in range(len(reader)):
        obj_id = reader.info_list[idx][0].split("_")[0]
        _, verts, faces = oakink_tree.objects[obj_id]
        offset = np.asarray(OBJ_OFFSETS[obj_id])
        size = verts.max(0) - verts.min(0)
        assert np.allclose(reader.obj_verts_can(idx), verts - offset - size / 2, atol=1e-6)
        assert np.array_equal(reader.obj_faces(idx), faces)
        transf = oakink_tree.samples[reader.info_str_list[idx]].obj_transf.astype(np.float32)
        expected = reader.obj_verts_can(idx) @ transf[:3, :3].T + transf[:3, 3]
        assert np.allclose(reader.obj_verts_3d(idx), expected, atol=1e-6)
        lo, hi = -size / 2, size / 2
        corners = [(x, y, z) for z in (lo[2], hi[2])
                   for x, y in ((lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1]))]  # fmt: skip
        assert np.allclose(reader.corners_can(idx), corners, atol=1e-6)
        seen.add(obj_id)
    assert seen == {"A01001", "S10002"}  # the .obj and the binary .ply


def test_ascii_ply_polygons_are_fanned(oakink_tree: OakInkTree) -> None:
    path, verts, faces = oakink_tree.objects["C12003"]
    read_verts, read_faces = read_mesh(path)
    assert np.array_equal(read_verts, verts)
    assert np.array_equal(read_faces, faces)


def test_handover_frames_pair_the_two_subjects(oakink_tree: OakInkTree) -> None:
    reader = OakInkImageReader(oakink_tree.data_dir, data_split="all", enable_handover=True)
    handover = [i for i, item in enumerate(reader.info_list) if item[0] == HANDOVER_SEQ]
    assert len(handover) == 8
    for idx in handover:
        seq, sbj, frame, cam = reader.info_list[idx]
        partner = reader.handover_partner(idx)
        assert partner is not None
        assert reader.info_list[partner] == (seq, 1 - sbj, frame, cam)
        assert reader.image_path(partner) == reader.image_path(idx)  # one image, two hands
        result = reader.hand_over(idx)
        assert result is not None
        partner_name = info_name((seq, 1 - sbj, frame, cam))
        assert np.array_equal(result["alt_joints"], oakink_tree.samples[partner_name].joints)
        assert np.array_equal(result["alt_verts"], oakink_tree.samples[partner_name].verts)
        assert result["intent_mode"] == result["alt_intent_mode"] == "handover"
    others = [i for i in range(len(reader)) if i not in handover]
    assert all(reader.hand_over(i) is None for i in others)
    with pytest.raises(ArgumentError, match="enable_handover"):
        OakInkImageReader(oakink_tree.data_dir, data_split="test", enable_handover=True)
    alone = [item for item in reader.info_list if not (item[0] == HANDOVER_SEQ and item[1] == 1)]
    with pytest.raises(DataError, match="has no partner"):
        handover_pairs(alone)


def test_corrupt_and_missing_annotations_are_named(fresh_tree: OakInkTree) -> None:
    reader = OakInkImageReader(fresh_tree.data_dir, data_split="all")
    name0, name1 = reader.info_str_list[0], reader.info_str_list[1]
    corrupt = fresh_tree.root / "anno" / "hand_j" / f"{name0}.pkl"
    corrupt.write_bytes(corrupt.read_bytes()[:40])
    with pytest.raises(DataError, match=str(corrupt)):
        reader.joints_3d(0)
    missing = fresh_tree.root / "anno" / "general_info" / f"{name1}.pkl"
    missing.unlink()
    with pytest.raises(DataNotFoundError, match=str(missing)):
        reader.mano_pose(1)
    wrong = fresh_tree.root / "anno" / "hand_v" / f"{name1}.pkl"
    with wrong.open("wb") as file:
        pickle.dump(np.zeros((777, 3), np.float32), file)
    with pytest.raises(DataError, match=r"hand_v must have shape \(778, 3\)"):
        reader.verts_3d(1)
