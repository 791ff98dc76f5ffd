"""I2L-MeshNet parts (Moon & Lee 2020), as OakInk-HMR's ``oib/external/i2l_meshnet``.

Lixel coordinates are in heatmap-bin units: x in [0, W), y in [0, H), z in [0, D) of a (D, H, W)
heatmap (64^3 for a 256 px crop, so one bin is 4 crop pixels in x, y and 0.4 m / 64 in depth).

* :class:`LixelHead`: OakInk's ``PoseNet`` (21 joints) and ``MeshNet`` (778 vertices): three
  deconvolutions to a (256, H, W) map, 1-D heatmaps along x (feature averaged over H), y (averaged
  over W) and z (from the pooled backbone feature), each reduced by :func:`soft_argmax_1d`.
* :class:`Pose2Feat`: 21 Gaussian 3-D heatmaps (sigma in bins) of the detached joint estimate,
  as 21*D channels beside the 64-channel early feature, then Conv3x3 + BN + ReLU to 64 channels.
  The heatmaps are separable, so the convolution over them is evaluated from the 1-D factors
  (B x 64 x H x W outputs) without building the (B, 21*D, H, W) tensor; the result equals the
  original's dense convolution to float32 rounding.
* :class:`ParamRegressor`: the parameter-stage regressor (keys only; the stage is not run).
* :class:`ManotorchBuffers`: manotorch ``ManoLayer``'s eight persistent buffers, the
  ``human_model_layer.*`` entries of the published checkpoints.
* :func:`joint_regressor_with_tips`: MANO's J_regressor plus one-hot fingertip rows, canonical order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from handmesh.errors import ArgumentError
from handmesh.mano.constants import MANO_TIPS_TO_CANONICAL, NUM_JOINTS, TIP_VERTEX_IDS_RIGHT
from handmesh.mano.loader import ManoModelData

__all__ = [
    "FINGERTIPS",
    "LixelHead",
    "ManotorchBuffers",
    "ParamRegressor",
    "Pose2Feat",
    "gaussian_1d",
    "init_i2l_weights_",
    "joint_regressor_with_tips",
    "soft_argmax_1d",
]

FINGERTIPS: dict[str, tuple[int, ...]] = {
    "i2l": (745, 317, 445, 556, 673),
    "manopth": TIP_VERTEX_IDS_RIGHT,
}
"""Fingertip vertices (thumb, index, middle, ring, pinky). "i2l": I2L-MeshNet's, inherited by
OakInk-HMR (middle tip 445; its checkpoints were trained with it); "manopth": manopth/manotorch
and the OakInk ground truth (middle tip 444)."""


def soft_argmax_1d(logits: torch.Tensor) -> torch.Tensor:
    """(B, N, K) 1-D heatmap logits -> (B, N, 1) expected bin ``sum_i softmax(logits)_i * i``."""
    probs = logits.softmax(dim=2)
    bins = torch.arange(logits.shape[2], dtype=probs.dtype, device=probs.device)
    return (probs * bins).sum(dim=2, keepdim=True)


def _deconv_stack(in_channels: int, channels: int, num_layers: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(num_layers):
        layers += [
            nn.ConvTranspose2d(in_channels, channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        ]
        in_channels = channels
    return nn.Sequential(*layers)


class LixelHead(nn.Module):
    """Backbone layer4 feature (B, C, h, w) -> lixel coordinates (B, N, 3) in bins (x, y, z).

    State-dict names as OakInk's PoseNet/MeshNet: ``deconv.{0,3,6}`` (ConvTranspose2d k4 s2 p1, no
    bias) with ``deconv.{1,4,7}`` BN; ``conv_x.0`` / ``conv_y.0`` / ``conv_z_2.0`` Conv1d(256, N,
    k1); ``conv_z_1`` = Conv1d(C, 256 * D, k1) + BN1d + ReLU.

    Args:
        num_points: 21 (PoseNet) or 778 (MeshNet).
        depth_bins: D, the number of z bins (64).
        in_channels: C, backbone channels (2048 for ResNet-50).
        channels: width of the deconvolved map and of the z features (256).
        num_deconv: deconvolutions (3: an 8x8 layer4 becomes 64x64, i.e. H = W = 8 * h).
    """

    def __init__(
        self,
        num_points: int,
        depth_bins: int = 64,
        in_channels: int = 2048,
        channels: int = 256,
        num_deconv: int = 3,
    ) -> None:
        super().__init__()
        if num_points < 1 or depth_bins < 1:
            raise ArgumentError(
                f"LixelHead needs num_points >= 1 and depth_bins >= 1, got {num_points}, "
                f"{depth_bins}"
            )
        self.num_points = int(num_points)
        self.depth_bins = int(depth_bins)
        self.channels = int(channels)
        self.deconv = _deconv_stack(in_channels, channels, num_deconv)
        self.conv_x = nn.Sequential(nn.Conv1d(channels, num_points, 1))
        self.conv_y = nn.Sequential(nn.Conv1d(channels, num_points, 1))
        self.conv_z_1 = nn.Sequential(
            nn.Conv1d(in_channels, channels * depth_bins, 1),
            nn.BatchNorm1d(channels * depth_bins),
            nn.ReLU(inplace=True),
        )
        self.conv_z_2 = nn.Sequential(nn.Conv1d(channels, num_points, 1))

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        """feature (B, C, h, w) -> (B, N, 3) bins: x in [0, W), y in [0, H), z in [0, D)."""
        xy = self.deconv(feature)  # (B, 256, H, W)
        coord_x = soft_argmax_1d(self.conv_x(xy.mean(dim=2)))
        coord_y = soft_argmax_1d(self.conv_y(xy.mean(dim=3)))
        z = self.conv_z_1(feature.mean(dim=(2, 3)).unsqueeze(-1))  # (B, 256 * D, 1)
        coord_z = soft_argmax_1d(self.conv_z_2(z.view(-1, self.channels, self.depth_bins)))
        return torch.cat((coord_x, coord_y, coord_z), dim=2)


def gaussian_1d(centres: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """(...,) centres in bins -> (..., size) values ``exp(-((i - c) / sigma)^2 / 2)``, i = 0..size-1."""
    bins = torch.arange(size, dtype=centres.dtype, device=centres.device)
    return torch.exp(-0.5 * ((bins - centres.unsqueeze(-1)) / sigma) ** 2)


class Pose2Feat(nn.Module):
    """Early feature (B, 64, H, W) + joint lixels (B, J, 3) bins -> fused feature (B, 64, H, W).

    ``conv`` = Conv2d(64 + J * D, 64, k3, p1) + BN + ReLU over the concatenation of the feature
    and the joints' Gaussian heatmaps (channel ``64 + j * D + d``, see :meth:`heatmap`), computed
    from the separable factors. The joints are detached (no gradient flows into the pose branch
    through the heatmaps), as in the original.

    Args:
        num_joints: J (21).
        heatmap_shape: (D, H, W) bins (64, 64, 64); H, W must be the early feature's size.
        sigma: Gaussian standard deviation in bins (2.5).
        feat_channels: channels of the early feature and of the output (64).
    """

    def __init__(
        self,
        num_joints: int = NUM_JOINTS,
        heatmap_shape: Sequence[int] = (64, 64, 64),
        sigma: float = 2.5,
        feat_channels: int = 64,
    ) -> None:
        super().__init__()
        if len(heatmap_shape) != 3 or min(heatmap_shape) < 1:
            raise ArgumentError(
                f"Pose2Feat heatmap_shape must be three positive sizes (D, H, W), got "
                f"{list(heatmap_shape)}"
            )
        if sigma <= 0:
            raise ArgumentError(f"Pose2Feat sigma must be > 0 (bins), got {sigma}")
        self.num_joints = int(num_joints)
        self.heatmap_shape = tuple(int(s) for s in heatmap_shape)
        self.sigma = float(sigma)
        self.feat_channels = int(feat_channels)
        in_channels = feat_channels + num_joints * self.heatmap_shape[0]
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, feat_channels, 3, padding=1),
            nn.BatchNorm2d(feat_channels),
            nn.ReLU(inplace=True),
        )

    def _factors(self, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        depth, height, width = self.heatmap_shape
        with torch.no_grad():
            joints = joints.detach()
            gx = gaussian_1d(joints[..., 0], width, self.sigma)
            gy = gaussian_1d(joints[..., 1], height, self.sigma)
            gz = gaussian_1d(joints[..., 2], depth, self.sigma)
        return gx, gy, gz

    def heatmap(self, joints: torch.Tensor) -> torch.Tensor:
        """(B, J, 3) bins -> (B, J, D, H, W) Gaussian heatmaps (the original's explicit tensor)."""
        gx, gy, gz = self._factors(joints)
        return gz[..., :, None, None] * gy[..., None, :, None] * gx[..., None, None, :]

    def _heatmap_conv(self, joints: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The 3x3 convolution (padding 1) of the heatmap channels, from the 1-D factors.

        With heatmap ``h[j, d, y, x] = gz[j, d] gy[j, y] gx[j, x]``::

            out[o, y, x] = sum_{j, ky, kx} (sum_d W[o, j, d, ky, kx] gz[j, d])
                           * gy[j, y + ky - 1] * gx[j, x + kx - 1]

        with the factors zero outside the map (the convolution's zero padding).
        """
        depth = self.heatmap_shape[0]
        gx, gy, gz = (g.to(weight.dtype) for g in self._factors(joints))
        kernel = weight.shape[-1]
        pad = kernel // 2
        w = weight.view(weight.shape[0], self.num_joints, depth, kernel, kernel)
        mixed = torch.einsum("ojdyx,bjd->bjyxo", w, gz)  # (B, J, ky, kx, O)
        shifted_x = F.pad(gx, (pad, pad)).unfold(-1, kernel, 1)  # (B, J, W, kx)
        shifted_y = F.pad(gy, (pad, pad)).unfold(-1, kernel, 1)  # (B, J, H, ky)
        rows = torch.einsum("bjyxo,bjwx->bjywo", mixed, shifted_x)  # (B, J, ky, W, O)
        return torch.einsum("bjywo,bjhy->bohw", rows, shifted_y)

    def forward(self, feature: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        """feature (B, 64, H, W), joints (B, J, 3) bins (detached here) -> (B, 64, H, W)."""
        depth, height, width = self.heatmap_shape
        if feature.dim() != 4 or tuple(feature.shape[1:]) != (self.feat_channels, height, width):
            raise ValueError(
                f"Pose2Feat expects the early feature (B, {self.feat_channels}, {height}, "
                f"{width}) matching heatmap_shape {list(self.heatmap_shape)}, got "
                f"{tuple(feature.shape)}"
            )
        if joints.shape[1:] != (self.num_joints, 3):
            raise ValueError(
                f"Pose2Feat expects joints (B, {self.num_joints}, 3), got {tuple(joints.shape)}"
            )
        conv = self.conv[0]
        assert isinstance(conv, nn.Conv2d)
        weight = conv.weight
        fused = F.conv2d(feature, weight[:, : self.feat_channels], conv.bias, padding=1)
        fused = fused + self._heatmap_conv(joints, weight[:, self.feat_channels :])
        return self.conv[2](self.conv[1](fused))


class ParamRegressor(nn.Module):
    """The parameter stage's MLP: lixel joints (B, J, 3) -> (6D rotations (B, 96), betas (B, 10)).

    Keys ``fc.{0,1,3,4}`` (Linear J*3 -> 1024, BN1d, Linear -> 512, BN1d; ReLU at 2 and 5),
    ``fc_pose.0`` (Linear 512 -> 16 * 6), ``fc_shape.0`` (Linear 512 -> 10). OakInk-HMR's
    parameter stage is broken (undefined ``tgm``, wrong ManoLayer unpacking); the module exists so
    the published checkpoints load strictly, and returns the raw regressions.
    """

    def __init__(self, num_joints: int = NUM_JOINTS) -> None:
        super().__init__()
        self.num_joints = int(num_joints)
        self.fc = nn.Sequential(
            nn.Linear(num_joints * 3, 1024),
            nn.BatchNorm1d(1024),
            nn.ReLU(inplace=True),
            nn.Linear(1024, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(inplace=True),
        )
        self.fc_pose = nn.Sequential(nn.Linear(512, 16 * 6))
        self.fc_shape = nn.Sequential(nn.Linear(512, 10))

    def forward(self, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """joints (B, J, 3) -> (pose (B, 96) as 16 x 6D, shape (B, 10))."""
        feat = self.fc(joints.reshape(-1, self.num_joints * 3))
        return self.fc_pose(feat), self.fc_shape(feat)


class ManotorchBuffers(nn.Module):
    """manotorch ``ManoLayer(use_pca=False, flat_hand_mean=False)``'s persistent buffers.

    ``th_betas`` (1, 10) zeros, ``th_shapedirs`` (778, 3, 10), ``th_posedirs`` (778, 3, 135),
    ``th_v_template`` (1, 778, 3), ``th_J_regressor`` (16, 778), ``th_weights`` (778, 16),
    ``th_faces`` (1538, 3) int64, ``th_hands_mean`` (1, 45) (MANO's mean pose; zeros with
    ``flat_hand_mean``). Metres, float32. No forward: I2L's lixel stage uses only the arrays.
    """

    th_betas: torch.Tensor
    th_shapedirs: torch.Tensor
    th_posedirs: torch.Tensor
    th_v_template: torch.Tensor
    th_J_regressor: torch.Tensor
    th_weights: torch.Tensor
    th_faces: torch.Tensor
    th_hands_mean: torch.Tensor

    def __init__(self, mano: ManoModelData, flat_hand_mean: bool = False) -> None:
        super().__init__()

        def as_float(array: np.ndarray) -> torch.Tensor:
            return torch.tensor(array, dtype=torch.float32)

        self.register_buffer("th_betas", torch.zeros(1, mano.shapedirs.shape[-1]))
        self.register_buffer("th_shapedirs", as_float(mano.shapedirs))
        self.register_buffer("th_posedirs", as_float(mano.posedirs))
        self.register_buffer("th_v_template", as_float(mano.v_template)[None])
        self.register_buffer("th_J_regressor", as_float(mano.J_regressor))
        self.register_buffer("th_weights", as_float(mano.weights))
        self.register_buffer("th_faces", torch.tensor(mano.faces, dtype=torch.long))
        hands_mean = as_float(mano.hands_mean)[None]
        if flat_hand_mean:
            hands_mean = torch.zeros_like(hands_mean)
        self.register_buffer("th_hands_mean", hands_mean)


def joint_regressor_with_tips(
    j_regressor: np.ndarray | torch.Tensor, fingertips: str = "i2l"
) -> torch.Tensor:
    """(16, V) MANO joint regressor -> (21, V) float32 regressor in the canonical joint order.

    Appends one-hot rows for the fingertip vertices ``FINGERTIPS[fingertips]`` (thumb, index,
    middle, ring, pinky) to the 16 native rows, then reorders "MANO + tips" to canonical.
    """
    if fingertips not in FINGERTIPS:
        raise ArgumentError(
            f"fingertips must be one of {sorted(FINGERTIPS)} (i2l: middle tip 445, as the "
            f"published checkpoints; manopth: 444), got {fingertips!r}"
        )
    native = torch.tensor(np.asarray(j_regressor), dtype=torch.float32)
    if native.dim() != 2 or native.shape[0] != 16:
        raise ArgumentError(
            f"j_regressor must be MANO's (16, V) regressor, got shape {tuple(native.shape)}"
        )
    tips = torch.zeros(len(FINGERTIPS[fingertips]), native.shape[1])
    tips[torch.arange(tips.shape[0]), list(FINGERTIPS[fingertips])] = 1.0
    return torch.cat((native, tips))[list(MANO_TIPS_TO_CANONICAL)]


def init_i2l_weights_(module: nn.Module) -> None:
    """I2L-MeshNet's head init in place (applied to pose_net, pose2feat, mesh_net, param_regressor).

    ConvTranspose2d weights N(0, 0.001); Conv2d N(0, 0.001) with bias 0; BatchNorm2d 1 / 0; Linear
    N(0, 0.01) with bias 0. Conv1d and BatchNorm1d keep PyTorch's defaults.
    """
    for m in module.modules():
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, std=0.001)
        elif isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, std=0.001)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
