"""DeepHandMesh's loss terms as registered ``LOSSES`` (``MODEL.LOSS`` of a DeepHandMesh config).

Each reads the model's predictions (metres) and the batch, converts to millimetres -- the unit
the original's weights and its 1 mm smooth-L1 threshold are set in -- and returns
``(weight * term, {name: term})``; ``train.py`` of the original averages each term and sums them.

========================  =========================================================  ========
TYPE                      term (mm)                                                  weight
========================  =========================================================  ========
DHM_JOINT_LOSS            L1 of the placed joints x validity (``joint``)              1
DHM_DEPTH_LOSS            smooth-L1 of the rendered depth views where both depths    1
                          are non-zero (``depthmap``)
DHM_PENETRATION_LOSS      rigid + 5 x non-rigid penetration (``penet``)              1
DHM_LAPLACIAN_LOSS        uniform-Laplacian smoothness of the posed mesh (``lap``)   5
========================  =========================================================  ========

The hand-model-dependent terms are built with the model's ``template`` (``from_config``
context), so ``MODEL.LOSS`` of a DeepHandMesh config lists only these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from handmesh.deephandmesh.constants import NON_RIGID_JOINTS
from handmesh.deephandmesh.hand_model import HandTemplate
from handmesh.deephandmesh.losses import (
    LaplacianLoss,
    PenetrationLoss,
    depth_map_loss,
    joint_loss,
)
from handmesh.registry import LOSSES

__all__ = ["DepthTerm", "JointTerm", "LaplacianTerm", "PenetrationTerm"]

M_TO_MM = 1000.0


def _need(name: str, source: Mapping[str, Any], where: str, keys: Sequence[str]) -> None:
    missing = [k for k in keys if k not in source]
    if missing:
        raise KeyError(f"{name}: needs {where}[{missing[0]!r}]; {where} has {sorted(source)}")


class _Term(nn.Module):
    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = float(weight)

    CONFIG_KEYS: tuple[str, ...] = ("WEIGHT",)


@LOSSES.register("DHM_JOINT_LOSS")
class JointTerm(_Term):
    """preds ``joints_3d_world`` (B, J, 3) m; batch ``target_joints_world`` (B, J, 3) m and
    ``target_joints_valid`` (B, J)."""

    def forward(
        self, preds: Mapping[str, Tensor], batch: Mapping[str, Any]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        _need("DHM_JOINT_LOSS", preds, "preds", ("joints_3d_world",))
        _need("DHM_JOINT_LOSS", batch, "batch", ("target_joints_world", "target_joints_valid"))
        pred = preds["joints_3d_world"]
        term = joint_loss(
            pred * M_TO_MM,
            batch["target_joints_world"].to(pred.dtype) * M_TO_MM,
            batch["target_joints_valid"].to(pred.dtype),
        )
        return self.weight * term, {"joint": term.detach()}

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, template: HandTemplate) -> dict[str, Any]:
        return {"weight": float(cfg.get("WEIGHT", 1.0))}


@LOSSES.register("DHM_DEPTH_LOSS")
class DepthTerm(_Term):
    """preds ``depth_maps`` (B, N, H, W) m (rendered by the model); batch ``target_depth_maps``
    (B, N, H, W) m."""

    def forward(
        self, preds: Mapping[str, Tensor], batch: Mapping[str, Any]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        _need("DHM_DEPTH_LOSS", preds, "preds", ("depth_maps",))
        _need("DHM_DEPTH_LOSS", batch, "batch", ("target_depth_maps",))
        rendered = preds["depth_maps"]
        term = depth_map_loss(
            rendered * M_TO_MM, batch["target_depth_maps"].to(rendered.dtype) * M_TO_MM
        )
        return self.weight * term, {"depthmap": term.detach()}

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, template: HandTemplate) -> dict[str, Any]:
        return {"weight": float(cfg.get("WEIGHT", 1.0))}


@LOSSES.register("DHM_PENETRATION_LOSS")
class PenetrationTerm(_Term):
    """preds ``joints_3d``, ``verts_3d`` (posed, m; any placement: the term uses distances only),
    ``rest_joints_3d`` (J, 3) and ``rest_verts_3d`` (B, V, 3) m. Mean over the batch of
    :class:`handmesh.deephandmesh.losses.PenetrationLoss`."""

    def __init__(
        self,
        *,
        template: HandTemplate,
        weight: float = 1.0,
        rigid_weight: float = 1.0,
        non_rigid_weight: float = 5.0,
        non_rigid_joints: Sequence[int] = NON_RIGID_JOINTS,
        step: float = 0.1,
    ) -> None:
        super().__init__(weight)
        self.penet_loss = PenetrationLoss(
            parents=template.parents,
            joint_names=template.joint_names,
            segmentation=template.segmentation,
            non_rigid_joints=non_rigid_joints,
            step=step,
            rigid_weight=rigid_weight,
            non_rigid_weight=non_rigid_weight,
        )

    def forward(
        self, preds: Mapping[str, Tensor], batch: Mapping[str, Any]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        keys = ("joints_3d", "verts_3d", "rest_joints_3d", "rest_verts_3d")
        _need("DHM_PENETRATION_LOSS", preds, "preds", keys)
        term = self.penet_loss(
            preds["rest_joints_3d"] * M_TO_MM,
            preds["rest_verts_3d"] * M_TO_MM,
            preds["joints_3d"] * M_TO_MM,
            preds["verts_3d"] * M_TO_MM,
        ).mean()
        return self.weight * term, {"penet": term.detach()}

    CONFIG_KEYS = ("WEIGHT", "RIGID_WEIGHT", "NON_RIGID_WEIGHT", "NON_RIGID_JOINTS", "STEP")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, template: HandTemplate) -> dict[str, Any]:
        return {
            "template": template,
            "weight": float(cfg.get("WEIGHT", 1.0)),
            "rigid_weight": float(cfg.get("RIGID_WEIGHT", 1.0)),
            "non_rigid_weight": float(cfg.get("NON_RIGID_WEIGHT", 5.0)),
            "non_rigid_joints": tuple(
                int(j) for j in cfg.get("NON_RIGID_JOINTS", NON_RIGID_JOINTS)
            ),
            "step": float(cfg.get("STEP", 0.1)),
        }


@LOSSES.register("DHM_LAPLACIAN_LOSS")
class LaplacianTerm(_Term):
    """preds ``verts_3d`` (B, V, 3) m (any placement); mean over B x V of the squared uniform
    Laplacian in mm^2 (sparse; nothing is stored in checkpoints)."""

    def __init__(self, *, template: HandTemplate, weight: float = 5.0) -> None:
        super().__init__(weight)
        self.lap_loss = LaplacianLoss(template.faces, template.num_verts)

    def forward(
        self, preds: Mapping[str, Tensor], batch: Mapping[str, Any]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        _need("DHM_LAPLACIAN_LOSS", preds, "preds", ("verts_3d",))
        term = self.lap_loss(preds["verts_3d"] * M_TO_MM).mean()
        return self.weight * term, {"lap": term.detach()}

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, template: HandTemplate) -> dict[str, Any]:
        return {"template": template, "weight": float(cfg.get("WEIGHT", 5.0))}
