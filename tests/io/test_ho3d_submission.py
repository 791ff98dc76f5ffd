"""HO-3D submission zip: re-read and inverted (OpenGL -> OpenCV, HO-3D -> canonical order)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from handmesh.errors import ArgumentError
from handmesh.io import write_ho3d_submission

CANONICAL = ["wrist"] + [
    f"{f}{k}" for f in ("thumb", "index", "middle", "ring", "pinky") for k in (1, 2, 3, 4)
]
# HO-3D's order (HandOccNet HO3D.joints_name): MANO's 16 joints, then the tips
HO3D = (
    ["wrist"] + [f"{f}{k}" for f in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2, 3)]
    + [f"{f}4" for f in ("thumb", "index", "middle", "ring", "pinky")]
)  # fmt: skip


def test_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(3, 21, 3)) * 0.05 + [0, 0, 0.5]
    verts = rng.normal(size=(3, 778, 3)) * 0.05 + [0, 0, 0.5]
    path = write_ho3d_submission(tmp_path / "out" / "pred.zip", torch.from_numpy(joints), verts)
    assert path == tmp_path / "out" / "pred.zip"
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["pred.json"]
        assert archive.getinfo("pred.json").compress_type == zipfile.ZIP_DEFLATED
        data = json.loads(archive.read("pred.json"))
    assert isinstance(data, list) and len(data) == 2
    ho3d_joints, gl_verts = np.asarray(data[0]), np.asarray(data[1])
    assert ho3d_joints.shape == (3, 21, 3) and gl_verts.shape == (3, 778, 3)
    back = np.empty_like(joints)
    for i, name in enumerate(HO3D):  # name-based, as transform_joint_to_other_db
        back[:, CANONICAL.index(name)] = ho3d_joints[:, i] * [1, -1, -1]
    np.testing.assert_array_equal(back, joints)
    np.testing.assert_array_equal(gl_verts * [1, -1, -1], verts)
    assert (gl_verts[..., 2] < 0).all()  # in front of the camera = negative z in OpenGL


def test_refusals_write_nothing(tmp_path: Path) -> None:
    joints, verts = np.zeros((2, 21, 3)), np.zeros((2, 778, 3))
    target = tmp_path / "x.zip"
    with pytest.raises(ArgumentError, match=r"joints_3d must have shape \(N, 21, 3\)"):
        write_ho3d_submission(target, np.zeros((2, 16, 3)), verts)
    with pytest.raises(ArgumentError, match="same N > 0, got 2 and 1"):
        write_ho3d_submission(target, joints, verts[:1])
    with pytest.raises(ArgumentError, match="expected 11524 samples"):
        write_ho3d_submission(target, joints, verts, num_samples=11524)
    bad = verts.copy()
    bad[1, 5, 0] = np.nan
    with pytest.raises(ArgumentError, match="verts_3d must hold finite floats"):
        write_ho3d_submission(target, joints, bad)
    assert not target.exists() and not list(tmp_path.iterdir())
