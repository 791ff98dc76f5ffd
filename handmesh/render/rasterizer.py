"""A vectorised pure-PyTorch triangle rasterizer with a z-buffer.

Conventions:
    - Vertices are in the OpenCV camera frame, metres (x right, y down, z forward).
    - A vertex projects to pixel coordinates ``u = (K[0] @ X) / Z``, ``v = (K[1] @ X) / Z``, the
      same as ``handmesh.geometry.camera.project_points`` (``u = fx * X / Z + cx``).
    - Pixel ``(u, v)`` (column u, row v) has its centre at the integer coordinates ``(u, v)`` and
      covers ``[u - 0.5, u + 0.5) x [v - 0.5, v + 0.5)``. A face covers a pixel when the pixel
      centre lies inside it, on its boundary, or less than ``COVERAGE_TOL_PX`` (1e-3 px) outside
      it; the tolerance makes shared edges watertight despite rounding (a centre on a shared
      edge is claimed by both faces and the z-buffer picks one).
    - Faces with a vertex at ``z <= near`` are dropped whole (no clipping). Back faces are kept
      unless ``cull_backfaces=True``; a face is front-facing when its normal
      ``(v1 - v0) x (v2 - v0)`` points towards the camera.

How it works (all faces of the batch at once, vectorised): project the vertices; give each face
its pixel bounding box clipped to the image and the planes of its three edge distances and of
1/z (which is affine in screen space); cut the boxes into rows and, per row, solve the three
edge inequalities for the run of pixel centres inside the face; enumerate the (face, pixel)
pairs of all runs, in chunks of bounded size; z-buffer them with ``scatter_reduce('amin')`` of
a packed ``float32 depth bits << 32 | face index`` key (exact and deterministic: a depth tie
goes to the lower face index). Barycentrics and depth of the winning face are then recomputed
at each covered pixel with differentiable operations, so gradients reach the vertices of every
visible face (and only those).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from handmesh.render.fragments import CoveredPixels, Fragments

__all__ = ["DEFAULT_NEAR", "project_to_pixels", "rasterize"]

DEFAULT_NEAR = 1e-3  # metres
COVERAGE_TOL_PX = 1e-3  # pixel centres this close outside an edge still count as covered
ROW_COST_IN_PAIRS = 8  # memory of one bounding-box row, in (face, pixel) pairs
NO_FACE_KEY = torch.iinfo(torch.int64).max


def rasterize(
    verts: Tensor,
    faces: Tensor,
    intr: Tensor,
    image_size: Sequence[int],
    *,
    near: float = DEFAULT_NEAR,
    cull_backfaces: bool = False,
    max_pairs_per_chunk: int = 1 << 18,
) -> Fragments:
    """Rasterize a batch of triangle meshes that share one face table.

    Args:
        verts: (B, V, 3) camera-space vertices, metres (OpenCV frame).
        faces: (F, 3) integer vertex indices.
        intr: (B, 3, 3) or (3, 3) pinhole intrinsics, pixels.
        image_size: (H, W) in pixels.
        near: faces with any vertex at ``z <= near`` (metres) are dropped.
        cull_backfaces: drop faces whose normal points away from the camera.
        max_pairs_per_chunk: bound on the (face, pixel) candidate pairs processed at once; it
            bounds memory (about 100 bytes per pair) for large images or large faces.

    Returns:
        :class:`Fragments` with (B, H, W) ``face_idx``, ``depth`` (metres), ``mask`` and
        (B, H, W, 3) perspective-correct ``bary``; ``depth`` and ``bary`` are differentiable
        w.r.t. ``verts`` (and ``intr``). Everything is on ``verts.device``.
    """
    faces, intr, height, width = _check_inputs(verts, faces, intr, image_size, max_pairs_per_chunk)
    batch, num_verts = verts.shape[:2]
    # (3, B*V) rows: pixel u, pixel v, camera z of every vertex of the batch.
    uvz = torch.cat([project_to_pixels(verts, intr, near), verts[..., 2:]], dim=-1)
    uvz = uvz.reshape(-1, 3).T.contiguous()
    corners_of_face = faces.T.contiguous()  # (3, F)
    with torch.no_grad():
        zbuffer = _nearest_face_keys(
            uvz.detach(),
            verts.detach(),
            corners_of_face,
            height,
            width,
            near,
            cull_backfaces,
            max_pairs_per_chunk,
        )
    face_idx, mask = _face_index_image(zbuffer)
    covered = mask.nonzero().squeeze(1)
    face_of_pixel = face_idx.index_select(0, covered)
    batch_idx = torch.div(covered, height * width, rounding_mode="floor")
    corner_verts = corners_of_face.index_select(1, face_of_pixel)  # (3, M)
    bary, depth = _perspective_barycentrics(
        uvz, corner_verts + batch_idx * num_verts, covered - batch_idx * (height * width), width
    )
    num_pixels = batch * height * width
    depth_img = verts.new_zeros(num_pixels).index_copy_(0, covered, depth)
    return Fragments(
        face_idx=face_idx.view(batch, height, width),
        depth=depth_img.view(batch, height, width),
        bary=None,  # built from ``covered`` on first access
        mask=mask.view(batch, height, width),
        faces=faces,
        covered=CoveredPixels(
            index=covered, batch=batch_idx, face=face_of_pixel, corner_verts=corner_verts, bary=bary
        ),
    )


def project_to_pixels(verts: Tensor, intr: Tensor, near: float = DEFAULT_NEAR) -> Tensor:
    """(B, V, 3) camera metres, (B, 3, 3) intrinsics -> (B, V, 2) pixel coordinates (u, v).

    Depths are clamped to ``near`` before dividing, so vertices behind the camera give finite
    (meaningless) coordinates; the rasterizer drops their faces.
    """
    homogeneous = torch.einsum("bij,bvj->bvi", intr[:, :2, :], verts)
    return homogeneous / verts[..., 2:3].clamp(min=near)


def _check_inputs(
    verts: Tensor, faces: Tensor, intr: Tensor, image_size: Sequence[int], max_pairs: int
) -> tuple[Tensor, Tensor, int, int]:
    if not isinstance(verts, Tensor) or verts.dim() != 3 or verts.shape[-1] != 3:
        shape = tuple(verts.shape) if isinstance(verts, Tensor) else type(verts).__name__
        raise ValueError(f"rasterize: verts must be a (B, V, 3) tensor, got {shape}")
    if not verts.is_floating_point():
        raise TypeError(f"rasterize: verts must be floating point, got {verts.dtype}")
    for name, value in (("faces", faces), ("intr", intr)):
        if not isinstance(value, Tensor):
            raise TypeError(
                f"rasterize: {name} must be a torch.Tensor, got {type(value).__name__} "
                f"(use torch.as_tensor)"
            )
    if faces.dim() != 2 or faces.shape[1] != 3:
        raise ValueError(f"rasterize: faces must have shape (F, 3), got {tuple(faces.shape)}")
    if faces.is_floating_point() or faces.dtype == torch.bool:
        raise TypeError(f"rasterize: faces must be an integer tensor, got {faces.dtype}")
    faces = faces.to(device=verts.device, dtype=torch.int64)
    num_verts = verts.shape[1]
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= num_verts):
        raise ValueError(
            f"rasterize: faces index vertices in [{int(faces.min())}, {int(faces.max())}] but "
            f"verts has {num_verts} vertices"
        )
    if intr.shape == (3, 3):
        intr = intr.expand(verts.shape[0], 3, 3)
    if intr.shape != (verts.shape[0], 3, 3):
        raise ValueError(
            f"rasterize: intr must have shape (B={verts.shape[0]}, 3, 3) or (3, 3), got "
            f"{tuple(intr.shape)}"
        )
    intr = intr.to(device=verts.device, dtype=verts.dtype)
    if len(image_size) != 2 or any(int(s) != s or s <= 0 for s in image_size):
        raise ValueError(f"rasterize: image_size must be (H, W) positive ints, got {image_size}")
    if max_pairs < 1:
        raise ValueError(f"rasterize: max_pairs_per_chunk must be >= 1, got {max_pairs}")
    if faces.shape[0] >= 2**31:
        raise ValueError(f"rasterize: too many faces ({faces.shape[0]}) for the packed z-buffer")
    return faces, intr, int(image_size[0]), int(image_size[1])


def _nearest_face_keys(
    uvz: Tensor,
    verts: Tensor,
    corners_of_face: Tensor,
    height: int,
    width: int,
    near: float,
    cull_backfaces: bool,
    max_pairs: int,
) -> Tensor:
    """Z-buffer pass (no gradients): (B*H*W,) int64 keys ``float32 depth bits << 32 | face``.

    Pixels no face covers hold ``NO_FACE_KEY``, whose low 32 bits read as -1.
    """
    zbuffer = torch.full(
        (verts.shape[0] * height * width,), NO_FACE_KEY, dtype=torch.int64, device=uvz.device
    )
    setup = _setup_faces(uvz, verts, corners_of_face, height, width, near, cull_backfaces)
    if setup is None:
        return zbuffer
    row_budget = max(1, max_pairs // ROW_COST_IN_PAIRS)
    for face_lo, face_hi in _chunks(setup.box_height, row_budget):
        spans = _row_spans(setup, face_lo, face_hi, width)
        for row_lo, row_hi in _chunks(spans.length, max_pairs):
            _scatter_spans(zbuffer, spans, row_lo, row_hi)
    return zbuffer


def _chunks(counts: Tensor, budget: int) -> list[tuple[int, int]]:
    """Split ``range(len(counts))`` into consecutive blocks whose counts sum to about ``budget``.

    A block exceeds ``budget`` by at most its last element's count.
    """
    ends = torch.cumsum(counts, 0)
    total = int(ends[-1]) if ends.numel() else 0
    if total <= budget:
        return [(0, counts.shape[0])]
    marks = torch.arange(1, -(-total // budget), device=counts.device) * budget
    cuts = [0, *torch.searchsorted(ends - counts, marks, right=True).tolist(), counts.shape[0]]
    return [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo]


@dataclass
class _FaceSetup:
    """The faces of the batch that may cover pixels: clipped bounding boxes and planes."""

    planes: Tensor  # (12, K) rows 0-3: signed distances (px) to the 3 edges and 1/z (1/m) at the
    # box's top-left pixel; rows 4-7: their change per pixel step in x; rows 8-11: in y
    box_width: Tensor  # (K,) int64 pixels, >= 1
    box_height: Tensor  # (K,) int64 pixels, >= 1
    first_pixel: Tensor  # (K,) int64 flat index b*H*W + v*W + u of the box's top-left pixel
    face: Tensor  # (K,) int64 index into the face table


@dataclass
class _RowSpans:
    """For each row of each face's box, the run of pixels whose centres the face covers."""

    length: Tensor  # (R,) int64 covered pixels, possibly 0
    first_pixel: Tensor  # (R,) int64 flat index of the run's first pixel
    inv_z: Tensor  # (R,) 1/z at the run's first pixel
    inv_z_step: Tensor  # (R,) change of 1/z per pixel step in x
    face: Tensor  # (R,) int64 index into the face table


def _setup_faces(
    uvz: Tensor,
    verts: Tensor,
    corners_of_face: Tensor,
    height: int,
    width: int,
    near: float,
    cull_backfaces: bool,
) -> _FaceSetup | None:
    """Bounding box, edge distance planes and 1/z plane of every face of the batch.

    ``uvz`` (3, B*V) holds the vertices' pixel coordinates and camera depth, ``corners_of_face``
    (3, F) the vertex indices of each face's corners.
    """
    batch, num_verts = verts.shape[:2]
    num_faces = corners_of_face.shape[1]
    offsets = torch.arange(batch, device=uvz.device) * num_verts
    corner_ids = (corners_of_face[:, None, :] + offsets[None, :, None]).reshape(-1)
    u, v, z = uvz.index_select(1, corner_ids).view(3, 3, -1)  # (3 corners, B*F) each
    # Edge i runs from corner i+1 to corner i+2 (opposite corner i).
    start_u, start_v = u.roll(-1, 0), v.roll(-1, 0)
    edge_u, edge_v = u.roll(-2, 0) - start_u, v.roll(-2, 0) - start_v
    area2 = edge_u[1] * edge_v[2] - edge_v[1] * edge_u[2]  # signed, twice the area in px^2
    box_lo = torch.ceil(torch.stack([u.amin(0), v.amin(0)]) - COVERAGE_TOL_PX)  # (2, N)
    box_hi = torch.floor(torch.stack([u.amax(0), v.amax(0)]) + COVERAGE_TOL_PX)
    limit = box_lo.new_tensor([[width], [height]])
    valid = (z.amin(0) > near) & torch.isfinite(area2) & (area2 != 0)
    valid &= (box_lo < limit).all(0) & (box_hi >= 0).all(0)
    if cull_backfaces:
        tri = verts[:, corners_of_face.T].reshape(-1, 3, 3)
        normal = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        valid &= (normal * tri[:, 0]).sum(dim=1) < 0  # the normal points at the camera
    keep = valid.nonzero().squeeze(1)
    if keep.numel() == 0:
        return None
    box_lo = box_lo.clamp(min=0)
    box_size = torch.minimum(box_hi, limit - 1) - box_lo + 1  # >= 1 for kept faces

    # Inward unit normal of each edge (flipped for clockwise faces) -> signed distances in px.
    edge_len = torch.hypot(edge_u, edge_v)
    scale = torch.sign(area2) / edge_len
    normal_u, normal_v = -edge_v * scale, edge_u * scale
    dist0 = normal_u * (box_lo[0] - start_u) + normal_v * (box_lo[1] - start_v)
    # 1/z is affine in screen space: 1/z = sum_i bary_i / z_i, bary_i = dist_i * len_i / |area2|.
    weight = edge_len / (area2.abs() * z)
    planes = torch.cat(
        [
            dist0,
            (dist0 * weight).sum(0, keepdim=True),
            normal_u,
            (normal_u * weight).sum(0, keepdim=True),
            normal_v,
            (normal_v * weight).sum(0, keepdim=True),
        ]
    ).index_select(1, keep)
    box_lo, box_size = box_lo.index_select(1, keep).long(), box_size.index_select(1, keep).long()
    batch_idx = torch.div(keep, num_faces, rounding_mode="floor")
    return _FaceSetup(
        planes=planes,
        box_width=box_size[0],
        box_height=box_size[1],
        first_pixel=batch_idx * (height * width) + box_lo[1] * width + box_lo[0],
        face=keep - batch_idx * num_faces,
    )


def _row_spans(setup: _FaceSetup, lo: int, hi: int, width: int) -> _RowSpans:
    """Cut faces ``lo:hi`` into box rows; per row, the pixel run inside all three edges."""
    device = setup.planes.device
    num_rows = setup.box_height[lo:hi]
    row_face = torch.repeat_interleave(torch.arange(lo, hi, device=device), num_rows)
    row = torch.arange(row_face.shape[0], device=device) - torch.repeat_interleave(
        torch.cumsum(num_rows, 0) - num_rows, num_rows
    )
    planes = setup.planes.index_select(1, row_face)  # (12, R)
    row_y = row.to(planes.dtype)
    # Along a row, edge distance i is dist_i + slope_i * x (x in pixels from the box's left).
    dist = torch.addcmul(planes[0:3], planes[8:11], row_y) + COVERAGE_TOL_PX
    # A horizontal edge (slope 0) gets a tiny positive slope: its crossing is then far left of
    # the row when the row is inside that edge (no constraint) and far right when outside.
    slope = planes[4:7]
    slope = torch.where(slope == 0, torch.finfo(slope.dtype).tiny, slope)
    crossing = -dist / slope
    x_min = torch.where(slope > 0, crossing, -torch.inf).amax(dim=0)
    x_max = torch.where(slope < 0, crossing, torch.inf).amin(dim=0)
    first = torch.ceil(x_min.clamp(0, width)).long()
    box_last = setup.box_width.index_select(0, row_face) - 1
    last = torch.minimum(torch.floor(x_max.clamp(-1, width)).long(), box_last)
    length = (last - first + 1).clamp(min=0)
    first_f = first.to(planes.dtype)
    return _RowSpans(
        length=length,
        first_pixel=setup.first_pixel.index_select(0, row_face) + row * width + first,
        inv_z=torch.addcmul(torch.addcmul(planes[3], planes[11], row_y), planes[7], first_f),
        inv_z_step=planes[7],
        face=setup.face.index_select(0, row_face),
    )


def _scatter_spans(zbuffer: Tensor, spans: _RowSpans, lo: int, hi: int) -> None:
    """Z-buffer every (face, pixel) pair of the runs ``lo:hi``."""
    device = zbuffer.device
    length = spans.length[lo:hi]
    total = int(length.sum())
    if total == 0:
        return
    run_start = torch.cumsum(length, 0) - length
    run = torch.repeat_interleave(torch.arange(lo, hi, device=device), length, output_size=total)
    offset = torch.arange(total, device=device) - run_start.index_select(0, run - lo)
    inv_z = torch.addcmul(
        spans.inv_z.index_select(0, run),
        spans.inv_z_step.index_select(0, run),
        offset.to(spans.inv_z.dtype),
    )
    depth_bits = torch.reciprocal(inv_z).float().view(torch.int32).long()
    key = torch.bitwise_or(depth_bits << 32, spans.face.index_select(0, run))
    pixel = offset.add_(spans.first_pixel.index_select(0, run))
    zbuffer.scatter_reduce_(0, pixel, key, reduce="amin")


def _face_index_image(zbuffer: Tensor) -> tuple[Tensor, Tensor]:
    """Turn the z-buffer, in place, into (B*H*W,) face indices (-1: none) and a mask."""
    # Keep the low 32 bits, sign-extended: the face index, or -1 from NO_FACE_KEY.
    face_idx = zbuffer.bitwise_left_shift_(32).bitwise_right_shift_(32)
    return face_idx, face_idx >= 0


def _perspective_barycentrics(
    uvz: Tensor, corner_ids: Tensor, pixel_in_image: Tensor, width: int
) -> tuple[Tensor, Tensor]:
    """Differentiable perspective-correct barycentrics (M, 3) and depth (M,) at covered pixels.

    ``uvz`` (3, B*V) pixel coordinates and camera depth of the vertices; ``corner_ids`` (3, M)
    the flat vertex index (``b * V + v``) of each corner of the visible face; ``pixel_in_image``
    (M,) the pixel index ``v * W + u`` within its image.
    """
    row = torch.div(pixel_in_image, width, rounding_mode="floor")
    x = (pixel_in_image - row * width).to(uvz.dtype)
    y = row.to(uvz.dtype)
    (u0, u1, u2), (v0, v1, v2), (z0, z1, z2) = uvz.index_select(1, corner_ids.reshape(-1)).view(
        3, 3, -1
    )
    # Edge functions: twice the signed area of the sub-triangle opposite each vertex.
    e0 = (u2 - u1) * (y - v1) - (v2 - v1) * (x - u1)
    e1 = (u0 - u2) * (y - v2) - (v0 - v2) * (x - u2)
    e2 = (u1 - u0) * (y - v0) - (v1 - v0) * (x - u0)
    weighted = torch.stack([e0 / z0, e1 / z1, e2 / z2], dim=1)  # bary_i / z_i, common factor
    inv_depth = weighted.sum(dim=1)
    return weighted / inv_depth[:, None], (e0 + e1 + e2) / inv_depth
