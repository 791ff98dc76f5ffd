"""Drawings: 2D skeletons, mesh outlines, sample grids (OpenCV, RGB uint8 images)."""

from handmesh.viz.grid import make_grid
from handmesh.viz.mesh import draw_mesh_outline, mesh_silhouette
from handmesh.viz.sample import draw_sample, sample_to_image
from handmesh.viz.skeleton import FINGER_COLOURS, draw_skeleton, joint_colour

__all__ = [
    "FINGER_COLOURS",
    "draw_mesh_outline",
    "draw_sample",
    "draw_skeleton",
    "joint_colour",
    "make_grid",
    "mesh_silhouette",
    "sample_to_image",
]
