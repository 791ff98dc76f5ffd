"""UVDCodec: the one uvd encoding, against a hand computation, as round trips, and shared by the
transform (targets) and the model (decoding) through DATA_PRESET."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handmesh.codecs import UVD_DEPTH_RANGE, UVDCodec
from handmesh.data.datasets import SyntheticHands
from handmesh.errors import ArgumentError
from handmesh.registry import DATASETS, MODELS, build

K = np.array([[300.0, 0.0, 60.0], [0.0, 280.0, 50.0], [0.0, 0.0, 1.0]])


def test_encode_by_hand() -> None:
    codec = UVDCodec(image_size=(128, 96), depth_range=0.4, center_idx=0)
    points = np.array([[64.0, 48.0], [0.0, 96.0]])
    uvd = codec.encode(points, np.array([0.5, 0.7]), root_depth=0.5)
    np.testing.assert_allclose(uvd, [[0.5, 0.5, 0.5], [0.0, 1.0, 0.5 + 0.2 / 0.4]], atol=1e-7)
    assert uvd.dtype == np.float32


def test_batched_encode_matches_per_sample_encode_and_decode_inverts_it() -> None:
    rng = np.random.default_rng(0)
    xyz = rng.uniform([-0.1, -0.1, 0.4], [0.1, 0.1, 0.8], size=(21, 3))
    codec = UVDCodec(image_size=(120, 100), center_idx=9)
    root = xyz[9]
    homogeneous = xyz @ K.T
    pixels = homogeneous[:, :2] / homogeneous[:, 2:]
    expected = codec.encode(pixels, xyz[:, 2], root[2])
    got = codec.encode_xyz(
        torch.from_numpy(xyz)[None], torch.from_numpy(root)[None], torch.from_numpy(K)[None]
    )
    np.testing.assert_allclose(got[0].numpy(), expected, atol=1e-6)
    back = codec.decode(got, torch.from_numpy(root)[None], torch.from_numpy(K)[None])
    np.testing.assert_allclose(back[0].numpy(), xyz, atol=1e-12)
    np.testing.assert_allclose(codec.decode_2d(got)[0].numpy(), pixels, atol=1e-9)


def test_recentre_depth_puts_the_root_at_one_half_and_keeps_the_input() -> None:
    codec = UVDCodec(center_idx=0)
    uvd = torch.rand(2, 21, 3)
    before = uvd.clone()
    out = codec.recentre_depth(uvd)
    assert torch.equal(uvd, before)  # not in place (OakInk's RLE shifted its input in place)
    assert torch.allclose(out[:, 0, 2], torch.full((2,), 0.5))
    torch.testing.assert_close(out[..., 2] - out[:, :1, 2], uvd[..., 2] - uvd[:, :1, 2])
    assert torch.equal(out[..., :2], uvd[..., :2])


@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_bin_coords(offset: float) -> None:
    coords = UVDCodec(bin_offset=offset).bin_coords(4, torch.float64)
    assert coords.tolist() == pytest.approx([(i + offset) / 4 for i in range(4)])


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ArgumentError, match="depth_range must be > 0"):
        UVDCodec(depth_range=0.0)
    with pytest.raises(ArgumentError, match=r"image_size must be \(W, H\)"):
        UVDCodec(image_size=(0, 5))
    assert UVD_DEPTH_RANGE == 0.4


@pytest.mark.parametrize("depth_range", [0.4, 0.3])
def test_transform_and_model_follow_the_one_preset_key(depth_range: float) -> None:
    """Change DATA_PRESET.UVD_DEPTH_RANGE: the dataset's targets and the model's decoding agree."""
    preset = {
        "IMAGE_SIZE": (64, 64),
        "CENTER_IDX": 9,
        "UVD_DEPTH_RANGE": depth_range,
        "ALLOW_SYNTHETIC_MANO": True,
    }
    dataset = build(
        {"TYPE": "SyntheticHands", "NUM_SAMPLES": 2, "RAW_SIZE": [96, 96]},
        DATASETS,
        data_preset=preset,
    )
    model_node = {
        "TYPE": "IntegralPose",
        "BACKBONE": {"TYPE": "resnet18"},
        "HEAD": {"HEATMAP_3D_SIZE": [8, 8, 8], "NUM_DECONV_FILTERS": [8, 8]},
    }
    model = build(model_node, MODELS, data_preset=preset)
    assert isinstance(dataset, SyntheticHands)
    assert dataset.transform.codec.depth_range == model.codec.depth_range == depth_range
    sample = dataset[0]
    decoded = model.codec.decode(
        sample["target_joints_uvd"][None].double(),
        sample["target_root_joint"][None].double(),
        sample["target_cam_intr"][None].double(),
    )
    torch.testing.assert_close(decoded[0], sample["target_joints_3d"].double(), atol=2e-5, rtol=0)
