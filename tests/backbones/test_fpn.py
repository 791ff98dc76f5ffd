"""HandOccNet FPN: checkpoint keys and parameter counts, shapes, pyramid arithmetic, loading."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from handmesh.backbones.base import ShapeSpec
from handmesh.backbones.fpn import FPN, SpatialGate
from handmesh.backbones.resnet import ResNet
from handmesh.registry import BACKBONES, ConfigKeyError, build

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

# HandOccNet reference study §1.2 (measured on the original): parameters per top-level module.
PUBLISHED_PARAMS = {
    "toplayer": 524_544, "layer0": 9_536, "layer1": 215_808, "layer2": 1_219_584,
    "layer3": 7_098_368, "layer4": 14_964_736, "smooth2": 590_080, "smooth3": 590_080,
    "latlayer1": 262_400, "latlayer2": 131_328, "latlayer3": 65_792, "attention_module": 100,
}  # fmt: skip
PUBLISHED_TOTAL = 25_672_356


def _bn(keys: dict, prefix: str, c: int) -> None:
    keys.update({f"{prefix}.{n}": () if n == "num_batches_tracked" else (c,) for n in BN})


def handoccnet_backbone_keys() -> dict[str, tuple[int, ...]]:
    """``backbone.*`` entries of a HandOccNet snapshot (without the DataParallel ``module.``),
    following common/nets/backbone.py and cbam.py: ResNet-50 stages wrapped in Sequential."""
    keys: dict[str, tuple[int, ...]] = {
        "backbone.toplayer.weight": (256, 2048, 1, 1),
        "backbone.toplayer.bias": (256,),
        "backbone.layer0.0.weight": (64, 3, 7, 7),
    }
    _bn(keys, "backbone.layer0.1", 64)
    inplanes = 64
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3)), start=1):
        for b in range(blocks):
            p = f"backbone.layer{stage}.0.{b}"
            keys[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
            _bn(keys, f"{p}.bn1", planes)
            keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            _bn(keys, f"{p}.bn2", planes)
            keys[f"{p}.conv3.weight"] = (4 * planes, planes, 1, 1)
            _bn(keys, f"{p}.bn3", 4 * planes)
            if b == 0:
                keys[f"{p}.downsample.0.weight"] = (4 * planes, inplanes, 1, 1)
                _bn(keys, f"{p}.downsample.1", 4 * planes)
            inplanes = 4 * planes
    for name, c_in, k in (
        ("smooth2", 256, 3), ("smooth3", 256, 3),
        ("latlayer1", 1024, 1), ("latlayer2", 512, 1), ("latlayer3", 256, 1),
    ):  # fmt: skip
        keys[f"backbone.{name}.weight"] = (256, c_in, k, k)
        keys[f"backbone.{name}.bias"] = (256,)
    keys["backbone.attention_module.spatial.conv.weight"] = (1, 2, 7, 7)
    _bn(keys, "backbone.attention_module.spatial.bn", 1)
    return keys


@pytest.fixture(scope="module")
def fpn() -> FPN:
    torch.manual_seed(0)
    return FPN().eval()


def test_checkpoint_keys_and_order(fpn: FPN) -> None:
    expected = handoccnet_backbone_keys()
    got = {f"backbone.{k}": tuple(v.shape) for k, v in fpn.state_dict().items()}
    assert list(got.items()) == list(expected.items())


def test_parameter_counts_match_handoccnet(fpn: FPN) -> None:
    for name, count in PUBLISHED_PARAMS.items():
        assert sum(p.numel() for p in getattr(fpn, name).parameters()) == count, name
    assert sum(p.numel() for p in fpn.parameters()) == PUBLISHED_TOTAL
    trainable = sum(p.numel() for p in fpn.parameters() if p.requires_grad)
    assert trainable == PUBLISHED_TOTAL - PUBLISHED_PARAMS["smooth2"]  # unused, frozen


def test_activations_are_leaky(fpn: FPN) -> None:
    assert isinstance(fpn.layer0[2], torch.nn.LeakyReLU)
    assert fpn.layer0[2].negative_slope == 0.01
    assert isinstance(fpn.layer3[0][2].leakyrelu, torch.nn.LeakyReLU)
    assert not any(isinstance(m, torch.nn.ReLU) for m in fpn.modules())


@pytest.mark.parametrize("size", [224, 256])
def test_output_shapes(size: int) -> None:
    with torch.device("meta"):
        model = FPN()
        out = model(torch.empty(1, 3, size, size))
    primary, secondary = out["primary"], out["secondary"]
    assert primary.shape == secondary.shape == (1, 256, size // 8, size // 8)
    assert model.out_channels == {"primary": 256, "secondary": 256}
    assert model.strides == {"primary": 8, "secondary": 8}
    assert model.output_shape() == {"primary": ShapeSpec(256, 8), "secondary": ShapeSpec(256, 8)}


def test_forward_matches_pyramid_written_out(fpn: FPN) -> None:
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = fpn(image)
        primary, secondary = out["primary"], out["secondary"]
        c2 = fpn.layer1(fpn.layer0(image))
        c3 = fpn.layer2(c2)
        c4 = fpn.layer3(c3)
        c5 = fpn.layer4(c4)

        def up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

        p5 = fpn.toplayer(c5)
        p4 = up(p5, c4) + fpn.latlayer1(c4)
        p3 = up(p4, c3) + fpn.latlayer2(c3)
        p2 = fpn.smooth3(up(p3, c2) + fpn.latlayer3(c2))
        x = F.avg_pool2d(p2, 2, 2)
        gate = fpn.attention_module.spatial
        pooled = torch.stack([x.max(dim=1).values, x.mean(dim=1)], dim=1)
        s = torch.sigmoid(gate.bn(F.conv2d(pooled, gate.conv.weight, padding=3)))
    torch.testing.assert_close(primary, x * s)
    torch.testing.assert_close(secondary, x * (1 - s))
    torch.testing.assert_close(primary + secondary, x)
    assert primary.shape == (1, 256, 8, 8)


def test_spatial_gate_batchnorm_settings() -> None:
    gate = SpatialGate()
    assert gate.spatial.bn.momentum == 0.01 and gate.spatial.bn.eps == 1e-5
    assert gate.spatial.conv.bias is None


def test_imagenet_resnet50_weights_load_into_fpn(tmp_path) -> None:
    source = ResNet(depth=50, with_fc=True)  # torchvision key names, fc included
    with torch.no_grad():
        for p in source.parameters():
            p.add_(0.5)
    path = tmp_path / "resnet50-19c8e357.pth"
    torch.save(source.state_dict(), path)
    model = FPN(pretrained=path)
    assert not torch.equal(model.state_dict()["layer0.0.weight"], source.conv1.weight)
    assert model.init_pretrained() == path
    tv = source.state_dict()
    fpn_sd = model.state_dict()
    assert torch.equal(fpn_sd["layer0.0.weight"], tv["conv1.weight"])
    assert torch.equal(fpn_sd["layer0.1.running_var"], tv["bn1.running_var"])
    assert torch.equal(fpn_sd["layer3.0.5.conv2.weight"], tv["layer3.5.conv2.weight"])
    assert torch.equal(fpn_sd["layer4.0.0.downsample.1.bias"], tv["layer4.0.downsample.1.bias"])


def test_handoccnet_checkpoint_round_trip(fpn: FPN, tmp_path) -> None:
    path = tmp_path / "snapshot.pth"
    torch.save({f"module.backbone.{k}": v for k, v in fpn.state_dict().items()}, path)
    stored = torch.load(path, weights_only=True)
    fresh = FPN()
    prefix = "module.backbone."
    fresh.load_state_dict({k[len(prefix) :]: v for k, v in stored.items()}, strict=True)
    fresh.eval()
    image = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(fresh(image)["primary"], fpn(image)["primary"])


def test_from_config_and_errors() -> None:
    with torch.device("meta"):
        assert isinstance(build({"TYPE": "FPN", "PRETRAINED": False}, BACKBONES), FPN)
    with pytest.raises(ConfigKeyError, match=r"MODEL\.BACKBONE\.DEPTH"):  # FPN takes no DEPTH
        build({"TYPE": "FPN", "DEPTH": 50}, BACKBONES)
    with pytest.raises(ValueError, match=r"\(B,3,H,W\)"):
        FPN()(torch.randn(1, 1, 32, 32))
