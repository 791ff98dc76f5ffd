"""RegressFlow3D (OakInk-HMR's RLE model): ResNet + normalised linear regression of uvd + a flow.

The network regresses normalised ``uvd`` (see ``handmesh.codecs.UVDCodec``) and a per-axis scale
``sigma`` from the pooled backbone feature; training maximises the residual log-likelihood (RLE,
Li et al. 2021) with a RealNVP flow over ``(uvd - target) / sigma`` (``RLE_Loss``). At test time
the depth is re-centred on the root, ``d <- d - d[CENTER_IDX] + 0.5``, as the original does, so the
root sits at the ground-truth root depth used for decoding.

State-dict names match the published ``RegressFlow3D.pth.tar`` (380 entries): ``preact.*`` (the
ResNet, OakInk's mixed frozen-BN layout with ``FREEZE_BATCHNORM: True``), ``fcs`` (empty for
``NUM_FC_FILTERS: [-1]``), ``fc_coord.linear.*``, ``fc_sigma.*``, ``flow3d.*``.

Flow couplings: ``MODEL.FLOW_VARIANT: oakink`` (default; the published checkpoints were trained
with it: Tanh on the translation nets) or ``rle`` (the original RLE: Tanh on the scale nets); see
``handmesh.heads.rle``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from handmesh.backbones.base import select_feature
from handmesh.codecs import UVDCodec
from handmesh.errors import ArgumentError
from handmesh.heads.rle import (
    FLOW_VARIANTS,
    NormalizedLinear,
    RealNVP,
    make_fc_layers,
    sigma_and_scores,
)
from handmesh.mano.constants import NUM_JOINTS
from handmesh.models.base import HandModel
from handmesh.registry import BACKBONES, MODELS, build

__all__ = ["RegressFlow3D"]

IN_FEATURE = "res_layer4_mean"  # the globally average-pooled last stage (OakInk's avg_pool)


@MODELS.register()
class RegressFlow3D(HandModel):
    """image (B, 3, H, W) -> uvd, sigma (B, 21, 3), joints_2d (crop px), joints_3d (camera m).

    Args:
        preact: the backbone; its ``res_layer4_mean`` (B, C) output feeds the regressors.
        in_channels: C.
        codec: the uvd codec (crop size, depth range, CENTER_IDX for the test-time re-centring).
        fc_dims: OakInk's ``NUM_FC_FILTERS`` (hidden FC layers; [-1]: none).
        flow_variant: "oakink" (default) or "rle" coupling assignment.
        num_joints: 21.
        losses: loss terms (config default: ``RLE_Loss`` with SIZE_AVERAGE).

    ``forward`` in training mode also needs ``target_joints_uvd`` (the flow's residual) and returns
    ``log_phi`` (B, 21, 1); in eval mode ``uvd`` is re-centred and ``log_phi`` is None.
    """

    CONFIG_KEYS = (
        *HandModel.CONFIG_KEYS,
        "MODE",
        "BACKBONE",
        "NUM_FC_FILTERS",
        "FLOW_VARIANT",
        "LOSS",
    )
    REQUIRED_KEYS = ("BACKBONE",)
    DEFAULT_LOSS = ({"TYPE": "RLE_Loss", "SIZE_AVERAGE": True},)

    def __init__(
        self,
        preact: nn.Module,
        in_channels: int = 2048,
        codec: UVDCodec | None = None,
        fc_dims: Sequence[int] = (-1,),
        flow_variant: str = "oakink",
        num_joints: int = NUM_JOINTS,
        losses: Sequence[nn.Module] | None = None,
    ) -> None:
        super().__init__(losses=losses)
        if flow_variant not in FLOW_VARIANTS:
            raise ArgumentError(
                f"flow_variant must be one of {list(FLOW_VARIANTS)}, got {flow_variant!r}"
            )
        self.codec = codec if codec is not None else UVDCodec(center_idx=0)
        self.num_joints = int(num_joints)
        self.preact = preact
        self.fcs, channels = make_fc_layers(in_channels, fc_dims)
        self.fc_coord = NormalizedLinear(channels, self.num_joints * 3)
        self.fc_sigma = nn.Linear(channels, self.num_joints * 3)
        nn.init.xavier_uniform_(self.fc_sigma.weight, gain=0.01)
        self.flow3d = RealNVP(dim=3, variant=flow_variant)

    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor | None]:
        """batch: ``image`` (B, 3, H, W); ``target_joints_uvd`` (B, 21, 3) in training; for
        ``joints_3d`` also ``target_root_joint`` (B, 3) m and ``target_cam_intr`` (B, 3, 3).

        Returns ``uvd`` (B, 21, 3), ``sigma`` (B, 21, 3), ``maxvals`` (B, 21, 1), ``log_phi``
        (B, 21, 1) or None, ``joints_2d`` (B, 21, 2) crop px, ``joints_3d`` (B, 21, 3) m.
        """
        if "image" not in batch:
            raise KeyError("RegressFlow3D needs batch['image'] (B, 3, H, W)")
        feat = self.fcs(self.preact(batch["image"])[IN_FEATURE])
        shape = (feat.shape[0], self.num_joints, 3)
        uvd = self.fc_coord(feat).view(shape)
        sigma, maxvals = sigma_and_scores(self.fc_sigma(feat).view(shape))
        log_phi = None
        if self.training:
            if "target_joints_uvd" not in batch:
                raise KeyError(
                    "RegressFlow3D in training mode needs batch['target_joints_uvd'] (B, 21, 3) "
                    "for the flow's residual; call model.eval() for inference"
                )
            target = batch["target_joints_uvd"].to(uvd.dtype).view(shape)
            residual = ((uvd - target) / sigma).reshape(-1, 3)
            log_phi = self.flow3d.log_prob(residual).view(shape[0], shape[1], 1)
        else:
            uvd = self.codec.recentre_depth(uvd)
        preds: dict[str, torch.Tensor | None] = {
            "uvd": uvd,
            "sigma": sigma,
            "maxvals": maxvals,
            "log_phi": log_phi,
            "joints_2d": self.codec.decode_2d(uvd),
        }
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
        UVD_DEPTH_RANGE, CENTER_IDX: 0 in the published configs)."""
        mode = str(cfg.get("MODE", "3D"))
        if mode != "3D":
            raise ArgumentError(f"MODE {mode!r}: RegressFlow3D supports only '3D'")
        backbone = build(cfg["BACKBONE"], BACKBONES, where="MODEL.BACKBONE")
        spec = select_feature(backbone, IN_FEATURE, None, where="MODEL.BACKBONE")
        return {
            "preact": backbone,
            "in_channels": spec.channels,
            "codec": UVDCodec.from_preset(data_preset),
            "fc_dims": [int(d) for d in cfg.get("NUM_FC_FILTERS", [-1])],
            "flow_variant": str(cfg.get("FLOW_VARIANT", "oakink")),
            "losses": cls.build_losses(cfg),
        }
