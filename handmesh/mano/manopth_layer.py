"""``ManoLayer``: a drop-in replacement for hassony2/manopth's layer (outputs in millimetres).

Same constructor arguments, buffer names (so state dicts embedding manopth buffers, e.g. HandOccNet
checkpoints, load) and forward semantics as manopth, without chumpy, CUDA assumptions or unsafe
unpickling. The kinematics and skinning are the native layer's (``handmesh.mano.layer``).
"""

from __future__ import annotations

import os
from typing import Any, Union

import roma
import torch
import torch.nn.functional as F
from torch import nn

from handmesh.checkpoint.adapters import state_dict_adapter
from handmesh.errors import ArgumentError
from handmesh.mano.constants import NUM_JOINTS, NUM_MANO_JOINTS
from handmesh.mano.layer import KinematicTree, canonical_joints, check_input, mano_skinning
from handmesh.mano.loader import ManoModelData, load_mano_model

__all__ = ["ManoLayer", "project_to_rotation", "rot6d_to_rotmat"]

PathLike = Union[str, "os.PathLike[str]"]
_PALM_VERTS = (95, 22)
_OPTIONAL_BUFFERS = ("th_comps",)  # absent from HandOccNet's vendored manopth


def rot6d_to_rotmat(rot6d: torch.Tensor, robust: bool = False) -> torch.Tensor:
    """(B, 6) -> (B, 3, 3) rotation, columns built from the two 3-vectors as manopth's rot6d.

    ``robust=False``: Gram-Schmidt (x = a/|a|, z = x × b normalised, y = z × x). ``robust=True``:
    both vectors weigh equally (their bisector and its orthogonal are rotated by ±45°).
    """
    first, second = rot6d[:, 0:3], rot6d[:, 3:6]
    if not robust:
        return roma.special_gramschmidt(torch.stack([first, second], -1), epsilon=1e-8)
    x = F.normalize(first, dim=1, eps=1e-8)
    y = F.normalize(second, dim=1, eps=1e-8)
    middle = F.normalize(x + y, dim=1, eps=1e-8)
    orthogonal = F.normalize(x - y, dim=1, eps=1e-8)
    x = F.normalize(middle + orthogonal, dim=1, eps=1e-8)
    y = F.normalize(middle - orthogonal, dim=1, eps=1e-8)
    z = F.normalize(torch.cross(x, y, dim=1), dim=1, eps=1e-8)
    return torch.stack([x, y, z], -1)


def project_to_rotation(matrices: torch.Tensor) -> torch.Tensor:
    """Project (..., 3, 3) matrices onto rotations by SVD (U Vᵀ), as manopth's ``rotproj``.

    Where U Vᵀ is a reflection its third column is negated (manopth's rule). Runs on the input's
    device.
    """
    u, _, vh = torch.linalg.svd(matrices)
    rot = u @ vh
    sign = torch.where(torch.linalg.det(rot) < 0, -1.0, 1.0).to(rot.dtype)
    column_sign = torch.ones_like(rot[..., :1, :])
    column_sign = torch.cat([column_sign[..., :2], sign[..., None, None]], -1)
    return rot * column_sign


class ManoLayer(nn.Module):
    """manopth's ``ManoLayer`` (hassony2/manopth master), re-implemented.

    Args (as manopth):
        center_idx: canonical joint to centre on when no translation is given (None: no centring).
        flat_hand_mean: if True, zero finger pose is the flat hand; else MANO's mean pose.
        ncomps: number of PCA pose components (used when ``use_pca``).
        side: "right" or "left".
        mano_root: folder holding MANO_RIGHT.pkl / MANO_LEFT.pkl (or a .pkl file).
        use_pca: pose coefficients are PCA coefficients (else 45 axis-angle values).
        root_rot_mode: "axisang" (3 values) or "rot6d" (6 values) for the global rotation.
        joint_rot_mode: "axisang" or "rotmat" (input (B, 16, 3, 3) matrices, only without PCA).
        robust_rot: use the symmetric 6D conversion for the root.
    Keyword-only extras:
        allow_synthetic: fall back to the built-in synthetic hand when the file is missing.
        model: model data to use directly (``load_mano_model`` / ``load_mano_from_preset``; then
            ``mano_root`` and ``allow_synthetic`` are unused and nothing is read).
        return_transforms: also return the (B, 16, 4, 4) global joint transforms in metres (not
            centred or translated), like HandOccNet's vendored copy; manopth returns 2 outputs.

    ``forward`` returns verts (B, 778, 3) and joints (B, 21, 3) in millimetres, joints in
    manopth's order (= handmesh's canonical order). As in manopth, ``joint_rot_mode='rotmat'``
    stores ``th_hands_mean_rotmat`` but ``forward`` applies the given rotations as they are.
    """

    th_betas: torch.Tensor
    th_shapedirs: torch.Tensor
    th_posedirs: torch.Tensor
    th_v_template: torch.Tensor
    th_J_regressor: torch.Tensor
    th_weights: torch.Tensor
    th_faces: torch.Tensor
    th_hands_mean: torch.Tensor
    th_selected_comps: torch.Tensor

    def __init__(
        self,
        center_idx: int | None = None,
        flat_hand_mean: bool = True,
        ncomps: int = 6,
        side: str = "right",
        mano_root: PathLike = "mano/models",
        use_pca: bool = True,
        root_rot_mode: str = "axisang",
        joint_rot_mode: str = "axisang",
        robust_rot: bool = False,
        *,
        allow_synthetic: bool = False,
        model: ManoModelData | None = None,
        return_transforms: bool = False,
    ) -> None:
        super().__init__()
        if root_rot_mode not in ("axisang", "rot6d"):
            raise ArgumentError(
                f"root_rot_mode must be 'axisang' or 'rot6d', got {root_rot_mode!r}"
            )
        if joint_rot_mode not in ("axisang", "rotmat"):
            raise ArgumentError(
                f"joint_rot_mode must be 'axisang' or 'rotmat', got {joint_rot_mode!r}"
            )
        if use_pca and not 1 <= ncomps <= 45:
            raise ArgumentError(f"ncomps must be in 1..45 with use_pca, got {ncomps}")
        if center_idx is not None and not 0 <= center_idx < NUM_JOINTS:
            raise ArgumentError(f"center_idx must be a joint index 0..20 or None, got {center_idx}")
        self.center_idx = center_idx
        self.robust_rot = robust_rot
        self.rot = 3 if root_rot_mode == "axisang" else 6
        self.flat_hand_mean = flat_hand_mean
        self.side = side
        self.use_pca = use_pca
        self.joint_rot_mode = joint_rot_mode
        self.root_rot_mode = root_rot_mode
        self.ncomps = ncomps if use_pca else 45
        self.return_transforms = return_transforms

        if model is None:
            model = load_mano_model(mano_root, side, allow_synthetic=allow_synthetic)
        elif model.side != side:
            raise ArgumentError(
                f"ManoLayer(side={side!r}) was given a {model.side!r} model ({model.source})"
            )
        self.mano_path = model.source
        self.is_synthetic = model.is_synthetic
        self.kintree_table = model.kintree_table
        self.kintree_parents = model.kintree_table[0].tolist()
        self.tree = KinematicTree(model.parents)

        def buffer(name: str, array: Any, dtype: torch.dtype = torch.float32) -> None:
            self.register_buffer(name, torch.tensor(array, dtype=dtype))

        num_betas = model.shapedirs.shape[-1]
        self.register_buffer("th_betas", torch.zeros(1, num_betas))
        buffer("th_shapedirs", model.shapedirs)
        buffer("th_posedirs", model.posedirs)
        buffer("th_v_template", model.v_template[None])
        buffer("th_J_regressor", model.J_regressor)
        buffer("th_weights", model.weights)
        buffer("th_faces", model.faces, torch.long)
        hands_mean = torch.tensor(model.hands_mean, dtype=torch.float32)[None]
        if flat_hand_mean:
            hands_mean = torch.zeros_like(hands_mean)
        if use_pca or joint_rot_mode == "axisang":
            self.register_buffer("th_hands_mean", hands_mean)
            buffer("th_comps", model.hands_components)
            buffer("th_selected_comps", model.hands_components[:ncomps])
        else:
            rotmats = roma.rotvec_to_rotmat(hands_mean.view(15, 3))
            self.register_buffer("th_hands_mean_rotmat", rotmats)

    def _local_rotations(self, th_pose_coeffs: torch.Tensor) -> torch.Tensor:
        """(B, 16, 3, 3) joint rotations from the pose input, following manopth's modes."""
        check_input("ManoLayer", "th_pose_coeffs", th_pose_coeffs, None, self.th_v_template)
        batch = th_pose_coeffs.shape[0]
        if not (self.use_pca or self.joint_rot_mode == "axisang"):
            if th_pose_coeffs.dim() != 4 or th_pose_coeffs.shape[1:] != (NUM_MANO_JOINTS, 3, 3):
                raise ValueError(
                    "ManoLayer(joint_rot_mode='rotmat'): th_pose_coeffs must have shape "
                    f"(B, 16, 3, 3), got {tuple(th_pose_coeffs.shape)}"
                )
            return project_to_rotation(th_pose_coeffs)
        needed = self.rot + self.ncomps
        if th_pose_coeffs.dim() != 2 or th_pose_coeffs.shape[1] != needed:
            raise ArgumentError(
                f"ManoLayer: th_pose_coeffs must have shape (B, {needed}) "
                f"(root {self.rot} + {self.ncomps} {'PCA' if self.use_pca else 'axis-angle'} "
                f"values), got {tuple(th_pose_coeffs.shape)}"
            )
        hand = th_pose_coeffs[:, self.rot : needed]
        if self.use_pca:
            hand = hand @ self.th_selected_comps
        hand_rot = roma.rotvec_to_rotmat((self.th_hands_mean + hand).view(batch, 15, 3))
        root = th_pose_coeffs[:, : self.rot]
        if self.rot == 3:
            root_rot = roma.rotvec_to_rotmat(root)
        else:
            root_rot = rot6d_to_rotmat(root, robust=self.robust_rot)
        return torch.cat([root_rot.unsqueeze(1), hand_rot], 1)

    def forward(
        self,
        th_pose_coeffs: torch.Tensor,
        th_betas: torch.Tensor | None = None,
        th_trans: torch.Tensor | None = None,
        root_palm: bool | torch.Tensor = False,
        share_betas: bool | torch.Tensor = False,
    ) -> tuple[torch.Tensor, ...]:
        """Pose and shape the hand (manopth semantics).

        Args:
            th_pose_coeffs: (B, rot + ncomps) root (axis-angle or 6D) + PCA/axis-angle finger
                coefficients, or (B, 16, 3, 3) rotations with ``joint_rot_mode='rotmat'``.
            th_betas: (B, 10) shapes; None or a single element means the mean shape.
            th_trans: (B, 3) translation in metres; None or all-zero means "centre on center_idx"
                (if set) instead.
            root_palm: replace the wrist joint by the mean of vertices 95 and 22.
            share_betas: average the betas over the batch.

        Returns:
            verts (B, 778, 3) mm, joints (B, 21, 3) mm [, transforms (B, 16, 4, 4) metres when
            ``return_transforms``].
        """
        rotmats = self._local_rotations(th_pose_coeffs)
        batch = rotmats.shape[0]
        num_betas = self.th_shapedirs.shape[-1]
        if th_betas is not None and th_betas.numel() != 1:
            check_input("ManoLayer", "th_betas", th_betas, (batch, num_betas), self.th_v_template)
        if th_trans is not None and th_trans.numel() != 1 and th_trans.shape != (batch, 3):
            raise ValueError(
                f"ManoLayer: th_trans must have shape ({batch}, 3) metres, got "
                f"{tuple(th_trans.shape)}"
            )
        if th_betas is None or th_betas.numel() == 1:
            v_shaped = self.th_v_template + torch.einsum(
                "vdk,bk->bvd", self.th_shapedirs, self.th_betas
            )
            joints_rest = (self.th_J_regressor @ v_shaped).expand(batch, -1, -1)
        else:
            if bool(share_betas):
                th_betas = th_betas.mean(0, keepdim=True).expand(th_betas.shape[0], -1)
            v_shaped = self.th_v_template + torch.einsum("vdk,bk->bvd", self.th_shapedirs, th_betas)
            joints_rest = self.th_J_regressor @ v_shaped
        verts, transforms = mano_skinning(
            rotmats, v_shaped, joints_rest, self.th_posedirs, self.th_weights, self.tree
        )
        native_joints = transforms[:, :, :3, 3]
        if bool(root_palm):
            palm = verts[:, list(_PALM_VERTS)].mean(1, keepdim=True)
            native_joints = torch.cat([palm, native_joints[:, 1:]], 1)
        joints = canonical_joints(native_joints, verts, self.side)

        if th_trans is None or bool(torch.norm(th_trans) == 0):
            if self.center_idx is not None:
                center = joints[:, self.center_idx].unsqueeze(1)
                joints = joints - center
                verts = verts - center
        else:
            joints = joints + th_trans.unsqueeze(1)
            verts = verts + th_trans.unsqueeze(1)
        outputs = (verts * 1000, joints * 1000)
        return (*outputs, transforms) if self.return_transforms else outputs


@state_dict_adapter(ManoLayer)
def _manopth_layout(entries: dict[str, torch.Tensor], module: ManoLayer) -> dict[str, torch.Tensor]:
    """State dicts without ``th_comps`` (HandOccNet's manopth never registered it) keep the
    layer's own copy (derived from the MANO file in use)."""
    own = dict(module.named_buffers())
    filled = {name: own[name] for name in _OPTIONAL_BUFFERS if name in own and name not in entries}
    return {**entries, **filled}
