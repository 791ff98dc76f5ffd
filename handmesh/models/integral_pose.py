"""IntegralPose (OakInk-HMR): ResNet + 3D-heatmap deconv head + integral regression.

The network predicts normalised ``uvd`` (u, v in [0, 1) of the crop, d = 0.5 + (z - z_root) / 0.4);
camera-space joints come from it with the ground-truth root depth (``target_root_joint``) and the
crop intrinsics (``target_cam_intr``), exactly as OakInk-HMR evaluates. State-dict names
(``backbone.*``, ``pose_head.deconv_layers.*``, ``pose_head.final_layer.*``) match the published
``IntegralPose.pth.tar``.

The integral uses OakInk-HMR's bin coordinates ``i / N`` by default (half a bin short of the bin
centres; needed to reproduce its checkpoints); ``MODEL.HEAD.INTEGRAL_OFFSET: 0.5`` (Python:
``IntegralDeconvHead(integral_offset=0.5)``) uses the unbiased ``(i + 0.5) / N``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

import handmesh.backbones  # noqa: F401  (registers the backbones)
from handmesh.config.errors import ConfigError
from handmesh.heads.integral_pose import IntegralDeconvHead
from handmesh.losses.uvd import UVDLoss
from handmesh.models.base import HandModel
from handmesh.registry import BACKBONES, MODELS, build, check_keys

UVD_DEPTH_RANGE = 0.4  # metres spanned by d in [0, 1]
ACCEPTED_MODEL_KEYS = ("TYPE", "PRETRAINED", "MODE", "BACKBONE", "HEAD", "LOSS", "METRIC")


def _uvd_to_xyz(*args: Any, **kwargs: Any) -> torch.Tensor:
    from handmesh.geometry.camera import uvd_to_xyz

    return uvd_to_xyz(*args, **kwargs)


@MODELS.register()
class IntegralPose(HandModel):
    """image (B, 3, H, W) -> uvd (B, 21, 3), joints_2d (crop px), joints_3d (camera metres).

    Args:
        backbone: a module mapping the image to a dict with ``res_layer4`` (e.g. ResNet-50).
        pose_head: the heatmap head; default: OakInk-HMR's 2-deconv head for 2048 channels.
        image_size: (W, H) of the input crop in pixels.
        losses: loss terms; default ``UVD_LOSS`` (smooth-L1 x 100).
        depth_range: metres spanned by the normalised depth d.
    """

    def __init__(
        self,
        backbone: nn.Module,
        pose_head: nn.Module | None = None,
        image_size: Sequence[int] = (224, 224),
        losses: Sequence[nn.Module] | None = None,
        depth_range: float = UVD_DEPTH_RANGE,
    ) -> None:
        super().__init__(losses=[UVDLoss()] if losses is None else losses)
        self.backbone = backbone
        self.pose_head = pose_head if pose_head is not None else IntegralDeconvHead()
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.depth_range = float(depth_range)

    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """batch: ``image`` (B, 3, H, W); for ``joints_3d`` also ``target_root_joint`` (B, 3) m
        and ``target_cam_intr`` (B, 3, 3) crop intrinsics.

        Returns ``uvd`` (B, 21, 3) normalised, ``uvd_confi`` (B, 21), ``joints_2d`` (B, 21, 2)
        crop pixels and, when the root and intrinsics are given, ``joints_3d`` (B, 21, 3) camera
        metres.
        """
        if "image" not in batch:
            raise KeyError("IntegralPose needs batch['image'] (B, 3, H, W)")
        image = batch["image"]
        features = self.backbone(image)
        preds = dict(self.pose_head(features["res_layer4"]))
        uvd = preds["uvd"]
        size = torch.tensor(self.image_size, dtype=uvd.dtype, device=uvd.device)
        preds["joints_2d"] = uvd[..., :2] * size
        if "target_root_joint" in batch and "target_cam_intr" in batch:
            preds["joints_3d"] = _uvd_to_xyz(
                uvd,
                batch["target_root_joint"].to(uvd.dtype),
                batch["target_cam_intr"].to(uvd.dtype),
                image_size=self.image_size,
                depth_range=self.depth_range,
            )
        return preds

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], data_preset: Mapping[str, Any] | None = None, **extra: Any
    ) -> IntegralPose:
        """From the published ``MODEL`` node; ``data_preset`` gives ``IMAGE_SIZE`` (W, H).

        ``PRETRAINED`` (a checkpoint path) is loaded by the engine's ``build_model``; ``METRIC``
        is accepted for compatibility with the published configs (the engine picks the metrics).
        """
        check_keys(cfg, ACCEPTED_MODEL_KEYS, where="MODEL", required=("BACKBONE",))
        mode = str(cfg.get("MODE", "3D"))
        if mode != "3D":
            raise ConfigError(f"MODEL.MODE {mode!r}: IntegralPose supports only '3D'")
        backbone = build(cfg["BACKBONE"], BACKBONES)
        head_cfg = cfg.get("HEAD", {})
        head = IntegralDeconvHead.from_config(head_cfg)
        _check_channels(backbone, head_cfg)
        image_size = (data_preset or {}).get("IMAGE_SIZE", (224, 224))
        losses = cls.build_losses(cfg.get("LOSS")) or None
        return cls(backbone=backbone, pose_head=head, image_size=image_size, losses=losses)


def _check_channels(backbone: nn.Module, head_cfg: Mapping[str, Any]) -> None:
    channels = getattr(backbone, "out_channels", {}).get("res_layer4")
    expected = int(head_cfg.get("INPUT_CHANNEL", 2048))
    if channels is not None and channels != expected:
        raise ConfigError(
            f"MODEL.HEAD.INPUT_CHANNEL {expected} does not match the backbone's res_layer4 "
            f"channels {channels}"
        )
