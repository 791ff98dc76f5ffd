"""HandOccNet (Park et al., CVPR 2022): FPN + spatial gate, FIT / SET transformers, the hourglass
heatmap branch and the MANO regressor (reference: ``namepllet/HandOccNet``).

image (B, 3, 256, 256), RGB in [0, 1] -> FPN (ResNet-50, LeakyReLU) -> primary (x * s) and
secondary (x * (1 - s)) maps (B, 256, 32, 32) -> FIT (queries from the secondary map, keys and
values from the primary map) -> SET -> heatmaps + soft-argmax 2D joints, an encoding, 16 x 6D
rotations and 10 betas -> MANO (right hand, ``flat_hand_mean=False``), metres. No camera branch:
the 3D outputs live in the uncentred MANO frame, and evaluation places them at the ground-truth
root, as the original does.

State-dict names are the original's (``backbone.*``, ``FIT.*``, ``SET.*``, ``regressor.*`` with the
MANO buffers under ``regressor.mano_regHead.mano_layer.``, ``fitting_loss.*``), so an official
snapshot ``{"epoch", "network", "optimizer"}`` (904 ``module.``-prefixed entries; 901 before
2023, without the constant ``fitting_loss`` buffers, which are then kept at their fixed values)
loads strictly through ``handmesh.load_model`` / ``--reload``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from handmesh.backbones.base import select_feature
from handmesh.checkpoint.adapters import state_dict_adapter
from handmesh.errors import ArgumentError
from handmesh.heads.handoccnet import FeatureTransformer, Regressor, handoccnet_init_weights
from handmesh.heads.handoccnet.fitting import ScaleTranslationLoss
from handmesh.mano.loader import load_mano_from_preset
from handmesh.mano.manopth_layer import ManoLayer
from handmesh.models.base import HandModel
from handmesh.registry import BACKBONES, MODELS, build

__all__ = ["HandOccNet"]

FEATURE_STRIDE = 8
"""Crop pixels per feature cell (FPN p2, average-pooled): 256 -> 32."""


@MODELS.register()
class HandOccNet(HandModel):
    """image (B, 3, H, W) -> 2D joints, MANO pose / shape and the posed hand (see ``forward``).

    Args:
        backbone: a backbone with ``primary`` and ``secondary`` (256-channel) outputs (``FPN``).
        FIT: the feature-injecting transformer (``FeatureTransformer(injection=True)``).
        SET: the self-enhancing transformer (``FeatureTransformer(injection=False)``).
        regressor: heatmaps -> encoding -> MANO (:class:`~handmesh.heads.handoccnet.Regressor`).
        losses: loss terms (config default: ``HANDOCCNET_LOSS``).
        root_idx: the joint placed at ``batch["target_root_joint"]`` (the DATA_PRESET CENTER_IDX;
            HandOccNet: 0, the wrist).
        init_weights: apply the original's training initialisation to FIT, SET and the regressor
            (its ``init_weights``; a checkpoint loaded afterwards replaces it anyway).
    """

    CONFIG_KEYS = (*HandModel.CONFIG_KEYS, "BACKBONE", "LOSS")
    DEFAULT_LOSS = ({"TYPE": "HANDOCCNET_LOSS"},)
    PREDICTS_MESH = True
    DEFAULT_METRICS = ("mpjpe", "pa_mpjpe", "mpvpe", "pa_mpvpe")
    TRAIN_METRICS = ("mpjpe",)

    def __init__(
        self,
        backbone: nn.Module,
        FIT: FeatureTransformer,  # the original's attribute names
        SET: FeatureTransformer,
        regressor: Regressor,
        losses: Sequence[nn.Module] | None = None,
        root_idx: int = 0,
        init_weights: bool = True,
    ) -> None:
        super().__init__(losses=losses)
        if not 0 <= root_idx < 21:
            raise ArgumentError(f"HandOccNet: root_idx must be a joint index 0..20, got {root_idx}")
        if not (FIT.injection and not SET.injection):
            raise ArgumentError("HandOccNet: FIT needs injection=True and SET injection=False")
        self.backbone = backbone
        self.FIT = FIT
        self.SET = SET
        self.regressor = regressor
        self.fitting_loss = ScaleTranslationLoss()
        self.root_idx = int(root_idx)
        if init_weights:
            for part in (self.FIT, self.SET, self.regressor):
                part.apply(handoccnet_init_weights)

    @property
    def faces(self) -> torch.Tensor:
        """(1538, 3) MANO triangles of the predicted mesh."""
        return self.regressor.mano_regHead.mano_layer.th_faces

    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """batch ``image`` (B, 3, H, W) RGB in [0, 1]; optionally ``target_root_joint`` (B, 3) m.

        Returns ``joints_2d`` (B, 21, 2) crop pixels (``joints_2d_norm``: the same in [0, 1] of
        the crop, the original's unit), ``heatmaps`` (B, 21, H/8, W/8),
        ``mano_pose`` (B, 48) axis-angle, ``mano_shape`` (B, 10), ``mano_rotmat`` (B, 16, 3, 3),
        ``mano_joints_3d`` (B, 21, 3) and ``mano_verts_3d`` (B, 778, 3) metres in the uncentred
        MANO frame (canonical joint order), ``mano_transforms`` (B, 16, 4, 4); with
        ``target_root_joint`` also ``joints_3d`` / ``verts_3d`` in camera metres, moved so that
        joint ``root_idx`` is at that root (the original's evaluation).
        """
        if "image" not in batch:
            raise KeyError("HandOccNet needs batch['image'] (B, 3, H, W)")
        image = batch["image"]
        features = self.backbone(image)
        fused = self.FIT(features["secondary"], features["primary"])
        fused = self.SET(fused, fused)
        out = self.regressor(fused)
        size = image.new_tensor([image.shape[-1], image.shape[-2]])
        preds: dict[str, torch.Tensor] = {"joints_2d": out["joints_2d_norm"] * size, **out}
        if "target_root_joint" in batch:
            root = batch["target_root_joint"].to(image.dtype)[:, None]
            offset = root - preds["mano_joints_3d"][:, self.root_idx : self.root_idx + 1]
            preds["joints_3d"] = preds["mano_joints_3d"] + offset
            preds["verts_3d"] = preds["mano_verts_3d"] + offset
        return preds

    def compute_loss(
        self, preds: Mapping[str, torch.Tensor], batch: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        """The loss terms with the targets the original derives added: the ground-truth
        ``mano_pose`` / ``mano_shape`` through the same MANO layer (``target_mano_verts_3d``,
        ``target_mano_joints_3d``, metres, uncentred MANO frame) and ``target_joints_2d_norm``
        (``target_joints_2d`` divided by the crop size)."""
        missing = [k for k in ("mano_pose", "mano_shape", "target_joints_2d") if k not in batch]
        if missing:
            raise KeyError(f"HandOccNet training needs batch {missing} (the MANO targets)")
        dtype = preds["mano_verts_3d"].dtype
        with torch.no_grad():
            verts, joints, _ = self.regressor.mano_regHead.mano(
                batch["mano_pose"].to(dtype), batch["mano_shape"].to(dtype)
            )
        size = preds["joints_2d"].new_tensor([batch["image"].shape[-1], batch["image"].shape[-2]])
        targets = {
            "target_mano_verts_3d": verts,
            "target_mano_joints_3d": joints,
            "target_joints_2d_norm": batch["target_joints_2d"].to(dtype) / size,
        }
        return super().compute_loss(preds, {**batch, **targets})

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], *, data_preset: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``MODEL`` node: ``BACKBONE`` (default ``{TYPE: FPN}``), ``LOSS`` (default
        ``HANDOCCNET_LOSS``); DATA_PRESET gives IMAGE_SIZE (a multiple of 128; 256 for the
        published checkpoints, whose positional embeddings are 32x32), CENTER_IDX and the MANO
        file (MANO_ROOT, ALLOW_SYNTHETIC_MANO)."""
        preset = data_preset or {}
        width, height = (int(v) for v in preset.get("IMAGE_SIZE", (256, 256)))
        if width != height or width % (16 * FEATURE_STRIDE):
            raise ArgumentError(
                f"DATA_PRESET.IMAGE_SIZE {[width, height]}: HandOccNet needs square crops whose "
                f"side is a multiple of {16 * FEATURE_STRIDE} (256 for the published weights)"
            )
        backbone = build(cfg.get("BACKBONE", {"TYPE": "FPN"}), BACKBONES, where="MODEL.BACKBONE")
        for name in ("primary", "secondary"):
            select_feature(backbone, name, 256, where="MODEL.BACKBONE")
        resolution = width // FEATURE_STRIDE
        layer = ManoLayer(
            flat_hand_mean=False,
            use_pca=False,
            side="right",
            return_transforms=True,
            model=load_mano_from_preset(preset, "right"),
        )
        return {
            "backbone": backbone,
            "FIT": FeatureTransformer(resolution=resolution, injection=True),
            "SET": FeatureTransformer(resolution=resolution, injection=False),
            "regressor": Regressor(layer, resolution=resolution),
            "losses": cls.build_losses(cfg),
            "root_idx": int(preset.get("CENTER_IDX", 0)),
        }


_FITTING_BUFFERS: tuple[str, ...] = tuple(
    f"fitting_loss.{name}" for name in ("data_weight", "init_joints_idxs", "depth_loss_weight")
)


@state_dict_adapter(HandOccNet)
def _snapshot_2022_layout(
    entries: dict[str, torch.Tensor], module: HandOccNet
) -> dict[str, torch.Tensor]:
    """Snapshots written before 2023 lack the three ``fitting_loss`` buffers (constants of the
    demo's fit, not weights): they keep the model's values. Other entries pass unchanged."""
    if any(key in entries for key in _FITTING_BUFFERS) or not entries:
        return entries
    own = module.state_dict()
    return {**entries, **{key: own[key].clone() for key in _FITTING_BUFFERS}}
