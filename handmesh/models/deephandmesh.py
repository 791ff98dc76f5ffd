"""DeepHandMesh (Moon et al., ECCV 2020): ResNet encoder -> 28 Euler DoFs -> corrected, skinned
hand mesh, trained weakly from multi-view depth maps and 3D keypoints.

The network (``handmesh.deephandmesh.network``) keeps the original's state-dict names, so an
official snapshot ``{"epoch", "network": {"module.*"}, "optimizer"}`` loads strictly through
``handmesh.checkpoint`` (its hand-model-derived buffers are checked against the hand model and
dropped; a decoder without ``id_code`` is refused). The hand model comes from the six files of
``MODEL.HAND_MODEL_DIR`` (``synthetic``: the built-in synthetic one, labelled so).

Predictions (metres):

* ``joint_euler`` (B, 22, 3) radians; ``joints_3d`` (B, 22, 3) and ``verts_3d`` (B, V, 3) in the
  wrist frame (identity root: the original's test and demo output, ``mm / 1000``);
* with ``target_joints_world`` in the batch: ``joints_3d_world`` / ``verts_3d_world``, placed by
  the rigid fit of the wrist and non-thumb knuckles to the ground truth (the original's training
  root), and with the depth-view targets ``depth_maps`` (B, N, H, W) rendered from them;
* in training mode also ``rest_joints_3d`` (22, 3) and ``rest_verts_3d`` (B, V, 3) for the
  penetration loss.

``model.decode(joint_euler)`` poses the hand from given angles with no image (the original's
``decode``; the demo uses it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from handmesh.backbones.base import select_feature
from handmesh.checkpoint import state_dict_adapter
from handmesh.deephandmesh import criteria as _criteria  # noqa: F401  (registers the losses)
from handmesh.deephandmesh import metrics as _metrics  # noqa: F401  (registers the metrics)
from handmesh.deephandmesh import synthetic_data as _data  # noqa: F401  (registers the datasets)
from handmesh.deephandmesh.checkpoint import adapt_official_entries
from handmesh.deephandmesh.depth_render import PIXEL_CONVENTIONS, render_depth_views
from handmesh.deephandmesh.hand_model import HandTemplate, load_hand_model
from handmesh.deephandmesh.network import DeepHandMeshLayers
from handmesh.deephandmesh.synthetic_model import SYNTHETIC_HAND_NOTE, build_synthetic_template
from handmesh.errors import ArgumentError
from handmesh.models.base import HandModel
from handmesh.registry import BACKBONES, MODELS, build

__all__ = ["SYNTHETIC_HAND_MODEL", "DeepHandMesh", "hand_model_from_setting"]

logger = logging.getLogger("handmesh")

SYNTHETIC_HAND_MODEL = "synthetic"
"""``MODEL.HAND_MODEL_DIR`` value selecting the built-in synthetic hand model."""
M_TO_MM = 1000.0
DEPTH_TARGETS = ("target_depth_maps", "target_depth_extr", "target_depth_intr")


def hand_model_from_setting(setting: str) -> HandTemplate:
    """The hand model of a ``MODEL.HAND_MODEL_DIR`` / ``--hand_model`` value."""
    if str(setting).lower() == SYNTHETIC_HAND_MODEL:
        logger.warning(SYNTHETIC_HAND_NOTE)
        return build_synthetic_template()
    return load_hand_model(setting)


def _apply(transform: Tensor, points: Tensor) -> Tensor:
    """(B, 4, 4) rigid transforms applied to (B, N, 3) points."""
    return points @ transform[:, :3, :3].transpose(-1, -2) + transform[:, None, :3, 3]


@MODELS.register()
class DeepHandMesh(DeepHandMeshLayers, HandModel):
    """DeepHandMesh for one hand model (see the module docstring).

    Args:
        template: the hand model (``handmesh.deephandmesh.load_hand_model``).
        backbone: the image trunk, a handmesh ResNet (ResNet-50 in the original).
        img_feat_dim: image feature size (512); id_code_dim: identity code size (32).
        depth_pixel_convention: "original" (neural_renderer's half-pixel offsets, the default)
            or "centered" (aligned with the ground-truth crops); see
            ``handmesh.deephandmesh.depth_render``.
        losses: the loss terms; None: ``DEFAULT_LOSS`` (the published four, weights 1, 1, 1, 5).
    """

    CONFIG_KEYS = (
        *HandModel.CONFIG_KEYS,
        "HAND_MODEL_DIR",
        "BACKBONE",
        "IMG_FEAT_DIM",
        "ID_CODE_DIM",
        "DEPTH_PIXEL_CONVENTION",
        "LOSS",
    )
    REQUIRED_KEYS = ("HAND_MODEL_DIR", "BACKBONE")
    DEFAULT_LOSS = (
        {"TYPE": "DHM_JOINT_LOSS", "WEIGHT": 1.0},
        {"TYPE": "DHM_DEPTH_LOSS", "WEIGHT": 1.0},
        {"TYPE": "DHM_PENETRATION_LOSS", "WEIGHT": 1.0},
        {"TYPE": "DHM_LAPLACIAN_LOSS", "WEIGHT": 5.0},
    )
    PREDICTS_MESH = True  # verts_3d of its own hand model (V vertices, not MANO)
    DEFAULT_METRICS = ("dhm_mpjpe", "dhm_depth")
    TRAIN_METRICS = ("dhm_mpjpe",)

    segmentation: Tensor

    def __init__(
        self,
        *,
        template: HandTemplate,
        backbone: nn.Module,
        img_feat_dim: int = 512,
        id_code_dim: int = 32,
        depth_pixel_convention: str = "original",
        losses: Sequence[nn.Module] | None = None,
    ) -> None:
        if depth_pixel_convention not in PIXEL_CONVENTIONS:
            raise ArgumentError(
                f"depth_pixel_convention must be one of {PIXEL_CONVENTIONS}, got "
                f"{depth_pixel_convention!r}"
            )
        if losses is None:
            losses = self.build_losses({}, template=template)
        super().__init__(losses=losses)
        self.build_network(
            template=template, resnet=backbone, img_feat_dim=img_feat_dim, id_code_dim=id_code_dim
        )
        self.template = template
        self.depth_pixel_convention = depth_pixel_convention
        self.register_buffer(
            "segmentation", torch.as_tensor(template.segmentation), persistent=False
        )

    # ------------------------------------------------------------------------------ running

    def forward(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """batch ``image`` (B, 3, H, W) RGB in [0, 1]; optionally the targets (see the module
        docstring) for the placed outputs and the rendered depth views."""
        if "image" not in batch:
            raise KeyError("DeepHandMesh needs batch['image'] (B, 3, H, W)")
        return self._outputs(self.encode(batch["image"]), batch)

    def decode(self, joint_euler: Tensor) -> dict[str, Tensor]:
        """(B, 22, 3) Euler angles in radians -> ``joint_euler``, ``joints_3d`` (B, 22, 3) and
        ``verts_3d`` (B, V, 3) in the wrist frame, metres (the original's ``decode`` / 1000)."""
        return self._outputs(joint_euler.to(self.local_pose.dtype), {})

    def _outputs(self, joint_euler: Tensor, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        out = self.pose_mm(joint_euler, with_rest=self.training)
        preds = {
            "joint_euler": joint_euler,
            "joints_3d": out["joints"] / M_TO_MM,
            "verts_3d": out["verts"] / M_TO_MM,
        }
        if self.training:
            preds["rest_joints_3d"] = out["rest_joints"] / M_TO_MM
            preds["rest_verts_3d"] = out["rest_verts"] / M_TO_MM
        if "target_joints_world" not in batch:
            return preds
        place = self.placement(out["joints"], batch["target_joints_world"] * M_TO_MM)
        verts = _apply(place, out["verts"])
        preds["joints_3d_world"] = _apply(place, out["joints"]) / M_TO_MM
        preds["verts_3d_world"] = verts / M_TO_MM
        if all(key in batch for key in DEPTH_TARGETS):
            extr = batch["target_depth_extr"].to(verts.dtype).clone()
            extr[..., :3, 3] *= M_TO_MM
            depth = render_depth_views(
                verts,
                self.faces,
                extr,
                batch["target_depth_intr"],
                batch["target_depth_maps"].shape[-2:],
                pixel_convention=self.depth_pixel_convention,
            )
            preds["depth_maps"] = depth / M_TO_MM
        return preds

    # ------------------------------------------------------------------------------ config

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], *, data_preset: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """From the ``MODEL`` node: ``HAND_MODEL_DIR`` (the six files, or ``synthetic``),
        ``BACKBONE`` (a ResNet node), ``IMG_FEAT_DIM``, ``ID_CODE_DIM``,
        ``DEPTH_PIXEL_CONVENTION``, ``LOSS`` (default: the published four terms)."""
        template = hand_model_from_setting(str(cfg["HAND_MODEL_DIR"]))
        backbone = build(cfg["BACKBONE"], BACKBONES, where="MODEL.BACKBONE")
        select_feature(backbone, "res_layer4_mean", None, where="MODEL.BACKBONE")
        return {
            "template": template,
            "backbone": backbone,
            "img_feat_dim": int(cfg.get("IMG_FEAT_DIM", 512)),
            "id_code_dim": int(cfg.get("ID_CODE_DIM", 32)),
            "depth_pixel_convention": str(cfg.get("DEPTH_PIXEL_CONVENTION", "original")),
            "losses": cls.build_losses(cfg, template=template),
        }


@state_dict_adapter(DeepHandMesh)
def _official_layout(entries: dict[str, Tensor], model: DeepHandMesh) -> dict[str, Tensor]:
    """The official snapshot's hand-model buffers are checked and dropped; see
    ``handmesh.deephandmesh.checkpoint``."""
    return adapt_official_entries(
        entries,
        dof=model.pose_net.DoF,
        segmentation=model.segmentation,
        num_verts=model.num_verts,
        hand_model=model.template.source,
    )
