"""What the rasterizer returns per pixel, and interpolation of vertex attributes with it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["CoveredPixels", "Fragments", "interpolate"]


@dataclass
class CoveredPixels:
    """The M covered pixels of a :class:`Fragments` as flat lists (ascending pixel order).

    Attributes:
        index: (M,) int64 flat pixel indices ``b * H * W + v * W + u``.
        batch: (M,) int64 image of each pixel.
        face: (M,) int64 visible face.
        corner_verts: (3, M) int64 vertex indices of the visible face's corners.
        bary: (M, 3) perspective-correct barycentrics (differentiable, like ``Fragments.bary``).
    """

    index: Tensor
    batch: Tensor
    face: Tensor
    corner_verts: Tensor
    bary: Tensor


class Fragments:
    """The visible (nearest) face at every pixel centre of a batch of images.

    Attributes:
        face_idx: (B, H, W) int64 index into ``faces`` of the visible face, -1 where none.
        depth: (B, H, W) camera-space z in metres of the visible surface along the pixel ray,
            0 where no face. Differentiable w.r.t. the vertices.
        bary: (B, H, W, 3) perspective-correct barycentric coordinates of the pixel centre in the
            visible face (they sum to 1), 0 where no face. Differentiable w.r.t. the vertices.
            Built on first access when only ``covered`` was given (saves memory traffic when
            only shading is needed).
        mask: (B, H, W) bool, True where a face is visible.
        faces: (F, 3) int64 the face table that was rasterized (``face_idx`` indexes it).
        covered: the same information listed for the covered pixels only; derived from the images
            on first use when not given.
    """

    def __init__(
        self,
        face_idx: Tensor,
        depth: Tensor,
        bary: Tensor | None,
        mask: Tensor,
        faces: Tensor,
        covered: CoveredPixels | None = None,
    ) -> None:
        if bary is None and covered is None:
            raise ValueError("Fragments: give bary, covered, or both")
        self.face_idx = face_idx
        self.depth = depth
        self.mask = mask
        self.faces = faces
        self.covered = covered
        self._bary = bary

    @property
    def bary(self) -> Tensor:
        if self._bary is None:
            self._bary = self.to_image(self.covered_pixels().bary)
        return self._bary

    def covered_pixels(self) -> CoveredPixels:
        """The covered pixels as flat lists (see :class:`CoveredPixels`)."""
        if self.covered is None:
            index = self.mask.reshape(-1).nonzero().squeeze(1)
            face = self.face_idx.reshape(-1).index_select(0, index)
            self.covered = CoveredPixels(
                index=index,
                batch=torch.div(index, self.mask[0].numel(), rounding_mode="floor"),
                face=face,
                corner_verts=self.faces.T.index_select(1, face),
                bary=self.bary.reshape(-1, 3).index_select(0, index),
            )
        return self.covered

    def at_covered(self, vert_attrs: Tensor) -> Tensor:
        """Interpolate (B, V, C) vertex attributes at the covered pixels only -> (M, C)."""
        batch = self.face_idx.shape[0]
        if vert_attrs.dim() != 3 or vert_attrs.shape[0] != batch:
            raise ValueError(
                f"interpolate: vert_attrs must have shape (B={batch}, V, C), got "
                f"{tuple(vert_attrs.shape)}"
            )
        num_verts, channels = vert_attrs.shape[1:]
        if self.faces.numel() and int(self.faces.max()) >= num_verts:
            raise ValueError(
                f"interpolate: faces reference vertex {int(self.faces.max())} but vert_attrs has "
                f"only {num_verts} vertices"
            )
        covered = self.covered_pixels()
        corner_ids = covered.corner_verts + covered.batch * num_verts  # (3, M)
        corner_attrs = vert_attrs.reshape(-1, channels).index_select(0, corner_ids.reshape(-1))
        first, second, third = corner_attrs.view(3, -1, channels)
        weights = covered.bary.to(vert_attrs.dtype)
        values = first * weights[:, 0:1]
        values = torch.addcmul(values, second, weights[:, 1:2])
        return torch.addcmul(values, third, weights[:, 2:3])

    def to_image(self, values: Tensor) -> Tensor:
        """Place (M, C) values of the covered pixels into a (B, H, W, C) image, 0 elsewhere."""
        batch, height, width = self.face_idx.shape
        image = values.new_zeros(batch * height * width, values.shape[-1])
        image.index_copy_(0, self.covered_pixels().index, values)
        return image.view(batch, height, width, values.shape[-1])


def interpolate(fragments: Fragments, vert_attrs: Tensor) -> Tensor:
    """Interpolate per-vertex attributes at every pixel with the perspective-correct barycentrics.

    Args:
        fragments: output of :func:`handmesh.render.rasterize`.
        vert_attrs: (B, V, C) per-vertex attributes (colours, normals, camera coordinates, ...).

    Returns:
        (B, H, W, C) interpolated attributes, 0 where no face is visible. Differentiable w.r.t.
        ``vert_attrs`` and, through the barycentrics, w.r.t. the vertex positions.
    """
    return fragments.to_image(fragments.at_covered(vert_attrs))
