"""IntegralPose (OakInk-HMR): ResNet + 3D-heatmap deconv head + integral regression.

The network predicts normalised ``uvd`` (u, v in [0, 1) of the crop, d = 0.5 + (z - z_root) /
depth_range, see ``handmesh.codecs.UVDCodec``); camera-space joints come from it with the
ground-truth root depth (``target_root_joint``) and the crop intrinsics (``target_cam_intr``),
exactly as OakInk-HMR evaluates. State-dict names (``backbone.*``, ``pose_head.deconv_layers.*``,
``pose_head.final_layer.*``) match the published ``IntegralPose.pth.tar``.

The integral uses OakInk-HMR's bin coordinates ``i / N`` by default (half a bin short of the bin
centres; needed to reproduce its checkpoints); ``MODEL.HEAD.INTEGRAL_OFFSET: 0.5`` (Python:
``IntegralDeconvHead(codec=UVDCodec(bin_offset=0.5))``) uses the unbiased ``(i + 0.5) / N``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from handmesh.codecs import UVDCodec
from handmesh.errors import ArgumentError
from handmesh.heads.integral_pose import IntegralDeconvHead
from handmesh.models.base import HandModel
from handmesh.registry import BACKBONES, HEADS, MODELS, build

__all__ = ["IntegralPose"]


@MODELS.register()
class IntegralPose(HandModel):
    """image (B, 3, H, W) -> uvd (B, 21, 3), joints_2d (crop px), joints_3d (camera metres).

    Args:
        backbone: a backbone whose ``pose_head.in_feature`` output feeds the head (ResNet-50's
            ``res_layer4`` in OakInk-HMR).
        pose_head: the heatmap head; its ``codec`` decodes the uvd (crop size, depth range).
        losses: loss terms (config default: ``UVD_LOSS``, smooth-L1 x 100).
    """

    CONFIG_KEYS = (*HandModel.CONFIG_KEYS, "MODE", "BACKBONE", "HEAD", "LOSS")
    REQUIRED_KEYS = ("BACKBONE",)
    DEFAULT_LOSS = ({"TYPE": "UVD_LOSS"},)
    DEFAULT_HEAD = "IntegralDeconvHead"

    def __init__(
        self,
        backbone: nn.Module,
        pose_head: nn.Module | None = None,
        losses: Sequence[nn.Module] | None = None,
    ) -> None:
        super().__init__(losses=losses)
        self.backbone = backbone
        self.pose_head = pose_head if pose_head is not None else IntegralDeconvHead()

    @property
    def codec(self) -> UVDCodec:
        """The uvd codec the head integrates with and the model decodes with."""
        return self.pose_head.codec  # type: ignore[return-value]

    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """batch: ``image`` (B, 3, H, W); for ``joints_3d`` also ``target_root_joint`` (B, 3) m
        and ``target_cam_intr`` (B, 3, 3) crop intrinsics.

        Returns ``uvd`` (B, 21, 3) normalised, ``uvd_confi`` (B, 21), ``joints_2d`` (B, 21, 2)
        crop pixels and, when the root and intrinsics are given, ``joints_3d`` (B, 21, 3) camera
        metres.
        """
        if "image" not in batch:
            raise KeyError("IntegralPose needs batch['image'] (B, 3, H, W)")
        features = self.backbone(batch["image"])
        preds = dict(self.pose_head(features[self.pose_head.in_feature]))
        uvd = preds["uvd"]
        preds["joints_2d"] = self.codec.decode_2d(uvd)
        if "target_root_joint" in batch and "target_cam_intr" in batch:
            preds["joints_3d"] = self.codec.decode(
                uvd,
                batch["target_root_joint"].to(uvd.dtype),
                batch["target_cam_intr"].to(uvd.dtype),
            )
        return preds

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], *, data_preset: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """From the published ``MODEL`` node; ``data_preset`` gives the codec (IMAGE_SIZE,
        UVD_DEPTH_RANGE, CENTER_IDX). ``HEAD.TYPE`` defaults to ``IntegralDeconvHead``."""
        mode = str(cfg.get("MODE", "3D"))
        if mode != "3D":
            raise ArgumentError(f"MODE {mode!r}: IntegralPose supports only '3D'")
        backbone = build(cfg["BACKBONE"], BACKBONES, where="MODEL.BACKBONE")
        head_cfg = {"TYPE": cls.DEFAULT_HEAD, **cfg.get("HEAD", {})}
        head = build(
            head_cfg, HEADS, where="MODEL.HEAD", backbone=backbone, data_preset=data_preset
        )
        return {"backbone": backbone, "pose_head": head, "losses": cls.build_losses(cfg)}
