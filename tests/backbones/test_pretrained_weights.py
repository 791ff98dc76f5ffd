"""PRETRAINED resolution and strict loading (initialise phase): local files, hub cache, failing
download; construction never reads anything."""

from __future__ import annotations

import logging

import pytest
import torch

from handmesh.backbones import pretrained as pretrained_module
from handmesh.backbones.pretrained import (
    PretrainedWeightsError,
    WeightsFile,
    load_pretrained,
    resolve_pretrained,
)
from handmesh.backbones.resnet import RESNET_WEIGHTS, ResNet
from handmesh.errors import ArgumentError, CheckpointError
from handmesh.registry import BACKBONES, build


def _no_download(*args, **kwargs):
    raise OSError("network is unreachable (mocked)")


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch hub directory and a download function that always fails."""
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_download)
    return hub


def torchvision_style_checkpoint(path) -> dict[str, torch.Tensor]:
    """A resnet18 state dict in torchvision's layout (fc and num_batches_tracked included)."""
    state = ResNet(depth=18, with_fc=True).state_dict()
    state = {k: v + 0.25 if v.is_floating_point() else v for k, v in state.items()}
    torch.save(state, path)
    return state


def test_local_path_loads_strictly_and_drops_fc(tmp_path, caplog) -> None:
    path = tmp_path / "r18.pth"
    state = torchvision_style_checkpoint(path)
    model = ResNet(depth=18, frozen_bn="oakink", pretrained=str(path))
    with caplog.at_level(logging.INFO, logger="handmesh"):
        assert model.init_pretrained() == path
    assert "fc.weight" in caplog.text  # the dropped classifier is logged
    loaded = model.state_dict()
    for key, value in loaded.items():
        assert torch.equal(value, state[key]), key
    assert "fc.weight" not in loaded


def test_from_config_with_local_path(tmp_path) -> None:
    path = tmp_path / "r18.pth"
    state = torchvision_style_checkpoint(path)
    model = build({"TYPE": "resnet18", "PRETRAINED": str(path)}, BACKBONES)
    assert not torch.equal(model.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
    model.init_pretrained()
    assert torch.equal(model.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])


def test_missing_and_unexpected_keys_are_listed(tmp_path) -> None:
    path = tmp_path / "partial.pth"
    state = ResNet(depth=18).state_dict()
    state.pop("layer2.1.conv1.weight")
    state["head.extra"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(
        CheckpointError, match=r"missing keys 1: \[layer2\.1\.conv1\.weight\].*head\.extra"
    ):
        ResNet(depth=18, pretrained=path).init_pretrained()


def test_shape_mismatch_names_the_file(tmp_path) -> None:
    path = tmp_path / "r34.pth"
    torch.save(ResNet(depth=18).state_dict(), path)
    with pytest.raises(CheckpointError, match="r34.pth"):
        ResNet(depth=34, pretrained=path).init_pretrained()


def test_hub_request_without_cache_and_failing_download(empty_hub) -> None:
    model = ResNet(depth=50, pretrained=True)  # construction reads and downloads nothing
    with pytest.raises(PretrainedWeightsError) as info:
        model.init_pretrained()
    message = str(info.value)
    assert "https://download.pytorch.org/models/resnet50-19c8e357.pth" in message
    assert str(empty_hub / "checkpoints" / "resnet50-19c8e357.pth") in message
    assert "false" in message and "path" in message


def test_hub_cache_hit_needs_no_download(empty_hub, tmp_path) -> None:
    cache = empty_hub / "checkpoints"
    cache.mkdir(parents=True)
    state = torchvision_style_checkpoint(cache / "resnet18-f37072fd.pth")  # torchvision's V1 name
    model = ResNet(depth=18, pretrained=True)
    model.init_pretrained()
    assert torch.equal(model.conv1.weight, state["conv1.weight"])


def test_hub_download_path_is_used(empty_hub, monkeypatch) -> None:
    calls = []

    def fake_download(url, model_dir, **kwargs):
        calls.append(url)
        torchvision_style_checkpoint(f"{model_dir}/{url.rsplit('/', 1)[1]}")

    empty_hub.joinpath("checkpoints").mkdir(parents=True)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    model = ResNet(depth=18, pretrained="true")
    assert calls == []
    model.init_pretrained()
    assert calls == ["https://download.pytorch.org/models/resnet18-5c106cde.pth"]


@pytest.mark.parametrize("spec", [False, None, "", "false", "None"])
def test_disabled_values(spec) -> None:
    assert resolve_pretrained(spec, RESNET_WEIGHTS[18]) is None


def test_manual_only_weights_error_names_file_and_hint(empty_hub) -> None:
    files = [WeightsFile("hrnetv2_w32_imagenet_pretrained.pth", None, "Get it from HRNet.")]
    with pytest.raises(
        PretrainedWeightsError, match="hrnetv2_w32_imagenet_pretrained.pth.*Get it from HRNet"
    ):
        resolve_pretrained(True, files)


def test_bad_paths_and_files(tmp_path) -> None:
    with pytest.raises(PretrainedWeightsError, match="nowhere.pth"):
        resolve_pretrained(str(tmp_path / "nowhere.pth"), [])
    with pytest.raises(ArgumentError, match="pretrained must be"):
        ResNet(depth=18, pretrained=3.5)  # type: ignore[arg-type]
    training_checkpoint = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "optimizer": {}}, training_checkpoint)
    with pytest.raises(CheckpointError, match="no state dict found"):
        load_pretrained(ResNet(depth=18), training_checkpoint, [])
    not_a_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_a_dict)
    with pytest.raises(CheckpointError, match="found list"):
        load_pretrained(ResNet(depth=18), not_a_dict, [])


def test_unsafe_pickle_is_refused(tmp_path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"weight": pretrained_module.WeightsFile("x")}, path)  # arbitrary class
    with pytest.raises(CheckpointError, match="WeightsFile") as info:
        load_pretrained(ResNet(depth=18), path, [])
    assert "weights_only=False" not in str(info.value)


def test_load_pretrained_returns_path(tmp_path) -> None:
    model = torch.nn.Linear(2, 3)
    path = tmp_path / "lin.pth"
    torch.save(model.state_dict(), path)
    assert load_pretrained(torch.nn.Linear(2, 3), path, []) == path
    assert load_pretrained(model, None, []) is None
