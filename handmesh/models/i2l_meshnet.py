"""I2L-MeshNet (Moon & Lee 2020) as OakInk-HMR trains it: the lixel stage.

Pose branch: ResNet ``pose_backbone`` -> ``pose_net`` (1-D heatmaps, 21 joints in bins). Pose2Feat
turns the detached joints into Gaussian 3-D heatmaps fused with the stem feature; the mesh branch
(``mesh_backbone`` from layer1 on that 64-channel map -> ``mesh_net``) gives the 778 vertices in
bins. Bins are (x, y, z) of a (D, H, W) = ``DATA_PRESET.HEATMAP_SIZE`` grid over the crop and the
0.4 m depth range, so ``verts_uvd = mesh_coord_img / (W, H, D)``; camera-space vertices come from
the codec with the ground-truth root depth and the crop intrinsics, joints from the joint
regressor (MANO's J_regressor plus fingertip vertices; middle tip 445 as the published
checkpoints, ``MODEL.FINGERTIPS: manopth`` for 444).

State-dict names match the published ``I2L_MeshNet.pth.tar`` (731 entries), including manotorch's
MANO buffers under ``human_model_layer.*`` and the unused ``param_regressor``. Only
``STAGE: lixel`` exists: OakInk-HMR's param stage is broken (undefined ``tgm``, wrong ManoLayer
unpacking) and is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from handmesh.backbones.resnet import ResNet
from handmesh.codecs import UVDCodec
from handmesh.errors import ArgumentError
from handmesh.geometry.camera import project_points
from handmesh.heads.i2l import (
    FINGERTIPS,
    LixelHead,
    ManotorchBuffers,
    ParamRegressor,
    Pose2Feat,
    init_i2l_weights_,
    joint_regressor_with_tips,
)
from handmesh.losses.i2l import I2LMeshNetLoss
from handmesh.mano.constants import NUM_JOINTS
from handmesh.mano.loader import ManoModelData, load_mano_from_preset
from handmesh.models.base import HandModel
from handmesh.registry import MODELS, check_keys

__all__ = ["I2L_MeshNet"]

BACKBONE_KEYS = ("RESNET_TYPE", "PRETRAINED")


@MODELS.register()
class I2L_MeshNet(HandModel):
    """image (B, 3, H, W) -> verts_3d (B, 778, 3), joints_3d (B, 21, 3) camera m, joints_2d px.

    Args:
        pose_backbone, mesh_backbone: ResNets (torchvision layout, plain BN); the mesh one runs
            from layer1 on the fused 64-channel feature.
        mano: the MANO model (faces, J_regressor, the ``human_model_layer`` buffers).
        codec: the uvd codec (crop size, depth range) for decoding.
        heatmap_shape: (D, H, W) bins; H, W are the stem feature's size (crop / 4).
        sigma: Pose2Feat's Gaussian sigma in bins (2.5).
        fingertips: "i2l" (middle tip 445, default) or "manopth" (444).
        losses: loss terms (default: ``I2L_MeshNet_Loss`` with the published lambdas, the MANO
            faces, this codec and heatmap shape).
    """

    CONFIG_KEYS = (
        *HandModel.CONFIG_KEYS,
        "STAGE",
        "HEATMAP_SIGMA",
        "POSE_BACKBONE",
        "MESH_BACKBONE",
        "NUM_FC_FILTERS",
        "FINGERTIPS",
        "LOSS",
    )
    PREDICTS_MESH = True
    DEFAULT_LOSS = ({"TYPE": "I2L_MeshNet_Loss"},)
    DEFAULT_METRICS = ("mpjpe", "pa_mpjpe", "pck_auc", "mpvpe", "pa_mpvpe")
    TRAIN_METRICS = ("mpjpe", "mpvpe")

    joint_regressor: torch.Tensor

    def __init__(
        self,
        pose_backbone: ResNet,
        mesh_backbone: ResNet,
        mano: ManoModelData,
        codec: UVDCodec | None = None,
        heatmap_shape: Sequence[int] = (64, 64, 64),
        sigma: float = 2.5,
        fingertips: str = "i2l",
        losses: Sequence[nn.Module] | None = None,
    ) -> None:
        if len(heatmap_shape) != 3:
            raise ArgumentError(f"heatmap_shape must be (D, H, W), got {list(heatmap_shape)}")
        if fingertips not in FINGERTIPS:
            raise ArgumentError(
                f"fingertips must be one of {sorted(FINGERTIPS)}, got {fingertips!r}"
            )
        codec = codec if codec is not None else UVDCodec(image_size=(256, 256), center_idx=0)
        if losses is None:  # the default loss needs the model's faces, codec and bins
            losses = [I2LMeshNetLoss(faces=mano.faces, codec=codec, heatmap_shape=heatmap_shape)]
        super().__init__(losses=losses)
        self.codec = codec
        self.heatmap_shape = tuple(int(s) for s in heatmap_shape)
        depth, height, width = self.heatmap_shape
        num_verts = int(mano.v_template.shape[0])
        self.pose_backbone = pose_backbone
        self.pose_net = LixelHead(
            NUM_JOINTS,
            depth_bins=depth,
            in_channels=pose_backbone.output_shape()["res_layer4"].channels,
        )
        self.pose2feat = Pose2Feat(NUM_JOINTS, heatmap_shape=self.heatmap_shape, sigma=sigma)
        self.mesh_backbone = mesh_backbone
        self.mesh_net = LixelHead(
            num_verts,
            depth_bins=depth,
            in_channels=mesh_backbone.output_shape()["res_layer4"].channels,
        )
        self.param_regressor = ParamRegressor(NUM_JOINTS)
        self.human_model_layer = ManotorchBuffers(mano)
        for head in (self.pose_net, self.pose2feat, self.mesh_net, self.param_regressor):
            init_i2l_weights_(head)
        regressor = joint_regressor_with_tips(mano.J_regressor, fingertips=fingertips)
        self.register_buffer("joint_regressor", regressor, persistent=False)
        self.fingertips = fingertips
        self.register_buffer(
            "bins", torch.tensor([width, height, depth], dtype=torch.float32), persistent=False
        )

    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """batch: ``image`` (B, 3, H, W); for the camera-space outputs also ``target_root_joint``
        (B, 3) m and ``target_cam_intr`` (B, 3, 3) crop intrinsics.

        Returns ``joint_coord_img`` (B, 21, 3), ``mesh_coord_img`` (B, 778, 3) and
        ``joint_img_from_mesh`` (B, 21, 3) in bins; with root and intrinsics also ``verts_3d``
        (B, 778, 3) and ``joints_3d`` (B, 21, 3) camera metres (no gradient, as the original) and
        ``joints_2d`` (B, 21, 2) crop pixels.
        """
        if "image" not in batch:
            raise KeyError("I2L_MeshNet needs batch['image'] (B, 3, H, W)")
        early = self.pose_backbone.forward_stem(batch["image"])
        joint_coord_img = self.pose_net(self.pose_backbone.forward_stages(early)["res_layer4"])
        fused = self.pose2feat(early, joint_coord_img)
        mesh_coord_img = self.mesh_net(self.mesh_backbone.forward_stages(fused)["res_layer4"])
        regressor = self.joint_regressor.to(mesh_coord_img.dtype)
        preds = {
            "joint_coord_img": torch.nan_to_num(joint_coord_img),
            "mesh_coord_img": torch.nan_to_num(mesh_coord_img),
            "joint_img_from_mesh": torch.nan_to_num(regressor @ mesh_coord_img),
        }
        if "target_root_joint" in batch and "target_cam_intr" in batch:
            intr = batch["target_cam_intr"].to(mesh_coord_img.dtype)
            verts_uvd = mesh_coord_img.detach() / self.bins.to(mesh_coord_img.dtype)
            root = batch["target_root_joint"].to(mesh_coord_img.dtype)
            verts_3d = torch.nan_to_num(self.codec.decode(verts_uvd, root, intr))
            joints_3d = torch.nan_to_num(regressor @ verts_3d)
            preds.update(
                verts_3d=verts_3d, joints_3d=joints_3d, joints_2d=project_points(joints_3d, intr)
            )
        return preds

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], *, data_preset: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """From the published ``MODEL`` node and ``DATA_PRESET`` (IMAGE_SIZE, HEATMAP_SIZE,
        CENTER_IDX 0, and the MANO file: MANO_ROOT / ALLOW_SYNTHETIC_MANO).

        ``POSE_BACKBONE`` / ``MESH_BACKBONE``: ``RESNET_TYPE`` (18..152) and ``PRETRAINED``
        (default true: torchvision's ImageNet weights, as OakInk-HMR loads them for
        ``PRETRAINED: ""``). ``NUM_FC_FILTERS`` is accepted and unused, as in the original.
        """
        stage = str(cfg.get("STAGE", "lixel"))
        if stage != "lixel":
            raise ArgumentError(
                f"STAGE {stage!r} is not supported: only the lixel stage is implemented "
                "(OakInk-HMR's param stage is broken: undefined tgm, wrong ManoLayer unpacking); "
                "use STAGE: lixel"
            )
        preset = data_preset or {}
        if int(preset.get("CENTER_IDX", 0)) != 0:
            raise ArgumentError(
                f"I2L_MeshNet needs DATA_PRESET.CENTER_IDX 0 (the wrist), got "
                f"{preset['CENTER_IDX']}"
            )
        codec = UVDCodec.from_preset({**preset, "CENTER_IDX": 0})
        heatmap_shape = tuple(int(s) for s in preset.get("HEATMAP_SIZE", (64, 64, 64)))
        width, height = codec.image_size
        if len(heatmap_shape) != 3 or heatmap_shape[1:] != (height // 4, width // 4):
            raise ArgumentError(
                f"DATA_PRESET.HEATMAP_SIZE {list(heatmap_shape)} must be (D, H/4, W/4) of "
                f"IMAGE_SIZE {[width, height]} (the stem feature's size), e.g. "
                f"[64, {height // 4}, {width // 4}]"
            )
        backbones = {
            name: _resnet(cfg.get(key, {}), f"MODEL.{key}")
            for name, key in (("pose", "POSE_BACKBONE"), ("mesh", "MESH_BACKBONE"))
        }
        mano = load_mano_from_preset(preset)
        return {
            "pose_backbone": backbones["pose"],
            "mesh_backbone": backbones["mesh"],
            "mano": mano,
            "codec": codec,
            "heatmap_shape": heatmap_shape,
            "sigma": float(cfg.get("HEATMAP_SIGMA", 2.5)),
            "fingertips": str(cfg.get("FINGERTIPS", "i2l")),
            "losses": cls.build_losses(cfg, faces=mano.faces, data_preset=preset),
        }


def _resnet(node: Mapping[str, Any], where: str) -> ResNet:
    """A ``POSE_BACKBONE`` / ``MESH_BACKBONE`` node -> torchvision-layout ResNet (plain BN)."""
    check_keys(node, BACKBONE_KEYS, where)
    try:
        return ResNet(
            depth=int(node.get("RESNET_TYPE", 50)),
            frozen_bn="none",
            pretrained=node.get("PRETRAINED", True),
        )
    except ArgumentError as err:
        raise ArgumentError(f"{where}: {err}") from err
