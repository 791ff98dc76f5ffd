"""DeepHandMesh's training losses, vectorised (the original loops over samples, bones, views).

All inputs are in millimetres, the original's unit, so the published weights and the smooth-L1
threshold (1 mm) keep their meaning. Each function returns what ``train.py`` averages: a scalar
(``joint_loss``, ``depth_map_loss``) or a per-sample / per-vertex tensor (``.mean()`` it).

* joint: ``|pred - gt| * valid``, mean over B x J x 3.
* depth map: smooth-L1 (beta 1 mm) between rendered and ground-truth depth **where both are
  non-zero**, mean over every pixel of every view (masked pixels count as 0).
* penetration (:class:`PenetrationLoss`): rigid (sphere-swept bones must not overlap) +
  5 x non-rigid (fingertip bones must stay out of the thenar and palm skin), per sample.
* Laplacian (:class:`LaplacianLoss`): squared norm of ``v_i - mean(1-ring of v_i)`` per vertex
  of the posed mesh, from a sparse edge list (the original stores a dense V x V matrix).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from handmesh.errors import ArgumentError

__all__ = [
    "BoneSampling",
    "LaplacianLoss",
    "PenetrationLoss",
    "depth_map_loss",
    "joint_loss",
    "nearest_distance",
    "uniform_laplacian_edges",
]

LAPLACIAN_EPS = 1e-8  # added to the degree before dividing (the original's)


def joint_loss(joints: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """Mean over B x J x 3 of ``|joints - target| * valid``.

    Args:
        joints: (B, J, 3) mm; target: (B, J, 3) mm; valid: (B, J) or (B, J, 1) 0/1.
    """
    if valid.dim() == 2:
        valid = valid.unsqueeze(-1)
    return ((joints - target).abs() * valid).mean()


def depth_map_loss(rendered: Tensor, target: Tensor, beta: float = 1.0) -> Tensor:
    """Masked smooth-L1 between rendered and ground-truth depth maps, mean over all pixels.

    Args:
        rendered: (B, N, H, W) depth of N views, mm, 0 where nothing is rendered.
        target: (B, N, H, W) ground-truth depth, mm, 0 where there is no measurement.
        beta: the smooth-L1 threshold, mm (the original: 1).
    """
    if rendered.shape != target.shape:
        raise ValueError(
            f"depth_map_loss: rendered {tuple(rendered.shape)} and target "
            f"{tuple(target.shape)} must have the same shape"
        )
    mask = (rendered != 0) & (target != 0)
    loss = nn.functional.smooth_l1_loss(rendered, target, reduction="none", beta=beta)
    return (loss * mask).mean()


# ------------------------------------------------------------------------------ penetration


def _root_to_leaf_paths(parents: Sequence[int], root: int) -> list[list[int]]:
    """Every path from the root to a leaf, children visited in ascending id order."""
    children = {j: [c for c, p in enumerate(parents) if p == j] for j in range(len(parents))}
    paths: list[list[int]] = []

    def visit(joint: int, path: list[int]) -> None:
        path = [*path, joint]
        if not children[joint]:
            paths.append(path)
        for child in children[joint]:
            visit(child, path)

    visit(root, [])
    return paths


class BoneSampling:
    """Points sampled along the bones, in the original's order.

    Depth-first from the root: for each child (ascending), ``1 / step`` points at fractions
    0, step, 2 step, ... of the parent -> child bone, then the child's subtree; a leaf adds one
    point at itself. ``start``, ``end`` and ``fraction`` are (P,) arrays; ``segments(a, b)``
    gives the indices of the points on bone a -> b.
    """

    def __init__(self, parents: Sequence[int], root: int, step: float = 0.1) -> None:
        children = {j: [c for c, p in enumerate(parents) if p == j] for j in range(len(parents))}
        # the original's torch.arange(0, 1, step) in float32
        fractions = torch.arange(0, 1, step, dtype=torch.float32).tolist()
        start: list[int] = []
        end: list[int] = []
        fraction: list[float] = []

        def visit(joint: int) -> None:
            if not children[joint]:
                start.append(joint)
                end.append(joint)
                fraction.append(0.0)
            for child in children[joint]:
                for value in fractions:
                    start.append(joint)
                    end.append(child)
                    fraction.append(value)
                visit(child)

        visit(root)
        self.start = np.asarray(start, dtype=np.int64)
        self.end = np.asarray(end, dtype=np.int64)
        self.fraction = np.asarray(fraction, dtype=np.float32)

    def on_bone(self, start: int, end: int) -> np.ndarray:
        """Indices (ascending, i.e. from the parent to the child) of the points on one bone."""
        return np.nonzero((self.start == start) & (self.end == end))[0]

    def points(self, joints: Tensor) -> Tensor:
        """(..., J, 3) joint positions -> (..., P, 3) bone points."""
        start = joints[..., torch.as_tensor(self.start, device=joints.device), :]
        end = joints[..., torch.as_tensor(self.end, device=joints.device), :]
        fraction = torch.as_tensor(self.fraction, dtype=joints.dtype, device=joints.device)
        return start + (end - start) * fraction[:, None]


class PenetrationLoss(nn.Module):
    """DeepHandMesh's penetration-avoidance loss (``PenetLoss``), per sample.

    Sphere radii: every bone point of the refined **rest** skeleton gets the distance to the
    nearest vertex of the rest mesh (per sample). Rigid term: for every pair of bones along the
    root-to-leaf paths that share no joint, the mean over their 10 x 10 point pairs of
    ``max(0, r1 + r2 - d)``, averaged over the pairs. Non-rigid term: for each non-rigid joint
    (thumb1, wrist), the posed vertices of its segment against the points of the last bone of
    every non-thumb path (the fingertip bones): per sample, if some point is nearer the skin than
    its radius, ``|mean over the points from the first such one on of (d - r)|``, else 0;
    averaged over the (joint, bone) combinations. Total ``rigid_weight * rigid +
    non_rigid_weight * non_rigid`` (1 and 5).

    Args:
        parents: (J,) parent ids (-1 for the root); joint_names: (J,) names ("thumb" marks the
            thumb bones); segmentation: (V,) dominant joint per vertex; non_rigid_joints: the
            segments to keep fingertips out of; step: bone sampling step (0.1).
    """

    segmentation: Tensor
    segment_points: Tensor
    pairs: Tensor
    tip_points: Tensor

    def __init__(
        self,
        *,
        parents: Sequence[int],
        joint_names: Sequence[str],
        segmentation: np.ndarray | Tensor,
        non_rigid_joints: Sequence[int] = (3, 21),
        step: float = 0.1,
        rigid_weight: float = 1.0,
        non_rigid_weight: float = 5.0,
    ) -> None:
        super().__init__()
        parents = tuple(int(p) for p in parents)
        root = parents.index(-1)
        self.rigid_weight = float(rigid_weight)
        self.non_rigid_weight = float(non_rigid_weight)
        self.bones = BoneSampling(parents, root, step)
        segmentation = torch.as_tensor(segmentation).long()
        self.register_buffer("segmentation", segmentation, persistent=False)
        for joint in non_rigid_joints:
            if not bool((segmentation == joint).any()):
                raise ArgumentError(
                    f"PenetrationLoss: no vertex has joint {joint} ({joint_names[joint]}) as its "
                    "dominant joint; non_rigid_joints must name skin segments of the hand model"
                )
        self.non_rigid_joints = tuple(int(j) for j in non_rigid_joints)

        paths = _root_to_leaf_paths(parents, root)
        segments = [(path[i], path[i + 1]) for path in paths for i in range(len(path) - 1)]
        pairs = [
            (a, b)
            for a in range(len(segments))
            for b in range(a + 1, len(segments))
            if not (
                segments[a][0] == segments[b][0]
                or segments[a][0] == segments[b][1]
                or segments[a][1] == segments[b][0]
            )
        ]
        points = [self.bones.on_bone(*segment) for segment in segments]
        if len({len(p) for p in points}) != 1:
            raise ArgumentError("PenetrationLoss: every bone must carry the same number of points")
        self.register_buffer("segment_points", torch.as_tensor(np.stack(points)), persistent=False)
        self.register_buffer("pairs", torch.as_tensor(pairs, dtype=torch.long), persistent=False)
        tips = [
            (path[-2], path[-1])
            for path in paths
            if len(path) >= 2
            and "thumb" not in joint_names[path[-2]]
            and "thumb" not in joint_names[path[-1]]
        ]
        self.register_buffer(
            "tip_points",
            torch.as_tensor(np.stack([self.bones.on_bone(*t) for t in tips])),
            persistent=False,
        )

    def forward(
        self, rest_joints: Tensor, rest_verts: Tensor, joints: Tensor, verts: Tensor
    ) -> Tensor:
        """Per-sample loss (B,). Distances only, so any common rigid placement of the posed
        joints and mesh gives the same value.

        Args:
            rest_joints: (J, 3) refined rest skeleton, mm.
            rest_verts: (B, V, 3) corrected rest mesh, mm.
            joints: (B, J, 3) posed joints, mm.
            verts: (B, V, 3) posed mesh, mm.

        The sphere radii come from the rest skeleton and mesh without gradients (the original
        detaches both); gradients reach the posed joints and mesh.
        """
        with torch.no_grad():
            rest_points = self.bones.points(rest_joints.detach())  # (P, 3)
            rest_points = rest_points.unsqueeze(0).expand(rest_verts.shape[0], -1, -1)
            radii = nearest_distance(rest_points, rest_verts.detach())  # (B, P)
        points = self.bones.points(joints)  # (B, P, 3)
        return self.rigid_weight * self._rigid(points, radii) + self.non_rigid_weight * (
            self._non_rigid(points, radii, verts)
        )

    def _rigid(self, points: Tensor, radii: Tensor) -> Tensor:
        seg_points = points[:, self.segment_points]  # (B, S, K, 3)
        seg_radii = radii[:, self.segment_points]  # (B, S, K)
        first, second = self.pairs[:, 0], self.pairs[:, 1]
        diff = seg_points[:, first, :, None, :] - seg_points[:, second, None, :, :]
        dist = diff.square().sum(-1).sqrt()  # (B, pairs, K, K)
        limit = seg_radii[:, first, :, None] + seg_radii[:, second, None, :]
        return (limit - dist).clamp(min=0).mean(dim=(2, 3)).mean(dim=1)

    def _non_rigid(self, points: Tensor, radii: Tensor, verts: Tensor) -> Tensor:
        terms = []
        for joint in self.non_rigid_joints:
            skin = verts[:, self.segmentation == joint]  # (B, Ns, 3)
            for bone in self.tip_points:
                dist = nearest_distance(points[:, bone], skin)  # (B, K) nearest skin
                gap = dist - radii[:, bone]
                collide = gap < 0
                first = torch.where(collide.any(1), collide.float().argmax(1), collide.shape[1])
                since = torch.arange(collide.shape[1], device=collide.device) >= first[:, None]
                mean = (gap * since).sum(1) / since.sum(1).clamp(min=1)
                terms.append(mean.abs())
        return torch.stack(terms).mean(dim=0)


def nearest_distance(points: Tensor, verts: Tensor, chunk: int = 1 << 22) -> Tensor:
    """(B, P, 3) points, (B, N, 3) vertices -> (B, P) distance to the nearest vertex.

    Exact differences (not ``cdist``'s ``|x|^2 + |y|^2 - 2xy`` shortcut, which loses float32
    precision at hand coordinates of ~100 mm), in chunks of about ``chunk`` point-vertex pairs.
    """
    step = max(1, chunk // max(1, points.shape[0] * verts.shape[1]))
    parts = [
        (points[:, i : i + step, None, :] - verts[:, None, :, :]).square().sum(-1).amin(2).sqrt()
        for i in range(0, points.shape[1], step)
    ]
    return torch.cat(parts, dim=1)


# -------------------------------------------------------------------------------- Laplacian


def uniform_laplacian_edges(faces: np.ndarray | Tensor, num_verts: int) -> tuple[Tensor, Tensor]:
    """Unique directed edges (2, E) of a triangle mesh (both directions) and (V,) vertex degrees.

    Self-edges of degenerate faces are dropped.
    """
    faces = torch.as_tensor(faces).long()
    pairs = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], dim=0)
    pairs = torch.cat([pairs, pairs.flip(1)], dim=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    edges = torch.unique(pairs, dim=0).T.contiguous()
    degree = torch.bincount(edges[0], minlength=num_verts)
    return edges, degree


class LaplacianLoss(nn.Module):
    """Uniform-Laplacian smoothness: ``|v_i - sum_{j in N(i)} v_j / deg_i|^2`` per vertex (B, V).

    The original's row-normalised dense matrix (``L[i, j] = -1 / (deg_i + 1e-8)`` for every
    edge, ``L[i, i] = deg_i / (deg_i + 1e-8)``) applied as a sparse edge list: same values, no
    V x V buffer. Nothing is saved in checkpoints.
    """

    edges: Tensor
    degree: Tensor

    def __init__(self, faces: np.ndarray | Tensor, num_verts: int) -> None:
        super().__init__()
        edges, degree = uniform_laplacian_edges(faces, num_verts)
        self.register_buffer("edges", edges, persistent=False)
        self.register_buffer("degree", degree.float(), persistent=False)

    def apply_laplacian(self, verts: Tensor) -> Tensor:
        """(B, V, 3) -> (B, V, 3) ``L @ v`` per sample."""
        neighbours = torch.zeros_like(verts).index_add_(1, self.edges[0], verts[:, self.edges[1]])
        degree = self.degree.to(verts.dtype)[:, None]
        return (verts * degree - neighbours) / (degree + LAPLACIAN_EPS)

    def forward(self, verts: Tensor) -> Tensor:
        return self.apply_laplacian(verts).square().sum(-1)
