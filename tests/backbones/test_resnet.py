"""ResNet: torchvision / OakInk key layouts, shapes, a functional re-computation, configs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from handmesh.backbones.frozen_bn import FrozenBatchNorm2d
from handmesh.backbones.resnet import ResNet
from handmesh.checkpoint import load_state_dict
from handmesh.registry import BACKBONES, ConfigError, ConfigKeyError, build

# torchvision.models.resnet, read from its source: blocks per stage, block kind and the
# per-stage width ("planes"); Bottleneck outputs 4 * planes, BasicBlock planes.
TORCHVISION_LAYOUT = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
BN_ENTRIES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _bn(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {
        f"{prefix}.{name}": (() if name == "num_batches_tracked" else (channels,))
        for name in BN_ENTRIES
    }


def torchvision_keys(depth: int, with_fc: bool = True) -> dict[str, tuple[int, ...]]:
    """The state-dict keys and shapes of torchvision's resnet{depth}, in torchvision's order."""
    kind, blocks = TORCHVISION_LAYOUT[depth]
    expansion = 4 if kind == "bottleneck" else 1
    keys = {"conv1.weight": (64, 3, 7, 7), **_bn("bn1", 64)}
    inplanes = 64
    for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        for index in range(count):
            p = f"layer{stage}.{index}"
            if kind == "bottleneck":
                keys[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
                keys.update(_bn(f"{p}.bn1", planes))
                keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                keys.update(_bn(f"{p}.bn2", planes))
                keys[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
                keys.update(_bn(f"{p}.bn3", planes * 4))
            else:
                keys[f"{p}.conv1.weight"] = (planes, inplanes, 3, 3)
                keys.update(_bn(f"{p}.bn1", planes))
                keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                keys.update(_bn(f"{p}.bn2", planes))
            if index == 0 and (stage > 1 or inplanes != planes * expansion):
                keys[f"{p}.downsample.0.weight"] = (planes * expansion, inplanes, 1, 1)
                keys.update(_bn(f"{p}.downsample.1", planes * expansion))
            inplanes = planes * expansion
    if with_fc:
        keys["fc.weight"] = (1000, 512 * expansion)
        keys["fc.bias"] = (1000,)
    return keys


def oakink_frozen(key: str) -> bool:
    """OakInk-HMR FREEZE_BATCHNORM=True: stem bn1, block 0 of each stage and its downsample."""
    return (
        key.startswith("bn1.")
        or (key.startswith("layer") and key.split(".")[1] == "0" and ".bn" in f".{key}")
        or ".downsample.1." in key
    )


def shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def randomise_bn(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics and affine terms, so BN handling matters in comparisons."""
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm2d, FrozenBatchNorm2d)):
            n = module.running_mean.numel()
            with torch.no_grad():
                module.weight.copy_(torch.rand(n) + 0.5)
                module.bias.copy_(torch.randn(n) * 0.1)
                module.running_mean.copy_(torch.randn(n) * 0.1)
                module.running_var.copy_(torch.rand(n) + 0.5)


def test_resnet50_torchvision_key_set_and_shapes() -> None:
    expected = torchvision_keys(50)
    assert len(expected) == 320
    spot = {
        "layer3.5.conv3.weight": (1024, 256, 1, 1),
        "layer4.0.downsample.0.weight": (2048, 1024, 1, 1),
        "layer1.0.downsample.1.running_var": (256,),
        "layer2.3.bn2.num_batches_tracked": (),
        "fc.weight": (1000, 2048),
    }
    assert all(expected[k] == v for k, v in spot.items())

    with_fc = ResNet(depth=50, with_fc=True)
    assert list(shapes(with_fc).items()) == list(expected.items())  # same names, shapes, order
    without_fc = ResNet(depth=50)
    expected.pop("fc.weight")
    expected.pop("fc.bias")
    assert len(expected) == 318
    assert shapes(without_fc) == expected


@pytest.mark.parametrize("depth", [18, 34, 101, 152])
def test_other_depths_match_torchvision_keys(depth: int) -> None:
    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = ResNet(depth=depth, with_fc=True)
    assert shapes(model) == torchvision_keys(depth)


@pytest.mark.parametrize("depth", [18, 50])
def test_oakink_mixed_frozen_bn_layout(depth: int) -> None:
    model = ResNet(depth=depth, frozen_bn="oakink")
    expected = torchvision_keys(depth, with_fc=False)
    expected = {
        k: v
        for k, v in expected.items()
        if not (k.endswith("num_batches_tracked") and oakink_frozen(k))
    }
    assert shapes(model) == expected
    tracked = {k for k in expected if k.endswith("num_batches_tracked")}
    if depth == 50:  # 53 BN layers, 17 frozen (stem + 4 x (3 block-0 BNs + downsample))
        assert len(expected) == 301 and len(tracked) == 36
        assert "layer1.1.bn1.num_batches_tracked" in tracked
        assert "layer1.0.bn1.num_batches_tracked" not in tracked
        assert "layer4.0.downsample.1.num_batches_tracked" not in tracked
    # frozen BN entries are buffers, not trainable parameters
    params = {name for name, _ in model.named_parameters()}
    assert "layer2.0.bn1.weight" not in params and "bn1.weight" not in params
    assert "layer2.1.bn1.weight" in params


def test_fully_frozen_layout_has_no_trainable_bn() -> None:
    model = ResNet(depth=18, frozen_bn="all")
    keys = model.state_dict().keys()
    assert not any(k.endswith("num_batches_tracked") for k in keys)
    assert all(
        ".bn" not in f".{n}" and "downsample.1" not in n for n, _ in model.named_parameters()
    )
    assert len(keys) == len(torchvision_keys(18, with_fc=False)) - 20  # 20 BN layers in resnet18


def test_torchvision_checkpoint_loads_into_oakink_layout() -> None:
    source = ResNet(depth=18, with_fc=True)
    randomise_bn(source)
    source.eval()
    checkpoint = source.state_dict()  # torchvision layout: fc and num_batches_tracked everywhere
    target = ResNet(depth=18, frozen_bn="oakink")
    report = load_state_dict(target, checkpoint, source="torchvision layout")  # strict
    assert not report.missing and not report.unexpected
    target.eval()
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = source(image)
        got = target(image)
    for name in ("res_layer1", "res_layer2", "res_layer3", "res_layer4", "res_layer4_mean"):
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("frozen_bn", ["none", "oakink", "all"])
def test_round_trip_save_load_identical_outputs(frozen_bn: str, tmp_path) -> None:
    model = ResNet(depth=18, frozen_bn=frozen_bn)
    randomise_bn(model)
    path = tmp_path / "resnet18.pth"
    torch.save(model.state_dict(), path)
    fresh = ResNet(depth=18, frozen_bn=frozen_bn)
    fresh.load_state_dict(torch.load(path, weights_only=True), strict=True)
    model.eval()
    fresh.eval()
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(image)["res_layer4"], fresh(image)["res_layer4"])


def functional_resnet18(sd: dict[str, torch.Tensor], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """ResNet-18 in eval mode written with torch.nn.functional, reading weights by key name."""

    def bn(t: torch.Tensor, p: str) -> torch.Tensor:
        return F.batch_norm(
            t,
            sd[f"{p}.running_mean"],
            sd[f"{p}.running_var"],
            sd[f"{p}.weight"],
            sd[f"{p}.bias"],
            training=False,
            eps=1e-5,
        )

    x = F.relu(bn(F.conv2d(x, sd["conv1.weight"], stride=2, padding=3), "bn1"))
    x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    out = {}
    for stage in range(1, 5):
        for block in range(2):
            p = f"layer{stage}.{block}"
            stride = 2 if stage > 1 and block == 0 else 1
            y = F.relu(
                bn(F.conv2d(x, sd[f"{p}.conv1.weight"], stride=stride, padding=1), f"{p}.bn1")
            )
            y = bn(F.conv2d(y, sd[f"{p}.conv2.weight"], padding=1), f"{p}.bn2")
            if f"{p}.downsample.0.weight" in sd:
                x = bn(
                    F.conv2d(x, sd[f"{p}.downsample.0.weight"], stride=stride), f"{p}.downsample.1"
                )
            x = F.relu(y + x)
        out[f"res_layer{stage}"] = x
    out["res_layer4_mean"] = x.mean(dim=(2, 3))
    return out


@pytest.mark.parametrize("frozen_bn", ["none", "oakink"])
def test_resnet18_matches_functional_implementation(frozen_bn: str) -> None:
    model = ResNet(depth=18, frozen_bn=frozen_bn)
    randomise_bn(model)
    model.eval()
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        got = model(image)
        expected = functional_resnet18(model.state_dict(), image)
    assert set(got) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size", [224, 256])
@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_output_shapes_and_strides(depth: int, size: int) -> None:
    with torch.device("meta"):
        model = ResNet(depth=depth)
        out = model(torch.empty(1, 3, size, size))
    assert set(out) == set(model.out_channels)
    for name, stride in model.strides.items():
        assert out[name].shape == (1, model.out_channels[name], size // stride, size // stride)
    assert out["res_layer4_mean"].shape == (1, model.out_channels["res_layer4_mean"])
    expansion = 4 if depth >= 50 else 1
    assert model.out_channels["res_layer4"] == 512 * expansion
    assert model.strides == {"res_layer1": 4, "res_layer2": 8, "res_layer3": 16, "res_layer4": 32}


def test_real_forward_resnet50_at_224() -> None:
    model = ResNet(depth=50, frozen_bn="oakink").eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert out["res_layer4"].shape == (1, 2048, 7, 7)
    torch.testing.assert_close(out["res_layer4_mean"], out["res_layer4"].mean(dim=(2, 3)))
    assert torch.isfinite(out["res_layer4"]).all()


def test_frozen_bn_ignores_batch_statistics_in_training() -> None:
    model = ResNet(depth=18, frozen_bn="oakink").train()
    before = model.bn1.running_mean.clone()
    tracked_before = model.layer1[1].bn1.num_batches_tracked.clone()
    model(torch.randn(2, 3, 32, 32))
    assert torch.equal(model.bn1.running_mean, before)  # frozen
    assert model.layer1[1].bn1.num_batches_tracked == tracked_before + 1  # ordinary BN


def test_with_fc_outputs_logits() -> None:
    model = ResNet(depth=18, with_fc=True, num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32))
    expected = out["res_layer4_mean"] @ model.fc.weight.T + model.fc.bias
    torch.testing.assert_close(out["res_output"], expected)


def test_init_is_kaiming_fan_out() -> None:
    model = ResNet(depth=50)
    weight = model.layer4[0].conv3.weight  # (2048, 512, 1, 1): fan_out = 2048
    expected_std = (2.0 / 2048) ** 0.5
    assert abs(weight.std().item() - expected_std) / expected_std < 0.02
    assert torch.equal(model.layer2[1].bn2.weight, torch.ones(128))


def test_from_config_oakink_node() -> None:
    model = build({"TYPE": "resnet50", "PRETRAINED": False, "FREEZE_BATCHNORM": True}, BACKBONES)
    assert model.depth == 50 and model.frozen_bn == "oakink" and not model.with_fc
    assert isinstance(model.layer3[0].bn2, FrozenBatchNorm2d)
    assert isinstance(model.layer3[1].bn2, torch.nn.BatchNorm2d)


def test_from_config_published_yaml_with_yacs() -> None:
    """The MODEL.BACKBONE node of config/oii/train_integral_pose_oii_sp0.yml, read by yacs."""
    from yacs.config import CfgNode

    text = "MODEL:\n  BACKBONE:\n    TYPE: resnet50\n    PRETRAINED: False\n    FREEZE_BATCHNORM: True\n"
    cfg = CfgNode.load_cfg(text)
    model = build(cfg.MODEL.BACKBONE, BACKBONES)
    assert model.frozen_bn == "oakink" and len(model.state_dict()) == 301


def test_from_config_generic_and_overrides() -> None:
    node = {"TYPE": "ResNet", "DEPTH": 18, "FROZEN_BN": "all", "INTERM_FEAT": False}
    model = build(node, BACKBONES)
    assert model.depth == 18 and model.frozen_bn == "all" and model.with_fc
    assert build({"TYPE": "resnet34", "FREEZE_BATCHNORM": False}, BACKBONES).frozen_bn == "none"
    assert build({"TYPE": "resnet18", "FROZEN_BN": "all"}, BACKBONES).frozen_bn == "all"


def test_from_config_errors() -> None:
    with pytest.raises(ConfigKeyError, match=r"MODEL\.BACKBONE\.FREEZE_BATCHNRM.*FREEZE_BATCHNORM"):
        build({"TYPE": "resnet50", "FREEZE_BATCHNRM": True}, BACKBONES)
    with pytest.raises(ConfigError, match=r"^MODEL\.BACKBONE \(ResNet\): TYPE ResNet needs DEPTH"):
        build({"TYPE": "ResNet"}, BACKBONES)
    with pytest.raises(ConfigError, match="contradicts"):
        build({"TYPE": "resnet50", "DEPTH": 18}, BACKBONES)
    with pytest.raises(ConfigError, match=r"^MODEL\.BACKBONE \(ResNet\): depth must be one of"):
        build({"TYPE": "ResNet", "DEPTH": 42}, BACKBONES)
    with pytest.raises(TypeError, match=r"ResNet\.from_config got unknown .*\['data_preset'\]"):
        build({"TYPE": "resnet18"}, BACKBONES, data_preset={})


def test_constructor_and_forward_errors() -> None:
    with pytest.raises(ValueError, match="depth must be one of .* got 42"):
        ResNet(depth=42)
    with pytest.raises(ValueError, match="frozen_bn must be one of"):
        ResNet(depth=18, frozen_bn="some")
    model = ResNet(depth=18)
    with pytest.raises(ValueError, match=r"\(B,3,H,W\), got \(3, 32, 32\)"):
        model(torch.randn(3, 32, 32))


def test_forward_stages_from_a_64_channel_map() -> None:
    """I2L-MeshNet's mesh branch feeds its own 64-channel map to layer1 (``skip_early``)."""
    model = ResNet(depth=18).eval()
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        stem = model.forward_stem(image)
        assert stem.shape == (1, 64, 16, 16)
        torch.testing.assert_close(
            model.forward_stages(stem)["res_layer4"], model(image)["res_layer4"]
        )
        fused = torch.randn(1, 64, 16, 16)
        assert model.forward_stages(fused)["res_layer2"].shape == (1, 128, 8, 8)
    with pytest.raises(ValueError, match=r"\(B,64,H,W\), got \(1, 32, 16, 16\)"):
        model.forward_stages(torch.randn(1, 32, 16, 16))
