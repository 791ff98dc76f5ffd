"""Coverage, depth, barycentrics and z-buffer of handmesh.render.rasterize vs closed forms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from handmesh.render import project_to_pixels, rasterize

H, W = 20, 24
INTR = np.array([[110.0, 0.0, 11.3], [0.0, 95.0, 9.6], [0.0, 0.0, 1.0]])


def project(points: np.ndarray) -> np.ndarray:
    """(N, 3) camera points -> (N, 2) pixels, u = fx X / Z + cx."""
    uvw = points @ INTR.T
    return uvw[:, :2] / uvw[:, 2:]


def cross2(a: np.ndarray, b: np.ndarray) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def signed_distances(tri_px: np.ndarray, pixel: np.ndarray) -> np.ndarray:
    """Signed distances (px) of a point to the three edge lines, positive on the inner side."""
    out = []
    area = cross2(tri_px[1] - tri_px[0], tri_px[2] - tri_px[0])
    for i in range(3):
        a, b = tri_px[(i + 1) % 3], tri_px[(i + 2) % 3]
        edge = b - a
        out.append(np.sign(area) * cross2(edge, pixel - a) / np.linalg.norm(edge))
    return np.array(out)


def pixel_centres() -> np.ndarray:
    """(H, W, 2) (u, v) pixel centres at integer coordinates."""
    v, u = np.mgrid[0:H, 0:W]
    return np.stack([u, v], axis=-1).astype(np.float64)


def run(verts: np.ndarray, faces: list[list[int]], dtype=torch.float64, **kwargs):
    return rasterize(
        torch.tensor(verts, dtype=dtype)[None],
        torch.tensor(faces),
        torch.tensor(INTR, dtype=dtype)[None],
        (H, W),
        **kwargs,
    )


FLAT = np.array([[-0.07, -0.08, 1.0], [0.093, -0.053, 1.0], [0.013, 0.087, 1.0]])
TILTED = np.array([[-0.07, -0.08, 0.8], [0.11, -0.04, 1.3], [-0.01, 0.11, 1.05]])


# Screen-aligned right triangle: a horizontal and a vertical edge (zero slopes along rows).
AXIS_ALIGNED = np.array([[-0.0745, -0.0805, 1.0], [0.0745, -0.0805, 1.0], [-0.0745, 0.0771, 1.0]])


@pytest.mark.parametrize("verts", [FLAT, AXIS_ALIGNED, AXIS_ALIGNED[::-1].copy()])
def test_flat_triangle_coverage_depth_and_barycentrics(verts: np.ndarray) -> None:
    tri_px = project(verts)
    frags = run(verts, [[0, 1, 2]])
    inside_count = 0
    for v, u in itertools.product(range(H), range(W)):
        centre = np.array([u, v], dtype=np.float64)
        dist = signed_distances(tri_px, centre)
        assert np.abs(dist).min() > 1e-2, "test geometry must keep pixel centres off the edges"
        inside = bool((dist > 0).all())
        assert bool(frags.mask[0, v, u]) == inside, (u, v)
        assert int(frags.face_idx[0, v, u]) == (0 if inside else -1)
        if not inside:
            assert float(frags.depth[0, v, u]) == 0.0
            assert torch.all(frags.bary[0, v, u] == 0)
            continue
        inside_count += 1
        # Barycentrics: centre = P0 + b1 (P1 - P0) + b2 (P2 - P0), solved as a 2x2 system.
        system = np.stack([tri_px[1] - tri_px[0], tri_px[2] - tri_px[0]], axis=1)
        b1, b2 = np.linalg.solve(system, centre - tri_px[0])
        expected = np.array([1 - b1 - b2, b1, b2])
        np.testing.assert_allclose(frags.bary[0, v, u].numpy(), expected, atol=1e-9)
        assert float(frags.bary[0, v, u].sum()) == pytest.approx(1.0, abs=1e-12)
        assert float(frags.depth[0, v, u]) == pytest.approx(1.0, abs=1e-12)
    assert inside_count > 40


def test_tilted_triangle_depth_is_the_plane_along_the_pixel_ray() -> None:
    frags = run(TILTED, [[0, 1, 2]])
    normal = np.cross(TILTED[1] - TILTED[0], TILTED[2] - TILTED[0])
    inv_intr = np.linalg.inv(INTR)
    covered = frags.mask[0].nonzero().tolist()
    assert len(covered) > 40
    for v, u in covered:
        ray = inv_intr @ np.array([u, v, 1.0])  # ray.z == 1, so the ray parameter is the depth
        depth = normal @ TILTED[0] / (normal @ ray)
        assert float(frags.depth[0, v, u]) == pytest.approx(depth, rel=1e-10)
        # Perspective-correct barycentrics interpolate the 3D point where the ray meets the plane.
        point = frags.bary[0, v, u].numpy() @ TILTED
        np.testing.assert_allclose(point, depth * ray, atol=1e-10)


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_nearer_triangle_wins_the_overlap_whatever_the_face_order(order: list[int]) -> None:
    near_tri = FLAT * np.array([1.0, 1.0, 0.9])  # same silhouette shape, closer
    far_tri = (FLAT + np.array([0.06, 0.05, 0.0])) * np.array([1.0, 1.0, 1.4])
    verts = np.concatenate([near_tri, far_tri])
    faces = [[0, 1, 2], [3, 4, 5]]
    frags = run(verts, [faces[i] for i in order])
    near_face = order.index(0)
    near_px, far_px = project(near_tri), project(far_tri)
    overlap = seen_far = 0
    for v, u in itertools.product(range(H), range(W)):
        centre = np.array([u, v], dtype=np.float64)
        in_near = (signed_distances(near_px, centre) > 0).all()
        in_far = (signed_distances(far_px, centre) > 0).all()
        if in_near:
            overlap += int(in_far)
            assert int(frags.face_idx[0, v, u]) == near_face
            assert float(frags.depth[0, v, u]) == pytest.approx(0.9)
        elif in_far:
            seen_far += 1
            assert int(frags.face_idx[0, v, u]) == 1 - near_face
            assert float(frags.depth[0, v, u]) == pytest.approx(1.4)
    assert overlap > 10 and seen_far > 10


def naive_face_ids(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel centre against every face: nearest face id (-1: none), and an 'ambiguous'
    mask of pixels within 1e-2 px of some edge of a covering candidate or with a near depth tie.
    """
    screen, ids = project(verts), np.full((H, W), -1)
    ambiguous = np.zeros((H, W), dtype=bool)
    for (v, u), centre in zip(
        itertools.product(range(H), range(W)), pixel_centres().reshape(-1, 2)
    ):
        hits = []
        for f, face in enumerate(faces):
            dist = signed_distances(screen[face], centre)
            if np.abs(dist).min() < 1e-2:
                ambiguous[v, u] = True
            if (dist > 0).all():
                normal = np.cross(verts[face[1]] - verts[face[0]], verts[face[2]] - verts[face[0]])
                ray = np.linalg.solve(INTR, np.array([u, v, 1.0]))
                hits.append((normal @ verts[face[0]] / (normal @ ray), f))
        if hits:
            hits.sort()
            ids[v, u] = hits[0][1]
            if len(hits) > 1 and hits[1][0] - hits[0][0] < 1e-6:
                ambiguous[v, u] = True
    return ids, ambiguous


@pytest.mark.parametrize("max_pairs", [1 << 18, 7])
def test_random_soup_matches_a_dense_reference(max_pairs: int) -> None:
    rng = np.random.default_rng(3)
    centres = np.c_[rng.uniform(-0.12, 0.12, (25, 2)), rng.uniform(0.7, 1.5, 25)]
    verts = (centres[:, None, :] + rng.normal(0, 0.05, (25, 3, 3)) * [1, 1, 0.2]).reshape(-1, 3)
    verts[:3] = [[-5.0, -5.0, 2.0], [5.0, -4.0, 2.0], [0.0, 6.0, 2.0]]  # a far background face
    faces = np.arange(verts.shape[0]).reshape(-1, 3)
    frags = run(verts, faces.tolist(), max_pairs_per_chunk=max_pairs)
    expected, ambiguous = naive_face_ids(verts, faces)
    assert (~ambiguous).sum() > 0.8 * H * W
    np.testing.assert_array_equal(frags.face_idx[0].numpy()[~ambiguous], expected[~ambiguous])
    assert (expected == 0).any() and len(np.unique(expected)) > 10


def test_face_larger_than_the_image_covers_every_pixel() -> None:
    huge = np.array([[-30.0, -30.0, 2.0], [40.0, -25.0, 2.0], [0.0, 50.0, 2.0]])
    frags = run(huge, [[0, 1, 2]], max_pairs_per_chunk=50)
    assert bool(frags.mask.all())
    torch.testing.assert_close(frags.depth, torch.full_like(frags.depth, 2.0))


def test_faces_reaching_behind_the_near_plane_are_dropped() -> None:
    behind = FLAT.copy()
    behind[2, 2] = -0.5
    at_near = FLAT.copy()
    at_near[0, 2] = 1e-3
    assert not bool(run(behind, [[0, 1, 2]]).mask.any())
    assert not bool(run(at_near, [[0, 1, 2]]).mask.any())
    assert bool(run(at_near, [[0, 1, 2]], near=1e-4).mask.any())


def test_backface_culling_is_off_by_default() -> None:
    # FLAT's normal (v1 - v0) x (v2 - v0) points along +z, away from the camera: a back face.
    assert np.cross(FLAT[1] - FLAT[0], FLAT[2] - FLAT[0])[2] > 0
    back = run(FLAT, [[0, 1, 2]])
    front = run(FLAT, [[0, 2, 1]])
    torch.testing.assert_close(back.mask, front.mask)
    assert not bool(run(FLAT, [[0, 1, 2]], cull_backfaces=True).mask.any())
    torch.testing.assert_close(run(FLAT, [[0, 2, 1]], cull_backfaces=True).mask, front.mask)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grid_mesh_is_watertight_when_edges_pass_through_pixel_centres(dtype) -> None:
    # A 6 x 5 grid of quads whose vertices project exactly onto pixel centres 3 px apart, so
    # that every shared edge (including the diagonals) runs through pixel centres.
    cols, rows = np.arange(2, 21, 3), np.arange(1, 17, 3)
    px = np.stack(np.meshgrid(cols, rows), axis=-1).reshape(-1, 2).astype(np.float64)
    depth = 1.0 + 0.01 * px[:, 0]
    verts = np.c_[(px - INTR[:2, 2]) / INTR[[0, 1], [0, 1]] * depth[:, None], depth]
    faces = []
    for r in range(len(rows) - 1):
        for c in range(len(cols) - 1):
            a, b = r * len(cols) + c, r * len(cols) + c + 1
            faces += [[a, b, b + len(cols)], [a, b + len(cols), a + len(cols)]]
    frags = run(verts, faces, dtype=dtype)
    v, u = np.mgrid[0:H, 0:W]
    inside = (u >= cols[0]) & (u <= cols[-1]) & (v >= rows[0]) & (v <= rows[-1])
    np.testing.assert_array_equal(frags.mask[0].numpy(), inside)


def test_projection_matches_geometry_project_points() -> None:
    camera = pytest.importorskip("handmesh.geometry.camera")
    points = torch.tensor(TILTED)[None]
    expected = camera.project_points(points, torch.tensor(INTR)[None])
    torch.testing.assert_close(project_to_pixels(points, torch.tensor(INTR)[None]), expected)
    torch.testing.assert_close(expected[0], torch.tensor(project(TILTED)))
