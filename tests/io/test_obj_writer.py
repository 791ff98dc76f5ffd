"""OBJ export re-read by a plain parser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from handmesh.errors import ArgumentError
from handmesh.io import write_obj


def test_obj_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    verts = rng.normal(size=(5, 3))
    faces = np.array([[0, 1, 2], [2, 3, 4]])
    path = write_obj(tmp_path / "m.obj", verts, faces)
    lines = path.read_text().splitlines()
    v = np.array([[float(x) for x in line.split()[1:]] for line in lines if line.startswith("v ")])
    f = np.array([[int(x) for x in line.split()[1:]] for line in lines if line.startswith("f ")])
    np.testing.assert_allclose(v, verts, atol=1e-8)
    np.testing.assert_array_equal(f, faces + 1)
    assert len(lines) == 7


def test_obj_refusals(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match=r"face indices must be in \[0, 3\)"):
        write_obj(tmp_path / "m.obj", np.zeros((3, 3)), np.array([[0, 1, 3]]))
    with pytest.raises(ArgumentError, match="verts must be finite"):
        write_obj(tmp_path / "m.obj", np.full((3, 3), np.inf), np.array([[0, 1, 2]]))
    assert not (tmp_path / "m.obj").exists()
