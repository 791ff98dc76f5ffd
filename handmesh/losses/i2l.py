"""``I2L_MeshNet_Loss`` (OakInk-HMR's I2L-MeshNet, lixel stage), in heatmap-bin units.

Terms (published lambdas): joint fit 1.0, mesh fit 1.0, mesh-joint fit 1.0 (L1 of the lixel
coordinates against the targets' uvd scaled to bins, times visibility, mean over all elements),
mesh normal 0.1 and mesh edge 1.0 (face losses, below).

Face indexing (``face_indexing``):

* ``"oakink"`` (default): OakInk-HMR's face losses read the dataloader-collated ``hand_faces``
  (B, F, 3) but index them as (F, 3): ``faces[:, k]`` is then the k-th *face* (B, 3) instead of
  every face's k-th vertex, so the "edges" join faces 0, 1, 2 and the reductions meant for the
  xyz axis run over their three vertices. Its published numbers were trained with this. It is
  reproduced here from the (F, 3) faces as a batch of one collated copy: the original's B copies
  are identical, so the mean (and its gradient) is the same for every B.
* ``"fixed"``: the intended losses over all F faces (normal: |cos| between each predicted edge
  and the target face normal; edge: L1 of the three edge lengths), masked by the vertices'
  visibility.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from handmesh.codecs import UVDCodec
from handmesh.errors import ArgumentError
from handmesh.registry import LOSSES

__all__ = [
    "FACE_INDEXING",
    "I2LMeshNetLoss",
    "coord_l1",
    "edge_length_loss",
    "normal_vector_loss",
]

FACE_INDEXING = ("oakink", "fixed")
PARAM_STAGE_LAMBDAS = ("LAMBDA_POSE_PARAM", "LAMBDA_SHAPE_PARAM", "LAMBDA_JOINT_FIT_CAM")


def coord_l1(pred: torch.Tensor, target: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """Mean of ``|pred - target| * vis`` over all elements; pred/target (B, N, 3), vis (B, N)."""
    return ((pred - target).abs() * vis.unsqueeze(-1)).mean()


Corners = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _face_corners(
    pred: torch.Tensor,
    target: torch.Tensor,
    vis: torch.Tensor,
    faces: torch.Tensor,
    face_indexing: str,
) -> tuple[Corners, Corners, Corners]:
    """``x[:, index[:, k]]`` for k = 0, 1, 2 of pred, target and vis (B, V, 1).

    ``index`` is ``faces`` (F, 3) when fixed, giving (B, F, 3) corners whose dim 2 is xyz; for
    "oakink" it is the (1, F, 3) collated copy, giving (B, 1, 3, 3) corners whose dim 2 is the
    three vertex ids of faces 0, 1, 2. The losses reduce over dim 2 in both cases.
    """
    if face_indexing not in FACE_INDEXING:
        raise ArgumentError(
            f"face_indexing must be one of {list(FACE_INDEXING)}, got {face_indexing!r}"
        )
    if faces.dim() != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {tuple(faces.shape)}")
    index = faces.unsqueeze(0) if face_indexing == "oakink" else faces

    def corners(points: torch.Tensor) -> Corners:
        return points[:, index[:, 0]], points[:, index[:, 1]], points[:, index[:, 2]]

    return corners(pred), corners(target), corners(vis.unsqueeze(-1))


def normal_vector_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    vis: torch.Tensor,
    faces: torch.Tensor,
    face_indexing: str = "oakink",
) -> torch.Tensor:
    """Mean |cos| between the predicted face edges and the target face normals.

    Args:
        pred, target: (B, V, 3) vertices (any consistent unit; I2L uses bins).
        vis: (B, V) vertex visibility.
        faces: (F, 3) int64 vertex ids.
        face_indexing: "oakink" (the original's collated-faces indexing) or "fixed".
    """
    (p0, p1, p2), (g0, g1, g2), (v0, v1, v2) = _face_corners(
        pred, target, vis, faces, face_indexing
    )
    normal = F.normalize(
        torch.cross(F.normalize(g1 - g0, dim=2), F.normalize(g2 - g0, dim=2), dim=2), dim=2
    )
    valid = v0 * v1 * v2
    cosines = [
        (F.normalize(edge, dim=2) * normal).sum(dim=2, keepdim=True).abs() * valid
        for edge in (p1 - p0, p2 - p0, p2 - p1)
    ]
    return torch.cat(cosines, dim=1).mean()


def edge_length_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    vis: torch.Tensor,
    faces: torch.Tensor,
    face_indexing: str = "oakink",
) -> torch.Tensor:
    """Mean L1 difference of the three edge lengths per face (masked by both ends' visibility).

    Arguments as :func:`normal_vector_loss`.
    """
    pred_corners, target_corners, vis_corners = _face_corners(
        pred, target, vis, faces, face_indexing
    )
    diffs = []
    for a, b in ((0, 1), (0, 2), (1, 2)):
        length = (pred_corners[a] - pred_corners[b]).pow(2).sum(dim=2, keepdim=True).sqrt()
        target_length = (
            (target_corners[a] - target_corners[b]).pow(2).sum(dim=2, keepdim=True).sqrt()
        )
        diffs.append((length - target_length).abs() * vis_corners[a] * vis_corners[b])
    return torch.cat(diffs, dim=1).mean()


@LOSSES.register("I2L_MeshNet_Loss")
class I2LMeshNetLoss(nn.Module):
    """``forward(preds, batch) -> (weighted sum, {term: unweighted value})``.

    preds: ``joint_coord_img`` (B, 21, 3), ``mesh_coord_img`` (B, V, 3), ``joint_img_from_mesh``
    (B, 21, 3), all in bins (x, y, z). batch: ``target_joints_3d`` (B, 21, 3) and
    ``target_verts_3d`` (B, V, 3) camera metres, ``target_root_joint`` (B, 3), ``target_cam_intr``
    (B, 3, 3) crop intrinsics, ``target_joints_vis`` (B, 21), ``target_verts_vis`` (B, V).
    Targets are the points' normalised uvd (``codec.encode_xyz``) times (W, H, D). Terms with
    lambda 0 are skipped and not logged.

    Args:
        faces: (F, 3) mesh faces (the model's MANO faces).
        codec: the uvd encoding (crop size, depth range) of the model.
        heatmap_shape: (D, H, W) bins (64, 64, 64).
        lambda_*: term weights (defaults: the published ones).
        face_indexing: "oakink" (default, the original's bug) or "fixed"; see the module docstring.
    """

    CONFIG_KEYS = (
        "LAMBDA_JOINT_FIT",
        "LAMBDA_MESH_FIT",
        "LAMBDA_MESH_JOINT_FIT",
        "LAMBDA_MESH_NORMAL",
        "LAMBDA_MESH_EDGE",
        *PARAM_STAGE_LAMBDAS,
        "FACE_INDEXING",
    )

    faces: torch.Tensor

    def __init__(
        self,
        faces: np.ndarray | torch.Tensor,
        codec: UVDCodec | None = None,
        heatmap_shape: Sequence[int] = (64, 64, 64),
        lambda_joint_fit: float = 1.0,
        lambda_mesh_fit: float = 1.0,
        lambda_mesh_joint_fit: float = 1.0,
        lambda_mesh_normal: float = 0.1,
        lambda_mesh_edge: float = 1.0,
        face_indexing: str = "oakink",
    ) -> None:
        super().__init__()
        if face_indexing not in FACE_INDEXING:
            raise ArgumentError(
                f"face_indexing must be one of {list(FACE_INDEXING)}, got {face_indexing!r}"
            )
        if len(heatmap_shape) != 3:
            raise ArgumentError(f"heatmap_shape must be (D, H, W), got {list(heatmap_shape)}")
        face_tensor = torch.tensor(np.asarray(faces), dtype=torch.long)
        if face_tensor.dim() != 2 or face_tensor.shape[1] != 3:
            raise ArgumentError(f"faces must have shape (F, 3), got {tuple(face_tensor.shape)}")
        self.register_buffer("faces", face_tensor, persistent=False)
        self.codec = codec if codec is not None else UVDCodec(image_size=(256, 256), center_idx=0)
        depth, height, width = (int(s) for s in heatmap_shape)
        self.bins = (width, height, depth)
        self.face_indexing = face_indexing
        self.lambdas = {
            "joint_fit_loss": float(lambda_joint_fit),
            "mesh_fit_loss": float(lambda_mesh_fit),
            "mesh_joint_fit_loss": float(lambda_mesh_joint_fit),
            "mesh_normal_loss": float(lambda_mesh_normal),
            "mesh_edge_loss": float(lambda_mesh_edge),
        }

    @classmethod
    def from_config(
        cls,
        cfg: Mapping[str, Any],
        *,
        faces: np.ndarray | torch.Tensor,
        data_preset: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """From OakInk-HMR's ``I2L_MeshNet_Loss`` node; ``faces`` and ``data_preset`` (IMAGE_SIZE,
        HEATMAP_SIZE, UVD_DEPTH_RANGE) come from the model.

        The param-stage lambdas (``LAMBDA_POSE_PARAM``, ``LAMBDA_SHAPE_PARAM``,
        ``LAMBDA_JOINT_FIT_CAM``; 0 in every published config) must be 0: that stage is not
        implemented. (OakInk-HMR's code defaults them to 1.0, which fails in the lixel stage.)
        """
        for key in PARAM_STAGE_LAMBDAS:
            if float(cfg.get(key, 0.0)) != 0.0:
                raise ArgumentError(
                    f"{key} {cfg[key]}: the param-stage terms need STAGE param, which is not "
                    "implemented (OakInk-HMR's is broken); set it to 0 for the lixel stage"
                )
        preset = data_preset or {}
        return {
            "faces": faces,
            "codec": UVDCodec.from_preset(preset),
            "heatmap_shape": tuple(preset.get("HEATMAP_SIZE", (64, 64, 64))),
            "lambda_joint_fit": float(cfg.get("LAMBDA_JOINT_FIT", 1.0)),
            "lambda_mesh_fit": float(cfg.get("LAMBDA_MESH_FIT", 1.0)),
            "lambda_mesh_joint_fit": float(cfg.get("LAMBDA_MESH_JOINT_FIT", 1.0)),
            "lambda_mesh_normal": float(cfg.get("LAMBDA_MESH_NORMAL", 0.1)),
            "lambda_mesh_edge": float(cfg.get("LAMBDA_MESH_EDGE", 1.0)),
            "face_indexing": str(cfg.get("FACE_INDEXING", "oakink")),
        }

    def _to_bins(self, points: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:
        uvd = self.codec.encode_xyz(
            points,
            batch["target_root_joint"].to(points.dtype),
            batch["target_cam_intr"].to(points.dtype),
        )
        return uvd * torch.tensor(self.bins, dtype=uvd.dtype, device=uvd.device)

    def forward(
        self, preds: Mapping[str, torch.Tensor], batch: Mapping[str, Any]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        needed_preds = ("joint_coord_img", "mesh_coord_img", "joint_img_from_mesh")
        needed_batch = (
            "target_joints_3d",
            "target_verts_3d",
            "target_root_joint",
            "target_cam_intr",
            "target_joints_vis",
            "target_verts_vis",
        )
        missing = [f"preds[{k!r}]" for k in needed_preds if k not in preds]
        missing += [f"batch[{k!r}]" for k in needed_batch if k not in batch]
        if missing:
            raise KeyError(f"I2L_MeshNet_Loss: missing {', '.join(missing)}")
        mesh = preds["mesh_coord_img"]
        joints_target = self._to_bins(batch["target_joints_3d"].to(mesh.dtype), batch)
        verts_target = self._to_bins(batch["target_verts_3d"].to(mesh.dtype), batch)
        joints_vis = batch["target_joints_vis"].to(mesh.dtype)
        verts_vis = batch["target_verts_vis"].to(mesh.dtype)
        terms = {
            "joint_fit_loss": lambda: coord_l1(preds["joint_coord_img"], joints_target, joints_vis),
            "mesh_fit_loss": lambda: coord_l1(mesh, verts_target, verts_vis),
            "mesh_joint_fit_loss": lambda: coord_l1(
                preds["joint_img_from_mesh"], joints_target, joints_vis
            ),
            "mesh_normal_loss": lambda: normal_vector_loss(
                mesh, verts_target, verts_vis, self.faces, self.face_indexing
            ),
            "mesh_edge_loss": lambda: edge_length_loss(
                mesh, verts_target, verts_vis, self.faces, self.face_indexing
            ),
        }
        total = mesh.new_zeros(())
        logged: dict[str, torch.Tensor] = {}
        for name, compute in terms.items():
            weight = self.lambdas[name]
            if weight > 0:
                value = compute()
                total = total + weight * value
                logged[name] = value.detach()
        return total, logged
