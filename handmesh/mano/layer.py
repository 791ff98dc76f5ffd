"""The native MANO layer (metres) and the skinning core shared with the manopth drop-in.

Pipeline (Romero et al. 2017): shape blend shapes -> rest joints by ``J_regressor`` -> pose blend
shapes from the flattened (R - I) of joints 1..15 -> forward kinematics -> linear blend skinning.
Everything is vectorised over the batch and over each depth level of the kinematic tree.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple, Union

import numpy as np
import roma
import torch
from torch import nn

from handmesh.errors import ArgumentError
from handmesh.mano.constants import (
    MANO_TIPS_TO_CANONICAL,
    NUM_JOINTS,
    NUM_MANO_JOINTS,
    TIP_VERTEX_IDS_LEFT,
    TIP_VERTEX_IDS_RIGHT,
)
from handmesh.mano.loader import ManoModelData, load_mano_model

__all__ = [
    "MANO",
    "KinematicTree",
    "ManoOutput",
    "canonical_joints",
    "check_input",
    "forward_kinematics",
    "mano_skinning",
]

PathLike = Union[str, "os.PathLike[str]"]
_NUM_HAND_POSE = 45


class KinematicTree:
    """A joint tree grouped by depth, for level-by-level (vectorised) forward kinematics.

    Args:
        parents: parent index of each joint, -1 for a root (MANO: ``ManoModelData.parents``).
    """

    def __init__(self, parents: Sequence[int]) -> None:
        num = len(parents)
        depths = []
        for joint in range(num):
            depth, current = 0, joint
            while parents[current] != -1:
                parent = parents[current]
                if not 0 <= parent < num:
                    raise ValueError(f"joint {current} has parent {parent}, outside [0, {num})")
                if depth >= num:
                    raise ValueError(f"kinematic tree parents {tuple(parents)} contain a cycle")
                depth, current = depth + 1, parent
            depths.append(depth)
        self.parents = tuple(int(p) for p in parents)
        self.levels: list[list[int]] = [
            [j for j in range(num) if depths[j] == d] for d in range(max(depths) + 1)
        ]
        self.parent_slots: list[list[int]] = [[]] + [
            [self.levels[d - 1].index(self.parents[j]) for j in self.levels[d]]
            for d in range(1, len(self.levels))
        ]
        level_order = [j for level in self.levels for j in level]
        self.restore_order = [level_order.index(j) for j in range(num)]


def forward_kinematics(
    rotmats: torch.Tensor, joints_rest: torch.Tensor, tree: KinematicTree
) -> torch.Tensor:
    """Global joint transforms from local rotations and rest joint positions.

    Args:
        rotmats: (B, J, 3, 3) local rotation of each joint (the root's is the global rotation).
        joints_rest: (B, J, 3) rest-pose joint positions.
        tree: the kinematic tree.

    Returns:
        (B, J, 4, 4) global transforms: rotation and posed joint position (same unit as input).
    """
    rot_levels: list[torch.Tensor] = []
    trans_levels: list[torch.Tensor] = []
    for depth, joints in enumerate(tree.levels):
        local_rot = rotmats[:, joints]
        if depth == 0:
            rot, trans = local_rot, joints_rest[:, joints]
        else:
            parents = [tree.parents[j] for j in joints]
            offset = joints_rest[:, joints] - joints_rest[:, parents]
            parent_rot = rot_levels[-1][:, tree.parent_slots[depth]]
            parent_trans = trans_levels[-1][:, tree.parent_slots[depth]]
            rot = parent_rot @ local_rot
            trans = (parent_rot @ offset.unsqueeze(-1)).squeeze(-1) + parent_trans
        rot_levels.append(rot)
        trans_levels.append(trans)
    rot = torch.cat(rot_levels, 1)[:, tree.restore_order]
    trans = torch.cat(trans_levels, 1)[:, tree.restore_order]
    top = torch.cat([rot, trans.unsqueeze(-1)], -1)
    bottom = top.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(*top.shape[:2], 1, 4)
    return torch.cat([top, bottom], -2)


def mano_skinning(
    rotmats: torch.Tensor,
    v_shaped: torch.Tensor,
    joints_rest: torch.Tensor,
    posedirs: torch.Tensor,
    weights: torch.Tensor,
    tree: KinematicTree,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose blend shapes, forward kinematics and linear blend skinning.

    Args:
        rotmats: (B, 16, 3, 3) local joint rotations (native MANO order).
        v_shaped: (B or 1, 778, 3) shaped rest vertices.
        joints_rest: (B, 16, 3) rest joints regressed from ``v_shaped``.
        posedirs: (778, 3, 135) pose blend shapes.
        weights: (778, 16) skinning weights.
        tree: MANO's kinematic tree.

    Returns:
        verts (B, 778, 3) and global transforms (B, 16, 4, 4), in the unit of the inputs.
    """
    eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
    pose_feature = (rotmats[:, 1:] - eye).flatten(1)
    v_posed = v_shaped + torch.einsum("vdk,bk->bvd", posedirs, pose_feature)
    transforms = forward_kinematics(rotmats, joints_rest, tree)
    rot = transforms[:, :, :3, :3]
    rest_removed = transforms[:, :, :3, 3] - (rot @ joints_rest.unsqueeze(-1)).squeeze(-1)
    skin = torch.cat([rot, rest_removed.unsqueeze(-1)], -1)  # (B, 16, 3, 4)
    blended = torch.einsum("vj,bjxy->bvxy", weights, skin)
    verts = (blended[..., :3] @ v_posed.unsqueeze(-1)).squeeze(-1) + blended[..., 3]
    return verts, transforms


def canonical_joints(native_joints: torch.Tensor, verts: torch.Tensor, side: str) -> torch.Tensor:
    """The 21 canonical joints: 16 native joints plus the side's fingertip vertices, re-ordered.

    Args:
        native_joints: (B, 16, 3) joints in native MANO order.
        verts: (B, 778, 3) vertices (fingertips are taken from them).
        side: "right" or "left" (the left middle tip is vertex 445, as manopth).

    Returns:
        (B, 21, 3) joints in the canonical order of ``handmesh.mano.constants``.
    """
    tip_ids = TIP_VERTEX_IDS_RIGHT if side == "right" else TIP_VERTEX_IDS_LEFT
    with_tips = torch.cat([native_joints, verts[:, list(tip_ids)]], 1)
    return with_tips[:, list(MANO_TIPS_TO_CANONICAL)]


def check_input(
    where: str, name: str, tensor: object, shape: tuple[int, ...] | None, like: torch.Tensor
) -> None:
    """Raise a clear error unless ``tensor`` is a tensor of ``shape`` with ``like``'s device/dtype.

    ``where`` names the caller in the message (e.g. ``"MANO.forward"``); ``shape=None`` skips the
    shape check.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{where}: {name} must be a torch.Tensor, got {type(tensor).__name__}")
    if shape is not None and tuple(tensor.shape) != shape:
        raise ValueError(f"{where}: {name} must have shape {shape}, got {tuple(tensor.shape)}")
    if tensor.device != like.device:
        raise ValueError(
            f"{where}: {name} is on {tensor.device} but the layer is on {like.device}; "
            "move one of them (layer.to(device))"
        )
    if tensor.dtype != like.dtype:
        raise TypeError(
            f"{where}: {name} is {tensor.dtype} but the layer is {like.dtype}; "
            "convert the input or the layer (layer.double() / layer.float())"
        )


class ManoOutput(NamedTuple):
    """Output of ``MANO.forward``.

    Attributes:
        verts: (B, 778, 3) metres.
        joints: (B, 21, 3) metres, canonical order (wrist, thumb1-4, index1-4, ... pinky1-4).
        transforms: (B, 16, 4, 4) global joint transforms, native MANO order; their translation is
            the posed joint position in the output frame (after centring and ``transl``).
        full_pose: (B, 48) axis-angle of the 16 joints actually applied (hands_mean included).
    """

    verts: torch.Tensor
    joints: torch.Tensor
    transforms: torch.Tensor
    full_pose: torch.Tensor


class MANO(nn.Module):
    """The MANO hand model as a differentiable layer (metres, OpenCV-free model frame).

    Args:
        side: "right" or "left".
        model_path: a MANO .pkl or the folder holding it (see ``load_mano_model``).
        use_pca: pose input is (B, 3 + num_pca_comps) PCA coefficients instead of (B, 48).
        num_pca_comps: number of PCA components (1..45).
        flat_hand_mean: if False, the finger pose is an offset from MANO's mean pose
            (``hands_mean`` is added); if True, zero pose is the flat hand.
        center_idx: canonical joint index (0..20) to subtract from verts and joints, or None.
        fix_left_shapedirs: negate ``shapedirs[:, 0, :]`` of the left hand, fixing the x-sign
            error of MANO_LEFT.pkl (smplx#48, dex-ycb-toolkit#28). Off by default because DexYCB
            annotations were fitted without it; no effect on the right hand, nor on the built-in
            synthetic left hand, which is mirrored correctly and has no such error.
        allow_synthetic: fall back to the built-in synthetic hand when the file is missing.
        model: model data to use directly (then ``model_path`` and ``allow_synthetic`` are unused).
        dtype: floating dtype of the buffers (torch.float32 or torch.float64).

    The model buffers are not saved in state dicts (they are MANO data, loaded from the file).
    """

    v_template: torch.Tensor
    shapedirs: torch.Tensor
    posedirs: torch.Tensor
    J_regressor: torch.Tensor
    weights: torch.Tensor
    hands_components: torch.Tensor
    hands_mean: torch.Tensor
    faces: torch.Tensor

    def __init__(
        self,
        side: str = "right",
        model_path: PathLike | None = None,
        use_pca: bool = False,
        num_pca_comps: int = 45,
        flat_hand_mean: bool = False,
        center_idx: int | None = None,
        fix_left_shapedirs: bool = False,
        allow_synthetic: bool = False,
        model: ManoModelData | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if model is None:
            model = load_mano_model(model_path, side, allow_synthetic=allow_synthetic)
        elif model.side != side:
            raise ArgumentError(
                f"MANO(side={side!r}) was given a {model.side!r} model ({model.source})"
            )
        if use_pca and not 1 <= num_pca_comps <= _NUM_HAND_POSE:
            raise ArgumentError(f"num_pca_comps must be in 1..45, got {num_pca_comps}")
        if center_idx is not None and not 0 <= center_idx < NUM_JOINTS:
            raise ArgumentError(
                f"center_idx must be a canonical joint index 0..20, got {center_idx}"
            )
        if dtype not in (torch.float32, torch.float64):
            raise ArgumentError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.side = side
        self.use_pca = use_pca
        self.num_pca_comps = num_pca_comps if use_pca else _NUM_HAND_POSE
        self.flat_hand_mean = flat_hand_mean
        self.center_idx = center_idx
        self.fix_left_shapedirs = fix_left_shapedirs
        self.is_synthetic = model.is_synthetic
        self.source = model.source
        self.tree = KinematicTree(model.parents)

        def buffer(name: str, array: object, buffer_dtype: torch.dtype = dtype) -> None:
            self.register_buffer(name, torch.tensor(array, dtype=buffer_dtype), persistent=False)

        shapedirs = model.shapedirs.copy()
        if fix_left_shapedirs and side == "left" and not model.is_synthetic:
            shapedirs[:, 0, :] *= -1
        buffer("v_template", model.v_template)
        buffer("shapedirs", shapedirs)
        buffer("posedirs", model.posedirs)
        buffer("J_regressor", model.J_regressor)
        buffer("weights", model.weights)
        buffer("hands_components", model.hands_components[: self.num_pca_comps])
        hands_mean = np.zeros_like(model.hands_mean) if flat_hand_mean else model.hands_mean
        buffer("hands_mean", hands_mean)
        buffer("faces", model.faces, torch.long)

    @property
    def pose_dim(self) -> int:
        """Length of the pose vector ``forward`` expects (48, or 3 + num_pca_comps with PCA)."""
        return 3 + self.num_pca_comps

    def full_pose(self, pose: torch.Tensor) -> torch.Tensor:
        """(B, 48) axis-angle applied by the layer: PCA decoded, hands_mean added if not flat."""
        hand = pose[:, 3:]
        if self.use_pca:
            hand = hand @ self.hands_components
        return torch.cat([pose[:, :3], hand + self.hands_mean], 1)

    def forward(
        self,
        pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> ManoOutput:
        """Pose and shape the hand.

        Args:
            pose: (B, 48) axis-angle (global + 15 joints, native order), or (B, 3 + num_pca_comps)
                global axis-angle + PCA coefficients when ``use_pca``.
            betas: (B, 10) shape coefficients, or None for the mean shape.
            transl: (B, 3) translation in metres added after centring, or None.

        Returns:
            ManoOutput(verts, joints, transforms, full_pose); see its docstring.
        """
        batch = pose.shape[0] if isinstance(pose, torch.Tensor) and pose.dim() > 0 else -1
        check_input("MANO.forward", "pose", pose, (batch, self.pose_dim), self.v_template)
        if betas is None:
            betas = pose.new_zeros(batch, self.shapedirs.shape[-1])
        num_betas = self.shapedirs.shape[-1]
        check_input("MANO.forward", "betas", betas, (batch, num_betas), self.v_template)
        if transl is not None:
            check_input("MANO.forward", "transl", transl, (batch, 3), self.v_template)

        full_pose = self.full_pose(pose)
        rotmats = roma.rotvec_to_rotmat(full_pose.view(batch, NUM_MANO_JOINTS, 3))
        v_shaped = self.v_template + torch.einsum("vdk,bk->bvd", self.shapedirs, betas)
        joints_rest = torch.einsum("jv,bvd->bjd", self.J_regressor, v_shaped)
        verts, transforms = mano_skinning(
            rotmats, v_shaped, joints_rest, self.posedirs, self.weights, self.tree
        )
        joints = canonical_joints(transforms[:, :, :3, 3], verts, self.side)

        offset = pose.new_zeros(batch, 1, 3)
        if self.center_idx is not None:
            offset = offset - joints[:, self.center_idx : self.center_idx + 1]
        if transl is not None:
            offset = offset + transl.unsqueeze(1)
        verts = verts + offset
        joints = joints + offset
        moved = torch.cat([transforms[:, :, :3, 3] + offset, transforms.new_ones(batch, 16, 1)], -1)
        transforms = torch.cat([transforms[:, :, :, :3], moved.unsqueeze(-1)], -1)
        return ManoOutput(verts, joints, transforms, full_pose)
