"""iknet.pt: the official {"model": state_dict} layout in and out, strictly, with weights_only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_iknet_network import official_key_shapes

from handmesh.checkpoint import load_weights
from handmesh.errors import CheckpointError
from handmesh.iknet import IKNet, load_iknet, save_iknet


def official_blob(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the official keys and shapes (random values), as the file stores it."""
    gen = torch.Generator().manual_seed(seed)
    return {
        key: (torch.randint(0, 100, shape, generator=gen) if key.endswith("num_batches_tracked")
              else torch.rand(shape, generator=gen) + 0.5)
        for key, shape in official_key_shapes().items()
    }  # fmt: skip


def test_official_layout_loads_strictly_ignoring_mano_layer_entries(tmp_path: Path) -> None:
    state = official_blob()
    # what OakInk-HMR's CheckpointIO drops before its strict load, and other top-level entries
    state["mano_layer.th_betas"] = torch.zeros(1, 10)
    state["mano_layer.th_shapedirs"] = torch.zeros(778, 3, 10)
    path = tmp_path / "iknet.pt"
    torch.save({"model": state, "epoch": 100}, path)
    net = load_iknet(path)
    assert not net.training
    loaded = net.state_dict()
    for key, value in official_blob().items():
        assert torch.equal(loaded[key], value), key
    other = IKNet()  # the generic loader applies the same IKNet layout adapter
    load_weights(other, path)
    assert torch.equal(other.state_dict()["invk_layers.0.weight"], loaded["invk_layers.0.weight"])


def test_save_then_load_round_trips_the_official_layout(tmp_path: Path) -> None:
    net = IKNet()
    net.load_state_dict(official_blob(seed=3))
    path = save_iknet(net, tmp_path / "sub" / "iknet.pt", training={"mano_source": "synthetic"})
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert set(raw) == {"model", "training"}
    assert {k: tuple(v.shape) for k, v in raw["model"].items()} == official_key_shapes()
    assert raw["training"] == {"mano_source": "synthetic"}
    joints = torch.randn(3, 21, 3)
    torch.testing.assert_close(load_iknet(path)(joints)["so3"], net.eval()(joints)["so3"])
    assert [p.name for p in path.parent.iterdir()] == ["iknet.pt"]  # atomic: no temp file left


def test_missing_file_says_where_the_official_file_comes_from_and_how_to_train(
    tmp_path: Path,
) -> None:
    with pytest.raises(CheckpointError) as info:
        load_iknet(tmp_path / "nope" / "iknet.pt")
    message = str(info.value)
    assert f"IKNet weights not found: {tmp_path / 'nope' / 'iknet.pt'}" in message
    assert "https://github.com/oakink/OakInk-HMR" in message
    assert "python -m train.train_iknet" in message


def test_default_path_is_where_the_original_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match=r"not found: assets/postprocess/iknet.pt"):
        load_iknet()
    net = IKNet()
    save_iknet(net, tmp_path / "assets" / "postprocess" / "iknet.pt")
    torch.testing.assert_close(load_iknet().state_dict()["invk_layers.18.bias"],
                               net.state_dict()["invk_layers.18.bias"])  # fmt: skip


def test_wrong_layouts_and_keys_are_one_clear_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pt"
    torch.save(official_blob(), plain)  # a bare state dict, not under "model"
    with pytest.raises(CheckpointError, match=r"not an IKNet weight file; expected a dict with"):
        load_iknet(plain)
    state = official_blob()
    del state["invk_layers.18.bias"]
    state["invk_layers.21.weight"] = torch.zeros(3)
    missing = tmp_path / "missing.pt"
    torch.save({"model": state}, missing)
    with pytest.raises(CheckpointError, match=r"missing keys 1: \[invk_layers.18.bias\]"):
        load_iknet(missing)
    state = official_blob()
    state["invk_layers.0.weight"] = torch.zeros(256, 42)
    shape = tmp_path / "shape.pt"
    torch.save({"model": state}, shape)
    with pytest.raises(
        CheckpointError, match=r"invk_layers.0.weight \(256, 42\) vs model \(256, 63\)"
    ):
        load_iknet(shape)


class _NotWeights:
    pass


def test_pickled_objects_are_refused_without_running_them(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"model": _NotWeights()}, path)
    with pytest.raises(
        CheckpointError, match=r"Cannot read checkpoint .*weights_only=True.* is refused"
    ):
        load_iknet(path)
