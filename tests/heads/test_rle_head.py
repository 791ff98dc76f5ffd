"""RLE parts: normalised linear, RealNVP (both variants), sigma, the published key layout."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from handmesh.backbones.resnet import ResNet
from handmesh.errors import ArgumentError
from handmesh.heads.rle import NormalizedLinear, RealNVP, make_fc_layers, sigma_and_scores
from tests.heads.oakink_reference import fill_deterministic_, layout, published_layout, sine

# log_prob of sine(5, 3, freq=0.9, phase=0.2, amp=1.5) under a RealNVP(3) filled by
# fill_deterministic_, computed by the originals: OakInk-HMR oib/models/layers/real_nvp.py and
# Jeff-sjtu/res-loglikelihood-regression (RealNVP(nets3d, nett3d, masks3d [[0,0,1],[1,1,0]]*3)).
ORIGINAL_LOG_PROB = {
    "oakink": [-4.15302622167, -5.32494140013, -4.00022319579, -4.88711193422, -6.09093928727],
    "rle": [-6.95769847263, -5.52235666837, -3.22385931328, -5.2128924807, -6.50826231327],
}


def test_normalized_linear_divides_by_the_feature_norm_before_the_bias() -> None:
    layer = NormalizedLinear(4, 3).double()
    x = torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.0, 0.0, 2.0, 0.0]], dtype=torch.float64)
    weight, bias = layer.linear.weight.detach(), layer.linear.bias.detach()
    expected = torch.zeros(2, 3, dtype=torch.float64)
    for b in range(2):
        norm = math.sqrt(sum(float(v) ** 2 for v in x[b]))
        for k in range(3):
            dot = sum(float(x[b, i]) * float(weight[k, i]) for i in range(4))
            expected[b, k] = dot / (norm + 1e-7) + float(bias[k])
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)
    plain = NormalizedLinear(4, 3, norm=False).double()
    plain.load_state_dict(layer.state_dict())
    torch.testing.assert_close(plain(x), x @ weight.T + bias)
    assert sorted(layer.state_dict()) == ["linear.bias", "linear.weight"]


def test_normalized_linear_init_is_xavier_uniform_with_gain_001() -> None:
    layer = NormalizedLinear(2048, 63)
    bound = 0.01 * math.sqrt(6.0 / (2048 + 63))
    assert layer.linear.weight.abs().max() <= bound
    assert layer.linear.weight.abs().max() > 0.9 * bound  # spread over the whole interval
    with pytest.raises(ValueError, match=r"\(B, C\) features"):
        layer(torch.zeros(2, 3, 2048))


def test_flow_variants_assign_tanh_and_masks_as_documented() -> None:
    oakink, rle = RealNVP(variant="oakink"), RealNVP(variant="rle")
    assert oakink.mask.tolist() == [[1, 1, 0], [0, 0, 1]] * 3
    assert rle.mask.tolist() == [[0, 0, 1], [1, 1, 0]] * 3
    assert all(isinstance(net[-1], nn.Tanh) for net in oakink.t)
    assert not any(isinstance(net[-1], nn.Tanh) for net in oakink.s)
    assert all(isinstance(net[-1], nn.Tanh) for net in rle.s)
    assert not any(isinstance(net[-1], nn.Tanh) for net in rle.t)
    assert list(oakink.state_dict()) == list(rle.state_dict())  # one checkpoint layout
    assert torch.equal(oakink.loc, torch.zeros(3)) and torch.equal(oakink.cov, torch.eye(3))
    with pytest.raises(ArgumentError, match="variant must be one of"):
        RealNVP(variant="swapped")


@pytest.mark.parametrize("variant", ["oakink", "rle"])
def test_flow_log_prob_matches_the_original_implementations(variant: str) -> None:
    flow = RealNVP(variant=variant).double()
    fill_deterministic_(flow)
    x = sine(5, 3, freq=0.9, phase=0.2, amp=1.5)
    expected = torch.tensor(ORIGINAL_LOG_PROB[variant], dtype=torch.float64)
    torch.testing.assert_close(flow.log_prob(x), expected, rtol=1e-9, atol=1e-9)


def _random_flow(variant: str) -> RealNVP:
    flow = RealNVP(variant=variant).double()
    with torch.no_grad():
        for p in flow.parameters():
            p.normal_(0.0, 0.15)
    return flow


@pytest.mark.parametrize("variant", ["oakink", "rle"])
def test_flow_inverse_undoes_the_sampling_transform(variant: str) -> None:
    flow = _random_flow(variant)
    z = torch.randn(16, 3, dtype=torch.float64)
    x = flow.sample_transform(z)
    assert (x - z).abs().max() > 0.1  # the flow is not near the identity
    z_back, _ = flow.inverse(x)
    # OakInk adds 1e-8 per coupling in the inverse: six couplings stay within 1e-6
    tol = 1e-6 if variant == "oakink" else 1e-10
    torch.testing.assert_close(z_back, z, rtol=0, atol=tol)


@pytest.mark.parametrize("variant", ["oakink", "rle"])
def test_flow_log_det_and_log_prob_follow_the_change_of_variables(variant: str) -> None:
    flow = _random_flow(variant)
    z = torch.randn(6, 3, dtype=torch.float64)
    x = flow.sample_transform(z)
    _, log_det = flow.inverse(x)
    log_prob = flow.log_prob(x).detach()
    for n in range(6):
        jac_inverse = torch.autograd.functional.jacobian(
            lambda p: flow.inverse(p[None])[0][0], x[n]
        )
        jac_forward = torch.autograd.functional.jacobian(
            lambda p: flow.sample_transform(p[None])[0], z[n]
        )
        log_det_inverse = torch.linalg.slogdet(jac_inverse)[1]
        torch.testing.assert_close(log_det[n], log_det_inverse, rtol=1e-9, atol=1e-9)
        # p_x(x) = N(z; 0, I) / |det dx/dz|
        log_normal = -0.5 * float(z[n] @ z[n]) - 1.5 * math.log(2 * math.pi)
        expected = log_normal - float(torch.linalg.slogdet(jac_forward)[1])
        assert abs(float(log_prob[n]) - expected) < 1e-6


def test_flow_oakink_inverse_offset_and_nan_handling() -> None:
    flows = {variant: RealNVP(variant=variant).double() for variant in ("oakink", "rle")}
    for flow in flows.values():
        for net in (*flow.t, *flow.s):
            nn.init.zeros_(net[4].weight)
            nn.init.zeros_(net[4].bias)  # s = t = 0: every coupling is the identity
    x = torch.tensor([[0.3, -1.2, 2.0], [float("nan"), 0.0, 0.0]], dtype=torch.float64)
    z, log_det = (t.detach() for t in flows["oakink"].inverse(x[:1]))
    torch.testing.assert_close(z, x[:1] + 6e-8, rtol=0, atol=1e-15)  # + 1e-8 per coupling
    assert float(log_det) == 0.0
    z, _ = flows["rle"].inverse(x[:1])
    assert torch.equal(z, x[:1])
    oakink_log_prob = flows["oakink"].log_prob(x).detach()
    assert float(oakink_log_prob[1]) == 0.0  # NaNs become 0 in OakInk's flow
    with pytest.raises(ValueError, match="support"):  # the prior refuses them in the original RLE
        flows["rle"].log_prob(x)
    closed_form = -0.5 * float((x[0] + 6e-8) @ (x[0] + 6e-8)) - 1.5 * math.log(2 * math.pi)
    assert abs(float(oakink_log_prob[0]) - closed_form) < 1e-12


def test_flow_init_is_xavier_gain_001_on_every_linear() -> None:
    flow = RealNVP()
    for net in (*flow.t, *flow.s):
        for layer in (net[0], net[2], net[4]):
            fan_in, fan_out = layer.weight.shape[1], layer.weight.shape[0]
            assert layer.weight.abs().max() <= 0.01 * math.sqrt(6.0 / (fan_in + fan_out))


def test_sigma_and_scores() -> None:
    logits = torch.tensor([[[0.0, 2.0, -1.0]]], dtype=torch.float64)
    sigma, scores = sigma_and_scores(logits)
    expected = [1.0 / (1.0 + math.exp(-v)) + 1e-7 for v in (0.0, 2.0, -1.0)]
    torch.testing.assert_close(sigma[0, 0], torch.tensor(expected, dtype=torch.float64))
    assert scores.shape == (1, 1, 1)
    assert abs(float(scores) - sum(1.0 - s for s in expected) / 3) < 1e-12


def test_fc_layers_identity_for_minus_one_and_linear_bn_relu_otherwise() -> None:
    fcs, channels = make_fc_layers(2048, [-1])
    assert channels == 2048 and len(fcs.state_dict()) == 0
    x = torch.randn(2, 2048)
    assert torch.equal(fcs(x), x)
    fcs, channels = make_fc_layers(8, [16, 4])
    assert channels == 4
    kinds = [type(m) for m in fcs]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU] * 2


def test_parts_assemble_the_published_regress_flow_3d_layout() -> None:
    """preact (ResNet-50, OakInk mixed frozen BN) + avg_pool + fcs + fc_coord + fc_sigma + flow3d."""
    with torch.device("meta"):
        model = nn.Module()
        model.preact = ResNet(depth=50, frozen_bn="oakink")
        model.avg_pool = nn.AdaptiveAvgPool2d(1)
        model.fcs, channels = make_fc_layers(2048, [-1])
        model.fc_coord = NormalizedLinear(channels, 63)
        model.fc_sigma = nn.Linear(channels, 63)
        model.flow3d = RealNVP()
    expected = published_layout("RegressFlow3D")
    assert len(expected) == 380
    assert layout(model) == expected
