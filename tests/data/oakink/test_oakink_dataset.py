"""The OakInk dataset: raw samples, the test-time crop, visibility, packed == unpacked, errors."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from yacs.config import CfgNode

from handmesh.data import collate
from handmesh.data.datasets import OakInk
from handmesh.data.oakink import pack_split
from handmesh.errors import ConfigError, ConfigKeyError, DataError, DataNotFoundError
from handmesh.registry import DATASETS, build
from tests.data.oakink.oakink_tree import BORDER_ITEM, OakInkTree

PRESET = {"IMAGE_SIZE": [224, 224], "CENTER_IDX": 9, "BBOX_EXPAND_RATIO": 1.7}
AUG_PARAM = {"SCALE_JIT": 0.125, "COLOR_JIT": 0.3, "ROT_JIT": 60, "ROT_PROB": 1.0,
             "OCCLUSION": True, "OCCLUSION_PROB": 0.5}  # fmt: skip


def _node(data_root: Path, **entries: object) -> CfgNode:
    node = {"TYPE": "OakInk", "DATA_MODE": "3D", "DATA_SPLIT": "test", "DATA_ROOT": str(data_root),
            "SPLIT_MODE": "default", "USE_PACK": False, "AUG": False, "AUG_PARAM": "None"}  # fmt: skip
    node.update(entries)
    return CfgNode(node)


def _data_root(tree: OakInkTree) -> Path:
    return tree.data_dir.parent  # DATA_ROOT holds OakInk/image


def _pinhole(points: np.ndarray, k: np.ndarray, eps: float = 0.0) -> np.ndarray:
    points = points.astype(np.float64)
    hom = points @ k.astype(np.float64).T
    return hom[:, :2] / (hom[:, 2:] + eps)


def test_raw_samples_hold_the_files_values(oakink_tree: OakInkTree) -> None:
    dataset = OakInk(_data_root(oakink_tree), "test", "object", with_mano=True)
    border_seen = False
    for idx, name in enumerate(dataset.info_str_list):
        raw = dataset.get_raw(idx)
        generated = oakink_tree.samples[name]
        assert raw["side"] == "right"
        assert np.array_equal(raw["image"], iio.imread(raw["image_path"]))
        assert raw["image"].shape == (480, 848, 3) and raw["image"].dtype == np.uint8
        assert np.array_equal(raw["joints_3d"], generated.joints)
        assert np.array_equal(raw["verts_3d"], generated.verts)
        k = generated.cam_intr
        assert np.allclose(raw["joints_2d"], _pinhole(generated.joints, k), atol=2e-4)
        assert raw["mano_pose"].shape == (48,) and raw["mano_shape"].shape == (10,)
        if generated.item == BORDER_ITEM:
            border_seen = True
            assert (raw["joints_2d"][:, 0] < 0).any() and (raw["joints_2d"][:, 0] >= 0).any()
    assert border_seen


def test_original_projection_offset_on_request(oakink_tree: OakInkTree) -> None:
    dataset = OakInk(_data_root(oakink_tree), "test", projection_eps=1e-6)
    generated = oakink_tree.samples[dataset.info_str_list[0]]
    expected = _pinhole(generated.joints, generated.cam_intr, 1e-6)
    exact = _pinhole(generated.joints, generated.cam_intr)
    assert np.allclose(dataset.get_raw(0)["joints_2d"], expected, atol=1e-4)
    assert np.abs(expected - exact).max() > 1e-4  # the offset is visible at that tolerance


def test_test_crop_box_reprojection_and_visibility(oakink_tree: OakInkTree) -> None:
    dataset = build(_node(_data_root(oakink_tree), SPLIT_MODE="object"), DATASETS,
                    data_preset=PRESET)  # fmt: skip
    assert len(dataset) == len(oakink_tree.splits["split/split2/seq_test.json"])
    for idx, name in enumerate(dataset.info_str_list):
        sample = dataset[idx]
        generated = oakink_tree.samples[name]
        joints_2d = _pinhole(generated.joints, generated.cam_intr).astype(np.float32)
        lo, hi = joints_2d.min(0), joints_2d.max(0)
        centre = [int((lo[0] + hi[0]) / 2), int((lo[1] + hi[1]) / 2)]  # as the original
        assert sample["target_bbox_center"].tolist() == centre
        assert float(sample["target_bbox_scale"]) == pytest.approx(max(hi - lo) * 1.7, rel=1e-5)
        k_crop = sample["target_cam_intr"].double().numpy()
        reprojected = _pinhole(sample["target_joints_3d"].numpy(), k_crop)
        assert np.abs(reprojected - sample["target_joints_2d"].numpy()).max() < 1e-3
        assert torch.equal(sample["target_joints_3d"], torch.from_numpy(generated.joints))
        assert torch.equal(sample["target_joints_vis"], torch.ones(21))  # test split: all ones
        assert sample["image"].shape == (3, 224, 224)
        assert sample["sample_idx"] == idx


def test_zero_fill_where_the_crop_leaves_the_image(oakink_tree: OakInkTree) -> None:
    dataset = OakInk(_data_root(oakink_tree), "test", "object",
                     transform=OakInk.transform_from_preset(PRESET, "test"))  # fmt: skip
    idx = dataset.reader.info_list.index(BORDER_ITEM)
    sample = dataset[idx]
    image = sample["image"].numpy()  # /255 - 0.5
    inverse = np.linalg.inv(sample["affine"].double().numpy())
    ys, xs = np.mgrid[0:224, 0:224]
    crop_points = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    raw_x, raw_y = (inverse @ crop_points)[:2].reshape(2, 224, 224)
    outside = (raw_x <= -1) | (raw_y <= -1) | (raw_x >= 848) | (raw_y >= 480)
    inside = (raw_x >= 0) & (raw_y >= 0) & (raw_x <= 847) & (raw_y <= 479)
    assert outside.sum() > 1000  # the box sticks out of the image's left border
    assert np.all(image[:, outside] == -0.5)  # zero fill
    assert np.all(image[:, inside] >= 30 / 255 - 0.5 - 1e-6)  # the raw image is never that dark


def test_train_visibility_is_inside_the_crop(oakink_tree: OakInkTree) -> None:
    zoom_in = {**AUG_PARAM, "SCALE_JIT": 0.5, "OCCLUSION": False}  # crops that cut joints off
    transform = OakInk.transform_from_preset(PRESET, "train+val", aug=True, aug_param=zoom_in)
    dataset = OakInk(_data_root(oakink_tree), "train+val", "subject", transform=transform)
    idx = dataset.reader.info_list.index(BORDER_ITEM)
    partial = 0
    for epoch in range(8):
        dataset.set_epoch(epoch)
        sample = dataset[idx]
        crop = sample["target_joints_2d"].numpy()
        inside = (crop[:, 0] >= 0) & (crop[:, 0] < 224) & (crop[:, 1] >= 0) & (crop[:, 1] < 224)
        expected = inside if inside.sum() >= 0.3 * 21 else np.zeros(21, bool)
        assert sample["target_joints_vis"].numpy().tolist() == expected.astype(float).tolist()
        partial += int(0 < expected.sum() < 21)
    assert partial > 0


@pytest.mark.parametrize(("mode", "split"), [("default", "test"), ("subject", "train+val")])
def test_packed_and_unpacked_give_the_same_samples(
    fresh_tree: OakInkTree, mode: str, split: str
) -> None:
    assert pack_split(fresh_tree.data_dir, mode, split, progress=False).complete
    kwargs = {"with_mano": True, "with_verts_2d": True}
    transform = OakInk.transform_from_preset(PRESET, split, aug=True, aug_param=AUG_PARAM)
    raw = OakInk(_data_root(fresh_tree), split, mode, transform=transform, **kwargs)
    packed = OakInk(_data_root(fresh_tree), split, mode, use_pack=True, transform=transform,
                    **kwargs)  # fmt: skip
    assert len(raw) == len(packed) > 0
    for idx in range(len(raw)):
        a, b = raw.get_raw(idx), packed.get_raw(idx)
        assert a.keys() == b.keys()
        for key in a:
            assert np.array_equal(a[key], b[key]), key
        sa, sb = raw[idx], packed[idx]
        assert sa.keys() == sb.keys()
        for key, value in sa.items():
            assert torch.equal(value, sb[key]) if torch.is_tensor(value) else value == sb[key]


def test_failing_sample_raises_naming_the_file(fresh_tree: OakInkTree) -> None:
    pack_split(fresh_tree.data_dir, "default", "test", progress=False)
    raw = OakInk(_data_root(fresh_tree), "test")
    packed = OakInk(_data_root(fresh_tree), "test", use_pack=True)
    image = Path(raw.reader.image_path(0))
    image.unlink()
    for dataset in (raw, packed):
        with pytest.raises(DataNotFoundError, match=str(image)):
            dataset[0]
    pack_file = packed.pack_dir / f"{packed.info_str_list[1]}.pkl"
    pack_file.write_bytes(b"garbage")
    with pytest.raises(DataError, match=str(pack_file)):
        packed[1]
    assert packed[2]["sample_idx"] == 2  # the others still load: nothing is substituted


def test_use_pack_checks_the_split_is_packed(fresh_tree: OakInkTree) -> None:
    root = _data_root(fresh_tree)
    with pytest.raises(DataNotFoundError, match="dev/pack_oakink_image.py"):
        OakInk(root, "test", "subject", use_pack=True)
    pack_split(fresh_tree.data_dir, "subject", "test", progress=False)
    dataset = OakInk(root, "test", "subject", use_pack=True)
    (dataset.pack_dir / "index.json").unlink()
    assert len(OakInk(root, "test", "subject", use_pack=True)) == len(dataset)  # listing fallback
    (dataset.pack_dir / f"{dataset.info_str_list[3]}.pkl").unlink()
    with pytest.raises(DataNotFoundError, match=f"1 of {len(dataset)} samples"):
        OakInk(root, "test", "subject", use_pack=True)
    pack_split(fresh_tree.data_dir, "subject", "test", progress=False)
    split_path = fresh_tree.root / "anno" / "split" / "split1" / "seq_test.json"
    split_path.write_text(json.dumps(json.loads(split_path.read_text())[::-1]))
    with pytest.raises(DataError, match="re-run dev/pack_oakink_image.py"):
        OakInk(root, "test", "subject", use_pack=True)


def test_config_keys_and_hand_faces(oakink_tree: OakInkTree) -> None:
    root = _data_root(oakink_tree)
    preset = {**PRESET, "ALLOW_SYNTHETIC_MANO": True, "MANO_ROOT": str(root / "no_mano_here")}
    dataset = build(_node(root, WITH_HAND_FACES=True, WITH_VERTS_2D=True), DATASETS,
                    data_preset=preset)  # fmt: skip
    faces = dataset[0]["hand_faces"]
    assert faces.dtype == torch.int64 and faces.shape == (1538, 3)
    assert dataset[0]["target_verts_2d"].shape == (778, 2)
    assert "target_verts_2d" not in build(_node(root), DATASETS, data_preset=PRESET)[0]
    batch = collate([dataset[0], dataset[1]])
    assert batch["image"].shape == (2, 3, 224, 224)
    with pytest.raises(ConfigKeyError, match="USE_PAK"):
        build(_node(root, USE_PAK=True), DATASETS, data_preset=PRESET)
    with pytest.raises(ConfigError, match="data_mode"):
        build(_node(root, DATA_MODE="2D"), DATASETS, data_preset=PRESET)
    with pytest.raises(DataNotFoundError, match="must hold OakInk/image"):
        build(_node(root / "missing"), DATASETS, data_preset=PRESET)
