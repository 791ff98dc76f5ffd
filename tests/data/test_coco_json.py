"""The COCO-style annotation reader: file order, pairing, and the errors it names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from handmesh.data.coco_json import coco_array, read_coco_json
from handmesh.errors import DataError, DataNotFoundError


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_pairs_in_annotation_file_order(tmp_path: Path) -> None:
    images = [{"id": i, "file_name": f"{i}.png"} for i in (5, 1, 9)]
    annotations = [{"id": a, "image_id": i} for a, i in ((30, 9), (10, 5), (20, 1), (11, 9))]
    pairs = read_coco_json(
        _write(tmp_path / "a.json", {"images": images, "annotations": annotations})
    )
    assert [(p.annotation["id"], p.image["file_name"]) for p in pairs] == [
        (30, "9.png"), (10, "5.png"), (20, "1.png"), (11, "9.png"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a JSON object"),
        ({"images": []}, "expected a list under 'annotations'"),
        (
            {"images": [{"file_name": "x"}], "annotations": []},
            r"images\[0\] is not an object with an 'id'",
        ),
        ({"images": [{"id": 1}, {"id": 1}], "annotations": []}, "image id 1 appears twice"),
        (
            {
                "images": [{"id": 1}],
                "annotations": [{"id": 4, "image_id": 1}, {"id": 4, "image_id": 1}],
            },
            "annotation id 4 appears twice",
        ),
        (
            {"images": [{"id": 1}], "annotations": [{"id": 4, "image_id": 2}]},
            "annotation id 4 has image_id 2, which is not in 'images'",
        ),
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, data: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_coco_json(_write(tmp_path / "bad.json", data))


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="nope.json"):
        read_coco_json(tmp_path / "nope.json")
    (tmp_path / "broken.json").write_text('{"images": [\n  {"id": 1},\n  oops]}')
    with pytest.raises(DataError, match=r"broken.json' is not valid JSON \(line 3, column 3\)"):
        read_coco_json(tmp_path / "broken.json")


def test_coco_array_fields() -> None:
    record = {"cam_param": {"focal": [1, 2]}, "joints": [[0.5, 1.5]] * 3}
    np.testing.assert_array_equal(coco_array(record, "cam_param.focal", (2,), "ann 1"), [1.0, 2.0])
    assert coco_array(record, "joints", (3, 2), "ann 1").dtype == np.float32
    with pytest.raises(DataError, match="ann 1: missing key 'cam_param.princpt'"):
        coco_array(record, "cam_param.princpt", (2,), "ann 1")
    with pytest.raises(DataError, match=r"ann 1: 'joints' must have shape \(21, 2\), got \(3, 2\)"):
        coco_array(record, "joints", (21, 2), "ann 1")
    with pytest.raises(DataError, match="must be numbers"):
        coco_array({"x": ["a", "b"]}, "x", (2,), "ann 1")
