"""Gradients of rasterized depth, batching, and float32 vs float64 for handmesh.render."""

from __future__ import annotations

import pytest
import torch

from handmesh.render import rasterize

H, W = 16, 18
INTR = torch.tensor([[90.0, 0.0, 8.4], [0.0, 85.0, 7.7], [0.0, 0.0, 1.0]], dtype=torch.float64)
TILTED = torch.tensor(
    [[-0.08, -0.07, 0.8], [0.1, -0.05, 1.25], [-0.01, 0.1, 1.0]], dtype=torch.float64
)
# A small triangle hidden behind TILTED's middle.
HIDDEN = torch.tensor(
    [[-0.02, -0.02, 1.6], [0.03, -0.02, 1.6], [0.0, 0.03, 1.6]], dtype=torch.float64
)


def depth_at(verts: torch.Tensor, pixels: list[tuple[int, int]]) -> torch.Tensor:
    frags = rasterize(verts[None], torch.tensor([[0, 1, 2], [3, 4, 5]]), INTR[None], (H, W))
    return torch.stack([frags.depth[0, v, u] for u, v in pixels])


def interior_pixels() -> list[tuple[int, int]]:
    """Pixels covered by TILTED, at least 0.5 px inside: small perturbations keep them inside."""
    frags = rasterize(TILTED[None], torch.tensor([[0, 1, 2]]), INTR[None], (H, W))
    pixels = [(u, v) for v, u in frags.mask[0].nonzero().tolist()]
    uvw = TILTED @ INTR.T
    tri = uvw[:, :2] / uvw[:, 2:]
    chosen = []
    for u, v in pixels:
        dists = []
        for i in range(3):
            a, b = tri[(i + 1) % 3], tri[(i + 2) % 3]
            edge, rel = b - a, torch.tensor([u, v], dtype=torch.float64) - a
            dists.append(abs(float(edge[0] * rel[1] - edge[1] * rel[0]) / float(edge.norm())))
        if min(dists) > 0.5:
            chosen.append((u, v))
    assert len(chosen) >= 5
    return chosen[:: max(1, len(chosen) // 6)]


def test_depth_gradient_matches_finite_differences() -> None:
    verts = torch.cat([TILTED, HIDDEN]).requires_grad_(True)
    pixels = interior_pixels()
    assert torch.autograd.gradcheck(lambda v: depth_at(v, pixels), (verts,), eps=1e-6, atol=1e-7)


def test_depth_gradient_wrt_vertex_z_by_central_differences() -> None:
    pixels = interior_pixels()
    verts = torch.cat([TILTED, HIDDEN]).requires_grad_(True)
    depth_at(verts, pixels).sum().backward()
    for vertex in range(3):
        step = torch.zeros_like(verts)
        step[vertex, 2] = 1e-6
        with torch.no_grad():
            numeric = (depth_at(verts + step, pixels) - depth_at(verts - step, pixels)).sum() / 2e-6
        assert float(verts.grad[vertex, 2]) == pytest.approx(float(numeric), rel=1e-5)
        assert abs(float(verts.grad[vertex, 2])) > 1e-3


def test_hidden_face_gets_no_gradient() -> None:
    verts = torch.cat([TILTED, HIDDEN]).requires_grad_(True)
    frags = rasterize(verts[None], torch.tensor([[0, 1, 2], [3, 4, 5]]), INTR[None], (H, W))
    assert not bool((frags.face_idx == 1).any())
    (frags.depth.sum() + frags.bary.sum()).backward()
    assert torch.all(verts.grad[3:] == 0)
    assert torch.all(verts.grad[:3, 2] != 0)


def test_batch_of_two_meshes_equals_two_calls() -> None:
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    second = torch.cat([TILTED.flip(0) * 1.1, HIDDEN - torch.tensor([0.0, 0.0, 0.9])])
    meshes = torch.stack([torch.cat([TILTED, HIDDEN]), second])
    intr = torch.stack([INTR, INTR * torch.tensor([[1.1], [0.9], [1.0]], dtype=torch.float64)])
    both = rasterize(meshes, faces, intr, (H, W))
    for b in range(2):
        single = rasterize(meshes[b : b + 1], faces, intr[b : b + 1], (H, W))
        for name in ("face_idx", "depth", "bary", "mask"):
            torch.testing.assert_close(getattr(both, name)[b], getattr(single, name)[0])
    assert not torch.equal(both.face_idx[0], both.face_idx[1])


def test_float32_and_float64_agree() -> None:
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    verts = torch.cat([TILTED, HIDDEN - torch.tensor([0.0, 0.0, 0.7])])[None]
    f64 = rasterize(verts, faces, INTR[None], (H, W))
    f32 = rasterize(verts.float(), faces, INTR[None].float(), (H, W))
    assert f32.depth.dtype == torch.float32 and f32.bary.dtype == torch.float32
    assert torch.equal(f32.face_idx, f64.face_idx)
    assert bool((f64.face_idx == 1).any()) and bool((f64.face_idx == 0).any())
    torch.testing.assert_close(f32.depth.double(), f64.depth, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(f32.bary.double(), f64.bary, atol=1e-5, rtol=1e-5)
