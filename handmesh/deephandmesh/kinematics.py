"""DeepHandMesh's rig maths: Euler joint rotations, forward kinematics, skinning, rigid fit.

All functions are batched torch code (no per-sample loops) and unit-agnostic; the model calls
them in millimetres, the original's unit.

* Euler angles (radians, (..., 3) = x, y, z): ``R = Rz @ Ry @ Rx`` (x applied first), the
  original's ``euler2mat``; this is the extrinsic ``"xyz"`` convention of
  :func:`handmesh.geometry.euler_to_matrix`.
* Forward kinematics: ``G[child] = G[parent] @ L[child]`` from a given root transform; posing
  uses ``L = local_rest @ R(euler)`` (the rotation post-multiplied in the joint's own frame).
* Skinning: ``v' = sum_j W[v, j] (G_j @ B_j^-1) [v; 1]`` with the **template** inverse bind
  matrices ``B_j^-1`` (``global_pose_inv.txt``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor

from handmesh.geometry.procrustes import umeyama_similarity
from handmesh.geometry.rotations import euler_to_matrix

__all__ = [
    "euler_to_rotation",
    "forward_kinematics",
    "joint_levels",
    "linear_blend_skinning",
    "rigid_fit",
    "rigid_transform",
    "to_homogeneous",
]


def euler_to_rotation(euler: Tensor) -> Tensor:
    """(..., 3) Euler angles (x, y, z) in radians -> (..., 3, 3) ``Rz @ Ry @ Rx``."""
    return euler_to_matrix(euler, convention="xyz")


def to_homogeneous(rotation: Tensor, translation: Tensor | None = None) -> Tensor:
    """(..., 3, 3) rotation and optional (..., 3) translation -> (..., 4, 4) rigid transform."""
    shape = rotation.shape[:-2]
    if translation is None:
        translation = rotation.new_zeros((*shape, 3))
    top = torch.cat([rotation, translation.unsqueeze(-1)], dim=-1)
    bottom = rotation.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(*shape, 1, 4)
    return torch.cat([top, bottom], dim=-2)


@functools.lru_cache(maxsize=16)
def joint_levels(parents: tuple[int, ...]) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """Joints grouped by depth below the root: per level, (joint ids, their parent ids).

    The root (parent -1) is level 0 and is not listed; FK processes the levels in order.
    """
    depth = {j: 0 for j, p in enumerate(parents) if p < 0}
    pending = [j for j in range(len(parents)) if j not in depth]
    while pending:
        ready = [j for j in pending if parents[j] in depth]
        if not ready:
            raise ValueError(f"joint_levels: joints {pending} do not reach a root")
        for j in ready:
            depth[j] = depth[parents[j]] + 1
        pending = [j for j in pending if j not in depth]
    levels = []
    for level in range(1, max(depth.values()) + 1):
        joints = tuple(j for j in range(len(parents)) if depth[j] == level)
        levels.append((joints, tuple(parents[j] for j in joints)))
    return tuple(levels)


def forward_kinematics(local: Tensor, parents: Sequence[int], root_transform: Tensor) -> Tensor:
    """Global joint transforms from local ones.

    Args:
        local: (B, J, 4, 4) or (J, 4, 4) transforms of each joint in its parent's frame (the
            root's entry is not used).
        parents: (J,) parent ids, -1 for the root.
        root_transform: (B, 4, 4) or (4, 4) global transform of the root.

    Returns:
        (B, J, 4, 4) (or (J, 4, 4) when neither input is batched) global transforms,
        ``G[root] = root_transform`` and ``G[child] = G[parent] @ local[child]``.
    """
    parents = tuple(int(p) for p in parents)
    unbatched = local.dim() == 3 and root_transform.dim() == 2
    if local.dim() == 3:
        local = local.unsqueeze(0)
    if root_transform.dim() == 2:
        root_transform = root_transform.unsqueeze(0)
    batch = max(local.shape[0], root_transform.shape[0])
    local = local.expand(batch, -1, -1, -1)
    root = parents.index(-1)
    glob = local.new_zeros(batch, len(parents), 4, 4)
    glob = glob.index_copy(
        1,
        torch.tensor([root], device=local.device),
        root_transform.expand(batch, 4, 4).unsqueeze(1),
    )
    for joints, joint_parents in joint_levels(parents):
        idx = torch.tensor(joints, device=local.device)
        parent_idx = torch.tensor(joint_parents, device=local.device)
        glob = glob.index_copy(1, idx, glob[:, parent_idx] @ local[:, idx])
    return glob[0] if unbatched else glob


def linear_blend_skinning(verts: Tensor, weights: Tensor, transforms: Tensor) -> Tensor:
    """Linear blend skinning.

    Args:
        verts: (B, V, 3) rest-pose vertices.
        weights: (V, J) skinning weights.
        transforms: (B, J, 4, 4) skinning matrices (global pose @ inverse bind matrix).

    Returns:
        (B, V, 3) ``sum_j W[v, j] * (T_j @ [v; 1])[:3]``.
    """
    batch, num_joints = transforms.shape[:2]
    blended = (weights @ transforms[:, :, :3, :].reshape(batch, num_joints, 12)).view(
        batch, -1, 3, 4
    )  # (B, V, 3, 4): the weights are linear, so blending the matrices first is exact
    return (blended[..., :3] @ verts.unsqueeze(-1)).squeeze(-1) + blended[..., 3]


def rigid_fit(source: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Least-squares rotation and translation ``target ~ R @ source + t`` (Kabsch, no scale).

    A reflection (det < 0) is turned into the closest rotation by flipping the singular vector
    of the smallest singular value, as the original's ``rigid_transform_3D``. Differentiable.

    Args:
        source: (B, N, 3) points; target: (B, N, 3) points.

    Returns:
        R (B, 3, 3) with det +1 and t (B, 3).
    """
    _, rotation, _ = umeyama_similarity(source, target, fix_reflection=True)
    translation = target.mean(dim=-2) - (rotation @ source.mean(dim=-2).unsqueeze(-1)).squeeze(-1)
    return rotation, translation


def rigid_transform(source: Tensor, target: Tensor) -> Tensor:
    """:func:`rigid_fit` as (B, 4, 4) homogeneous transforms."""
    rotation, translation = rigid_fit(source, target)
    return to_homogeneous(rotation, translation)
