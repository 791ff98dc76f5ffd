"""Pinhole projection, back-projection and OakInk's normalised uvd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handmesh.geometry.camera import (
    UVD_DEPTH_RANGE,
    pixel_to_camera,
    project_points,
    uvd_to_xyz,
    xyz_to_uvd,
)

INTR = np.array([[500.0, 0.0, 128.0], [0.0, 480.0, 120.0], [0.0, 0.0, 1.0]])


def _random_hand(rng: np.random.Generator, batch: int = 3, points: int = 21) -> np.ndarray:
    """Points around 0.5 m in front of the camera, +-8 cm spread."""
    centre = np.array([0.02, -0.03, 0.5])
    return centre + rng.uniform(-0.08, 0.08, size=(batch, points, 3))


def test_hand_computed_projection() -> None:
    point = np.array([[0.1, -0.05, 0.5]])
    expected = np.array([[500 * 0.1 / 0.5 + 128, 480 * -0.05 / 0.5 + 120]])  # [228, 72]
    np.testing.assert_allclose(project_points(point, INTR), expected, rtol=0, atol=1e-12)
    # OakInk's dataset projection divides the homogeneous pixel (K p) by (z + 1e-6)
    with_eps = project_points(point, INTR, eps=1e-6)
    hom = [500 * 0.1 + 128 * 0.5, 480 * -0.05 + 120 * 0.5]
    np.testing.assert_allclose(with_eps, [[h / (0.5 + 1e-6) for h in hom]], rtol=0, atol=1e-12)


def test_projection_keeps_type_and_broadcasts_intrinsics() -> None:
    rng = np.random.default_rng(0)
    pts = _random_hand(rng).astype(np.float32)
    out_np = project_points(pts, INTR)
    assert (
        isinstance(out_np, np.ndarray) and out_np.dtype == np.float32 and out_np.shape == (3, 21, 2)
    )
    per_batch = torch.as_tensor(np.stack([INTR] * 3))
    out_t = project_points(torch.from_numpy(pts), per_batch)
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    np.testing.assert_allclose(out_t.numpy(), out_np, rtol=1e-6)
    # a plain loop over points
    for b in range(3):
        for n in range(21):
            x, y, z = pts[b, n].astype(np.float64)
            np.testing.assert_allclose(
                out_np[b, n], [500 * x / z + 128, 480 * y / z + 120], rtol=1e-5
            )


def test_pixel_to_camera_inverts_projection_with_skew() -> None:
    rng = np.random.default_rng(1)
    pts = _random_hand(rng)
    intr = INTR.copy()
    intr[0, 1] = 3.0  # skew
    uv = project_points(pts, intr)
    back = pixel_to_camera(uv, pts[..., 2], intr)
    np.testing.assert_allclose(back, pts, rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_uvd_round_trip(backend: str) -> None:
    rng = np.random.default_rng(2)
    xyz = _random_hand(rng)
    root = xyz[:, 9]
    intr = np.stack([INTR, INTR * [[1.1], [0.9], [1.0]], INTR])
    if backend == "torch":
        xyz, root, intr = (torch.from_numpy(a) for a in (xyz, root, intr))
    uvd = xyz_to_uvd(xyz, root, intr, image_size=(256, 240))
    assert type(uvd) is type(xyz) and uvd.shape == (3, 21, 3)
    back = uvd_to_xyz(uvd, root, intr, image_size=(256, 240))
    np.testing.assert_allclose(np.asarray(back), np.asarray(xyz), rtol=0, atol=1e-12)


def test_uvd_values_by_hand_and_root_depth_convention() -> None:
    xyz = np.array([[[0.1, -0.05, 0.5], [0.0, 0.0, 0.6], [0.0, 0.0, 0.3]]])
    root = xyz[:, 0]
    uvd = xyz_to_uvd(xyz, root, INTR, image_size=(256, 240))
    assert UVD_DEPTH_RANGE == 0.4
    np.testing.assert_allclose(uvd[0, 0], [228 / 256, 72 / 240, 0.5], atol=1e-12)  # root: d = 0.5
    np.testing.assert_allclose(uvd[0, 1], [128 / 256, 120 / 240, 0.5 + 0.1 / 0.4], atol=1e-12)
    np.testing.assert_allclose(uvd[0, 2, 2], 0.5 - 0.2 / 0.4, atol=1e-12)  # 20 cm nearer: d = 0
    # only the root's depth is used: moving the root in x, y changes nothing
    shifted = root + np.array([[0.3, -0.2, 0.0]])
    np.testing.assert_allclose(xyz_to_uvd(xyz, shifted, INTR, (256, 240)), uvd, atol=1e-15)
    np.testing.assert_allclose(uvd_to_xyz(uvd, shifted, INTR, (256, 240)), xyz, atol=1e-12)
    # a different depth range
    uvd_wide = xyz_to_uvd(xyz, root, INTR, (256, 240), depth_range=0.8)
    np.testing.assert_allclose(uvd_wide[0, 1, 2], 0.5 + 0.1 / 0.8, atol=1e-12)


def test_camera_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"project_points: intr must have shape \(\.\.\., 3, 3\)"):
        project_points(np.zeros((2, 3)), np.eye(4))
    with pytest.raises(ValueError, match="xyz_to_uvd: xyz must have shape"):
        xyz_to_uvd(np.zeros((2, 2)), np.zeros(3), INTR, (256, 256))
    with pytest.raises(ValueError, match=r"image_size must be \(W, H\)"):
        uvd_to_xyz(np.zeros((2, 3)), np.zeros(3), INTR, (256, 256, 3))
    with pytest.raises(ValueError, match="pixel_to_camera: depth must have shape"):
        pixel_to_camera(np.zeros((4, 2)), np.zeros(3), INTR)
