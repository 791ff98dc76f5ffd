"""HandOccNet regressor parts: spatial softmax / soft-argmax, hourglass, encoder, 6D -> axis-angle,
MANO head units, and the training initialisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from handmesh.errors import ArgumentError
from handmesh.heads.handoccnet import (
    HeatmapEncoder,
    HeatmapHead,
    Hourglass,
    ManoRegressionHead,
    Regressor,
    handoccnet_init_weights,
    rot6d_to_axis_angle,
    soft_argmax_2d,
    spatial_softmax,
)
from handmesh.mano import ManoLayer


def _mano_layer(**overrides: object) -> ManoLayer:
    kwargs = {"flat_hand_mean": False, "use_pca": False, "side": "right", "return_transforms": True}
    kwargs.update(overrides)
    return ManoLayer(allow_synthetic=True, mano_root="/nonexistent", **kwargs)  # type: ignore[arg-type]


def test_spatial_softmax_and_soft_argmax_against_loops() -> None:
    torch.manual_seed(0)
    latents = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    betas = torch.tensor([[0.5], [1.0], [3.0]], dtype=torch.float64)
    head = HeatmapHead(resolution=4, num_joints=3, channels=8, hourglass_depth=2)
    maps = spatial_softmax(latents, betas)
    coords = soft_argmax_2d(maps, head.uu.double(), head.vv.double())
    for b in range(2):
        for j in range(3):
            weights = np.exp(betas[j, 0].item() * latents[b, j].numpy())
            weights /= weights.sum()
            assert np.allclose(maps[b, j].numpy(), weights)
            x = sum(weights[r, c] * (c + 0.5) / 4 for r in range(4) for c in range(4))
            y = sum(weights[r, c] * (r + 0.5) / 4 for r in range(4) for c in range(4))
            assert coords[b, j].tolist() == pytest.approx([x, y], abs=1e-12)


def test_soft_argmax_of_a_peak_is_the_bin_centre() -> None:
    head = HeatmapHead()
    latents = torch.full((1, 21, 32, 32), -1e4)
    latents[0, 4, 7, 30] = 0.0  # row 7, column 30
    coords = soft_argmax_2d(spatial_softmax(latents, head.betas), head.uu, head.vv)
    assert coords[0, 4].tolist() == pytest.approx([30.5 / 32, 7.5 / 32])


def _reference_hourglass(hg: Hourglass, n: int, x: torch.Tensor) -> torch.Tensor:
    """The original's recursion: skip branch + nearest-upsampled inner branch."""
    level = hg.hg[n - 1]
    up1 = level[0](x)
    low1 = level[1](F.max_pool2d(x, 2, 2))
    low2 = _reference_hourglass(hg, n - 1, low1) if n > 1 else level[3](low1)
    low3 = level[2](low2)
    return up1 + F.interpolate(low3, scale_factor=2, mode="nearest")


def test_hourglass_recursion_and_structure() -> None:
    torch.manual_seed(1)
    hg = Hourglass(channels=8, depth=3).double().eval()
    x = torch.randn(2, 8, 16, 16, dtype=torch.float64)
    assert torch.allclose(hg(x), _reference_hourglass(hg, 3, x))
    assert [len(level) for level in hg.hg] == [4, 3, 3]
    block = hg.hg[0][0][0]  # pre-activation bottleneck: BN-LReLU-conv x3 + identity
    y = x
    for bn, conv in ((block.bn1, block.conv1), (block.bn2, block.conv2), (block.bn3, block.conv3)):
        y = conv(F.leaky_relu(bn(y), 0.01))
    assert torch.allclose(block(x), y + x)


def test_encoder_flattens_channel_major_to_1024() -> None:
    torch.manual_seed(2)
    encoder = HeatmapEncoder().eval()
    heatmaps, encoding = torch.rand(2, 21, 32, 32), torch.randn(2, 256, 32, 32)
    out = encoder(heatmaps, encoding)
    assert out.shape == (2, 1024)
    x = encoder.heatmap_conv(heatmaps) + encoder.encoding_conv(encoding)
    for module in encoder.reg[:2]:
        x = module(x)
    x = F.max_pool2d(x, 2)
    for i in range(1, 4):
        x = F.max_pool2d(encoder.reg[2 * i + 1](encoder.reg[2 * i](x)), 2)
    assert torch.allclose(out, x.reshape(2, 256 * 4), atol=1e-6)  # (C, H, W) order
    assert torch.allclose(out[:, :4], x[:, 0].reshape(2, 4), atol=1e-6)


def _gram_schmidt_columns(six: np.ndarray) -> np.ndarray:
    a1, a2 = six[:3], six[3:]
    b1 = a1 / np.linalg.norm(a1)
    b2 = a2 - b1.dot(a2) * b1
    b2 /= np.linalg.norm(b2)
    return np.stack([b1, b2, np.cross(b1, b2)], axis=1)  # b1, b2, b3 are the COLUMNS


def test_rot6d_to_axis_angle_against_scipy() -> None:
    rng = np.random.default_rng(0)
    six = rng.normal(size=(3, 16 * 6))
    rotmat, aa = rot6d_to_axis_angle(torch.from_numpy(six))
    assert rotmat.shape == (3, 16, 3, 3) and aa.shape == (3, 48)
    for b in range(3):
        for j in range(16):
            expected = _gram_schmidt_columns(six[b, 6 * j : 6 * j + 6])
            assert np.allclose(rotmat[b, j].numpy(), expected, atol=1e-12)
            rotvec = Rotation.from_matrix(expected).as_rotvec()
            assert np.allclose(aa[b, 3 * j : 3 * j + 3].numpy(), rotvec, atol=1e-9)
    identity = torch.tensor([[1.0, 0, 0, 0, 1, 0] * 16])
    rotmat, aa = rot6d_to_axis_angle(identity)
    assert torch.allclose(rotmat, torch.eye(3).expand(1, 16, 3, 3)) and not aa.abs().any()


def test_mano_head_outputs_are_the_layer_in_metres() -> None:
    torch.manual_seed(3)
    layer = _mano_layer()
    head = ManoRegressionHead(layer).eval()
    assert "th_comps" not in dict(head.named_buffers(prefix="h"))
    assert not hasattr(layer, "th_comps")
    out = head(torch.randn(2, 1024))
    verts_mm, joints_mm, _ = layer(out["mano_pose"], out["mano_shape"])
    assert torch.allclose(out["mano_verts_3d"], verts_mm / 1000) and out["mano_verts_3d"].shape == (
        2,
        778,
        3,
    )
    assert torch.allclose(out["mano_joints_3d"], joints_mm / 1000)
    tips = torch.tensor([4, 8, 12, 16, 20])
    assert torch.allclose(
        out["mano_joints_3d"][:, tips], out["mano_verts_3d"][:, [745, 317, 444, 556, 673]]
    )
    assert torch.allclose(
        out["mano_transforms"][:, :, :3, 3],
        out["mano_joints_3d"][:, [0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3]],
        atol=1e-6,
    )


@pytest.mark.parametrize(
    ("overrides", "needed"),
    [
        ({"flat_hand_mean": True}, "flat_hand_mean=False"),
        ({"use_pca": True}, "use_pca=False"),
        ({"return_transforms": False}, "return_transforms=True"),
        ({"center_idx": 0}, "center_idx=None"),
        ({"side": "left"}, "side='right'"),
    ],
)
def test_mano_head_refuses_other_layer_settings(overrides: dict, needed: str) -> None:
    with pytest.raises(ArgumentError, match=needed):
        ManoRegressionHead(_mano_layer(**overrides))


def test_regressor_forward_and_parameter_count() -> None:
    regressor = Regressor(_mano_layer()).eval()
    counts = [sum(p.numel() for p in m.parameters()) for m in regressor.children()]
    assert counts == [3_075_114, 1_787_648, 1_628_778]  # reference §1.4 (measured)
    with torch.no_grad():
        out = regressor(torch.randn(1, 256, 32, 32))
    assert out["heatmaps"].shape == (1, 21, 32, 32) and out["joints_2d_norm"].shape == (1, 21, 2)
    assert torch.allclose(out["heatmaps"].sum(dim=(2, 3)), torch.ones(1, 21))
    assert ((out["joints_2d_norm"] > 0) & (out["joints_2d_norm"] < 1)).all()
    with pytest.raises(ArgumentError, match="divisible"):
        HeatmapHead(resolution=20)


def test_init_weights_follows_the_original() -> None:
    torch.manual_seed(4)
    regressor = Regressor(_mano_layer())
    with torch.no_grad():  # make every BN non-trivial so the reset is visible
        for m in regressor.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.fill_(3.0)
                m.bias.fill_(2.0)
    regressor.apply(handoccnet_init_weights)
    convs = [m for m in regressor.modules() if type(m) is torch.nn.Conv2d]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert weights.std().item() == pytest.approx(0.001, rel=0.05)
    assert all(not m.bias.any() for m in convs)
    linears = [m for m in regressor.modules() if type(m) is torch.nn.Linear]
    assert torch.cat([m.weight.flatten() for m in linears]).std().item() == pytest.approx(
        0.01, rel=0.05
    )
    assert all(not m.bias.any() for m in linears)
    bns = [m for m in regressor.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(bool((m.weight == 1).all() and (m.bias == 0).all()) for m in bns)
    assert torch.equal(regressor.hand_regHead.betas, torch.ones(21, 1))  # parameters untouched
