"""Normals, interpolation, Lambert shading and render_mesh of handmesh.render."""

from __future__ import annotations

import pytest
import torch

from handmesh.render import (
    Fragments,
    interpolate,
    rasterize,
    render_mesh,
    shade_lambert,
    vertex_normals,
)

H, W = 12, 14
INTR = torch.tensor([[60.0, 0.0, 6.6], [0.0, 60.0, 5.4], [0.0, 0.0, 1.0]], dtype=torch.float64)
# A square at z = 1 made of two faces wound so that (v1 - v0) x (v2 - v0) points at the camera.
SQUARE = torch.tensor(
    [[-0.07, -0.07, 1.0], [0.07, -0.07, 1.0], [0.07, 0.07, 1.0], [-0.07, 0.07, 1.0]],
    dtype=torch.float64,
)
TOWARDS_CAMERA = torch.tensor([[0, 2, 1], [0, 3, 2]])
COLOURS = torch.tensor(
    [[0.9, 0.2, 0.1], [0.3, 0.8, 0.5], [0.6, 0.4, 1.0], [0.1, 0.7, 0.3]], dtype=torch.float64
)


def test_vertex_normals_match_a_loop_over_faces() -> None:
    gen = torch.Generator().manual_seed(1)
    verts = torch.randn(2, 6, 3, generator=gen, dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3], [1, 4, 2], [3, 2, 5], [4, 5, 2]])
    normals = vertex_normals(verts, faces)
    for b in range(2):
        for vertex in range(6):
            total = torch.zeros(3, dtype=torch.float64)
            for a, c, d in faces.tolist():
                if vertex in (a, c, d):
                    total += torch.linalg.cross(
                        verts[b, c] - verts[b, a], verts[b, d] - verts[b, a]
                    )
            torch.testing.assert_close(normals[b, vertex], total / total.norm())


def test_square_normals_point_at_the_camera() -> None:
    normals = vertex_normals(SQUARE[None], TOWARDS_CAMERA)
    expected = torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64).expand(4, 3)
    torch.testing.assert_close(normals[0], expected)


def test_interpolated_camera_points_lie_on_the_pixel_rays() -> None:
    tilted = SQUARE.clone()
    tilted[:, 2] = torch.tensor([0.8, 1.1, 1.4, 0.9], dtype=torch.float64)
    tilted[2, :2] *= 1.1  # non-planar quad: two different planes
    frags = rasterize(tilted[None], TOWARDS_CAMERA, INTR[None], (H, W))
    points = interpolate(frags, tilted[None])
    covered = frags.mask[0].nonzero().tolist()
    assert len(covered) > 30
    for v, u in covered:
        ray = torch.linalg.solve(INTR, torch.tensor([u, v, 1.0], dtype=torch.float64))
        torch.testing.assert_close(points[0, v, u], frags.depth[0, v, u] * ray)
    assert torch.all(points[0][~frags.mask[0]] == 0)


@pytest.mark.parametrize("smooth", [True, False])
def test_lambert_facing_the_light_and_facing_away(smooth: bool) -> None:
    frags = rasterize(SQUARE[None], TOWARDS_CAMERA, INTR[None], (H, W))
    colour = interpolate(frags, COLOURS[None])
    mask = frags.mask[..., None]
    towards = shade_lambert(
        frags,
        SQUARE[None],
        TOWARDS_CAMERA,
        COLOURS[None],
        (0, 0, 1),
        0.3,
        diffuse=0.5,
        smooth=smooth,
    )
    torch.testing.assert_close(towards, colour * 0.8 * mask)
    full = shade_lambert(frags, SQUARE[None], TOWARDS_CAMERA, COLOURS, smooth=smooth)
    torch.testing.assert_close(full, colour)  # default diffuse = 1 - ambient
    away = shade_lambert(
        frags, SQUARE[None], TOWARDS_CAMERA, COLOURS[None], (0, 0, -1), 0.3, smooth=smooth
    )
    torch.testing.assert_close(away, colour * 0.3)
    # 60 degrees between the light and the normal: cosine 0.5.
    slanted = (0.0, 3**0.5 / 2, 0.5)
    half = shade_lambert(frags, SQUARE[None], TOWARDS_CAMERA, COLOURS[None], slanted, 0.3)
    torch.testing.assert_close(half, colour * (0.3 + 0.7 * 0.5))


def test_per_sample_light_directions() -> None:
    verts = SQUARE.expand(2, 4, 3)
    frags = rasterize(verts, TOWARDS_CAMERA, INTR, (H, W))
    lights = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
    rgb = shade_lambert(frags, verts, TOWARDS_CAMERA, COLOURS, lights, ambient=0.25)
    colour = interpolate(frags, COLOURS.expand(2, 4, 3))
    torch.testing.assert_close(rgb[0], colour[0])
    torch.testing.assert_close(rgb[1], colour[1] * 0.25)


def test_render_mesh_outputs() -> None:
    out = render_mesh(SQUARE[None].float(), TOWARDS_CAMERA, INTR.float(), (H, W))
    assert set(out) == {"rgb", "depth", "mask", "face_idx"}
    assert out["rgb"].shape == (1, H, W, 3) and out["depth"].shape == (1, H, W)
    mask = out["mask"][0]
    assert 0 < int(mask.sum()) < H * W
    assert torch.all(out["rgb"][0][~mask] == 0) and torch.all(out["face_idx"][0][~mask] == -1)
    assert float(out["rgb"].min()) >= 0 and float(out["rgb"].max()) <= 1
    # Uniform default colour, surface facing the head light: every covered pixel is that colour.
    covered_rgb = out["rgb"][0][mask]
    torch.testing.assert_close(covered_rgb, covered_rgb[:1].expand_as(covered_rgb))
    torch.testing.assert_close(out["depth"][0][mask], torch.ones(int(mask.sum())))


def test_shading_is_differentiable_wrt_vertices() -> None:
    verts = SQUARE.clone()
    verts[2, 2] = 1.3
    verts = verts[None].requires_grad_(True)
    out = render_mesh(verts, TOWARDS_CAMERA, INTR, (H, W), vert_colors=COLOURS)
    out["rgb"].sum().backward()
    assert verts.grad is not None and float(verts.grad.abs().sum()) > 0


def test_fragments_built_from_images_interpolate_like_the_rasterizer_output() -> None:
    tilted = SQUARE.clone()
    tilted[:, 2] = torch.tensor([0.8, 1.1, 1.4, 0.9], dtype=torch.float64)
    frags = rasterize(tilted[None], TOWARDS_CAMERA, INTR[None], (H, W))
    rebuilt = Fragments(frags.face_idx, frags.depth, frags.bary, frags.mask, frags.faces)
    assert rebuilt.covered is None
    torch.testing.assert_close(interpolate(rebuilt, tilted[None]), interpolate(frags, tilted[None]))
    with pytest.raises(ValueError, match="give bary, covered, or both"):
        Fragments(frags.face_idx, frags.depth, None, frags.mask, frags.faces)
