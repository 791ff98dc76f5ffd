"""Annotation pickles holding numpy arrays and torch tensors load without running code."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from handmesh.data.oakink import OakInkImageReader
from handmesh.io.safe_pickle import UnsafePickleError, safe_load_pickle
from tests.data.oakink.oakink_tree import OakInkTree


class _RunsCode:
    """Pickles as ``os.system(<command>)``: loading it with plain pickle would run the command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


class _NestedStorage:
    """Pickles as torch's tensor storage, with a nested pickle that runs code."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __reduce__(self) -> tuple:
        return (torch.storage._load_from_bytes, (self.payload,))


def test_tensors_and_arrays_round_trip() -> None:
    original = {
        "hand_anno": {"hand_pose": torch.randn(16, 4), "hand_shape": torch.randn(10)},
        "cam_extr": torch.eye(4, dtype=torch.float64),
        "strided": torch.arange(12.0).reshape(3, 4)[:, 1],
        "ints": torch.arange(5, dtype=torch.int64),
        "array": np.arange(6, dtype=np.float32).reshape(2, 3),
        "scalar": np.float32(1.5),
    }
    loaded = safe_load_pickle(io.BytesIO(pickle.dumps(original)))
    for key in ("cam_extr", "strided", "ints"):
        assert loaded[key].dtype == original[key].dtype
        assert torch.equal(loaded[key], original[key])
    assert torch.equal(loaded["hand_anno"]["hand_pose"], original["hand_anno"]["hand_pose"])
    assert np.array_equal(loaded["array"], original["array"])
    assert loaded["scalar"] == np.float32(1.5)


@pytest.mark.parametrize("nested", [False, True], ids=["top-level", "inside-tensor-storage"])
def test_malicious_general_info_is_refused_before_running(
    fresh_tree: OakInkTree, tmp_path: Path, nested: bool
) -> None:
    marker = tmp_path / "pwned"
    evil: object = _RunsCode(f"touch {marker}")
    if nested:
        evil = _NestedStorage(pickle.dumps(evil, protocol=2))
    reader = OakInkImageReader(fresh_tree.data_dir, data_split="all")
    path = fresh_tree.root / "anno" / "general_info" / f"{reader.info_str_list[0]}.pkl"
    with path.open("wb") as file:
        pickle.dump({"hand_anno": {"hand_pose": evil}, "cam_extr": torch.eye(4)}, file)
    with pytest.raises(UnsafePickleError, match=str(path)) as error:
        reader.mano_pose(0)
    assert "system" in str(error.value)
    assert not marker.exists()
