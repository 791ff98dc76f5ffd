"""RLE (Residual Log-likelihood Estimation, Li et al. 2021) parts, as OakInk-HMR's RegressFlow3D.

* :class:`NormalizedLinear`: ``y = x Wᵀ / (‖x‖₂ + eps) + b`` (the feature is L2-normalised
  before the bias is added); state-dict names ``linear.weight`` / ``linear.bias``.
* :class:`RealNVP`: the normalising flow that models the residual density; ``log_prob`` of
  (N, dim) residuals with buffers ``loc``, ``cov``, ``mask`` and coupling nets ``t.{i}`` /
  ``s.{i}`` (``Linear(dim, 64) - LeakyReLU - Linear(64, 64) - LeakyReLU - Linear(64, dim)``).
* :func:`sigma_and_scores`: the per-joint scale sigma and its confidence score ``maxvals``.

Coupling variants (``RealNVP(variant=...)``; both load the same state dicts):

* ``"oakink"`` (default; OakInk-HMR's published RLE checkpoints were trained with it): the
  translation nets ``t`` end with a Tanh, the scale nets ``s`` do not; mask rows alternate
  ``[1, 1, 0]``, ``[0, 0, 1]``; the inverse adds 1e-8 to every coordinate at each coupling;
  NaNs in the latent and in the log-probability are replaced by 0 (``torch.nan_to_num``).
* ``"rle"``: the original RLE (Jeff-sjtu/res-loglikelihood-regression ``RegressFlow3D``): the
  scale nets ``s`` end with the Tanh (bounded log-scale), the translation nets do not; mask rows
  start with ``[0, 0, 1]``; the inverse is exact; no NaN replacement.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from handmesh.errors import ArgumentError

__all__ = [
    "FLOW_VARIANTS",
    "NormalizedLinear",
    "RealNVP",
    "make_fc_layers",
    "sigma_and_scores",
]

FLOW_VARIANTS = ("oakink", "rle")
_INVERSE_OFFSET = {"oakink": 1e-8, "rle": 0.0}  # added by the inverse coupling (OakInk only)


class NormalizedLinear(nn.Module):
    """(B, C) -> (B, out): ``x Wᵀ / (‖x‖₂ + eps) + b``, the weight xavier-uniform with gain 0.01.

    Args:
        in_features, out_features: sizes of the map.
        bias: add the bias (PyTorch's default init).
        norm: divide by the feature's L2 norm (False: a plain linear layer).
        eps: added to the norm; OakInk-HMR 1e-7 (the original RLE has none).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        norm: bool = True,
        eps: float = 1e-7,
    ) -> None:
        super().__init__()
        self.norm = bool(norm)
        self.eps = float(eps)
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        nn.init.xavier_uniform_(self.linear.weight, gain=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, in_features) -> (B, out_features)."""
        if x.dim() != 2:
            raise ValueError(f"NormalizedLinear expects (B, C) features, got {tuple(x.shape)}")
        y = x @ self.linear.weight.t()
        if self.norm:
            y = y / (torch.linalg.vector_norm(x, dim=1, keepdim=True) + self.eps)
        if self.linear.bias is not None:
            y = y + self.linear.bias
        return y


def _coupling_net(dim: int, hidden: int, tanh: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Linear(dim, hidden),
        nn.LeakyReLU(),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(),
        nn.Linear(hidden, dim),
    ]
    if tanh:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def _masks(dim: int, num_couplings: int, variant: str) -> torch.Tensor:
    """(num_couplings, dim) 0/1 rows: the coordinates each coupling keeps fixed."""
    first = torch.zeros(dim)
    first[: round(dim / 2)] = 1.0  # OakInk: the first half (rounded) is kept first
    if variant == "rle":
        first = 1.0 - first
    rows = [first if i % 2 == 0 else 1.0 - first for i in range(num_couplings)]
    return torch.stack(rows)


class RealNVP(nn.Module):
    """Affine-coupling normalising flow with a standard-normal prior (``loc``, ``cov`` buffers).

    Coupling ``i`` with mask ``m`` maps latent z to data x as
    ``x = m·z + (1 − m)·(z·exp(s_i(m·z)) + t_i(m·z))`` (s, t masked to the free coordinates);
    :meth:`inverse` runs the couplings backwards and accumulates ``log|det ∂z/∂x| = −Σ s``.

    Args:
        dim: data dimension (3 for RLE's uvd residuals).
        num_couplings: number of coupling layers (6 in RLE).
        hidden: hidden width of the coupling nets (64 in RLE).
        variant: "oakink" (default) or "rle"; see the module docstring.
    """

    loc: torch.Tensor
    cov: torch.Tensor
    mask: torch.Tensor

    def __init__(
        self, dim: int = 3, num_couplings: int = 6, hidden: int = 64, variant: str = "oakink"
    ) -> None:
        super().__init__()
        if variant not in FLOW_VARIANTS:
            raise ArgumentError(
                f"RealNVP variant must be one of {list(FLOW_VARIANTS)}, got {variant!r}"
            )
        if dim < 2 or num_couplings < 1:
            raise ArgumentError(
                f"RealNVP needs dim >= 2 and num_couplings >= 1, got dim={dim}, "
                f"num_couplings={num_couplings}"
            )
        self.dim = int(dim)
        self.variant = variant
        self.register_buffer("loc", torch.zeros(dim))
        self.register_buffer("cov", torch.eye(dim))
        self.register_buffer("mask", _masks(dim, num_couplings, variant))
        tanh_on_t = variant == "oakink"
        self.t = nn.ModuleList(
            _coupling_net(dim, hidden, tanh=tanh_on_t) for _ in range(num_couplings)
        )
        self.s = nn.ModuleList(
            _coupling_net(dim, hidden, tanh=not tanh_on_t) for _ in range(num_couplings)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """RLE's init: every Linear weight xavier-uniform with gain 0.01 (biases: PyTorch's)."""
        for net in (*self.t, *self.s):
            for module in net.modules():
                if isinstance(module, nn.Linear):
                    nn.init.xavier_uniform_(module.weight, gain=0.01)

    def _scale_shift(self, i: int, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        free = 1.0 - self.mask[i]
        return self.s[i](kept) * free, self.t[i](kept) * free

    def sample_transform(self, z: torch.Tensor) -> torch.Tensor:
        """Latent (N, dim) -> data (N, dim): the couplings in order 0..n-1 (RLE's ``forward_p``)."""
        x = z
        for i in range(len(self.t)):
            kept = x * self.mask[i]
            s, t = self._scale_shift(i, kept)
            x = kept + (1.0 - self.mask[i]) * (x * torch.exp(s) + t)
        return x

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data (N, dim) -> (latent (N, dim), log|det ∂z/∂x| (N,)); RLE's ``backward_p``."""
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"RealNVP expects (N, {self.dim}) inputs, got {tuple(x.shape)}")
        offset = _INVERSE_OFFSET[self.variant]
        z = x
        log_det = x.new_zeros(x.shape[0])
        for i in reversed(range(len(self.t))):
            kept = self.mask[i] * z
            s, t = self._scale_shift(i, kept)
            z = (1.0 - self.mask[i]) * (z - t) * torch.exp(-s) + kept
            if offset:
                z = z + offset
            log_det = log_det - s.sum(dim=1)
        return z, log_det

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """(N, dim) -> (N,) log-density of x under the flow: prior log-prob of z + log-det."""
        z, log_det = self.inverse(x)
        if self.variant == "oakink":
            z = torch.nan_to_num(z)
        prior = torch.distributions.MultivariateNormal(self.loc, self.cov)
        result = prior.log_prob(z) + log_det
        if self.variant == "oakink":
            result = torch.nan_to_num(result)
        return result

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`log_prob`."""
        return self.log_prob(x)


def make_fc_layers(in_channels: int, fc_dims: Sequence[int]) -> tuple[nn.Sequential, int]:
    """RLE's optional hidden FC stack (``NUM_FC_FILTERS``) -> (module ``fcs``, output channels).

    A positive entry adds ``Linear + BatchNorm1d + ReLU`` (xavier gain 0.01 weights); a
    non-positive one adds an ``nn.Identity`` (OakInk's ``[-1]``: no hidden layer, no keys).
    """
    layers: list[nn.Module] = []
    channels = int(in_channels)
    for width in fc_dims:
        width = int(width)
        if width > 0:
            linear = nn.Linear(channels, width)
            nn.init.xavier_uniform_(linear.weight, gain=0.01)
            layers += [linear, nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
            channels = width
        else:
            layers.append(nn.Identity())
    return nn.Sequential(*layers), channels


def sigma_and_scores(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``fc_sigma`` output (B, J, 3) -> (sigma = sigmoid + 1e-7 (B, J, 3), maxvals (B, J, 1)).

    ``maxvals`` is the mean over the three axes of ``1 - sigma`` (RLE's confidence score).
    """
    sigma = torch.sigmoid(logits) + 1e-7
    return sigma, (1.0 - sigma).mean(dim=-1, keepdim=True)
