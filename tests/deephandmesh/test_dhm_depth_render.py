"""Depth rendering with the original's camera model: analytic planes and boxes, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handmesh.deephandmesh.depth_render import crop_intrinsics, render_depth_views, world_to_camera
from handmesh.deephandmesh.losses import depth_map_loss

FOCAL = np.array([300.0, 280.0])
PRINCPT = np.array([160.0, 250.0])
AFFINE = np.array([[0.35, 0.0, -20.0], [0.0, 0.3, -50.0]])  # anisotropic, as the original's crops
SIZE = (24, 32)  # (H, W)


def _camera(batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    extr = torch.eye(4, dtype=torch.float64).expand(batch, 1, 4, 4)
    intr = crop_intrinsics(
        torch.tensor(FOCAL)[None], torch.tensor(PRINCPT)[None], torch.tensor(AFFINE)[None]
    )
    return extr, intr.expand(batch, 1, 3, 3)


def _pixel_rays(convention: str) -> np.ndarray:
    """(H, W, 2) normalised camera rays (x/z, y/z) of the crop's pixels under a convention."""
    rows, cols = np.mgrid[0 : SIZE[0], 0 : SIZE[1]].astype(np.float64)
    if convention == "original":  # neural_renderer's sampling after the original's y-flip
        x, y = cols + 0.5, rows - 0.5
    else:
        x, y = cols, rows
    full_x = (x - AFFINE[0, 2]) / AFFINE[0, 0]
    full_y = (y - AFFINE[1, 2]) / AFFINE[1, 1]
    return np.stack([(full_x - PRINCPT[0]) / FOCAL[0], (full_y - PRINCPT[1]) / FOCAL[1]], -1)


def _quad(corners: np.ndarray, front: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Two triangles over 4 corners (counter-clockwise seen from the camera if ``front``)."""
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]]) if front else torch.tensor([[0, 1, 2], [0, 2, 3]])
    return torch.from_numpy(corners)[None], faces


def _square(depth: float, half: float) -> np.ndarray:
    return np.array([[-half, -half, depth], [half, -half, depth], [half, half, depth],
                     [-half, half, depth]])  # fmt: skip


@pytest.mark.parametrize("convention", ["original", "centered"])
def test_fronto_parallel_plane(convention: str) -> None:
    depth, half = 500.0, 61.3  # mm; edges fall between pixel centres
    verts, faces = _quad(_square(depth, half))
    extr, intr = _camera()
    got = render_depth_views(verts, faces, extr, intr, SIZE, pixel_convention=convention)[0, 0]
    rays = _pixel_rays(convention)
    inside = (np.abs(rays[..., 0] * depth) < half) & (np.abs(rays[..., 1] * depth) < half)
    assert 20 < inside.sum() < inside.size  # the square covers part of the crop
    np.testing.assert_allclose(got.numpy(), np.where(inside, depth, 0.0), atol=1e-9)


def test_the_two_conventions_differ_by_half_a_pixel() -> None:
    verts, faces = _quad(_square(500.0, 61.3))
    extr, intr = _camera()
    original = render_depth_views(verts, faces, extr, intr, SIZE, pixel_convention="original")
    centered = render_depth_views(verts, faces, extr, intr, SIZE, pixel_convention="centered")
    assert not torch.equal(original, centered)


def test_tilted_plane_depth_is_the_ray_intersection() -> None:
    # plane z = z0 + a x + b y through a large quad
    z0, a, b = 450.0, 0.4, -0.3
    xy = np.array([[-300.0, -300.0], [300.0, -300.0], [300.0, 300.0], [-300.0, 300.0]])
    corners = np.column_stack([xy, z0 + a * xy[:, 0] + b * xy[:, 1]])
    verts, faces = _quad(corners)
    extr, intr = _camera()
    got = render_depth_views(verts, faces, extr, intr, SIZE, pixel_convention="centered")[0, 0]
    rays = _pixel_rays("centered")
    expected = z0 / (1.0 - a * rays[..., 0] - b * rays[..., 1])  # z of t * (x, y, 1) on the plane
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-9)


def test_box_shows_its_front_face_and_back_faces_are_culled() -> None:
    centre, half = np.array([5.0, -8.0, 520.0]), 40.0
    corners = (
        np.array([[x, y, z] for z in (-1, 1) for y in (-1, 1) for x in (-1, 1)]) * half + centre
    )
    # outward-facing triangles (counter-clockwise seen from outside)
    faces = torch.tensor([[0, 2, 3], [0, 3, 1], [4, 5, 7], [4, 7, 6], [0, 1, 5], [0, 5, 4],
                          [2, 6, 7], [2, 7, 3], [0, 4, 6], [0, 6, 2], [1, 3, 7], [1, 7, 5]])  # fmt: skip
    verts = torch.from_numpy(corners)[None]
    extr, intr = _camera()
    culled = render_depth_views(verts, faces, extr, intr, SIZE, pixel_convention="centered")[0, 0]
    both = render_depth_views(verts, faces, extr, intr, SIZE, pixel_convention="centered",
                              cull_backfaces=False)[0, 0]  # fmt: skip
    rays = _pixel_rays("centered")
    front = centre[2] - half
    inside_front = (np.abs(rays[..., 0] * front - centre[0]) < half) & (
        np.abs(rays[..., 1] * front - centre[1]) < half
    )
    assert inside_front.sum() > 20
    np.testing.assert_allclose(culled.numpy()[inside_front], front, rtol=1e-9)
    torch.testing.assert_close(culled, both)  # a closed box: culling changes nothing
    # a single back-facing quad is not drawn (neural_renderer draws front faces only)
    verts_back, faces_back = _quad(_square(500.0, 61.3), front=False)
    assert render_depth_views(verts_back, faces_back, extr, intr, SIZE).abs().sum() == 0


def test_world_to_camera_is_r_times_x_minus_c() -> None:
    rng = np.random.default_rng(0)
    rot, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    position = rng.normal(size=3) * 100
    point = rng.normal(size=3) * 100
    extr = world_to_camera(torch.from_numpy(rot), torch.from_numpy(position)).numpy()
    np.testing.assert_allclose(extr[:3, :3] @ point + extr[:3, 3], rot @ (point - position))


def test_crop_intrinsics_project_like_the_affine_of_the_pinhole() -> None:
    point = np.array([30.0, -12.0, 480.0])
    full = point[:2] / point[2] * FOCAL + PRINCPT
    expected = AFFINE[:, :2] @ full + AFFINE[:, 2]
    intr = crop_intrinsics(torch.tensor(FOCAL), torch.tensor(PRINCPT), torch.tensor(AFFINE)).numpy()
    homogeneous = intr @ point
    np.testing.assert_allclose(homogeneous[:2] / homogeneous[2], expected)


def test_depth_loss_gradcheck_wrt_vertices() -> None:
    base = np.array([[-50.0, -40.0, 480.0], [60.0, -45.0, 500.0], [55.0, 50.0, 530.0],
                     [-45.0, 55.0, 510.0]])  # fmt: skip
    verts = torch.from_numpy(base)[None].clone().requires_grad_()
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]])
    extr, intr = _camera()
    with torch.no_grad():  # a target close to the surface: the smooth-L1 quadratic part
        target = render_depth_views(verts + torch.tensor([0.0, 0.0, 0.4]), faces, extr, intr, SIZE)
        target[..., ::3] += 4.0  # ... and its linear part

    def loss(v: torch.Tensor) -> torch.Tensor:
        rendered = render_depth_views(v, faces, extr, intr, SIZE)
        return depth_map_loss(rendered, target)

    assert loss(verts).item() > 0
    assert torch.autograd.gradcheck(loss, (verts,), eps=1e-6, atol=1e-7)
    loss(verts).backward()
    assert verts.grad is not None and verts.grad[0, :, 2].abs().sum() > 0
