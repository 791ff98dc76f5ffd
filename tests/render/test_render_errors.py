"""Bad inputs to handmesh.render fail with messages naming the argument and what was expected."""

from __future__ import annotations

import pytest
import torch

from handmesh.render import interpolate, rasterize, shade_lambert

VERTS = torch.tensor([[[-0.1, -0.1, 1.0], [0.1, -0.1, 1.0], [0.0, 0.1, 1.0]]])
FACES = torch.tensor([[0, 1, 2]])
INTR = torch.tensor([[50.0, 0.0, 4.0], [0.0, 50.0, 4.0], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((VERTS[0], FACES, INTR, (8, 8)), r"verts must be a \(B, V, 3\) tensor, got \(3, 3\)"),
        ((VERTS.long(), FACES, INTR, (8, 8)), "verts must be floating point"),
        ((VERTS, FACES.float(), INTR, (8, 8)), "faces must be an integer tensor"),
        ((VERTS, FACES[0], INTR, (8, 8)), r"faces must have shape \(F, 3\), got \(3,\)"),
        ((VERTS, FACES + 1, INTR, (8, 8)), r"faces index vertices in \[1, 3\] but verts has 3"),
        ((VERTS, FACES, INTR[:2], (8, 8)), r"intr must have shape \(B=1, 3, 3\) or \(3, 3\)"),
        ((VERTS, FACES.tolist(), INTR, (8, 8)), "faces must be a torch.Tensor, got list"),
        ((VERTS, FACES, INTR.numpy(), (8, 8)), "intr must be a torch.Tensor, got ndarray"),
        ((VERTS, FACES, INTR, (8, 0)), r"image_size must be \(H, W\) positive ints"),
        ((VERTS, FACES, INTR, (8,)), r"image_size must be \(H, W\)"),
    ],
)
def test_rasterize_rejects_bad_inputs(args: tuple, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        rasterize(*args)


def test_interpolate_and_shading_reject_mismatched_attributes() -> None:
    frags = rasterize(VERTS, FACES, INTR, (8, 8))
    with pytest.raises(ValueError, match=r"vert_attrs must have shape \(B=1, V, C\)"):
        interpolate(frags, torch.ones(2, 3, 3))
    with pytest.raises(ValueError, match="faces reference vertex 2 but vert_attrs has only 2"):
        interpolate(frags, torch.ones(1, 2, 3))
    with pytest.raises(ValueError, match=r"vert_colors must have shape \(1, 3, 3\)"):
        shade_lambert(frags, VERTS, FACES, torch.ones(1, 4, 3))
    with pytest.raises(ValueError, match=r"light_dir must have shape \(3,\) or \(B, 3\)"):
        shade_lambert(frags, VERTS, FACES, torch.ones(3, 3), light_dir=(0.0, 1.0))
