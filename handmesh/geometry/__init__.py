"""Geometry: rotation conversions (``rotations``), pinhole cameras and normalised uvd (``camera``),
Procrustes / Umeyama alignment (``procrustes``) and bbox / affine crop maths (``crop``)."""

from handmesh.geometry.camera import (
    UVD_DEPTH_RANGE,
    pixel_to_camera,
    project_points,
    uvd_to_xyz,
    xyz_to_uvd,
)
from handmesh.geometry.procrustes import procrustes_align, umeyama_align, umeyama_similarity
from handmesh.geometry.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion_wxyz,
    axis_angle_to_quaternion_xyzw,
    euler_to_matrix,
    matrix_to_axis_angle,
    matrix_to_euler,
    matrix_to_quaternion_wxyz,
    matrix_to_quaternion_xyzw,
    matrix_to_rotation_6d,
    quaternion_wxyz_to_matrix,
    quaternion_xyzw_to_matrix,
    rotation_6d_to_matrix,
    rotation_about_axis,
)

__all__ = [
    "UVD_DEPTH_RANGE",
    "axis_angle_to_matrix",
    "axis_angle_to_quaternion_wxyz",
    "axis_angle_to_quaternion_xyzw",
    "euler_to_matrix",
    "matrix_to_axis_angle",
    "matrix_to_euler",
    "matrix_to_quaternion_wxyz",
    "matrix_to_quaternion_xyzw",
    "matrix_to_rotation_6d",
    "pixel_to_camera",
    "procrustes_align",
    "project_points",
    "quaternion_wxyz_to_matrix",
    "quaternion_xyzw_to_matrix",
    "rotation_6d_to_matrix",
    "rotation_about_axis",
    "umeyama_align",
    "umeyama_similarity",
    "uvd_to_xyz",
    "xyz_to_uvd",
]
