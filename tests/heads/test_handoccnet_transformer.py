"""FIT / SET transformer blocks against a plain re-computation of HandOccNet's attention."""

from __future__ import annotations

import math

import pytest
import torch

from handmesh.errors import ArgumentError
from handmesh.heads.handoccnet import FeatureTransformer, TransformerBlock


def _conv1x1(conv: torch.nn.Conv2d, tokens: torch.Tensor) -> torch.Tensor:
    """A 1x1 conv applied to (B, N, C) tokens as the matrix product it is."""
    return tokens @ conv.weight[:, :, 0, 0].T + conv.bias


def _reference_block(
    block: TransformerBlock, query: torch.Tensor, key: torch.Tensor
) -> torch.Tensor:
    """HandOccNet's Block.forward written out head by head, with the full (N, N) score matrices
    for the softmax and for the sigmoid gate (the sum over keys of Q2 K2^T)."""
    b, c, h, w = query.shape
    heads = block.num_heads
    d = c // heads
    scale = 1.0 / math.sqrt(d)

    def tokens(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(b, c, h * w).permute(0, 2, 1)

    q_in = tokens(query + block.q_embedding)
    k_in = tokens(key + block.k_embedding)
    q = _conv1x1(block.encode_query, q_in)
    k = _conv1x1(block.encode_key, k_in)
    v = _conv1x1(block.encode_value, tokens(key))
    out = torch.zeros(b, h * w, c, dtype=query.dtype)
    for head in range(heads):
        sl = slice(head * d, (head + 1) * d)
        attn = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) * scale, dim=-1)
        if block.injection:
            q2 = _conv1x1(block.encode_query2, q_in)[..., sl]
            k2 = _conv1x1(block.encode_key2, k_in)[..., sl]
            gate = torch.sigmoid((q2 @ k2.transpose(1, 2) * scale).sum(dim=-1))  # (B, N)
            attn = attn * gate[..., None]
        out[..., sl] = attn @ v[..., sl]
    x = out if block.injection else tokens(query) + out
    ln = torch.nn.functional.layer_norm(x, (c,), block.norm2.weight, block.norm2.bias, 1e-5)
    hidden = torch.nn.functional.gelu(ln @ block.mlp.fc1.weight.T + block.mlp.fc1.bias)
    x = x + hidden @ block.mlp.fc2.weight.T + block.mlp.fc2.bias
    return x.permute(0, 2, 1).reshape(b, c, h, w)


@pytest.mark.parametrize("injection", [True, False])
def test_block_matches_the_written_out_attention(injection: bool) -> None:
    torch.manual_seed(1)
    block = TransformerBlock(dim=16, num_heads=4, resolution=8, injection=injection).double()
    query = torch.randn(2, 16, 8, 8, dtype=torch.float64)
    key = torch.randn(2, 16, 8, 8, dtype=torch.float64)
    got = block(query, key)
    expected = _reference_block(block, query, key)
    assert torch.allclose(got, expected, atol=1e-10, rtol=1e-10)


def test_fit_has_no_residual_around_attention_but_set_does() -> None:
    torch.manual_seed(2)
    for injection in (True, False):
        block = TransformerBlock(dim=8, num_heads=2, resolution=4, injection=injection).double()
        with torch.no_grad():  # zero values and MLP output: the block returns its residual only
            for p in (block.encode_value.weight, block.encode_value.bias, block.mlp.fc2.weight):
                p.zero_()
            block.mlp.fc2.bias.zero_()
        query = torch.randn(1, 8, 4, 4, dtype=torch.float64)
        out = block(query, torch.randn(1, 8, 4, 4, dtype=torch.float64))
        assert torch.allclose(out, torch.zeros_like(out) if injection else query)


def test_fit_fusion_and_fixed_key_stream() -> None:
    torch.manual_seed(3)
    fit = FeatureTransformer(dim=8, depth=2, num_heads=2, resolution=4, injection=True).double()
    query = torch.randn(1, 8, 4, 4, dtype=torch.float64)
    key = torch.randn(1, 8, 4, 4, dtype=torch.float64)
    stream = fit.layers[1](fit.layers[0](query, key), key)  # both blocks see the same key
    fused = torch.cat([key, stream], dim=1)
    c1a, c1b, c2 = fit.conv1[0], fit.conv1[2], fit.conv2[0]
    conv = torch.nn.functional.conv2d
    expected = conv(
        torch.relu(conv(fused, c1a.weight, c1a.bias, padding=1)), c1b.weight, c1b.bias, padding=1
    )
    expected = expected + conv(fused, c2.weight, c2.bias)
    assert torch.allclose(fit(query, key), expected, atol=1e-12)
    set_ = FeatureTransformer(dim=8, depth=2, num_heads=2, resolution=4, injection=False)
    assert not hasattr(set_, "conv1") and not hasattr(set_.layers[0], "encode_query2")


def test_handoccnet_sizes_and_errors() -> None:
    fit = FeatureTransformer(injection=True)
    assert sum(p.numel() for p in fit.parameters()) == 4_659_968  # reference §1.3 (measured)
    assert sum(p.numel() for p in FeatureTransformer(injection=False).parameters()) == 2_495_488
    with pytest.raises(ValueError, match=r"256x256 crops"):
        fit(torch.zeros(1, 256, 16, 16), torch.zeros(1, 256, 16, 16))
    with pytest.raises(ArgumentError, match="multiple of num_heads"):
        TransformerBlock(dim=10, num_heads=4)
    with pytest.raises(ArgumentError, match="depth must be >= 1"):
        FeatureTransformer(depth=0)
