"""Skeleton, mesh outline, grid and de-normalisation helpers."""

from __future__ import annotations

import numpy as np
import pytest

from handmesh.data.transforms.steps import normalise_image
from handmesh.viz import (
    draw_mesh_outline,
    draw_skeleton,
    joint_colour,
    make_grid,
    mesh_silhouette,
    sample_to_image,
)

SQUARE = np.array([[10.0, 10.0], [30.0, 10.0], [30.0, 30.0], [10.0, 30.0]])
SQUARE_FACES = np.array([[0, 1, 2], [0, 2, 3]])


def test_skeleton_colours_joints_and_bones():
    joints = np.stack([np.linspace(5, 45, 21), np.full(21, 20.0)], 1)
    joints[5:] += [0, 10]  # index .. pinky on a second row
    image = draw_skeleton(np.zeros((50, 60, 3), np.uint8), joints, radius=1)
    assert tuple(image[20, 5]) == (255, 255, 255)  # wrist
    x_thumb_tip = int(round(joints[4, 0]))
    assert tuple(image[20, x_thumb_tip]) == joint_colour(4)
    assert joint_colour(1) != joint_colour(5)
    hidden = draw_skeleton(np.zeros((50, 60, 3), np.uint8), joints, visible=np.zeros(21))
    assert hidden.sum() < image.sum()
    with pytest.raises(ValueError, match="joints_2d"):
        draw_skeleton(np.zeros((8, 8, 3), np.uint8), np.zeros((20, 2)))


def test_silhouette_fills_the_projected_square():
    mask = mesh_silhouette(SQUARE, SQUARE_FACES, (40, 40))
    assert mask[20, 20] and mask[10, 10] and mask[30, 30]
    assert not mask[9, 20] and not mask[20, 31]
    assert mask.sum() == 21 * 21  # pixel centres 10..30 inclusive on both axes


def test_outline_draws_the_border_not_the_inside():
    image = draw_mesh_outline(np.zeros((40, 40, 3), np.uint8), SQUARE, SQUARE_FACES, (0, 255, 0))
    assert image[10, 20, 1] > 0 and image[20, 30, 1] > 0
    assert image[20, 20].sum() == 0 and image[2, 2].sum() == 0
    edges = draw_mesh_outline(np.zeros((40, 40, 3), np.uint8), SQUARE, SQUARE_FACES, mode="edges")
    assert edges[20, 20].sum() > 0  # the diagonal shared edge
    with pytest.raises(ValueError, match="mode"):
        draw_mesh_outline(np.zeros((4, 4, 3), np.uint8), SQUARE, SQUARE_FACES, mode="fill")


def test_make_grid_places_tiles():
    tiles = [np.full((4, 6, 3), value, np.uint8) for value in (10, 20, 30)]
    grid = make_grid(tiles, ncols=2, pad=1, pad_value=0)
    assert grid.shape == (2 * 5 + 1, 2 * 7 + 1, 3)
    assert grid[1, 1, 0] == 10 and grid[1, 8, 0] == 20 and grid[6, 1, 0] == 30
    assert grid[6, 8, 0] == 0 and grid[0, 0, 0] == 0
    with pytest.raises(ValueError, match="image 1"):
        make_grid([tiles[0], np.zeros((3, 3, 3), np.uint8)])


@pytest.mark.parametrize("norm", ["minus_half", "unit"])
def test_sample_to_image_inverts_the_normalisation(norm):
    image = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3)).astype(np.uint8)
    np.testing.assert_array_equal(sample_to_image(normalise_image(image, norm), norm), image)
