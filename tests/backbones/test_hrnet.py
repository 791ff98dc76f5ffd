"""HRNet: official HRNet-Image-Classification key layout, published sizes, shapes, loading."""

from __future__ import annotations

import collections

import pytest
import torch
import torch.nn.functional as F

from handmesh.backbones.hrnet import HRNet
from handmesh.backbones.pretrained import PretrainedWeightsError
from handmesh.registry import BACKBONES, ConfigError, ConfigKeyError, build

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _conv_bn(keys: dict, prefix: str, c_out: int, c_in: int, k: int, bn_index: int = 1) -> None:
    keys[f"{prefix}.0.weight"] = (c_out, c_in, k, k)
    for name in BN:
        keys[f"{prefix}.{bn_index}.{name}"] = () if name == "num_batches_tracked" else (c_out,)


def _block(keys: dict, p: str, c_in: int, planes: int, bottleneck: bool) -> None:
    convs = (
        [(planes, c_in, 1), (planes, planes, 3), (planes * 4, planes, 1)]
        if bottleneck
        else [(planes, c_in, 3), (planes, planes, 3)]
    )
    for n, (o, i, k) in enumerate(convs, start=1):
        keys[f"{p}.conv{n}.weight"] = (o, i, k, k)
        for name in BN:
            keys[f"{p}.bn{n}.{name}"] = () if name == "num_batches_tracked" else (o,)
    out = planes * 4 if bottleneck else planes
    if c_in != out:
        _conv_bn(keys, f"{p}.downsample", out, c_in, 1)


def official_hrnet_keys(width: int) -> dict[str, tuple[int, ...]]:
    """Keys of cls_hrnet.HighResolutionNet built from the cls_hrnet_w{width} experiment file,
    following that source: stem, layer1 (4 Bottlenecks), transitions, stages 2-4 with 1/4/3
    modules of 4 BasicBlocks per branch, fuse layers, and the classification head."""
    keys: dict[str, tuple[int, ...]] = {}
    keys["conv1.weight"] = (64, 3, 3, 3)
    keys.update({f"bn1.{n}": () if n == "num_batches_tracked" else (64,) for n in BN})
    keys["conv2.weight"] = (64, 64, 3, 3)
    keys.update({f"bn2.{n}": () if n == "num_batches_tracked" else (64,) for n in BN})
    for b in range(4):
        _block(keys, f"layer1.{b}", 64 if b == 0 else 256, 64, bottleneck=True)
    ch = [width, 2 * width, 4 * width, 8 * width]
    previous = [256]
    for stage, modules in ((2, 1), (3, 4), (4, 3)):
        current = ch[:stage]
        t = f"transition{stage - 1}"
        for i, c in enumerate(current):
            if i < len(previous):
                if previous[i] != c:
                    _conv_bn(keys, f"{t}.{i}", c, previous[i], 3)
            else:
                _conv_bn(keys, f"{t}.{i}.0", c, previous[-1], 3)
        for m in range(modules):
            p = f"stage{stage}.{m}"
            for br, c in enumerate(current):
                for b in range(4):
                    _block(keys, f"{p}.branches.{br}.{b}", c, c, bottleneck=False)
            for i in range(len(current)):
                for j in range(len(current)):
                    if j > i:
                        _conv_bn(keys, f"{p}.fuse_layers.{i}.{j}", current[i], current[j], 1)
                    elif j < i:
                        for k in range(i - j):
                            out = current[i] if k == i - j - 1 else current[j]
                            _conv_bn(keys, f"{p}.fuse_layers.{i}.{j}.{k}", out, current[j], 3)
        previous = current
    head = [32, 64, 128, 256]
    for i, c in enumerate(ch):
        _block(keys, f"incre_modules.{i}.0", c, head[i], bottleneck=True)
    for i in range(3):
        _conv_bn(keys, f"downsamp_modules.{i}", head[i + 1] * 4, head[i] * 4, 3)
        keys[f"downsamp_modules.{i}.0.bias"] = (head[i + 1] * 4,)
    _conv_bn(keys, "final_layer", 2048, 1024, 1)
    keys["final_layer.0.bias"] = (2048,)
    keys["classifier.weight"] = (1000, 2048)
    keys["classifier.bias"] = (1000,)
    return keys


# Counted by hand from cls_hrnet.py for W32 (5 entries per BN, 1 per bias-free conv).
W32_COUNTS_PER_PREFIX = {
    "conv1": 1, "bn1": 5, "conv2": 1, "bn2": 5, "layer1": 78, "transition1": 12,
    "transition2": 6, "transition3": 6, "stage2": 108, "stage3": 744, "stage4": 864,
    "incre_modules": 96, "downsamp_modules": 21, "final_layer": 7, "classifier": 2,
}  # fmt: skip
W32_SAMPLE = {
    "transition1.0.0.weight": (32, 256, 3, 3),
    "transition1.1.0.0.weight": (64, 256, 3, 3),
    "transition3.3.0.1.running_var": (256,),
    "stage2.0.branches.1.3.conv2.weight": (64, 64, 3, 3),
    "stage3.0.fuse_layers.2.0.0.0.weight": (32, 32, 3, 3),
    "stage3.3.fuse_layers.2.0.1.0.weight": (128, 32, 3, 3),
    "stage4.2.fuse_layers.0.3.0.weight": (32, 256, 1, 1),
    "stage4.2.fuse_layers.3.0.2.1.num_batches_tracked": (),
    "incre_modules.0.0.downsample.0.weight": (128, 32, 1, 1),
    "downsamp_modules.2.0.bias": (1024,),
    "final_layer.0.weight": (2048, 1024, 1, 1),
    "classifier.weight": (1000, 2048),
}
# README of HRNet-Image-Classification: parameters of HRNet-W{C}-C in millions.
PUBLISHED_PARAMS_M = {18: 21.3, 30: 37.7, 32: 41.2, 40: 57.6, 44: 67.1, 48: 77.5, 64: 128.1}


def shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_w32_imagenet_checkpoint_layout() -> None:
    expected = official_hrnet_keys(32)
    assert collections.Counter(k.split(".")[0] for k in expected) == W32_COUNTS_PER_PREFIX
    assert all(expected[k] == v for k, v in W32_SAMPLE.items())
    with torch.device("meta"):
        model = HRNet(width=32, with_classifier=True)
    assert shapes(model) == expected
    assert sum(W32_COUNTS_PER_PREFIX.values()) == len(model.state_dict()) == 1956


@pytest.mark.parametrize("width", [18, 40, 48, 64])
def test_other_widths_key_layout(width: int) -> None:
    with torch.device("meta"):
        model = HRNet(width=width, with_classifier=True)
    assert shapes(model) == official_hrnet_keys(width)


@pytest.mark.parametrize("width", sorted(PUBLISHED_PARAMS_M))
def test_parameter_counts_match_published(width: int) -> None:
    with torch.device("meta"):
        model = HRNet(width=width, with_classifier=True)
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert round(millions, 1) == PUBLISHED_PARAMS_M[width]


def test_without_classifier_has_only_the_trunk() -> None:
    with torch.device("meta"):
        model = HRNet(width=32)
    expected = {
        k: v
        for k, v in official_hrnet_keys(32).items()
        if k.split(".")[0] not in {"incre_modules", "downsamp_modules", "final_layer", "classifier"}
    }
    assert shapes(model) == expected


@pytest.mark.parametrize("width", [18, 32, 40, 48, 64])
def test_branch_shapes_and_strides(width: int) -> None:
    with torch.device("meta"):
        model = HRNet(width=width, with_fused=True, with_classifier=True)
    for size in (224, 256):
        with torch.device("meta"):
            out = model(torch.empty(1, 3, size, size))
        for k, name in enumerate(("hr_branch1", "hr_branch2", "hr_branch3", "hr_branch4")):
            stride = 4 * 2**k
            assert model.strides[name] == stride and model.out_channels[name] == width * 2**k
            assert out[name].shape == (1, width * 2**k, size // stride, size // stride)
        assert out["hr_fused"].shape == (1, 15 * width, size // 4, size // 4)
        assert out["hr_feature"].shape == (1, 2048) and out["hr_output"].shape == (1, 1000)
    assert model.out_channels["hr_fused"] == 15 * width and model.strides["hr_fused"] == 4


def _randomise(model: torch.nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            with torch.no_grad():
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)


@pytest.fixture(scope="module")
def w18_official(tmp_path_factory):
    """An HRNet-W18 with the classifier, saved in the official layout without num_batches_tracked
    (as files written before PyTorch 0.4.1 are)."""
    torch.manual_seed(1)
    model = HRNet(width=18, with_classifier=True).eval()
    _randomise(model)
    path = tmp_path_factory.mktemp("hrnet") / "hrnetv2_w18_imagenet_pretrained.pth"
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path)
    return model, path


def test_official_file_loads_with_and_without_classifier(w18_official) -> None:
    source, path = w18_official
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = source(image)
    full = HRNet(width=18, with_classifier=True, pretrained=path)
    trunk = HRNet(width=18, with_fused=True, pretrained=str(path))
    assert full.init_pretrained() == path and trunk.init_pretrained() == path
    full.eval()
    trunk.eval()
    with torch.no_grad():
        got_full = full(image)
        got_trunk = trunk(image)
    torch.testing.assert_close(got_full["hr_output"], expected["hr_output"])
    for name in ("hr_branch1", "hr_branch2", "hr_branch3", "hr_branch4"):
        assert torch.equal(got_trunk[name], expected[name])
    b = [expected[f"hr_branch{k}"] for k in range(1, 5)]
    fused = torch.cat(
        [b[0]] + [F.interpolate(x, size=b[0].shape[-2:], mode="bilinear") for x in b[1:]], dim=1
    )
    torch.testing.assert_close(got_trunk["hr_fused"], fused)
    assert torch.isfinite(got_trunk["hr_fused"]).all()


def test_hub_request_names_the_official_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    expected = "hrnetv2_w48_imagenet_pretrained.pth.*README"
    with torch.device("meta"):
        model = HRNet(width=48, pretrained=True)  # construction reads nothing
    with pytest.raises(PretrainedWeightsError, match=expected):
        model.init_pretrained()


def test_fuse_rule_for_two_branches() -> None:
    """A 2-branch module computed by hand: out0 = relu(x0 + up(bn(conv1x1(x1)))),
    out1 = relu(bn(conv3x3_s2(x0)) + x1), after each branch's residual blocks."""
    from handmesh.backbones.hrnet import HighResolutionModule

    module = HighResolutionModule([4, 8], blocks_per_branch=1).eval()
    _randomise(module)
    x0, x1 = torch.randn(1, 4, 8, 8), torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        y0, y1 = module([x0, x1])
        b0, b1 = module.branches[0](x0), module.branches[1](x1)
        f01 = module.fuse_layers[0][1]
        up = F.interpolate(f01[1](f01[0](b1)), scale_factor=2, mode="nearest")
        f10 = module.fuse_layers[1][0][0]
        down = f10[1](F.conv2d(b0, f10[0].weight, stride=2, padding=1))
    torch.testing.assert_close(y0, torch.relu(b0 + up))
    torch.testing.assert_close(y1, torch.relu(down + b1))


def test_from_config() -> None:
    with torch.device("meta"):
        model = build({"TYPE": "hrnet_w32", "WITH_FUSED": True}, BACKBONES)
        assert model.width == 32 and model.with_fused and not model.with_classifier
        assert build({"TYPE": "HRNet", "WIDTH": 18}, BACKBONES).width == 18
    with pytest.raises(ConfigError, match=r"MODEL\.BACKBONE \(HRNet\): TYPE HRNet needs WIDTH"):
        build({"TYPE": "HRNet"}, BACKBONES)
    with pytest.raises(ConfigKeyError, match="WITH_FUSED"):
        build({"TYPE": "hrnet_w18", "WITH_FUSE": True}, BACKBONES)
    with pytest.raises(ValueError, match="width must be one of"):
        HRNet(width=20)
