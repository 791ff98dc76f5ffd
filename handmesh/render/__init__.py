"""Pure-PyTorch triangle rasterizer: z-buffer, face ids, barycentrics, depth, Lambert shading."""

from handmesh.render.fragments import CoveredPixels, Fragments, interpolate
from handmesh.render.normals import face_normals, vertex_normals
from handmesh.render.rasterizer import project_to_pixels, rasterize
from handmesh.render.renderer import render_mesh
from handmesh.render.shading import shade_lambert

__all__ = [
    "CoveredPixels",
    "Fragments",
    "face_normals",
    "interpolate",
    "project_to_pixels",
    "rasterize",
    "render_mesh",
    "shade_lambert",
    "vertex_normals",
]
