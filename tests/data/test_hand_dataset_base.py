"""HandDataset: get_raw + transform, seeding per (seed, epoch, index), data-root errors."""

from __future__ import annotations

import numpy as np
import pytest

from handmesh.data import HandDataset, HandTransform
from handmesh.data.datasets import check_data_root, is_train_split


class TinyHands(HandDataset):
    """Four hand-made samples: joints 0.5 m in front of a 300 px focal camera."""

    def __len__(self) -> int:
        return 4

    def get_raw(self, idx: int) -> dict:
        rng = np.random.default_rng(idx)
        joints_3d = rng.uniform([-0.05, -0.05, 0.45], [0.05, 0.05, 0.55], (21, 3))
        cam = np.array([[300.0, 0, 80], [0, 300.0, 60], [0, 0, 1]])
        joints_2d = joints_3d[:, :2] / joints_3d[:, 2:] * 300 + [80, 60]
        image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
        return {"image": image, "cam_intr": cam, "joints_3d": joints_3d, "joints_2d": joints_2d,
                "side": "right", "image_path": f"tiny://{idx}"}  # fmt: skip


def test_getitem_sets_sample_idx_and_wraps_negative_indices():
    dataset = TinyHands(HandTransform(image_size=(32, 32)))
    assert dataset[2]["sample_idx"] == 2
    assert dataset[-1]["sample_idx"] == 3
    assert dataset[1]["image_path"] == "tiny://1"
    with pytest.raises(IndexError, match="index 4 out of range for 4"):
        dataset[4]


def test_augmentation_depends_on_seed_epoch_and_index_only():
    transform = HandTransform(image_size=(32, 32), train=True, aug=True)
    dataset = TinyHands(transform, seed=5)
    first = dataset[1]["image"]
    np.testing.assert_array_equal(dataset[1]["image"], first)
    dataset.set_epoch(1)
    assert not np.array_equal(dataset[1]["image"], first)
    dataset.set_epoch(0)
    np.testing.assert_array_equal(dataset[1]["image"], first)
    assert not np.array_equal(TinyHands(transform, seed=6)[1]["image"], first)
    plain = TinyHands(HandTransform(image_size=(32, 32)))
    plain.set_epoch(3)
    np.testing.assert_array_equal(plain[0]["image"], TinyHands(plain.transform)[0]["image"])


def test_data_root_errors_and_split_rule(tmp_path):
    assert check_data_root(tmp_path, "OakInk") == str(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"OakInk: data root .*missing.* pack it first"):
        check_data_root(tmp_path / "missing", "OakInk", hint="pack it first")
    assert is_train_split("train+val") and not is_train_split("test")
    with pytest.raises(NotImplementedError, match="get_raw"):
        HandDataset().get_raw(0)
