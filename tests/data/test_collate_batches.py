"""collate: default_collate semantics with clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handmesh.data import collate


def test_collate_stacks_arrays_and_lists_strings():
    samples = [
        {"image": torch.full((3, 2, 2), float(i)), "joints": np.full((21, 2), i, np.float32),
         "image_path": f"p{i}", "sample_idx": i, "side": "right"}
        for i in range(3)
    ]  # fmt: skip
    batch = collate(samples)
    assert batch["image"].shape == (3, 3, 2, 2)
    assert batch["image"][2, 0, 0, 0] == 2.0
    assert torch.is_tensor(batch["joints"]) and batch["joints"].shape == (3, 21, 2)
    assert batch["image_path"] == ["p0", "p1", "p2"]
    assert batch["sample_idx"].tolist() == [0, 1, 2]
    assert batch["side"] == ["right"] * 3


def test_collate_errors():
    with pytest.raises(ValueError, match="empty"):
        collate([])
    with pytest.raises(KeyError, match="extra"):
        collate([{"a": 1}, {"a": 2, "extra": 3}])
