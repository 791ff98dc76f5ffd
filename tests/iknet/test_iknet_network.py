"""IKNet: the published architecture/keys, the original quaternion -> axis-angle branch, the input
normalisation."""

from __future__ import annotations

import math

import pytest
import roma
import torch

from handmesh.errors import ArgumentError
from handmesh.iknet import IKNet, iknet_quaternion_to_axis_angle, normalize_joints

# OakInk-HMR / HandTailor IKNet state dict, written out as data: Linear layers at 0, 3, ..., 18
LINEAR_SHAPES = {0: (256, 63), 3: (512, 256), 6: (1024, 512), 9: (1024, 1024),
                 12: (512, 1024), 15: (256, 512), 18: (64, 256)}  # fmt: skip
BATCHNORM_SIZES = {1: 256, 4: 512, 7: 1024, 10: 1024, 13: 512, 16: 256}


def official_key_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (out, inp) in LINEAR_SHAPES.items():
        shapes[f"invk_layers.{i}.weight"] = (out, inp)
        shapes[f"invk_layers.{i}.bias"] = (out,)
    for i, size in BATCHNORM_SIZES.items():
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"invk_layers.{i}.{name}"] = (size,)
        shapes[f"invk_layers.{i}.num_batches_tracked"] = ()
    return shapes


def test_state_dict_has_exactly_the_official_keys_and_shapes() -> None:
    state = IKNet().state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == official_key_shapes()


def test_quaternion_to_axis_angle_matches_roma_including_negative_w() -> None:
    quat = torch.nn.functional.normalize(torch.randn(2000, 4, dtype=torch.float64), dim=-1)
    quat[:500, 0] = -quat[:500, 0].abs()  # w < 0
    quat[500:1000, 0] = quat[500:1000, 0].abs()
    ours = iknet_quaternion_to_axis_angle(quat)
    expected = roma.unitquat_to_rotvec(roma.quat_wxyz_to_xyzw(quat))  # angle in [0, pi]
    torch.testing.assert_close(ours, expected, atol=1e-12, rtol=0)
    # q and -q are one rotation: same axis-angle, angle never above pi
    torch.testing.assert_close(iknet_quaternion_to_axis_angle(-quat), expected, atol=1e-12, rtol=0)
    assert ours.norm(dim=-1).max() <= math.pi + 1e-12


def test_quaternion_to_axis_angle_special_cases() -> None:
    quat = torch.tensor(
        [[1.0, 0.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.6, 0.0, -0.8]]
    )
    out = iknet_quaternion_to_axis_angle(quat)
    assert torch.equal(out[:2], torch.zeros(2, 3))  # identity either sign: zero vector, no NaN
    torch.testing.assert_close(out[2], torch.tensor([0.0, math.pi, 0.0]))  # w = 0: angle pi
    torch.testing.assert_close(out[3], torch.tensor([0.6, 0.0, -0.8]) * math.pi)


def test_forward_returns_unit_quaternions_and_their_axis_angle() -> None:
    net = IKNet().eval()
    joints = torch.randn(5, 21, 3)
    out = net(joints)
    assert out["quat"].shape == (5, 16, 4) and out["so3"].shape == (5, 48)
    torch.testing.assert_close(out["quat"].norm(dim=-1), torch.ones(5, 16))
    rotvec = roma.unitquat_to_rotvec(roma.quat_wxyz_to_xyzw(out["quat"].double()))
    torch.testing.assert_close(out["so3"].double(), rotvec.reshape(5, 48), atol=1e-5, rtol=0)


def test_normalize_joints_is_invariant_to_translation_and_scale() -> None:
    joints = torch.randn(4, 21, 3, dtype=torch.float64)
    base = normalize_joints(joints)
    moved = normalize_joints(2.5 * joints + torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))
    torch.testing.assert_close(moved.joints, base.joints)
    torch.testing.assert_close(base.root[:, 0], joints[:, 9])
    torch.testing.assert_close(base.bone[:, 0, 0], (joints[:, 0] - joints[:, 9]).norm(dim=-1))
    assert torch.equal(base.joints[:, 9], torch.zeros(4, 3, dtype=torch.float64))
    torch.testing.assert_close(base.joints[:, 0].norm(dim=-1), torch.ones(4, dtype=torch.float64))


def test_normalize_joints_rejects_a_wrong_shape() -> None:
    with pytest.raises(
        ArgumentError, match=r"joints_3d must be a \(B, 21, 3\) tensor, got \(4, 16, 3\)"
    ):
        normalize_joints(torch.zeros(4, 16, 3))
