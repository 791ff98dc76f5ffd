"""DexYCB s0 reader on a tree generated here in the authors' COCO-style format.

The expected boxes and crops are computed as HandOccNet does (``get_bbox``, ``process_bbox`` with its
border rules, ``generate_patch_image`` with a 3-point affine and the flip of left hands), written
out in this file.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from handmesh.data.datasets.dexycb import DexYCB
from handmesh.data.transforms import build_transform
from handmesh.errors import ArgumentError, ConfigKeyError, DataError, DataNotFoundError
from handmesh.mano import ManoLayer
from handmesh.registry import DATASETS, build

W, H = 160, 120
CROP = 64


def original_box(
    joints_2d: np.ndarray, width: int, height: int, factor: float = 1.5
) -> list | None:
    """HandOccNet get_bbox(x factor) then process_bbox(x 1.0), as preprocessing.py."""
    xmin, ymin = joints_2d.min(0)
    xmax, ymax = joints_2d.max(0)
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    w, h = (xmax - xmin) * factor, (ymax - ymin) * factor
    x, y = cx - w / 2, cy - h / 2
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(width - 1.0, x1 + max(0.0, w - 1)), min(height - 1.0, y1 + max(0.0, h - 1))
    if not (w * h > 0 and x2 >= x1 and y2 >= y1):
        return None
    w, h = x2 - x1, y2 - y1
    cx, cy = x1 + w / 2, y1 + h / 2
    w = h = max(w, h)
    return [cx - w / 2, cy - h / 2, w, h]


def original_crop(image: np.ndarray, box: list, flip: bool) -> np.ndarray:
    """generate_patch_image(scale 1, rot 0): flip, then map the box onto the crop by 3 points."""
    if flip:
        image = image[:, ::-1]
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    if flip:
        cx = image.shape[1] - cx - 1
    src = np.float32([[cx, cy], [cx, cy + box[3] / 2], [cx + box[2] / 2, cy]])
    dst = np.float32([[CROP / 2, CROP / 2], [CROP / 2, CROP], [CROP, CROP / 2]])
    trans = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(np.ascontiguousarray(image), trans, (CROP, CROP), flags=cv2.INTER_LINEAR)


def _hand(rng: np.random.Generator, centre: tuple[float, float], spread: float = 12.0) -> dict:
    joints_2d = rng.normal(size=(21, 2)) * spread + centre
    z = rng.uniform(0.4, 0.6, size=21)
    joints_3d = np.concatenate([(joints_2d - [80, 60]) / 500.0 * z[:, None], z[:, None]], 1)
    return {"joints_img": joints_2d.tolist(), "joints_coord_cam": joints_3d.tolist()}


# (annotation id, image id, hand type, hand centre): unsorted ids, a left hand, a box reaching past
# the left border (shifted inside), a left hand at the left border, a hand entirely off-image
SAMPLES = [
    (7, 70, "right", (80.0, 60.0)),
    (3, 30, "left", (90.0, 55.0)),
    (11, 110, "right", (6.0, 60.0)),
    (5, 50, "left", (8.0, 62.0)),
    (2, 20, "right", (400.0, 60.0)),
]


def make_tree(root: Path, split: str, rng: np.random.Generator) -> list[dict]:
    data = root / "DEX_YCB" / "data"
    images, annotations = [], []
    for ann_id, image_id, hand_type, centre in SAMPLES:
        name = f"20200820-subject-03/20200820_135508/836212060125/color_{image_id:06d}.jpg"
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
        cv2.imwrite(str(data / name), cv2.GaussianBlur(pixels, (5, 5), 0))
        images.append({"id": image_id, "file_name": name, "width": W, "height": H})
        hand = _hand(rng, centre)
        annotations.append(
            {
                "id": ann_id,
                "image_id": image_id,
                "cam_param": {"focal": [500.0, 500.0], "princpt": [80.0, 60.0]},
                "hand_type": hand_type,
                "mano_param": {
                    "pose": (rng.normal(size=48) * 0.3).tolist(),
                    "shape": (rng.normal(size=10) * 0.5).tolist(),
                },
                **hand,
            }
        )
    images.reverse()  # the images list order must not matter
    (data / "annotations").mkdir(parents=True, exist_ok=True)
    path = data / "annotations" / f"DEX_YCB_s0_{split}_data.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return annotations


def _transform(train: bool = False):
    return build_transform(
        {"TRANSFORM": "handoccnet", "CENTER_IDX": 0, "IMAGE_SIZE": [CROP, CROP]}, train, aug=False
    )


@pytest.fixture()
def tree(tmp_path: Path) -> tuple[Path, list[dict], list[dict]]:
    rng = np.random.default_rng(0)
    train = make_tree(tmp_path, "train", rng)
    test = make_tree(tmp_path, "test", np.random.default_rng(1))
    return tmp_path, train, test


def test_order_drops_and_boxes(tree) -> None:
    root, train_anns, test_anns = tree
    train = DexYCB(root, "train", transform=_transform(True))
    assert train.annotation_ids.tolist() == [7, 3, 11, 5]  # file order; the off-image hand dropped
    test = DexYCB(root, "test", transform=_transform())
    assert test.annotation_ids.tolist() == [7, 3, 11, 5, 2]
    assert test.image_ids.tolist() == [70, 30, 110, 50, 20]
    for i, ann in enumerate(test_anns):
        expected = original_box(np.asarray(ann["joints_img"]), W, H)
        if expected is None:  # test split: the whole image, as the original's fallback
            expected = [0.0, 0.0, W - 1.0, H - 1.0]
        np.testing.assert_allclose(test.bboxes[i], expected, rtol=1e-5, atol=1e-4)
    joints = np.asarray(test_anns[2]["joints_img"])  # its get_bbox box crosses x = 0 ...
    tight_x0 = joints[:, 0].min() - 0.25 * np.ptp(joints[:, 0])
    assert tight_x0 < 0
    tight_cx = (joints[:, 0].min() + joints[:, 0].max()) / 2  # ... so process_bbox shifts it right
    assert test.bboxes[2][0] + test.bboxes[2][2] / 2 > tight_cx + 1
    raw = test.get_raw(3)
    assert raw["side"] == "left" and raw["image_id"] == 50
    np.testing.assert_allclose(raw["joints_3d"], test_anns[3]["joints_coord_cam"], rtol=1e-6)


@pytest.mark.parametrize(
    "index",
    [
        0,  # right hand
        2,  # right hand whose box was shifted inside at the left border
        1,  # left hand: the box clipped un-mirrored, its centre mirrored (W - cx - 1)
        3,  # left hand at the border
        4,  # hand off the image: the non-square full-image fallback (one zoom per axis)
    ],
)
def test_crop_and_targets_are_the_originals(tree, index: int) -> None:
    root, _, anns = tree
    test = DexYCB(root, "test", transform=_transform())
    sample, ann = test[index], anns[index]
    raw_image = cv2.imread(test.image_path(index))[:, :, ::-1]
    flip = ann["hand_type"] == "left"
    box = original_box(np.asarray(ann["joints_img"]), W, H) or [0.0, 0.0, W - 1.0, H - 1.0]
    expected = original_crop(raw_image, box, flip).astype(np.float32) / 255.0
    np.testing.assert_allclose(sample["image"].permute(1, 2, 0).numpy(), expected, atol=0.02)
    joints = np.asarray(ann["joints_img"])
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    if flip:
        joints = np.stack([W - 1 - joints[:, 0], joints[:, 1]], 1)
        cx = W - cx - 1
    expected_2d = (joints - [cx, cy]) * [CROP / box[2], CROP / box[3]] + CROP / 2
    np.testing.assert_allclose(sample["target_joints_2d"].numpy(), expected_2d, atol=1e-3)


def test_left_hands_are_mirrored_to_right(tree) -> None:
    root, train_anns, anns = tree
    test = DexYCB(root, "test", transform=_transform())
    for i, ann in enumerate(anns):
        sample = test[i]
        flip = ann["hand_type"] == "left"
        cam = np.asarray(ann["joints_coord_cam"]) * ([-1, 1, 1] if flip else 1)
        np.testing.assert_allclose(sample["target_joints_3d"].numpy(), cam, atol=1e-6)
        np.testing.assert_allclose(sample["target_root_joint"].numpy(), cam[0], atol=1e-6)
        assert sample["side"] == ann["hand_type"] and sample["sample_idx"] == i
    # the image is flipped: the crop of the left hand is the crop of the flipped image
    raw = test.get_raw(1)
    flipped = raw["image"][:, ::-1]
    crop = test[1]["image"].permute(1, 2, 0).numpy()
    affine = test[1]["affine"].numpy()
    redone = cv2.warpAffine(
        np.ascontiguousarray(flipped),
        affine[:2].astype(np.float64),
        (CROP, CROP),
        flags=cv2.INTER_LINEAR,
    )
    np.testing.assert_allclose(crop, redone / 255.0, atol=1e-6)
    train = DexYCB(root, "train", transform=_transform(True))
    pose = np.asarray(train_anns[1]["mano_param"]["pose"]).reshape(16, 3)
    mirrored = train[1]["mano_pose"].numpy().reshape(16, 3)
    np.testing.assert_allclose(mirrored, pose * [1, -1, -1], atol=1e-5)  # y and z negated


PRESET = {
    "TRANSFORM": "handoccnet",
    "CENTER_IDX": 0,
    "IMAGE_SIZE": [CROP, CROP],
    "IMAGE_NORM": "unit",
    "MANO_ROOT": "/nonexistent",
    "ALLOW_SYNTHETIC_MANO": True,
}


def test_ground_truth_mesh_sits_on_the_annotated_wrist(tree) -> None:
    root, _, anns = tree
    node = {"TYPE": "DexYCB", "DATA_ROOT": str(root), "DATA_SPLIT": "test"}  # meshes by default
    test = build(node, DATASETS, where="DATASET.TEST", data_preset=PRESET)
    assert test.eval_protocol().metrics == [
        "mpjpe", "pa_mpjpe_umeyama", "mpvpe", "pa_mpvpe_umeyama", "f_score",
    ]  # fmt: skip
    no_mesh = build({**node, "WITH_MESH": False}, DATASETS, data_preset=PRESET)
    assert "verts_3d" not in no_mesh.get_raw(0)
    assert no_mesh.eval_protocol().metrics == ["mpjpe", "pa_mpjpe_umeyama"]
    for i in (0, 1):
        raw = test.get_raw(i)
        side = anns[i]["hand_type"]
        layer = ManoLayer(
            flat_hand_mean=False,
            use_pca=False,
            side=side,
            mano_root=root / "no_mano",
            allow_synthetic=True,
        )
        pose = torch.tensor([anns[i]["mano_param"]["pose"]], dtype=torch.float32)
        shape = torch.tensor([anns[i]["mano_param"]["shape"]], dtype=torch.float32)
        verts_mm, joints_mm = layer(pose, shape)
        expected = (verts_mm[0] - joints_mm[0, 0]).numpy() / 1000 + np.asarray(
            anns[i]["joints_coord_cam"][0]
        )
        np.testing.assert_allclose(raw["verts_3d"], expected, atol=1e-5)
    sample = test[1]  # the transform mirrors the left mesh with the rest of the sample
    np.testing.assert_allclose(
        sample["target_verts_3d"][:, 0].numpy(), -test.get_raw(1)["verts_3d"][:, 0], atol=1e-6
    )


def test_errors_name_the_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="DEX_YCB"):
        DexYCB(tmp_path, "train")
    make_tree(tmp_path, "train", np.random.default_rng(2))
    with pytest.raises(DataNotFoundError, match="DEX_YCB_s0_test_data.json"):
        DexYCB(tmp_path, "test")
    with pytest.raises(ArgumentError, match="data_split"):
        DexYCB(tmp_path, "val")
    with pytest.raises(ConfigKeyError, match="DATASET.TRAIN.DATA_ROT"):
        build({"TYPE": "DexYCB", "DATA_ROT": "x"}, DATASETS, where="DATASET.TRAIN", data_preset={})
    path = tmp_path / "DEX_YCB" / "data" / "annotations" / "DEX_YCB_s0_train_data.json"
    data = json.loads(path.read_text())
    data["annotations"][1]["joints_img"] = [[0.0, 0.0]] * 20
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"annotation 3: 'joints_img' must have shape \(21, 2\)"):
        DexYCB(tmp_path, "train")
    data["annotations"][1]["joints_img"] = data["annotations"][0]["joints_img"]
    data["annotations"][1]["hand_type"] = "both"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="hand_type must be 'right' or 'left'"):
        DexYCB(tmp_path, "train")


def test_prediction_export_mirrors_left_hands_back(tree, tmp_path: Path) -> None:
    from handmesh.data.collate import collate
    from handmesh.metrics import Evaluator

    root, _, anns = tree
    test = DexYCB(root, "test", transform=_transform())
    protocol = test.eval_protocol()
    evaluator = Evaluator(protocol.metrics, exporters=protocol.exporters)
    for lo, hi in ((2, 5), (0, 2)):  # out of order: the export follows the dataset order
        batch = collate([test[i] for i in range(lo, hi)])
        preds = {"joints_3d": batch["target_joints_3d"] + 0.001}  # in the mirrored (right) frame
        evaluator.update(preds, batch)
    results = evaluator.compute()
    assert results["mpjpe"] == pytest.approx(np.sqrt(3) * 1.0, rel=1e-5)
    assert results["pa_mpjpe_umeyama"] < 1e-3
    written = evaluator.export(tmp_path)
    data = np.load(written["predictions"])
    assert data["sample_idx"].tolist() == [0, 1, 2, 3, 4]
    assert data["image_id"].tolist() == [70, 30, 110, 50, 20]
    for i, ann in enumerate(anns):  # back on each hand's own side: the annotation + the offset
        shift = np.array([-0.001 if ann["hand_type"] == "left" else 0.001, 0.001, 0.001])
        np.testing.assert_allclose(
            data["joints_3d"][i], np.asarray(ann["joints_coord_cam"]) + shift, atol=1e-6
        )
    with pytest.raises(ArgumentError, match="saw 2 of the dataset's 5 samples"):
        partial = Evaluator(protocol.metrics, exporters=protocol.exporters)
        batch = collate([test[i] for i in range(2)])
        partial.update({"joints_3d": batch["target_joints_3d"]}, batch)
        partial.compute()
        partial.export(tmp_path / "partial")
