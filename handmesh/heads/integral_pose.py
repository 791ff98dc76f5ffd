"""IntegralPose 3D-heatmap head (OakInk-HMR ``IntegralDeconvHead``, Sun et al. 2018).

Deconvolutions upsample the backbone feature, a 1x1 conv gives ``N_CLASSES * D`` channels viewed
as per-joint (D, H, W) heatmaps, which are normalised (sigmoid then divided by their sum, or a
global softmax) and integrated by marginal soft-argmax into normalised ``uvd`` in [0, 1).

The head holds the model's ``UVDCodec`` (mmpose style: the head's decoder): its ``bin_offset`` sets
the integral coordinates. OakInk-HMR weights bin ``i`` of ``N`` with ``i / N`` (offset 0, the
default, needed to reproduce its checkpoints and numbers; half a bin short of the bin centre);
``HEAD.INTEGRAL_OFFSET: 0.5`` uses ``(i + 0.5) / N``, the unbiased centre. The model decodes the
head's uvd with the same codec.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from handmesh.backbones.base import select_feature
from handmesh.codecs import UVDCodec
from handmesh.config.values import cfg_bool, cfg_float, cfg_int, cfg_ints, cfg_str
from handmesh.errors import ArgumentError
from handmesh.registry import HEADS

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
    raise ArgumentError(f"norm_type {norm_type!r}: expected one of {', '.join(NORM_TYPES)}")


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
    ``in_feature`` names the backbone output the model feeds it; ``codec`` gives the integral's
    bin offset (and decodes the uvd in the model).
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
        codec: UVDCodec | None = None,
        in_feature: str = "res_layer4",
    ) -> None:
        super().__init__()
        if len(num_deconv_filters) != len(num_deconv_kernels):
            raise ArgumentError(
                f"num_deconv_filters {list(num_deconv_filters)} and num_deconv_kernels "
                f"{list(num_deconv_kernels)} must have the same length"
            )
        if norm_type not in NORM_TYPES:
            raise ArgumentError(f"norm_type {norm_type!r}: expected one of {', '.join(NORM_TYPES)}")
        if final_conv_kernel not in (1, 3):
            raise ArgumentError(f"final_conv_kernel {final_conv_kernel}: expected 1 or 3")
        self.input_channel = int(input_channel)
        self.n_classes = int(n_classes)
        self.width, self.height, self.depth = (int(s) for s in heatmap_3d_size)
        self.norm_type = norm_type
        self.codec = codec if codec is not None else UVDCodec()
        self.in_feature = in_feature
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
                raise ArgumentError(f"num_deconv_kernels entry {kernel}: expected 2, 3 or 4")
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
        uvd = integrate_heatmap3d(heatmap, self.codec.bin_offset)
        return {"uvd": uvd, "uvd_confi": confidence}

    CONFIG_KEYS = (
        "IN_FEATURE",
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

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], *, backbone: nn.Module, data_preset: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """From the published ``MODEL.HEAD`` node (+ ``IN_FEATURE``, default ``res_layer4``, and
        ``INTEGRAL_OFFSET``, the codec's bin offset). ``INPUT_CHANNEL`` defaults to the
        backbone's channels for ``IN_FEATURE``; a mismatch fails naming both."""
        filters = list(cfg_ints(cfg, "NUM_DECONV_FILTERS", (256, 256)))
        kernels = list(cfg_ints(cfg, "NUM_DECONV_KERNELS", (4, 4)))
        layers = cfg_int(cfg, "NUM_DECONV_LAYERS", len(filters))
        if not layers == len(filters) == len(kernels):
            raise ArgumentError(
                f"NUM_DECONV_LAYERS {layers} must equal the lengths of NUM_DECONV_FILTERS "
                f"{filters} and NUM_DECONV_KERNELS {kernels}"
            )
        in_feature = cfg_str(cfg, "IN_FEATURE", "res_layer4")
        given = cfg_int(cfg, "INPUT_CHANNEL", 0) if "INPUT_CHANNEL" in cfg else None
        spec = select_feature(backbone, in_feature, given, where="MODEL.HEAD")
        heatmap_size = cfg_ints(cfg, "HEATMAP_3D_SIZE", (28, 28, 28), length=3)
        _check_heatmap_fits(heatmap_size, layers, spec.stride, data_preset, in_feature)
        return {
            "input_channel": spec.channels,
            "n_classes": cfg_int(cfg, "N_CLASSES", 21),
            "heatmap_3d_size": heatmap_size,
            "num_deconv_filters": filters,
            "num_deconv_kernels": kernels,
            "deconv_with_bias": cfg_bool(cfg, "DECONV_WITH_BIAS", False),
            "final_conv_kernel": cfg_int(cfg, "FINAL_CONV_KERNEL", 1),
            "norm_type": cfg_str(cfg, "NORM_TYPE", "sigmoid"),
            "codec": UVDCodec.from_preset(
                data_preset, bin_offset=cfg_float(cfg, "INTEGRAL_OFFSET", 0.0)
            ),
            "in_feature": in_feature,
        }


def _check_heatmap_fits(
    heatmap_size: tuple[int, ...],
    layers: int,
    stride: int | None,
    data_preset: Mapping[str, Any] | None,
    in_feature: str,
) -> None:
    """HEATMAP_3D_SIZE (W, H) must be what the deconvolutions make of the backbone feature of
    DATA_PRESET.IMAGE_SIZE (stride-s convs give ceil(size / s), each deconv doubles)."""
    if stride is None or not data_preset or "IMAGE_SIZE" not in data_preset:
        return
    width, height = (int(v) for v in data_preset["IMAGE_SIZE"])
    made = (math.ceil(width / stride) * 2**layers, math.ceil(height / stride) * 2**layers)
    if tuple(heatmap_size[:2]) != made:
        raise ArgumentError(
            f"HEATMAP_3D_SIZE {list(heatmap_size)} (W, H, D) does not fit DATA_PRESET.IMAGE_SIZE "
            f"{[width, height]}: the backbone's {in_feature} (stride {stride}) is "
            f"{math.ceil(width / stride)}x{math.ceil(height / stride)} and {layers} deconvolutions "
            f"make it {made[0]}x{made[1]}"
        )
