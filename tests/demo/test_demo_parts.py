"""Demo parts that need no model: keypoint boxes, the crop, the overlay."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from handmesh.demo.crop import crop_hand, demo_box
from handmesh.demo.keypoints import box_from_keypoints, read_keypoints_json
from handmesh.demo.overlay import draw_box, render_overlay
from handmesh.errors import ArgumentError, DataError
from handmesh.mano import MANO
from tests.data.test_dexycb_reader import original_box


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_keypoint_layouts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(100, 200, size=(21, 2))
    scores = np.ones(21)
    scores[[3, 7]] = 0.0  # missed joints
    triplets = np.concatenate([points, scores[:, None]], 1)
    good = points[scores > 0]
    layouts = {
        "list2": points.tolist(),
        "list3": triplets.tolist(),
        "coco": {"keypoints": triplets.ravel().tolist()},
        "mmpose": {"keypoints": points.tolist(), "keypoint_scores": scores.tolist()},
        "openpose": {"people": [{"hand_right_keypoints_2d": triplets.ravel().tolist()}]},
    }
    for name, data in layouts.items():
        got = read_keypoints_json(_write(tmp_path / f"{name}.json", data))
        expected = points if name == "list2" else good
        np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=name)
    left = {"people": [{"hand_left_keypoints_2d": triplets.ravel().tolist()}]}
    np.testing.assert_allclose(
        read_keypoints_json(_write(tmp_path / "l.json", left), side="left"), good, rtol=1e-6
    )
    with pytest.raises(DataError, match="hand_right_keypoints_2d"):
        read_keypoints_json(tmp_path / "l.json")
    with pytest.raises(DataError, match="fewer than 2 confident"):
        read_keypoints_json(_write(tmp_path / "z.json", [[1, 2, 0], [3, 4, 0]]))
    box = box_from_keypoints(good, (640, 480))
    np.testing.assert_allclose(box, original_box(good.astype(np.float32), 640, 480), rtol=1e-5)
    with pytest.raises(DataError, match="outside the 640x480 image"):
        box_from_keypoints(good + 1000, (640, 480))


def test_demo_box_and_crop() -> None:
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8), (5, 5), 0)
    box = demo_box([40.0, 30.0, 20.0, 10.0], (160, 120))  # process_bbox: square, x1.25
    w, h = 19.0, 9.0
    side = max(w, h) * 1.25
    np.testing.assert_allclose(
        box, [40 + w / 2 - side / 2, 30 + h / 2 - side / 2, side, side], rtol=1e-6
    )
    crop = crop_hand(image, box, (32, 32))
    src = np.float32(
        [
            [box[0] + side / 2] * 2,
            [box[0] + side / 2, box[1] + side],
            [box[0] + side, box[1] + side / 2],
        ]
    )
    src[0, 1] = box[1] + side / 2
    trans = cv2.getAffineTransform(src, np.float32([[16, 16], [16, 32], [32, 16]]))
    np.testing.assert_allclose(
        crop.pixels, cv2.warpAffine(image, trans, (32, 32), flags=cv2.INTER_LINEAR), atol=1
    )
    assert torch.allclose(crop.image, torch.from_numpy(crop.pixels).permute(2, 0, 1).float() / 255)
    left = crop_hand(image, box, (32, 32), left=True)  # the mirrored image around the mirrored box
    np.testing.assert_allclose(
        left.pixels,
        crop_hand(
            image[:, ::-1].copy(), np.array([160 - 1 - box[0] - side, box[1], side, side]), (32, 32)
        ).pixels,
        atol=1,
    )
    with pytest.raises(ArgumentError, match="empty inside the 160x120 image"):
        demo_box([500.0, 10.0, 20.0, 20.0], (160, 120))
    boxed = draw_box(image, box)
    assert (boxed[int(box[1]), int(box[0]) + 2] == [255, 0, 0]).all()


def test_overlay_covers_the_projected_mesh() -> None:
    mano = MANO(model_path="/nonexistent", allow_synthetic=True)
    out = mano(torch.zeros(1, 48), torch.zeros(1, 10))
    verts = out.verts[0] - out.joints[0, 9] + torch.tensor([0.0, 0.0, 0.4])
    intr = torch.tensor([[300.0, 0, 80], [0, 300.0, 60], [0, 0, 1]])
    image = np.full((120, 160, 3), 30, dtype=np.uint8)
    overlay, mask = render_overlay(image, verts, mano.faces, intr)
    proj = verts @ intr.T
    silhouette = np.zeros((120, 160), dtype=np.uint8)  # every projected triangle filled on its own
    triangles = np.round((proj[:, :2] / proj[:, 2:]).numpy()[mano.faces.numpy()] * 16).astype(
        np.int32
    )
    for triangle in triangles:
        cv2.fillPoly(silhouette, [triangle], 1, lineType=cv2.LINE_8, shift=4)
    silhouette = silhouette > 0
    iou = (mask & silhouette).sum() / (mask | silhouette).sum()
    assert iou > 0.9 and mask.sum() > 300
    assert (overlay[~mask] == 30).all() and (overlay[mask] != 30).any(axis=-1).all()
