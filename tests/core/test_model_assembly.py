"""Model assembly (DESIGN §8): construct through the registries, then initialise from one source.

Covers: HEAD.TYPE honoured, unknown head / empty loss list / misspelled argument / incompatible
backbone failing at build time with the key named, backbone ``output_shape`` + ``IN_FEATURE``, and
loading a checkpoint of a published config fully offline (no hub cache, no download).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import handmesh
from handmesh.backbones import HRNet, ResNet
from handmesh.backbones.base import ShapeSpec, select_feature
from handmesh.codecs import UVDCodec
from handmesh.config import load_config
from handmesh.engine.build import build_model
from handmesh.errors import CheckpointError, ConfigError, ConfigKeyError
from handmesh.models import IntegralPose
from handmesh.registry import HEADS, MODELS, build

PUBLISHED = Path(__file__).resolve().parents[2] / "config" / "oii"


def tiny_model_node(**changes: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "TYPE": "IntegralPose",
        "BACKBONE": {"TYPE": "resnet18", "PRETRAINED": False},
        "HEAD": {
            "HEATMAP_3D_SIZE": [8, 8, 8],
            "NUM_DECONV_LAYERS": 2,
            "NUM_DECONV_FILTERS": [16, 16],
            "NUM_DECONV_KERNELS": [4, 4],
        },
        "LOSS": [{"TYPE": "UVD_LOSS"}],
    }
    node.update(changes)
    return node


PRESET = {"IMAGE_SIZE": (64, 64), "CENTER_IDX": 9}


def test_head_type_is_honoured() -> None:
    @HEADS.register()
    class MeanUVDHead(nn.Module):
        """A toy head: every joint at the crop centre, d from a learned offset."""

        CONFIG_KEYS = ("IN_FEATURE",)

        def __init__(self, codec: UVDCodec, in_feature: str) -> None:
            super().__init__()
            self.codec, self.in_feature = codec, in_feature
            self.offset = nn.Parameter(torch.tensor(0.25))

        def forward(self, feature: torch.Tensor) -> dict[str, torch.Tensor]:
            uvd = torch.full((feature.shape[0], 21, 3), 0.5) + self.offset * torch.tensor([0, 0, 1])
            return {"uvd": uvd}

        @classmethod
        def from_config(cls, cfg, *, backbone, data_preset):  # type: ignore[no-untyped-def]
            in_feature = cfg.get("IN_FEATURE", "res_layer4")
            select_feature(backbone, in_feature, None)
            return {"codec": UVDCodec.from_preset(data_preset), "in_feature": in_feature}

    try:
        node = tiny_model_node(HEAD={"TYPE": "MeanUVDHead", "IN_FEATURE": "res_layer3"})
        model = build(node, MODELS, data_preset=PRESET)
        assert isinstance(model.pose_head, MeanUVDHead)
        preds = model({"image": torch.zeros(2, 3, 64, 64)})
        assert preds["uvd"][0, 0].tolist() == pytest.approx([0.5, 0.5, 0.75])
        assert preds["joints_2d"][0, 0].tolist() == pytest.approx([32.0, 32.0])  # 0.5 x 64 px
        assert "pose_head.offset" in model.state_dict()
    finally:
        HEADS._entries.pop("MeanUVDHead", None)


def test_unknown_head_type_fails_naming_the_key() -> None:
    node = tiny_model_node(HEAD={**tiny_model_node()["HEAD"], "TYPE": "NoSuchHead"})
    with pytest.raises(ConfigKeyError, match=r"MODEL\.HEAD\.TYPE: HEADS has no entry 'NoSuchHead'"):
        build(node, MODELS, data_preset=PRESET)


def test_empty_loss_list_is_refused_and_absent_loss_is_the_default() -> None:
    with pytest.raises(ConfigError, match=r"^MODEL \(IntegralPose\): LOSS is empty.*UVD_LOSS"):
        build(tiny_model_node(LOSS=[]), MODELS, data_preset=PRESET)
    node = tiny_model_node()
    del node["LOSS"]
    model = build(node, MODELS, data_preset=PRESET)
    assert [type(c).__name__ for c in model.criterions] == ["UVDLoss"]


def test_misspelled_keys_and_arguments_fail_the_same_way_for_every_part() -> None:
    with pytest.raises(ConfigKeyError, match=r"Unknown config key MODEL\.LOSS\[0\]\.LAMDA"):
        build(
            tiny_model_node(LOSS=[{"TYPE": "UVD_LOSS", "LAMDA": 1.0}]), MODELS, data_preset=PRESET
        )
    with pytest.raises(ConfigKeyError, match=r"Unknown config key MODEL\.HEAD\.NUM_DECONV_LAYER\b"):
        head = {**tiny_model_node()["HEAD"], "NUM_DECONV_LAYER": 2}
        build(tiny_model_node(HEAD=head), MODELS, data_preset=PRESET)
    with pytest.raises(ConfigKeyError, match=r"Unknown config key MODEL\.BACKBON\b"):
        build({**tiny_model_node(), "BACKBON": {}}, MODELS, data_preset=PRESET)
    for registry, node in ((MODELS, tiny_model_node()), (handmesh.BACKBONES, {"TYPE": "resnet18"})):
        with pytest.raises(TypeError, match=r"from_config got unknown .*\['data_preest'\]"):
            build(node, registry, data_preest=PRESET)


def test_incompatible_backbone_fails_at_build_time_naming_both() -> None:
    node = tiny_model_node(BACKBONE={"TYPE": "hrnet_w18", "PRETRAINED": False})
    with pytest.raises(
        ConfigError,
        match=r"MODEL\.HEAD\.IN_FEATURE 'res_layer4' is not an output of the backbone HRNet",
    ) as info:
        build(node, MODELS, data_preset=PRESET)
    assert "hr_branch4 (144 ch)" in str(info.value)
    head = {**tiny_model_node()["HEAD"], "INPUT_CHANNEL": 512}
    with pytest.raises(ConfigError, match=r"takes 512 input channels.*'hr_branch4' output has 144"):
        build(
            tiny_model_node(BACKBONE=node["BACKBONE"], HEAD={**head, "IN_FEATURE": "hr_branch4"}),
            MODELS,
            data_preset=PRESET,
        )


def test_a_declared_output_of_another_backbone_works_through_in_feature() -> None:
    head = {**tiny_model_node()["HEAD"], "IN_FEATURE": "hr_branch4"}
    node = tiny_model_node(BACKBONE={"TYPE": "hrnet_w18", "PRETRAINED": False}, HEAD=head)
    model = build(node, MODELS, data_preset=PRESET).eval()
    assert isinstance(model.backbone, HRNet)
    assert model.backbone.output_shape()["hr_branch4"] == ShapeSpec(144, 32)
    assert model.pose_head.input_channel == 144
    with torch.no_grad():
        assert model({"image": torch.zeros(1, 3, 64, 64)})["uvd"].shape == (1, 21, 3)


def test_heatmap_size_that_does_not_fit_the_image_fails_at_build_time() -> None:
    with pytest.raises(
        ConfigError, match=r"HEATMAP_3D_SIZE \[8, 8, 8\].*IMAGE_SIZE \[32, 32\].*4x4"
    ):
        build(tiny_model_node(), MODELS, data_preset={"IMAGE_SIZE": (32, 32)})


def test_resnet_declares_its_outputs() -> None:
    shapes = ResNet(depth=50).output_shape()
    assert shapes["res_layer4"] == ShapeSpec(2048, 32)
    assert shapes["res_layer1"] == ShapeSpec(256, 4)
    assert shapes["res_layer4_mean"] == ShapeSpec(2048, None)


# ----- initialise: exactly one source, offline -----


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Any hub lookup or download fails the test; the hub cache is an empty folder."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the network / torch hub was touched")

    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", forbidden)
    monkeypatch.setattr(torch.hub, "download_url_to_file", forbidden)
    monkeypatch.setattr(torch.hub, "get_dir", forbidden)
    return hub


def test_published_config_loads_a_checkpoint_offline(no_network, tmp_path: Path) -> None:
    cfg = load_config(PUBLISHED / "train_integral_pose_oii_sp0.yml")
    assert cfg.MODEL.BACKBONE.PRETRAINED is True  # ImageNet weights, if nothing else is given
    model = build_model(cfg, initialize=False)  # construction reads nothing
    with torch.no_grad():
        for index, param in enumerate(model.parameters()):
            param.fill_(index * 1e-3)
    path = tmp_path / "IntegralPose.pth.tar"
    torch.save(model.state_dict(), path)

    loaded = handmesh.load_model(cfg, checkpoint=path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert not loaded.training


def test_without_a_checkpoint_the_parts_load_their_own_weights(no_network, tmp_path) -> None:
    source = ResNet(depth=18)
    path = tmp_path / "r18.pth"
    torch.save(source.state_dict(), path)
    node = tiny_model_node(BACKBONE={"TYPE": "resnet18", "PRETRAINED": str(path)})
    model = build_model({"MODEL": node, "DATA_PRESET": PRESET})
    assert torch.equal(model.backbone.conv1.weight, source.conv1.weight)
    # MODEL.PRETRAINED (a whole-model checkpoint) replaces the parts' weights: read only it
    whole = tmp_path / "whole.pth.tar"
    torch.save(
        {k: v + 1 if v.is_floating_point() else v for k, v in model.state_dict().items()}, whole
    )
    path.unlink()  # the backbone's file is not read any more
    again = build_model({"MODEL": {**node, "PRETRAINED": str(whole)}, "DATA_PRESET": PRESET})
    assert torch.equal(again.backbone.conv1.weight, source.conv1.weight + 1)


def test_non_strict_pretrained_mode_is_named_and_reported(tmp_path, caplog) -> None:
    model = build_model({"MODEL": tiny_model_node(), "DATA_PRESET": PRESET})
    partial = {k: v for k, v in model.state_dict().items() if k.startswith("backbone.")}
    path = tmp_path / "backbone_only.pth.tar"
    torch.save(partial, path)
    node = tiny_model_node(PRETRAINED=str(path))
    with pytest.raises(CheckpointError, match=r"missing keys 14: \[pose_head\."):  # 2x(1+5)+2
        build_model({"MODEL": node, "DATA_PRESET": PRESET})
    with caplog.at_level("WARNING", logger="handmesh"):
        build_model({"MODEL": {**node, "PRETRAINED_MODE": "allow_missing"}, "DATA_PRESET": PRESET})
    assert "14 model keys kept their initial values" in caplog.text
    with pytest.raises(ConfigError, match="PRETRAINED_MODE must be one of"):
        build_model({"MODEL": {**node, "PRETRAINED_MODE": "lenient"}, "DATA_PRESET": PRESET})


def test_integral_pose_class_is_exported() -> None:
    assert MODELS.get("IntegralPose") is IntegralPose
