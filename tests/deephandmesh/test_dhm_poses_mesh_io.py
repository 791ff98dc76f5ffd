"""Pose presets and JSON files; the OBJ writer and the preview renderer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from dhm_fixtures import NAMES

from handmesh.deephandmesh.mesh_io import render_preview, write_obj
from handmesh.deephandmesh.poses import load_euler_json, preset_pose
from handmesh.deephandmesh.synthetic_model import build_synthetic_template
from handmesh.errors import DataError, DataNotFoundError


def test_demo_preset_is_the_original_demo_pose() -> None:
    euler = preset_pose("demo")
    expected = np.zeros((22, 3))
    expected[[8, 12, 16, 20], 2] = math.pi / 2
    np.testing.assert_allclose(euler, expected, rtol=1e-7)
    assert not preset_pose("open").any()
    fist = preset_pose("fist")
    assert (fist[:, :2] == 0).all() and fist[[1, 2, 3, 6, 7, 8], 2].min() > 0.5
    with pytest.raises(ValueError, match="choose one of open, demo, fist"):
        preset_pose("peace")


def test_euler_json_list_and_named_forms(tmp_path: Path) -> None:
    rows = np.random.default_rng(0).uniform(-1, 1, size=(22, 3))
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps(rows.tolist()))
    np.testing.assert_allclose(load_euler_json(listed), rows, rtol=1e-6)
    named = tmp_path / "named.json"
    named.write_text(json.dumps({"joint_euler": {"b_r_index1": [0, 10, 90]}, "degrees": True}))
    euler = load_euler_json(named)
    assert euler[NAMES.index("b_r_index1")].tolist() == pytest.approx(
        [0, math.radians(10), math.pi / 2]
    )
    assert np.count_nonzero(euler) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[[0, 0, 0]]", "expected 22 \\[x, y, z\\] triples, got 1"),
        ('{"b_r_elbow": [0, 0, 1]}', "unknown joint 'b_r_elbow'"),
        ('{"b_r_wrist": [0, 1]}', "joint 'b_r_wrist' must be \\[x, y, z\\]"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_euler_files_are_reported(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "pose.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        load_euler_json(path)
    assert "pose.json" in str(info.value)
    with pytest.raises(DataNotFoundError):
        load_euler_json(tmp_path / "missing.json")


def test_obj_keeps_the_template_topology_and_uvs(tmp_path: Path) -> None:
    tpl = build_synthetic_template()
    verts = tpl.verts + np.random.default_rng(1).normal(size=tpl.verts.shape).astype(np.float32)
    path = tmp_path / "mesh.obj"
    write_obj(path, verts, tpl)
    v, vt, f = [], [], []
    for line in path.read_text().splitlines():
        kind, *rest = line.split()
        if kind == "v":
            v.append([float(x) for x in rest])
        elif kind == "vt":
            vt.append([float(x) for x in rest])
        elif kind == "f":
            f.append([[int(i) - 1 for i in corner.split("/")] for corner in rest])
    np.testing.assert_allclose(np.array(v), verts, atol=1e-6)  # written as given (mm)
    np.testing.assert_allclose(np.array(vt), tpl.uvs, atol=1e-6)
    corners = np.array(f)
    np.testing.assert_array_equal(corners[..., 0], tpl.faces)
    np.testing.assert_array_equal(corners[..., 1], tpl.face_uvs)


def test_preview_frames_the_whole_mesh() -> None:
    tpl = build_synthetic_template()
    image = render_preview(tpl.verts, tpl.faces, size=128)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    covered = (image < 250).any(-1)
    rows, cols = np.nonzero(covered)
    assert rows.min() > 0 and rows.max() < 127 and cols.min() > 0 and cols.max() < 127
    assert max(np.ptp(rows), np.ptp(cols)) > 0.6 * 128
