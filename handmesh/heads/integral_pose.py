"""IntegralPose 3D-heatmap head (OakInk-HMR ``IntegralDeconvHead``, Sun et al. 2018).

Deconvolutions upsample the backbone feature, a 1x1 conv gives ``N_CLASSES * D`` channels viewed
as per-joint (D, H, W) heatmaps, which are normalised (sigmoid then divided by their sum, or a
global softmax) and integrated by marginal soft-argmax into normalised ``uvd`` in [0, 1).

Integral coordinates: OakInk-HMR weights bin ``i`` of ``N`` with ``i / N`` (``integral_offset=0``,
the default, needed to reproduce its checkpoints and numbers); that is half a bin short of the bin
centre. ``integral_offset=0.5`` uses ``(i + 0.5) / N``, the unbiased centre.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from handmesh.config.errors import ConfigError
from handmesh.registry import HEADS, check_keys

NORM_TYPES = ("sigmoid", "softmax")
# kernel size -> (padding, output_padding) giving an exact x2 upsampling with stride 2
_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


def normalize_heatmap(logits: torch.Tensor, norm_type: str) -> torch.Tensor:
    """(B, J, K) logits -> (B, J, K) probabilities summing to 1 over K.

    "sigmoid": sigmoid, then divided by the sum (+1e-7) as OakInk-HMR; "softmax": softmax over K.
    """
    if norm_type == "sigmoid":
        probs = logits.sigmoid()
        return probs / (probs.sum(dim=-1, keepdim=True) + 1e-7)
    if norm_type == "softmax":
        return logits.softmax(dim=-1)
    raise ConfigError(f"norm_type {norm_type!r}: expected one of {', '.join(NORM_TYPES)}")


def integrate_heatmap3d(heatmap: torch.Tensor, offset: float = 0.0) -> torch.Tensor:
    """Marginal soft-argmax: (B, J, D, H, W) probabilities -> (B, J, 3) normalised (u, v, d).

    Bin ``i`` of an axis with ``N`` bins has coordinate ``(i + offset) / N``.
    """
    if heatmap.dim() != 5:
        raise ValueError(f"heatmap: expected shape (B, J, D, H, W), got {tuple(heatmap.shape)}")
    coords = []
    for axis, summed in ((4, (2, 3)), (3, (2, 4)), (2, (3, 4))):  # u (W), v (H), d (D)
        size = heatmap.shape[axis]
        marginal = heatmap.sum(dim=summed)  # (B, J, size)
        weights = (torch.arange(size, dtype=heatmap.dtype, device=heatmap.device) + offset) / size
        coords.append((marginal * weights).sum(dim=-1))
    return torch.stack(coords, dim=-1)


@HEADS.register()
class IntegralDeconvHead(nn.Module):
    """Backbone feature (B, C, h, w) -> ``uvd`` (B, J, 3) in [0, 1) and ``uvd_confi`` (B, J).

    Module names (``deconv_layers.*``, ``final_layer.*``) match OakInk-HMR's state dict.
    ``heatmap_3d_size`` is (W, H, D); the deconvolved feature must be W x H (e.g. 7 -> 28).
    """

    def __init__(
        self,
        input_channel: int = 2048,
        n_classes: int = 21,
        heatmap_3d_size: Sequence[int] = (28, 28, 28),
        num_deconv_filters: Sequence[int] = (256, 256),
        num_deconv_kernels: Sequence[int] = (4, 4),
        deconv_with_bias: bool = False,
        final_conv_kernel: int = 1,
        norm_type: str = "sigmoid",
        integral_offset: float = 0.0,
    ) -> None:
        super().__init__()
        if len(num_deconv_filters) != len(num_deconv_kernels):
            raise ConfigError(
                f"num_deconv_filters {list(num_deconv_filters)} and num_deconv_kernels "
                f"{list(num_deconv_kernels)} must have the same length"
            )
        if norm_type not in NORM_TYPES:
            raise ConfigError(
                f"MODEL.HEAD.NORM_TYPE {norm_type!r}: expected one of {', '.join(NORM_TYPES)}"
            )
        if final_conv_kernel not in (1, 3):
            raise ConfigError(f"MODEL.HEAD.FINAL_CONV_KERNEL {final_conv_kernel}: expected 1 or 3")
        self.n_classes = int(n_classes)
        self.width, self.height, self.depth = (int(s) for s in heatmap_3d_size)
        self.norm_type = norm_type
        self.integral_offset = float(integral_offset)
        self.deconv_layers = self._make_deconv_layers(
            input_channel, num_deconv_filters, num_deconv_kernels, deconv_with_bias
        )
        last = num_deconv_filters[-1] if len(num_deconv_filters) else input_channel
        self.final_layer = nn.Conv2d(
            last,
            self.n_classes * self.depth,
            kernel_size=final_conv_kernel,
            padding=final_conv_kernel // 2,
        )
        self._init_weights()

    @staticmethod
    def _make_deconv_layers(
        in_channels: int, filters: Sequence[int], kernels: Sequence[int], bias: bool
    ) -> nn.Sequential:
        layers: list[nn.Module] = []
        for planes, kernel in zip(filters, kernels):
            if kernel not in _DECONV_PADDING:
                raise ConfigError(
                    f"MODEL.HEAD.NUM_DECONV_KERNELS entry {kernel}: expected 2, 3 or 4"
                )
            padding, output_padding = _DECONV_PADDING[kernel]
            layers += [
                nn.ConvTranspose2d(
                    in_channels,
                    planes,
                    kernel,
                    stride=2,
                    padding=padding,
                    output_padding=output_padding,
                    bias=bias,
                ),
                nn.BatchNorm2d(planes),
                nn.ReLU(inplace=True),
            ]
            in_channels = planes
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        for module in self.deconv_layers.modules():
            if isinstance(module, nn.ConvTranspose2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.kaiming_normal_(self.final_layer.weight, mode="fan_out", nonlinearity="relu")
        if self.final_layer.bias is not None:
            nn.init.zeros_(self.final_layer.bias)

    def forward(self, feature: torch.Tensor) -> dict[str, torch.Tensor]:
        """feature (B, C, h, w) -> {"uvd": (B, J, 3), "uvd_confi": (B, J)}."""
        x = self.final_layer(self.deconv_layers(feature))
        batch = x.shape[0]
        if x.shape[1:] != (self.n_classes * self.depth, self.height, self.width):
            raise ValueError(
                f"IntegralDeconvHead: the deconvolved feature is {tuple(x.shape[1:])}, expected "
                f"({self.n_classes * self.depth}, {self.height}, {self.width}); check "
                "HEAD.HEATMAP_3D_SIZE against the image size and the number of deconv layers"
            )
        logits = x.reshape(batch, self.n_classes, -1)
        probs = normalize_heatmap(logits, self.norm_type)
        # the peak activation: sigmoid is monotonic, so max(sigmoid(x)) = sigmoid(max(x))
        peak = logits.amax(dim=-1)
        confidence = peak.sigmoid() if self.norm_type == "sigmoid" else probs.amax(dim=-1)
        heatmap = probs.view(batch, self.n_classes, self.depth, self.height, self.width)
        return {"uvd": integrate_heatmap3d(heatmap, self.integral_offset), "uvd_confi": confidence}

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], **extra: Any) -> IntegralDeconvHead:
        """From the published ``MODEL.HEAD`` node (+ optional ``INTEGRAL_OFFSET``)."""
        check_keys(cfg, ACCEPTED_HEAD_KEYS, where="MODEL.HEAD")
        filters = list(cfg.get("NUM_DECONV_FILTERS", [256, 256]))
        kernels = list(cfg.get("NUM_DECONV_KERNELS", [4, 4]))
        layers = int(cfg.get("NUM_DECONV_LAYERS", len(filters)))
        if not layers == len(filters) == len(kernels):
            raise ConfigError(
                f"MODEL.HEAD: NUM_DECONV_LAYERS {layers} must equal the lengths of "
                f"NUM_DECONV_FILTERS {filters} and NUM_DECONV_KERNELS {kernels}"
            )
        return cls(
            input_channel=int(cfg.get("INPUT_CHANNEL", 2048)),
            n_classes=int(cfg.get("N_CLASSES", 21)),
            heatmap_3d_size=tuple(cfg.get("HEATMAP_3D_SIZE", (28, 28, 28))),
            num_deconv_filters=filters,
            num_deconv_kernels=kernels,
            deconv_with_bias=bool(cfg.get("DECONV_WITH_BIAS", False)),
            final_conv_kernel=int(cfg.get("FINAL_CONV_KERNEL", 1)),
            norm_type=str(cfg.get("NORM_TYPE", "sigmoid")),
            integral_offset=float(cfg.get("INTEGRAL_OFFSET", 0.0)),
        )


ACCEPTED_HEAD_KEYS = (
    "TYPE",
    "INPUT_CHANNEL",
    "N_CLASSES",
    "DECONV_WITH_BIAS",
    "NORM_TYPE",
    "HEATMAP_3D_SIZE",
    "NUM_DECONV_LAYERS",
    "NUM_DECONV_FILTERS",
    "NUM_DECONV_KERNELS",
    "FINAL_CONV_KERNEL",
    "INTEGRAL_OFFSET",
)
