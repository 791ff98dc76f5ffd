"""Rotation conversions: round trips, closed forms and elementary-matrix products."""

from __future__ import annotations

import math

import pytest
import torch

from handmesh.geometry import rotations as rot


def _rx(a: float) -> torch.Tensor:
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[1.0, 0, 0], [0, c, -s], [0, s, c]], dtype=torch.float64)


def _ry(a: float) -> torch.Tensor:
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, 0, s], [0, 1.0, 0], [-s, 0, c]], dtype=torch.float64)


def _rz(a: float) -> torch.Tensor:
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1.0]], dtype=torch.float64)


def _random_axis_angle(*shape: int) -> torch.Tensor:
    axis = torch.nn.functional.normalize(torch.randn(*shape, 3, dtype=torch.float64), dim=-1)
    angle = torch.rand(*shape, 1, dtype=torch.float64) * 3.0  # < pi: unique axis-angle
    return axis * angle


def test_90_degrees_about_z_closed_form() -> None:
    aa = torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64)
    expected = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=torch.float64)
    torch.testing.assert_close(rot.axis_angle_to_matrix(aa), expected, atol=1e-12, rtol=0)
    # rotating x gives y
    torch.testing.assert_close(
        rot.axis_angle_to_matrix(aa) @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
        torch.tensor([0.0, 1, 0], dtype=torch.float64),
        atol=1e-12,
        rtol=0,
    )
    half = math.sqrt(0.5)
    wxyz = rot.axis_angle_to_quaternion_wxyz(aa)
    torch.testing.assert_close(wxyz, torch.tensor([half, 0, 0, half], dtype=torch.float64))
    xyzw = rot.axis_angle_to_quaternion_xyzw(aa)
    torch.testing.assert_close(xyzw, torch.tensor([0, 0, half, half], dtype=torch.float64))


def test_axis_angle_round_trip_batched() -> None:
    aa = _random_axis_angle(4, 5)
    matrix = rot.axis_angle_to_matrix(aa)
    assert matrix.shape == (4, 5, 3, 3)
    torch.testing.assert_close(rot.matrix_to_axis_angle(matrix), aa, atol=1e-10, rtol=0)


def test_rodrigues_matches_closed_form() -> None:
    aa = _random_axis_angle(6)
    for vector, matrix in zip(aa, rot.axis_angle_to_matrix(aa)):
        angle = float(vector.norm())
        k = vector / angle
        cross = torch.tensor(
            [[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]], dtype=torch.float64
        )
        expected = (
            torch.eye(3, dtype=torch.float64)
            + math.sin(angle) * cross
            + (1 - math.cos(angle)) * cross @ cross
        )
        torch.testing.assert_close(matrix, expected, atol=1e-12, rtol=0)


def test_quaternion_orders_and_round_trips() -> None:
    aa = _random_axis_angle(7)
    matrix = rot.axis_angle_to_matrix(aa)
    wxyz = rot.axis_angle_to_quaternion_wxyz(aa)
    xyzw = rot.axis_angle_to_quaternion_xyzw(aa)
    torch.testing.assert_close(wxyz, torch.cat((xyzw[:, 3:], xyzw[:, :3]), dim=-1))
    torch.testing.assert_close(rot.quaternion_wxyz_to_matrix(wxyz), matrix, atol=1e-12, rtol=0)
    torch.testing.assert_close(rot.quaternion_xyzw_to_matrix(xyzw), matrix, atol=1e-12, rtol=0)
    # matrix -> quaternion is defined up to sign: compare the rotation it gives back
    back_w = rot.matrix_to_quaternion_wxyz(matrix)
    back_x = rot.matrix_to_quaternion_xyzw(matrix)
    torch.testing.assert_close(rot.quaternion_wxyz_to_matrix(back_w), matrix, atol=1e-12, rtol=0)
    torch.testing.assert_close(rot.quaternion_xyzw_to_matrix(back_x), matrix, atol=1e-12, rtol=0)
    # scalar component position: w = cos(angle / 2)
    half_cos = torch.cos(aa.norm(dim=-1) / 2)
    torch.testing.assert_close(back_w[:, 0].abs(), half_cos, atol=1e-12, rtol=0)
    torch.testing.assert_close(back_x[:, 3].abs(), half_cos, atol=1e-12, rtol=0)


def test_quaternion_to_matrix_normalises_its_input() -> None:
    wxyz = torch.tensor([2.0, 0.0, 0.0, 2.0], dtype=torch.float64)  # 90 degrees about z, norm 2.83
    torch.testing.assert_close(
        rot.quaternion_wxyz_to_matrix(wxyz), _rz(math.pi / 2), atol=1e-12, rtol=0
    )


def test_6d_columns_is_handoccnet_gram_schmidt() -> None:
    raw = torch.randn(5, 6, dtype=torch.float64)
    matrix = rot.rotation_6d_to_matrix(raw)
    for vec, out in zip(raw, matrix):
        a1, a2 = vec[:3], vec[3:]
        b1 = a1 / a1.norm()
        b2 = a2 - torch.dot(b1, a2) * b1
        b2 = b2 / b2.norm()
        b3 = torch.linalg.cross(b1, b2)
        torch.testing.assert_close(out, torch.stack((b1, b2, b3), dim=-1), atol=1e-12, rtol=0)
    torch.testing.assert_close(
        torch.linalg.det(matrix), torch.ones(5, dtype=torch.float64), atol=1e-12, rtol=0
    )


@pytest.mark.parametrize("layout", ["columns", "rows"])
def test_6d_round_trip(layout: str) -> None:
    matrix = rot.axis_angle_to_matrix(_random_axis_angle(3, 2))
    six = rot.matrix_to_rotation_6d(matrix, layout=layout)
    assert six.shape == (3, 2, 6)
    torch.testing.assert_close(rot.rotation_6d_to_matrix(six, layout=layout), matrix)


def test_6d_layouts_differ_by_transpose() -> None:
    matrix = rot.axis_angle_to_matrix(_random_axis_angle(4))
    torch.testing.assert_close(
        rot.matrix_to_rotation_6d(matrix, "rows"),
        torch.cat((matrix[:, 0, :], matrix[:, 1, :]), dim=-1),
    )
    torch.testing.assert_close(
        rot.matrix_to_rotation_6d(matrix, "columns"),
        rot.matrix_to_rotation_6d(matrix.transpose(-1, -2), "rows"),
    )
    identity6d = torch.tensor([1.0, 0, 0, 0, 1, 0])
    for layout in ("columns", "rows"):
        torch.testing.assert_close(rot.rotation_6d_to_matrix(identity6d, layout), torch.eye(3))


def test_euler_matches_products_of_elementary_matrices() -> None:
    a, b, c = 0.3, -0.7, 1.2
    angles = torch.tensor([a, b, c], dtype=torch.float64)
    torch.testing.assert_close(rot.euler_to_matrix(angles, "XYZ"), _rx(a) @ _ry(b) @ _rz(c))
    torch.testing.assert_close(rot.euler_to_matrix(angles, "xyz"), _rz(c) @ _ry(b) @ _rx(a))
    torch.testing.assert_close(rot.euler_to_matrix(angles, "ZYX"), _rz(a) @ _ry(b) @ _rx(c))
    degrees = torch.rad2deg(angles)
    torch.testing.assert_close(
        rot.euler_to_matrix(degrees, "XYZ", degrees=True), _rx(a) @ _ry(b) @ _rz(c)
    )


def test_euler_round_trip_batched() -> None:
    angles = (torch.rand(4, 3, dtype=torch.float64) - 0.5) * 2.0  # away from gimbal lock
    for convention in ("XYZ", "zyx", "YXZ"):
        matrix = rot.euler_to_matrix(angles, convention)
        torch.testing.assert_close(rot.matrix_to_euler(matrix, convention), angles)


def test_rotation_about_axis_matches_elementary_matrices() -> None:
    angles = torch.tensor([0.4, -1.1], dtype=torch.float64)
    for axis, elementary in (("x", _rx), ("y", _ry), ("z", _rz)):
        out = rot.rotation_about_axis(angles, axis)
        assert out.shape == (2, 3, 3)
        for angle, matrix in zip(angles.tolist(), out):
            torch.testing.assert_close(matrix, elementary(angle))


def test_bad_inputs_have_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"axis_angle_to_matrix: expected shape \(\.\.\., 3\)"):
        rot.axis_angle_to_matrix(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="convention"):
        rot.euler_to_matrix(torch.zeros(3), "XXY")
    with pytest.raises(ValueError, match="convention"):
        rot.euler_to_matrix(torch.zeros(3), "XyZ")
    with pytest.raises(ValueError, match="layout"):
        rot.rotation_6d_to_matrix(torch.zeros(6), layout="diagonal")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="torch.Tensor"):
        rot.matrix_to_axis_angle([[1, 0, 0], [0, 1, 0], [0, 0, 1]])  # type: ignore[arg-type]
