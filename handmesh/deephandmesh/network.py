"""DeepHandMesh's encoder-decoder (Moon et al., ECCV 2020): its sub-networks and how they run.

Encoder: ResNet -> global average pool -> FC to 512 + ReLU (``backbone_net``) -> FC 512 -> 512,
ReLU, FC 512 -> 28 -> ``tanh * pi``, scattered into (B, 22, 3) Euler angles by the DoF mask
(``pose_net``). Decoder: a fixed identity code (``id_code``, 32 values drawn at construction and
saved in checkpoints) drives the skeleton corrective (32 -> 64 -> 66, added to every local-pose
translation) and the identity vertex corrective (32 -> 256 -> 3V); the pose corrective
(66 -> 256 -> 3V) sees the **detached** Euler angles. The corrected template is posed by Euler
forward kinematics and skinned with the template's inverse bind matrices.

Attribute names equal the original's state-dict names (``id_code``, ``backbone_net.resnet.*``,
``backbone_net.fc.0``, ``pose_net.fc.{0,2}``, ``skeleton_refine_net.fc_skeleton.{0,2}``,
``skin_refine_net.fc_{pose,id}.{0,2}``), so an official snapshot loads strictly once its
``module.`` prefix and hand-model-derived buffers are handled
(:func:`handmesh.deephandmesh.checkpoint.adapt_official_entries`). The hand model's arrays
(template, weights, rest poses, the DoF mask) are non-persistent buffers: they come from the
hand-model files, not from checkpoints.

Units: millimetres throughout (the original's), in the template's model space.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from handmesh.deephandmesh.constants import ALIGN_JOINTS
from handmesh.deephandmesh.hand_model import HandTemplate
from handmesh.deephandmesh.kinematics import (
    euler_to_rotation,
    forward_kinematics,
    linear_blend_skinning,
    rigid_transform,
    to_homogeneous,
)
from handmesh.errors import ArgumentError

__all__ = [
    "BackboneNet",
    "DeepHandMeshLayers",
    "PoseNet",
    "SkeletonRefineNet",
    "SkinRefineNet",
    "init_head_weights_",
]


def _mlp(dims: tuple[int, ...]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last): the original's
    ``make_linear_layers(..., relu_final=False)``, so the indices are 0, 2, 4, ..."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:])):
        if index:
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Linear(fan_in, fan_out))
    return nn.Sequential(*layers)


def init_head_weights_(module: nn.Module) -> None:
    """The original's training initialisation of the head layers: every ``nn.Linear`` weight
    normal with std 0.01, bias 0."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)


class BackboneNet(nn.Module):
    """image (B, 3, H, W) -> (B, feat_dim) feature: ResNet, spatial mean, FC + ReLU.

    Args:
        resnet: a handmesh ResNet (``res_layer4_mean`` in its output dict; ``out_channels``).
        feat_dim: output size (the original: 512).
    """

    def __init__(self, resnet: nn.Module, feat_dim: int = 512) -> None:
        super().__init__()
        channels = getattr(resnet, "out_channels", {}).get("res_layer4_mean")
        if channels is None:
            raise ArgumentError(
                "BackboneNet: resnet must be a handmesh ResNet (out_channels['res_layer4_mean'])"
            )
        self.resnet = resnet
        self.fc = nn.Sequential(nn.Linear(int(channels), feat_dim), nn.ReLU(inplace=True))

    def forward(self, image: Tensor) -> Tensor:
        return self.fc(self.resnet(image)["res_layer4_mean"])


class PoseNet(nn.Module):
    """(B, in_dim) feature -> (B, J, 3) Euler angles in (-pi, pi).

    The ``D = dof.sum()`` outputs of ``fc`` (in_dim -> 512 -> D) pass through ``tanh * pi`` and
    fill the nonzero entries of the (J, 3) DoF mask in row-major order (joints ascending, then
    x, y, z); the other angles are 0.
    """

    DoF: Tensor
    dof_index: Tensor

    def __init__(self, dof: Tensor, in_dim: int = 512, hidden_dim: int = 512) -> None:
        super().__init__()
        if dof.dim() != 2 or dof.shape[1] != 3:
            raise ArgumentError(f"PoseNet: dof must be a (J, 3) 0/1 mask, got {tuple(dof.shape)}")
        self.num_joints = int(dof.shape[0])
        self.register_buffer("DoF", dof.float(), persistent=False)
        dof_index = torch.nonzero(dof.reshape(-1)).squeeze(1)
        self.register_buffer("dof_index", dof_index, persistent=False)
        self.fc = _mlp((in_dim, hidden_dim, int(dof_index.numel())))

    def scatter(self, angles: Tensor) -> Tensor:
        """(B, D) angles of the free DoFs -> (B, J, 3), zero where the mask is 0."""
        out = angles.new_zeros(angles.shape[0], self.num_joints * 3)
        return out.index_copy(1, self.dof_index, angles).view(-1, self.num_joints, 3)

    def forward(self, feat: Tensor) -> Tensor:
        return self.scatter(torch.tanh(self.fc(feat)) * math.pi)


class SkeletonRefineNet(nn.Module):
    """(id_dim,) identity code -> (J, 3) bone-offset corrective, mm (32 -> 64 -> 3J)."""

    def __init__(self, num_joints: int, id_code_dim: int = 32, hidden_dim: int = 64) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.fc_skeleton = _mlp((id_code_dim, hidden_dim, num_joints * 3))

    def forward(self, id_code: Tensor) -> Tensor:
        return self.fc_skeleton(id_code).view(self.num_joints, 3)


class SkinRefineNet(nn.Module):
    """Per-vertex correctives, mm: pose (B, J*3 Euler -> 256 -> 3V) and identity (B, id_dim
    -> 256 -> 3V), each returned as (B, V, 3) (x, y, z interleaved per vertex)."""

    def __init__(
        self, num_joints: int, num_verts: int, id_code_dim: int = 32, hidden_dim: int = 256
    ) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.num_verts = num_verts
        self.fc_pose = _mlp((num_joints * 3, hidden_dim, num_verts * 3))
        self.fc_id = _mlp((id_code_dim, hidden_dim, num_verts * 3))

    def forward(self, joint_euler: Tensor, id_code: Tensor) -> tuple[Tensor, Tensor]:
        pose = self.fc_pose(joint_euler.reshape(-1, self.num_joints * 3))
        identity = self.fc_id(id_code)
        return pose.view(-1, self.num_verts, 3), identity.view(-1, self.num_verts, 3)


class DeepHandMeshLayers(nn.Module):
    """The DeepHandMesh network for one hand model (see the module docstring), as a base class:
    :meth:`build_network` adds the buffers and sub-networks to a module, the other methods run
    them. The registered model ``handmesh.models.DeepHandMesh`` is one.
    """

    template_verts: Tensor
    skinning_weights: Tensor
    local_pose: Tensor
    global_pose: Tensor
    global_pose_inv: Tensor
    faces: Tensor
    id_code: Tensor
    parents: tuple[int, ...]
    root_joint: int
    align_joints: tuple[int, ...]
    num_verts: int

    def build_network(
        self,
        *,
        template: HandTemplate,
        resnet: nn.Module,
        img_feat_dim: int = 512,
        id_code_dim: int = 32,
        align_joints: tuple[int, ...] = ALIGN_JOINTS,
        init_heads: bool = True,
    ) -> None:
        """Register the hand model's buffers and the sub-networks on ``self``.

        Args:
            template: the hand model (:func:`handmesh.deephandmesh.load_hand_model`).
            resnet: the image trunk (a handmesh ResNet; the original uses ResNet-50).
            img_feat_dim: size of the image feature (512).
            id_code_dim: size of the identity code (32).
            align_joints: joints rigidly fitted to the ground truth to place the root in
                training (the four non-thumb knuckles and the wrist).
            init_heads: initialise the head layers as the original does for training (normal
                0.01, bias 0); False keeps PyTorch's default (a checkpoint follows anyway).
        """
        num_joints = template.num_joints
        if any(not 0 <= j < num_joints for j in align_joints) or len(align_joints) < 3:
            raise ArgumentError(
                f"align_joints must be >= 3 joint ids in 0..{num_joints - 1}, got {align_joints}"
            )
        self.parents = tuple(template.parents)
        self.root_joint = template.root
        self.align_joints = tuple(int(j) for j in align_joints)
        self.num_verts = template.num_verts
        for name, array in (
            ("template_verts", template.verts),
            ("skinning_weights", template.skinning_weights),
            ("local_pose", template.local_pose),
            ("global_pose", template.global_pose),
            ("global_pose_inv", template.global_pose_inv),
        ):
            self.register_buffer(
                name, torch.as_tensor(array, dtype=torch.float32), persistent=False
            )
        self.register_buffer("faces", torch.as_tensor(template.faces).long(), persistent=False)
        self.register_buffer("id_code", torch.randn(id_code_dim))
        self.backbone_net = BackboneNet(resnet, img_feat_dim)
        self.pose_net = PoseNet(torch.as_tensor(template.dof), img_feat_dim)
        self.skeleton_refine_net = SkeletonRefineNet(num_joints, id_code_dim)
        self.skin_refine_net = SkinRefineNet(num_joints, template.num_verts, id_code_dim)
        if init_heads:
            for head in (self.pose_net, self.skeleton_refine_net, self.skin_refine_net):
                init_head_weights_(head)
            init_head_weights_(self.backbone_net.fc)

    # ----------------------------------------------------------------------------- pieces

    def encode(self, image: Tensor) -> Tensor:
        """(B, 3, H, W) RGB in [0, 1] (no mean/std normalisation) -> (B, J, 3) Euler angles."""
        return self.pose_net(self.backbone_net(image))

    def refined_rest_skeleton(self) -> tuple[Tensor, Tensor]:
        """The identity's rest skeleton: (J, 4, 4) local poses with the skeleton corrective added
        to every translation, and their (J, 4, 4) global poses from the template root's bind
        matrix (mm, model space)."""
        corrective = self.skeleton_refine_net(self.id_code)
        local = torch.cat(
            [self.local_pose[:, :3, :3], (self.local_pose[:, :3, 3] + corrective).unsqueeze(-1)],
            dim=-1,
        )
        local = torch.cat([local, self.local_pose[:, 3:, :]], dim=-2)
        glob = forward_kinematics(local, self.parents, self.global_pose[self.root_joint])
        return local, glob

    def corrected_template(self, joint_euler: Tensor) -> Tensor:
        """(B, V, 3) rest-pose template + pose corrective (detached angles) + identity corrective."""
        batch = joint_euler.shape[0]
        pose, identity = self.skin_refine_net(
            joint_euler.detach(), self.id_code.unsqueeze(0).expand(batch, -1)
        )
        return self.template_verts + pose + identity

    def skin(self, rest_verts: Tensor, global_poses: Tensor) -> Tensor:
        """LBS of (B, V, 3) rest vertices by (B, J, 4, 4) (or (J, 4, 4)) global joint poses."""
        transforms = global_poses @ self.global_pose_inv
        if transforms.dim() == 3:
            transforms = transforms.unsqueeze(0).expand(rest_verts.shape[0], -1, -1, -1)
        return linear_blend_skinning(rest_verts, self.skinning_weights, transforms)

    # ------------------------------------------------------------------------------ whole

    def pose_mm(self, joint_euler: Tensor, *, with_rest: bool = False) -> dict[str, Tensor]:
        """Pose the hand from Euler angles with the identity root (the original's ``decode``).

        The output is in the wrist frame with the template's root orientation removed (the
        original's test and demo output). Training places it with :meth:`placement` (the
        original's root from the rigid fit), which is the same as decoding from that root.

        Args:
            joint_euler: (B, J, 3) radians (x, y, z per joint; the root's are ignored).
            with_rest: also return what the penetration loss needs.

        Returns:
            ``joints`` (B, J, 3) and ``verts`` (B, V, 3) in mm; with ``with_rest`` also
            ``rest_joints`` (J, 3), the refined rest skeleton, and ``rest_verts`` (B, V, 3), the
            corrected template skinned by it (model space, mm).
        """
        if joint_euler.dim() != 3 or joint_euler.shape[1:] != self.local_pose.shape[:1] + (3,):
            raise ArgumentError(
                f"joint_euler must have shape (B, {self.local_pose.shape[0]}, 3), got "
                f"{tuple(joint_euler.shape)}"
            )
        batch = joint_euler.shape[0]
        local, rest_pose = self.refined_rest_skeleton()
        root = torch.eye(4, dtype=local.dtype, device=local.device).expand(batch, 4, 4)
        posed_local = local @ to_homogeneous(euler_to_rotation(joint_euler.to(local.dtype)))
        global_poses = forward_kinematics(posed_local, self.parents, root)
        rest_verts = self.corrected_template(joint_euler)
        out = {"joints": global_poses[..., :3, 3], "verts": self.skin(rest_verts, global_poses)}
        if with_rest:
            out["rest_joints"] = rest_pose[:, :3, 3]
            out["rest_verts"] = self.skin(rest_verts, rest_pose)
        return out

    def placement(self, joints: Tensor, target_joints: Tensor) -> Tensor:
        """(B, 4, 4) rigid transform taking the wrist-frame output onto the ground truth: the
        rigid fit of ``joints`` to ``target_joints`` (both (B, J, 3)) at ``align_joints``.

        The align joints (wrist and the non-thumb knuckles) hang from the root alone, so in the
        wrist frame they are the refined rest joints without the root's bind pose, whatever the
        angles; fitting them is the original's training root (its ``rigid_transform_3D`` of the
        refined rest joints, times the root's bind pose), with the same gradients.
        """
        align = list(self.align_joints)
        return rigid_transform(joints[:, align], target_joints[:, align].to(joints.dtype))
