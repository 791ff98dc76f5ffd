"""HO-3D reader on trees generated here in the authors' COCO-style format (train and evaluation)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from handmesh.data.datasets.ho3d import HO3D
from handmesh.data.transforms import build_transform
from handmesh.errors import ArgumentError, DataError, DataNotFoundError
from tests.data.test_dexycb_reader import CROP, original_box, original_crop

W, H = 160, 120
FOCAL, PRINCPT = (480.0, 490.0), (81.0, 59.0)


def _project(joints: np.ndarray) -> np.ndarray:
    return joints[:, :2] / joints[:, 2:] * FOCAL + PRINCPT  # cam2pixel


def _joints_at(rng: np.random.Generator, centre_px: tuple[float, float]) -> np.ndarray:
    z = rng.uniform(0.45, 0.55, size=(21, 1))
    px = rng.normal(size=(21, 2)) * 10 + centre_px
    return np.concatenate([(px - PRINCPT) / FOCAL * z, z], 1)


# train: (annotation id, image id, hand centre px): unsorted ids, a box past the top border, a hand
# off the right of the image (its box is empty: dropped), one off the left (HandOccNet's clipping
# moves its box inside the image: kept), a plain one
TRAIN = [
    (40, 4, (80.0, 60.0)),
    (10, 1, (70.0, 5.0)),
    (30, 3, (500.0, 60.0)),
    (50, 5, (-300.0, 60.0)),
    (20, 2, (90.0, 70.0)),
]
# evaluation: (annotation id, image id, bbox xywh): one reaching past the left border
EVAL = [
    (9, 90, [60.0, 40.0, 30.0, 20.0]),
    (8, 80, [-10.0, 50.0, 40.0, 40.0]),
    (7, 70, [100.0, 10.0, 25.0, 35.0]),
]


def make_tree(root: Path, version_dir: str = "HO3D") -> dict[str, list[dict]]:
    rng = np.random.default_rng(0)
    data = root / version_dir / "data"
    (data / "annotations").mkdir(parents=True)
    made = {}
    for split, rows in (("train", TRAIN), ("evaluation", EVAL)):
        images, annotations = [], []
        for ann_id, image_id, spec in rows:
            name = f"SEQ{image_id % 2}/rgb/{image_id:04d}.png"
            (data / split / name).parent.mkdir(parents=True, exist_ok=True)
            pixels = cv2.GaussianBlur(
                rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8), (5, 5), 0
            )
            cv2.imwrite(str(data / split / name), pixels)
            images.append({"id": image_id, "file_name": name, "width": W, "height": H})
            ann = {
                "id": ann_id,
                "image_id": image_id,
                "cam_param": {"focal": list(FOCAL), "princpt": list(PRINCPT)},
            }
            if split == "train":
                ann["joints_coord_cam"] = _joints_at(rng, spec).tolist()
                ann["mano_param"] = {
                    "pose": rng.normal(size=48).tolist(),
                    "shape": rng.normal(size=10).tolist(),
                }
            else:
                ann["root_joint_cam"] = [0.01 * ann_id, -0.02, 0.5]
                ann["bbox"] = spec
            annotations.append(ann)
        path = data / "annotations" / f"HO3D_{split}_data.json"
        path.write_text(json.dumps({"images": images[::-1], "annotations": annotations}))
        made[split] = annotations
    return made


def _transform():
    return build_transform(
        {"TRANSFORM": "handoccnet", "CENTER_IDX": 0, "IMAGE_SIZE": [CROP, CROP]}, True, aug=False
    )


def test_train_order_projection_drops_and_crops(tmp_path: Path) -> None:
    anns = make_tree(tmp_path)["train"]
    dataset = HO3D(tmp_path, "train", transform=_transform())
    assert dataset.image_ids.tolist() == [4, 1, 5, 2]  # file order, the empty box dropped
    kept = [anns[0], anns[1], anns[3], anns[4]]
    for i, ann in enumerate(kept):
        joints = np.asarray(ann["joints_coord_cam"])
        raw = dataset.get_raw(i)
        np.testing.assert_allclose(raw["joints_2d"], _project(joints), atol=1e-3)
        np.testing.assert_allclose(raw["cam_intr"], [[480, 0, 81], [0, 490, 59], [0, 0, 1]])
        box = original_box(_project(joints), W, H)
        np.testing.assert_allclose(dataset.bboxes[i], box, rtol=1e-5, atol=1e-3)
        sample = dataset[i]
        image = cv2.imread(dataset.image_path(i))[:, :, ::-1]
        np.testing.assert_allclose(
            sample["image"].permute(1, 2, 0).numpy(),
            original_crop(image, box, False) / 255.0,
            atol=0.02,
        )
        np.testing.assert_allclose(sample["target_root_joint"].numpy(), joints[0], atol=1e-6)
        np.testing.assert_allclose(
            sample["mano_pose"].numpy(), ann["mano_param"]["pose"], atol=1e-5
        )
        assert raw["side"] == "right" and raw["image_path"].endswith(
            f"train/SEQ{raw['image_id'] % 2}/rgb/{raw['image_id']:04d}.png"
        )
    top = _project(np.asarray(anns[1]["joints_coord_cam"]))[:, 1]
    assert top.min() - 0.25 * np.ptp(top) < 0 < dataset.bboxes[1][1] + 1  # crossed y = 0: shifted
    assert (
        dataset.bboxes[2][0] + dataset.bboxes[2][2] > 0
    )  # the hand left of the image: a box inside


def test_evaluation_boxes_roots_and_order(tmp_path: Path) -> None:
    anns = make_tree(tmp_path)["evaluation"]
    dataset = HO3D(tmp_path, "evaluation")
    assert not dataset.has_ground_truth and dataset.image_ids.tolist() == [90, 80, 70]
    for i, ann in enumerate(anns):
        x, y, w, h = ann["bbox"]
        x1, y1 = max(0.0, x), max(0.0, y)  # process_bbox(x 1.5)
        w, h = min(W - 1.0, x1 + w - 1) - x1, min(H - 1.0, y1 + h - 1) - y1
        cx, cy, side = x1 + w / 2, y1 + h / 2, max(w, h) * 1.5
        np.testing.assert_allclose(
            dataset.bboxes[i], [cx - side / 2, cy - side / 2, side, side], rtol=1e-6
        )
        raw = dataset.get_raw(i)
        np.testing.assert_allclose(raw["root_joint"], ann["root_joint_cam"], rtol=1e-6)
        assert "joints_3d" not in raw and raw["image_path"].endswith(
            f"evaluation/SEQ{raw['image_id'] % 2}/rgb/{raw['image_id']:04d}.png"
        )
    assert HO3D(tmp_path, "test").image_ids.tolist() == [90, 80, 70]  # "test": evaluation
    assert dataset.eval_protocol().metrics == ["server_side"]
    assert [e.name for e in dataset.eval_protocol().exporters] == ["ho3d_submission"]
    assert HO3D(tmp_path, "train").eval_protocol().metrics == ["mpjpe", "pa_mpjpe"]


def test_v3_folder_and_errors(tmp_path: Path) -> None:
    make_tree(tmp_path, "HO3D_v3")
    assert len(HO3D(tmp_path, "train", version="v3")) == 4
    with pytest.raises(DataNotFoundError, match=r"HO3D/data.*DATA_ROOT"):
        HO3D(tmp_path, "train")
    with pytest.raises(ArgumentError, match="version"):
        HO3D(tmp_path, "train", version="v4")
    with pytest.raises(ArgumentError, match="data_split"):
        HO3D(tmp_path, "val", version="v3")
    path = tmp_path / "HO3D_v3" / "data" / "annotations" / "HO3D_evaluation_data.json"
    data = json.loads(path.read_text())
    del data["annotations"][2]["root_joint_cam"]
    path.write_text(json.dumps(data))
    with pytest.raises(
        DataError, match="HO3D_evaluation_data.json annotation 7: missing key 'root_joint_cam'"
    ):
        HO3D(tmp_path, "evaluation", version="v3")
    data["annotations"][2]["root_joint_cam"] = [0, 0, 0.5]
    data["annotations"][2]["bbox"] = [500.0, 10.0, 20.0, 20.0]
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="annotation 7: 'bbox' lies outside the 160x120 image"):
        HO3D(tmp_path, "evaluation", version="v3")
