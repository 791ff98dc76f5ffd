"""HandOccNet's FIT and SET transformers (``common/nets/transformer.py`` of the original).

Both work on (B, C, H, W) maps seen as N = H*W tokens (row-major) of C channels:

* every block adds a learnable positional embedding (``q_embedding``, ``k_embedding``, each
  (1, C, H, W)) to the query map and to the key map; values are taken from the key map WITHOUT the
  embedding; queries, keys and values are 1x1 convolutions (``encode_query/key/value``);
* multi-head attention (``num_heads`` heads, scale ``(C / heads) ** -0.5``), no output projection;
* **FIT** (``injection=True``): every softmax row is multiplied by a per-query gate
  ``sigmoid(sum over keys of Q2 K2^T * scale)`` from two more 1x1 convolutions
  (``encode_query2/key2``); there is NO residual around the attention. After the blocks the
  original key map and the result are concatenated and fused by ``conv1`` (3x3, ReLU, 3x3) +
  ``conv2`` (1x1);
* **SET** (``injection=False``): a residual around the attention;
* both: ``x = x + mlp(norm2(x))`` (LayerNorm, fc1, GELU, fc2); the key map is the same for every
  block (only the query stream is refined).

The gate's sum over keys is computed as ``Q2 . (sum of K2)`` (the same number, N times cheaper),
and the softmax attention uses ``scaled_dot_product_attention``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from handmesh.errors import ArgumentError

__all__ = ["FeatureTransformer", "Mlp", "TransformerBlock", "multi_head_attention"]


def _split_heads(tokens: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, N, C) -> (B, heads, N, C / heads)."""
    batch, num, channels = tokens.shape
    return tokens.view(batch, num, num_heads, channels // num_heads).transpose(1, 2)


def multi_head_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    num_heads: int,
    gate_query: torch.Tensor | None = None,
    gate_key: torch.Tensor | None = None,
) -> torch.Tensor:
    """HandOccNet's ``Attention``: (B, N, C) tokens -> (B, N, C), heads merged back.

    ``softmax(Q K^T * s) V`` per head with ``s = (C / heads) ** -0.5``; with ``gate_query`` and
    ``gate_key`` (FIT) each query's output is multiplied by ``sigmoid(sum_k Q2 K2_k^T * s)``.
    """
    batch, num, channels = query.shape
    q, k, v = (_split_heads(t, num_heads) for t in (query, key, value))
    out = F.scaled_dot_product_attention(q, k, v)  # scale (C / heads) ** -0.5
    if gate_query is not None and gate_key is not None:
        scale = (channels // num_heads) ** -0.5
        q2 = _split_heads(gate_query, num_heads)
        k2_sum = _split_heads(gate_key, num_heads).sum(dim=2, keepdim=True)  # (B, h, 1, d)
        gate = torch.sigmoid((q2 * k2_sum).sum(dim=-1, keepdim=True) * scale)  # (B, h, N, 1)
        out = out * gate
    return out.transpose(1, 2).reshape(batch, num, channels)


class Mlp(nn.Module):
    """fc1 (C -> hidden), GELU, fc2 (hidden -> C); the original's dropouts have p = 0."""

    def __init__(self, in_features: int, hidden_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TransformerBlock(nn.Module):
    """One FIT (``injection=True``) or SET block on (B, dim, res, res) maps.

    Args:
        dim: channels (HandOccNet: 256).
        num_heads: attention heads (4).
        mlp_ratio: MLP hidden size / dim (4).
        resolution: side of the token grid the positional embeddings are made for (32).
        injection: FIT's gated, residual-free attention instead of SET's residual attention.
    """

    def __init__(
        self,
        dim: int = 256,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        resolution: int = 32,
        injection: bool = True,
    ) -> None:
        super().__init__()
        if dim <= 0 or num_heads <= 0 or dim % num_heads:
            raise ArgumentError(
                f"TransformerBlock: dim ({dim}) must be a positive multiple of num_heads "
                f"({num_heads})"
            )
        self.dim = dim
        self.num_heads = num_heads
        self.resolution = resolution
        self.injection = injection
        self.encode_value = nn.Conv2d(dim, dim, kernel_size=1)
        self.encode_query = nn.Conv2d(dim, dim, kernel_size=1)
        self.encode_key = nn.Conv2d(dim, dim, kernel_size=1)
        if injection:
            self.encode_query2 = nn.Conv2d(dim, dim, kernel_size=1)
            self.encode_key2 = nn.Conv2d(dim, dim, kernel_size=1)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.q_embedding = nn.Parameter(torch.randn(1, dim, resolution, resolution))
        self.k_embedding = nn.Parameter(torch.randn(1, dim, resolution, resolution))

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """query, key (B, dim, res, res) -> the refined query map (B, dim, res, res)."""
        expected = (self.dim, self.resolution, self.resolution)
        for name, value in (("query", query), ("key", key)):
            if value.dim() != 4 or tuple(value.shape[1:]) != expected:
                raise ValueError(
                    f"TransformerBlock: {name} must have shape (B, {self.dim}, {self.resolution}, "
                    f"{self.resolution}) (the positional embeddings are {self.resolution}x"
                    f"{self.resolution}: HandOccNet needs 256x256 crops), got {tuple(value.shape)}"
                )
        batch = query.shape[0]

        def tokens(feature: torch.Tensor) -> torch.Tensor:
            return feature.flatten(2).transpose(1, 2)  # (B, N, C)

        query_in = query + self.q_embedding
        key_in = key + self.k_embedding
        q = tokens(self.encode_query(query_in))
        k = tokens(self.encode_key(key_in))
        v = tokens(self.encode_value(key))
        if self.injection:
            x = multi_head_attention(
                q,
                k,
                v,
                self.num_heads,
                gate_query=tokens(self.encode_query2(query_in)),
                gate_key=tokens(self.encode_key2(key_in)),
            )
        else:
            x = tokens(query) + multi_head_attention(q, k, v, self.num_heads)
        x = x + self.mlp(self.norm2(x))
        return x.transpose(1, 2).reshape(batch, self.dim, *query.shape[2:])


class FeatureTransformer(nn.Module):
    """HandOccNet's ``Transformer``: FIT with ``injection=True``, SET with ``injection=False``.

    ``forward(query, key)`` runs the ``depth`` blocks on the query stream with the fixed key map;
    FIT then fuses ``cat([key, output])`` (2*dim channels) with ``conv1`` + ``conv2``. Shapes:
    (B, dim, res, res) in and out. Arguments as :class:`TransformerBlock`, plus ``depth`` (2).
    """

    def __init__(
        self,
        dim: int = 256,
        depth: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        resolution: int = 32,
        injection: bool = True,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ArgumentError(f"FeatureTransformer: depth must be >= 1, got {depth}")
        self.injection = injection
        self.layers = nn.ModuleList(
            TransformerBlock(dim, num_heads, mlp_ratio, resolution, injection) for _ in range(depth)
        )
        if injection:
            self.conv1 = nn.Sequential(
                nn.Conv2d(2 * dim, dim, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(dim, dim, kernel_size=3, padding=1),
            )
            self.conv2 = nn.Sequential(nn.Conv2d(2 * dim, dim, kernel_size=1))

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        output = query
        for layer in self.layers:
            output = layer(output, key)
        if self.injection:
            fused = torch.cat([key, output], dim=1)
            output = self.conv1(fused) + self.conv2(fused)
        return output
