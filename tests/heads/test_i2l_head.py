"""I2L-MeshNet parts: 1-D soft-argmax, lixel heads, Gaussian heatmaps and Pose2Feat, the joint
regressor, the MANO buffers, init, and the published key layout."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from handmesh.backbones.resnet import ResNet
from handmesh.errors import ArgumentError
from handmesh.heads.i2l import (
    LixelHead,
    ManotorchBuffers,
    ParamRegressor,
    Pose2Feat,
    init_i2l_weights_,
    joint_regressor_with_tips,
    soft_argmax_1d,
)
from handmesh.mano import JOINT_NAMES, MANO_JOINT_NAMES, load_mano_model
from tests.heads.oakink_reference import fill_deterministic_, layout, published_layout, sine

# Outputs of the originals (oib/external/i2l_meshnet/module.py PoseNet(21, [8, 16, 16]) and
# Pose2Feat(21, [8, 16, 16]) with I2L_MeshNet.make_gaussian_heatmap, sigma 2.5), weights from
# fill_deterministic_, eval mode, float64, on the inputs of the tests below.
ORIGINAL_POSENET = [
    7.5000034165,
    7.50098359556,
    3.54528340031,
    7.49997294407,
    7.50067965794,
    3.52008899105,
    7.4999483929,
    7.500226786,
    3.49056670435,
    7.49993513616,
    7.49972425617,
    3.46270841751,
    7.49993607584,
    7.49928224153,
    3.44265554883,
    7.49995100727,
    7.49899754831,
    3.43529952363,
    7.4999766631,
    7.49893237865,
    3.44289965653,
    7.50000742774,
    7.499100808,
    3.46410100422,
    7.50003656659,
    7.49946586048,
    3.4938886446,
    7.50005770079,
    7.49994769339,
    3.52491873083,
    7.50006620423,
    7.50044102366,
    3.54986997121,
    7.50006021636,
    7.50083802324,
    3.56357989936,
    7.50004104884,
    7.50105179493,
    3.56389648596,
    7.5000128976,
    7.50103539423,
    3.55134044952,
    7.49998192398,
    7.50079223225,
    3.52849974843,
    7.49995490642,
    7.50037547696,
    3.49970393531,
    7.4999377577,
    7.49987646148,
    3.47066665685,
    7.49993423139,
    7.49940459871,
    3.44762292056,
    7.49994510021,
    7.49906327672,
    3.43600060365,
    7.49996798618,
    7.49892714056,
    3.43899481121,
    7.49999788028,
    7.49902580637,
    3.45641540387,
    7.5000577197,
    7.50065492417,
    3.60916578146,
    7.50003995206,
    7.50042999582,
    3.57390907364,
    7.50001343959,
    7.50011072504,
    3.52372538087,
    7.49998398483,
    7.49976712762,
    3.46895234599,
    7.49995803501,
    7.49947465703,
    3.4204983438,
    7.49994127065,
    7.49929748449,
    3.38831894647,
    7.49993736173,
    7.49927432451,
    3.37980532156,
    7.49994716386,
    7.49941001491,
    3.39792000093,
    7.49996853102,
    7.49967464946,
    3.43962783442,
    7.49999678568,
    7.50001029444,
    3.49573997784,
    7.50002574325,
    7.500343678,
    3.55296802583,
    7.5000490659,
    7.50060206756,
    3.59772213473,
    7.50006164952,
    7.50072899246,
    3.61998692764,
    7.50006074026,
    7.50069653352,
    3.6156398556,
    7.50004653695,
    7.50051154799,
    3.58670074748,
    7.50002214772,
    7.50021437341,
    3.54005265514,
    7.49999291028,
    7.4998701244,
    3.48551999866,
    7.49996522404,
    7.49955438305,
    3.4340053193,
    7.49994514952,
    7.49933646244,
    3.39591459043,
    7.49993708129,
    7.49926406667,
    3.37961203146,
    7.49994278556,
    7.49935284467,
    3.38961298057,
]
ORIGINAL_POSE2FEAT_SUM = 39505.3364736

ORIGINAL_POSE2FEAT_SELECTION = [
    0,
    0,
    0,
    1.34190027448,
    2.9647246336,
    3.30347396692,
    3.18838884768,
    4.56494565531,
    4.51101487222,
    0.460776169534,
    0,
    0,
    1.53079082734,
    1.39792784456,
    1.12341497812,
    0,
    0,
    0,
    0,
    0,
    0,
    0.573506011821,
    1.61891311381,
    1.79131624023,
    0,
    0,
    0.22792698616,
    2.24650524806,
    3.4094461435,
    3.45002239793,
    1.83080179393,
    1.92854413215,
    1.72722308062,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    1.82133728013,
    3.09536002455,
    3.08005880716,
    1.14906016811,
    2.49593211278,
    2.76748116473,
    2.75528381808,
    3.32673594333,
    3.06058916723,
    0.0903881118262,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0.227680406084,
    0.601243254004,
    2.35310038008,
    4.15701037075,
    4.25215019619,
    1.82617069412,
    1.91607331862,
    1.54613944382,
    2.23876815585,
    2.90521381359,
    2.74689036976,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0.0493706869599,
    0,
    0,
    0,
    1.29681579076,
    2.61968894562,
    2.7607008226,
    2.37985694476,
    3.2829677134,
    3.11017209388,
    0.0306811123815,
    0,
    0,
    0.989192323726,
    0.652159805643,
    0.406377296819,
    0,
    0,
    0,
    0,
    0,
    0,
    0.787536909949,
    1.99800916895,
    2.26975284152,
    0,
    0.594627622025,
    0.862192386731,
    3.04155642126,
    4.59657731079,
    4.48660022882,
    1.9841202973,
    1.87660311345,
    1.45070897077,
    0,
    0,
    0,
]


def test_soft_argmax_1d_is_the_expected_bin_of_the_softmax() -> None:
    logits = sine(2, 3, 7, freq=0.9, phase=0.3, amp=3.0)
    expected = torch.zeros(2, 3, 1, dtype=torch.float64)
    for b in range(2):
        for n in range(3):
            weights = [math.exp(float(v)) for v in logits[b, n]]
            expected[b, n, 0] = sum(i * w for i, w in enumerate(weights)) / sum(weights)
    torch.testing.assert_close(soft_argmax_1d(logits), expected, rtol=1e-12, atol=1e-12)
    peaked = torch.full((1, 1, 64), -1e4, dtype=torch.float64)
    peaked[0, 0, 37] = 0.0
    assert float(soft_argmax_1d(peaked)) == pytest.approx(37.0)  # bins count from 0, no offset


def test_lixel_head_matches_the_original_posenet() -> None:
    head = LixelHead(num_points=21, depth_bins=8).double()
    fill_deterministic_(head)
    head.eval()
    out = head(sine(2, 2048, 2, 2, freq=0.011, phase=0.4, amp=40.0))
    assert out.shape == (2, 21, 3)
    expected = torch.tensor(ORIGINAL_POSENET, dtype=torch.float64).view(2, 21, 3)
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9)


def test_lixel_head_reads_x_from_columns_y_from_rows_z_from_the_pooled_feature() -> None:
    head = LixelHead(num_points=1, depth_bins=8, in_channels=4, channels=4, num_deconv=0).double()
    head.eval()
    feature = torch.zeros(1, 4, 6, 10, dtype=torch.float64)
    feature[0, 0, :, 7] = 1.0  # a column at x = 7 in channel 0
    feature[0, 1, 2, :] = 1.0  # a row at y = 2 in channel 1
    with torch.no_grad():
        for conv, channel in ((head.conv_x[0], 0), (head.conv_y[0], 1)):
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[0, channel, 0] = 200.0
        # z: conv_z_1 gives channel c, bin d at index c * 8 + d; light up (c=3, d=5)
        head.conv_z_1[0].weight.zero_()
        head.conv_z_1[0].bias.zero_()
        head.conv_z_1[0].bias[3 * 8 + 5] = 1.0
        head.conv_z_2[0].weight.zero_()
        head.conv_z_2[0].bias.zero_()
        head.conv_z_2[0].weight[0, 3, 0] = 200.0
    coords = head(feature)[0, 0]
    torch.testing.assert_close(coords, torch.tensor([7.0, 2.0, 5.0], dtype=torch.float64))


def test_gaussian_heatmap_matches_a_loop() -> None:
    p2f = Pose2Feat(num_joints=2, heatmap_shape=(4, 5, 6), sigma=1.5, feat_channels=3)
    joints = torch.tensor([[[1.2, 3.7, 0.4], [5.5, -0.5, 3.0]]], dtype=torch.float64)
    heatmap = p2f.heatmap(joints)
    assert heatmap.shape == (1, 2, 4, 5, 6)
    for j in range(2):
        x, y, z = (float(v) for v in joints[0, j])
        for d in range(4):
            for h in range(5):
                for w in range(6):
                    dist2 = ((w - x) ** 2 + (h - y) ** 2 + (d - z) ** 2) / 1.5**2
                    assert abs(float(heatmap[0, j, d, h, w]) - math.exp(-dist2 / 2)) < 1e-12


def _dense_pose2feat(p2f: Pose2Feat, feature: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    """The original's computation: the explicit (B, J*D, H, W) heatmap concatenated, then conv."""
    batch = feature.shape[0]
    heatmap = p2f.heatmap(joints).reshape(batch, -1, *p2f.heatmap_shape[1:])
    conv = p2f.conv[0]
    out = F.conv2d(torch.cat((feature, heatmap), dim=1), conv.weight, conv.bias, padding=1)
    return p2f.conv[2](p2f.conv[1](out))


@pytest.mark.parametrize("train", [False, True])
def test_pose2feat_equals_the_dense_convolution_and_its_weight_gradient(train: bool) -> None:
    p2f = Pose2Feat(num_joints=3, heatmap_shape=(5, 8, 7), sigma=2.5, feat_channels=4).double()
    nn.init.normal_(p2f.conv[0].weight, std=0.05)
    p2f.train(train)
    feature = torch.randn(2, 4, 8, 7, dtype=torch.float64)
    # joints inside, on the border and outside the map (the zero padding matters there)
    joints = torch.tensor(
        [
            [[0.0, 0.0, 0.0], [6.0, 7.0, 4.0], [3.3, 2.1, 1.7]],
            [[-1.0, 8.5, 2.0], [3, 4, 5], [1, 1, 1]],
        ],
        dtype=torch.float64,
        requires_grad=True,
    )
    fast = p2f(feature, joints)
    (grad_fast,) = torch.autograd.grad((fast * torch.cos(fast)).sum(), p2f.conv[0].weight)
    dense = _dense_pose2feat(p2f, feature, joints.detach())
    (grad_dense,) = torch.autograd.grad((dense * torch.cos(dense)).sum(), p2f.conv[0].weight)
    torch.testing.assert_close(fast, dense, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(grad_fast, grad_dense, rtol=1e-10, atol=1e-10)
    again = p2f(feature, joints).sum()  # the heatmaps are built from detached joints
    assert torch.autograd.grad(again, joints, allow_unused=True) == (None,)


def test_pose2feat_matches_the_original() -> None:
    p2f = Pose2Feat(num_joints=21, heatmap_shape=(8, 16, 16), sigma=2.5).double()
    fill_deterministic_(p2f)
    p2f.eval()
    bins = torch.tensor([16.0, 16.0, 8.0], dtype=torch.float64)
    joints = (sine(2, 21, 3, freq=0.77, amp=0.5) + 0.5) * bins
    with torch.no_grad():
        out = p2f(sine(2, 64, 16, 16, freq=0.013, phase=0.9), joints)
    assert float(out.sum()) == pytest.approx(ORIGINAL_POSE2FEAT_SUM, rel=1e-10)
    expected = torch.tensor(ORIGINAL_POSE2FEAT_SELECTION, dtype=torch.float64)
    torch.testing.assert_close(out[:, ::13, ::5, ::7].flatten(), expected, rtol=1e-9, atol=1e-9)


def test_pose2feat_refuses_a_feature_of_the_wrong_size() -> None:
    p2f = Pose2Feat(heatmap_shape=(64, 64, 64))
    with pytest.raises(ValueError, match=r"early feature \(B, 64, 64, 64\)"):
        p2f(torch.zeros(1, 64, 32, 32), torch.zeros(1, 21, 3))
    with pytest.raises(ArgumentError, match="heatmap_shape"):
        Pose2Feat(heatmap_shape=(64, 64))


@pytest.mark.parametrize(("fingertips", "middle_tip"), [("i2l", 445), ("manopth", 444)])
def test_joint_regressor_rows_by_joint_name(fingertips: str, middle_tip: int) -> None:
    native = np.random.default_rng(0).random((16, 778))
    regressor = joint_regressor_with_tips(native, fingertips=fingertips)
    assert regressor.shape == (21, 778) and regressor.dtype == torch.float32
    tips = {"thumb4": 745, "index4": 317, "middle4": middle_tip, "ring4": 556, "pinky4": 673}
    for row, name in enumerate(JOINT_NAMES):
        if name in tips:
            expected = np.zeros(778)
            expected[tips[name]] = 1.0
        else:
            expected = native[MANO_JOINT_NAMES.index(name)]
        np.testing.assert_allclose(regressor[row].numpy(), expected, rtol=1e-6)
    with pytest.raises(ArgumentError, match="fingertips must be one of"):
        joint_regressor_with_tips(native, fingertips="445")


def test_manotorch_buffers_hold_the_mano_arrays() -> None:
    mano = load_mano_model(None, "right", allow_synthetic=True)
    buffers = ManotorchBuffers(mano)
    state = buffers.state_dict()
    assert list(state) == [
        "th_betas",
        "th_shapedirs",
        "th_posedirs",
        "th_v_template",
        "th_J_regressor",
        "th_weights",
        "th_faces",
        "th_hands_mean",
    ]
    assert torch.equal(state["th_betas"], torch.zeros(1, 10))
    np.testing.assert_allclose(state["th_v_template"][0].numpy(), mano.v_template, rtol=1e-6)
    np.testing.assert_array_equal(state["th_faces"].numpy(), mano.faces)
    assert state["th_faces"].dtype == torch.int64
    np.testing.assert_allclose(state["th_hands_mean"][0].numpy(), mano.hands_mean, rtol=1e-6)
    flat = ManotorchBuffers(mano, flat_hand_mean=True)
    assert torch.equal(flat.th_hands_mean, torch.zeros(1, 45))


def test_i2l_init_touches_only_the_layers_the_original_initialises() -> None:
    head = LixelHead(num_points=21, depth_bins=8, in_channels=64, channels=32)
    conv1d_before = head.conv_x[0].weight.clone()
    init_i2l_weights_(head)
    assert torch.equal(head.conv_x[0].weight, conv1d_before)  # Conv1d keeps PyTorch's init
    deconv = head.deconv[0].weight.detach()
    assert 0.0008 < float(deconv.std()) < 0.0012
    assert torch.equal(head.deconv[1].weight, torch.ones(32))
    p2f = Pose2Feat(num_joints=2, heatmap_shape=(4, 8, 8), feat_channels=4)
    init_i2l_weights_(p2f)
    assert torch.equal(p2f.conv[0].bias, torch.zeros(4))
    regressor = ParamRegressor()
    init_i2l_weights_(regressor)
    assert 0.009 < float(regressor.fc[0].weight.detach().std()) < 0.011
    assert torch.equal(regressor.fc_pose[0].bias, torch.zeros(96))
    regressor.eval()
    pose, shape = regressor(torch.randn(3, 21, 3))
    assert pose.shape == (3, 96) and shape.shape == (3, 10)


def test_parts_assemble_the_published_i2l_meshnet_layout() -> None:
    mano = load_mano_model(None, "right", allow_synthetic=True)
    with torch.device("meta"):
        model = nn.Module()
        model.pose_backbone = ResNet(depth=50, frozen_bn="none")
        model.pose_net = LixelHead(num_points=21)
        model.pose2feat = Pose2Feat()
        model.mesh_backbone = ResNet(depth=50, frozen_bn="none")
        model.mesh_net = LixelHead(num_points=778)
        model.param_regressor = ParamRegressor()
        model.human_model_layer = ManotorchBuffers(mano)
    expected = published_layout("I2L_MeshNet")
    assert len(expected) == 731
    assert layout(model) == expected
