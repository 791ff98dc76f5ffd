"""IntegralPose: integral soft-argmax, uvd -> xyz, UVD loss, published checkpoint layout."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from handmesh.checkpoint import load_weights
from handmesh.codecs import UVDCodec
from handmesh.errors import CheckpointError
from handmesh.heads.integral_pose import IntegralDeconvHead, integrate_heatmap3d, normalize_heatmap
from handmesh.losses.uvd import UVDLoss
from handmesh.models.integral_pose import IntegralPose
from handmesh.registry import MODELS, ConfigKeyError, build

# The published MODEL node of oakink/OakInk-HMR config/oii/train_integral_pose_oii_sp0.yml
PUBLISHED_MODEL = {
    "TYPE": "IntegralPose",
    "PRETRAINED": "",
    "MODE": "3D",
    "BACKBONE": {"TYPE": "resnet50", "PRETRAINED": False, "FREEZE_BATCHNORM": True},
    "HEAD": {
        "INPUT_CHANNEL": 2048,
        "N_CLASSES": 21,
        "DECONV_WITH_BIAS": False,
        "NORM_TYPE": "sigmoid",
        "HEATMAP_3D_SIZE": [28, 28, 28],
        "NUM_DECONV_LAYERS": 2,
        "NUM_DECONV_FILTERS": [256, 256],
        "NUM_DECONV_KERNELS": [4, 4],
        "FINAL_CONV_KERNEL": 1,
    },
    "LOSS": [{"TYPE": "UVD_LOSS", "FUNCTION": "smooth_l1", "LAMBDA": 100.0}],
    "METRIC": [{"TYPE": "LossMetric", "VIS_LOSS_KEYS": []}, {"TYPE": "MeanEPE"}],
}


def published_integral_pose_shapes() -> OrderedDict:
    """Key -> shape of OakInk-HMR's IntegralPose.pth.tar, written from the reference description:
    ResNet-50 with FrozenBN (no num_batches_tracked) on the stem, on the first block of every stage
    and its downsample, plain BN elsewhere; then the 2-deconv head and a 1x1 conv to 21 x 28."""
    shapes: OrderedDict = OrderedDict()

    def bn(prefix: str, channels: int, frozen: bool) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{name}"] = (channels,)
        if not frozen:
            shapes[f"{prefix}.num_batches_tracked"] = ()

    shapes["backbone.conv1.weight"] = (64, 3, 7, 7)
    bn("backbone.bn1", 64, frozen=True)
    inplanes = 64
    for stage, blocks in enumerate((3, 4, 6, 3)):
        planes = 64 * 2**stage
        for block in range(blocks):
            p = f"backbone.layer{stage + 1}.{block}"
            frozen = block == 0
            inp = inplanes if block == 0 else planes * 4
            shapes[f"{p}.conv1.weight"] = (planes, inp, 1, 1)
            bn(f"{p}.bn1", planes, frozen)
            shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            bn(f"{p}.bn2", planes, frozen)
            shapes[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
            bn(f"{p}.bn3", planes * 4, frozen)
            if block == 0:
                shapes[f"{p}.downsample.0.weight"] = (planes * 4, inp, 1, 1)
                bn(f"{p}.downsample.1", planes * 4, frozen=True)
        inplanes = planes * 4
    shapes["pose_head.deconv_layers.0.weight"] = (2048, 256, 4, 4)
    bn("pose_head.deconv_layers.1", 256, frozen=False)
    shapes["pose_head.deconv_layers.3.weight"] = (256, 256, 4, 4)
    bn("pose_head.deconv_layers.4", 256, frozen=False)
    shapes["pose_head.final_layer.weight"] = (21 * 28, 256, 1, 1)
    shapes["pose_head.final_layer.bias"] = (21 * 28,)
    return shapes


def random_state_dict(shapes: OrderedDict) -> OrderedDict:
    generator = torch.Generator().manual_seed(3)
    return OrderedDict(
        (k, torch.tensor(7) if s == () else torch.rand(s, generator=generator))
        for k, s in shapes.items()
    )


@pytest.fixture(scope="module")
def published_model() -> IntegralPose:
    return build(PUBLISHED_MODEL, MODELS, data_preset={"IMAGE_SIZE": (224, 224)})


# ----- integral soft-argmax -----


@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_soft_argmax_of_one_hot_heatmap(offset: float) -> None:
    depth, height, width = 5, 6, 7
    heatmap = torch.zeros(2, 3, depth, height, width)
    peaks = [[(1, 2, 3), (0, 0, 0), (4, 5, 6)], [(2, 1, 0), (3, 3, 3), (4, 0, 6)]]
    for b, row in enumerate(peaks):
        for j, (d, h, w) in enumerate(row):
            heatmap[b, j, d, h, w] = 1.0
    uvd = integrate_heatmap3d(heatmap, offset)
    for b, row in enumerate(peaks):
        for j, (d, h, w) in enumerate(row):
            expected = [(w + offset) / width, (h + offset) / height, (d + offset) / depth]
            assert uvd[b, j].tolist() == pytest.approx(expected, abs=1e-6)


def test_soft_argmax_is_the_expectation_of_a_spread_heatmap() -> None:
    probs = torch.rand(1, 1, 3, 4, 5)
    probs /= probs.sum()
    uvd = integrate_heatmap3d(probs)
    expected = [0.0, 0.0, 0.0]
    for d in range(3):
        for h in range(4):
            for w in range(5):
                p = float(probs[0, 0, d, h, w])
                expected[0] += p * w / 5
                expected[1] += p * h / 4
                expected[2] += p * d / 3
    assert uvd[0, 0].tolist() == pytest.approx(expected, abs=1e-6)


def test_sigmoid_normalisation_matches_a_plain_loop() -> None:
    logits = torch.randn(2, 3, 10)
    probs = normalize_heatmap(logits, "sigmoid")
    for b in range(2):
        for j in range(3):
            s = [1.0 / (1.0 + float(torch.exp(-x))) for x in logits[b, j]]
            total = sum(s) + 1e-7
            assert probs[b, j].tolist() == pytest.approx([v / total for v in s], rel=1e-5)


@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_head_channel_layout_is_joint_major_then_depth(offset: float) -> None:
    """Channel j * D + d of the final conv is joint j at depth d (OakInk-HMR's view)."""
    joints, size = 2, 4
    head = IntegralDeconvHead(
        input_channel=1,
        n_classes=joints,
        heatmap_3d_size=(size, size, size),
        num_deconv_filters=(),
        num_deconv_kernels=(),
        codec=UVDCodec(bin_offset=offset),
    )
    targets = {0: (3, 1, 2), 1: (0, 2, 1)}  # joint -> (d, h, w)
    with torch.no_grad():
        head.final_layer.weight.zero_()
        head.final_layer.bias.fill_(-50.0)
        for joint, (d, _, _) in targets.items():
            head.final_layer.weight[joint * size + d] = 100.0
    for joint, (d, h, w) in targets.items():
        feature = torch.zeros(1, 1, size, size)
        feature[0, 0, h, w] = 1.0  # logit +50 at (d, h, w) of this joint, -50 everywhere else
        got = head.eval()(feature)["uvd"][0, joint]
        expected = [(w + offset) / size, (h + offset) / size, (d + offset) / size]
        assert got.tolist() == pytest.approx(expected, abs=1e-4)


# ----- model outputs -----


class _FixedUVDHead(nn.Module):
    in_feature = "res_layer4"

    def __init__(self, uvd: torch.Tensor, image_size: tuple[int, int] = (224, 224)) -> None:
        super().__init__()
        self.uvd = uvd
        self.codec = UVDCodec(image_size=image_size)

    def forward(self, feature: torch.Tensor) -> dict:
        return {"uvd": self.uvd.expand(feature.shape[0], -1, -1)}


class _NullBackbone(nn.Module):
    def forward(self, image: torch.Tensor) -> dict:
        return {"res_layer4": image.mean(dim=(2, 3), keepdim=True)}


def test_joints_2d_and_3d_follow_the_uvd_convention() -> None:
    uvd = torch.tensor([[[0.25, 0.75, 0.5], [0.5, 0.5, 0.0], [1.0, 0.0, 1.0]]])
    width, height = 64, 32
    model = IntegralPose(_NullBackbone(), _FixedUVDHead(uvd, image_size=(width, height)))
    intr = torch.tensor([[[100.0, 0.0, 30.0], [0.0, 120.0, 20.0], [0.0, 0.0, 1.0]]])
    root = torch.tensor([[0.01, -0.02, 0.6]])
    preds = model(
        {
            "image": torch.zeros(1, 3, height, width),
            "target_root_joint": root,
            "target_cam_intr": intr,
        }
    )
    for j in range(3):
        u_px, v_px = float(uvd[0, j, 0]) * width, float(uvd[0, j, 1]) * height
        z = (float(uvd[0, j, 2]) - 0.5) * 0.4 + 0.6
        expected = [(u_px - 30.0) / 100.0 * z, (v_px - 20.0) / 120.0 * z, z]
        assert preds["joints_3d"][0, j].tolist() == pytest.approx(expected, abs=1e-6)
        assert preds["joints_2d"][0, j].tolist() == pytest.approx([u_px, v_px])


def test_tiny_model_forward_shapes() -> None:
    cfg = {
        **PUBLISHED_MODEL,
        "BACKBONE": {"TYPE": "resnet18", "PRETRAINED": False, "FREEZE_BATCHNORM": True},
        "HEAD": {
            **PUBLISHED_MODEL["HEAD"],
            "INPUT_CHANNEL": 512,
            "HEATMAP_3D_SIZE": [8, 8, 6],
            "NUM_DECONV_FILTERS": [16, 16],
        },
    }
    model = build(cfg, MODELS, data_preset={"IMAGE_SIZE": (64, 64)}).eval()
    batch = {
        "image": torch.randn(2, 3, 64, 64),
        "target_root_joint": torch.tensor([[0, 0, 0.5]] * 2),
        "target_cam_intr": torch.eye(3).expand(2, 3, 3),
    }
    preds = model(batch)
    assert preds["uvd"].shape == (2, 21, 3)
    assert preds["joints_3d"].shape == (2, 21, 3)
    assert preds["joints_2d"].shape == (2, 21, 2)
    assert preds["uvd"].min() >= 0 and preds["uvd"].max() < 1


# ----- loss -----


def test_uvd_loss_on_a_hand_computed_case() -> None:
    pred = torch.tensor([[[0.2, 0.4, 2.0], [0.9, 0.1, 0.5]]])
    target = torch.tensor([[[0.1, 0.6, 0.2], [0.0, 0.0, 0.0]]])
    vis = torch.tensor([[1.0, 0.0]])
    terms = []
    for j in range(2):
        for k in range(3):
            diff = abs(
                float(pred[0, j, k]) * float(vis[0, j]) - float(target[0, j, k]) * float(vis[0, j])
            )
            terms.append(0.5 * diff**2 if diff < 1 else diff - 0.5)
    expected = sum(terms) / 6  # invisible joints still count in the denominator
    weighted, logged = UVDLoss("smooth_l1", 100.0)(
        {"uvd": pred}, {"target_joints_uvd": target, "target_joints_vis": vis}
    )
    assert float(logged["uvd_loss"]) == pytest.approx(expected)
    assert float(weighted) == pytest.approx(100.0 * expected)


def test_uvd_loss_names_missing_inputs() -> None:
    with pytest.raises(KeyError, match=r"missing batch\['target_joints_vis'\]"):
        UVDLoss()({"uvd": torch.zeros(1, 21, 3)}, {"target_joints_uvd": torch.zeros(1, 21, 3)})


def test_compute_loss_reports_final_and_term() -> None:
    model = IntegralPose(_NullBackbone(), _FixedUVDHead(torch.full((1, 21, 3), 0.5)))
    batch = {
        "target_joints_uvd": torch.full((1, 21, 3), 0.4),
        "target_joints_vis": torch.ones(1, 21),
    }
    losses = model.compute_loss({"uvd": torch.full((1, 21, 3), 0.5)}, batch)
    assert float(losses["uvd_loss"]) == pytest.approx(0.5 * 0.1**2)
    assert float(losses["final_loss"]) == pytest.approx(100 * 0.5 * 0.1**2)


# ----- config and checkpoints -----


def test_unknown_head_key_is_named() -> None:
    cfg = {**PUBLISHED_MODEL, "HEAD": {**PUBLISHED_MODEL["HEAD"], "NUM_DECONV_FILTER": [1]}}
    with pytest.raises(ConfigKeyError, match=r"MODEL\.HEAD\.NUM_DECONV_FILTER\b"):
        build(cfg, MODELS, data_preset={"IMAGE_SIZE": (224, 224)})


def test_published_key_list_loads_strictly(published_model: IntegralPose, tmp_path) -> None:
    shapes = published_integral_pose_shapes()
    assert len(shapes) == len(published_model.state_dict())
    state = random_state_dict(shapes)
    path = tmp_path / "IntegralPose.pth.tar"
    torch.save(state, path)
    report = load_weights(published_model, path)
    assert (report.missing, report.unexpected, report.loaded) == ([], [], len(shapes))
    loaded = published_model.state_dict()
    assert torch.equal(loaded["pose_head.final_layer.bias"], state["pose_head.final_layer.bias"])
    assert torch.equal(
        loaded["backbone.layer4.2.bn3.running_var"], state["backbone.layer4.2.bn3.running_var"]
    )

    wrapped = tmp_path / "wrapped.pth.tar"  # {"state_dict": {"module.…"}}
    shifted = {f"module.{k}": v + 1 if v.is_floating_point() else v for k, v in state.items()}
    torch.save({"state_dict": shifted}, wrapped)
    load_weights(published_model, wrapped)
    assert torch.allclose(
        published_model.state_dict()["pose_head.final_layer.bias"],
        state["pose_head.final_layer.bias"] + 1,
    )


def test_other_models_checkpoint_is_refused(published_model: IntegralPose, tmp_path) -> None:
    other = {
        "preact.conv1.weight": torch.zeros(64, 3, 7, 7),
        "fc_coord.linear.weight": torch.zeros(63, 2048),
        "flow3d.loc": torch.zeros(3),
    }
    path = tmp_path / "RegressFlow3D.pth.tar"
    torch.save(other, path)
    with pytest.raises(CheckpointError) as info:
        load_weights(published_model, path)
    message = str(info.value)
    assert str(path) in message and "IntegralPose" in message
    assert "different model" in message
    assert "preact.conv1.weight" in message and "backbone.conv1.weight" in message
    assert f"missing keys {len(published_integral_pose_shapes())}" in message
    assert "unexpected keys 3" in message
