"""OakInk-Image object meshes (``image/obj/<obj_id>.obj | .ply``), centred as oikit centres them.

oikit loads each mesh with trimesh (``process=False``) and subtracts the centre of its axis-aligned
bounding box, so ``obj_transf`` (T_c_o) maps the *centred* mesh into the camera. The readers here
need no trimesh: OBJ ``v``/``f`` records (polygons fanned into triangles, texture and normal
indices ignored) and PLY (ascii, binary little / big endian) vertex x, y, z and face index lists.
Vertices keep the file's order; trimesh can split an OBJ vertex that carries several texture
coordinates, which changes neither the bounding box nor the centre.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from handmesh.errors import DataError, DataNotFoundError

__all__ = ["MESH_SUFFIXES", "bbox_corners", "load_object", "object_files", "read_mesh"]

MESH_SUFFIXES = (".obj", ".ply")

_PLY_TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}


def object_files(obj_root: str | os.PathLike) -> dict[str, Path]:
    """``obj_id -> mesh file`` for the .obj/.ply files of ``obj_root``.

    As oikit's ``OakInkImage`` builds its mapping: files in sorted name order, the id is the stem,
    so a ``.ply`` beside an ``.obj`` of the same id wins.
    """
    obj_root = Path(obj_root)
    if not obj_root.is_dir():
        raise DataNotFoundError(f"OakInk object folder {obj_root} is missing")
    names = sorted(os.listdir(obj_root))
    return {
        Path(name).stem: obj_root / name
        for name in names
        if Path(name).suffix.lower() in MESH_SUFFIXES
    }


def load_object(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """The mesh at ``path`` centred on its bounding-box centre: (V, 3) float64, (F, 3) int64."""
    verts, faces = read_mesh(path)
    centre = (verts.min(0) + verts.max(0)) / 2.0
    return verts - centre, faces


def bbox_corners(verts: np.ndarray) -> np.ndarray:
    """(8, 3) corners of the axis-aligned box of (V, 3) points, in trimesh's order: z = min then
    max, each as (x, y) = (min, min), (max, min), (max, max), (min, max)."""
    lo, hi = np.min(verts, axis=0), np.max(verts, axis=0)
    xs, ys = (lo[0], hi[0], hi[0], lo[0]), (lo[1], lo[1], hi[1], hi[1])
    return np.array([(x, y, z) for z in (lo[2], hi[2]) for x, y in zip(xs, ys)])


def read_mesh(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) float64 and triangles (F, 3) int64 of an .obj or .ply file."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"mesh file {path} is missing")
    suffix = path.suffix.lower()
    if suffix == ".obj":
        verts, faces = _read_obj(path)
    elif suffix == ".ply":
        verts, faces = _read_ply(path)
    else:
        raise DataError(f"mesh file {path}: expected .obj or .ply")
    if len(verts) == 0:
        raise DataError(f"mesh file {path} has no vertices")
    if len(faces) and (faces.min() < 0 or faces.max() >= len(verts)):
        raise DataError(f"mesh file {path}: a face refers to a vertex that does not exist")
    return verts, faces


def _fan(polygon: list[int]) -> list[tuple[int, int, int]]:
    return [(polygon[0], polygon[i], polygon[i + 1]) for i in range(1, len(polygon) - 1)]


def _read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    verts: list[list[float]] = []
    faces: list[tuple[int, int, int]] = []
    with path.open("r", encoding="utf-8", errors="replace") as file:
        for number, line in enumerate(file, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                if fields[0] == "v":
                    verts.append([float(x) for x in fields[1:4]])
                elif fields[0] == "f":
                    ids = [int(field.split("/")[0]) for field in fields[1:]]
                    ids = [i - 1 if i > 0 else len(verts) + i for i in ids]  # 1-based or relative
                    faces.extend(_fan(ids))
            except ValueError:
                raise DataError(
                    f"mesh file {path}, line {number}: cannot read {line.strip()!r}"
                ) from None
            if fields[0] == "v" and len(verts[-1]) != 3:
                raise DataError(f"mesh file {path}, line {number}: a vertex needs x y z")
    return np.array(verts, dtype=np.float64).reshape(-1, 3), _faces_array(faces)


def _faces_array(faces: list[tuple[int, int, int]]) -> np.ndarray:
    return np.array(faces, dtype=np.int64).reshape(-1, 3)


def _read_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open("rb") as file:
        header = _ply_header(file, path)
        if header["format"] == "ascii":
            return _ply_ascii(file, header, path)
        return _ply_binary(file, header, path)


def _ply_header(file: object, path: Path) -> dict:
    lines = []
    while True:
        raw = file.readline()  # type: ignore[attr-defined]
        if not raw:
            raise DataError(f"mesh file {path}: PLY header has no end_header")
        line = raw.decode("ascii", errors="replace").strip()
        lines.append(line)
        if line == "end_header":
            break
    if not lines or lines[0] != "ply":
        raise DataError(f"mesh file {path}: not a PLY file (no 'ply' magic)")
    header: dict = {"format": None, "elements": []}
    for line in lines[1:]:
        fields = line.split()
        if not fields or fields[0] in ("comment", "obj_info", "end_header"):
            continue
        if fields[0] == "format":
            header["format"] = fields[1]
        elif fields[0] == "element":
            header["elements"].append({"name": fields[1], "count": int(fields[2]), "props": []})
        elif fields[0] == "property" and header["elements"]:
            props = header["elements"][-1]["props"]
            if fields[1] == "list":
                props.append(
                    (fields[4], "list", _ply_type(fields[2], path), _ply_type(fields[3], path))
                )
            else:
                props.append((fields[2], "scalar", _ply_type(fields[1], path), None))
    if header["format"] not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise DataError(f"mesh file {path}: unknown PLY format {header['format']!r}")
    return header


def _ply_type(name: str, path: Path) -> str:
    if name not in _PLY_TYPES:
        raise DataError(f"mesh file {path}: unknown PLY property type {name!r}")
    return _PLY_TYPES[name]


def _ply_result(
    vertex_rows: np.ndarray, vertex_props: list, polygons: list[list[int]], path: Path
) -> tuple[np.ndarray, np.ndarray]:
    names = [prop[0] for prop in vertex_props]
    if not {"x", "y", "z"} <= set(names):
        raise DataError(f"mesh file {path}: PLY vertices lack x, y, z properties")
    verts = np.stack([vertex_rows[:, names.index(axis)] for axis in "xyz"], axis=1)
    faces = [tri for polygon in polygons for tri in _fan(polygon)]
    return verts.astype(np.float64), _faces_array(faces)


def _ply_ascii(file: object, header: dict, path: Path) -> tuple[np.ndarray, np.ndarray]:
    text = file.read().decode("ascii", errors="replace").split("\n")  # type: ignore[attr-defined]
    rows = iter(line.split() for line in text if line.strip())
    vertex_rows = np.zeros((0, 3))
    vertex_props: list = []
    polygons: list[list[int]] = []
    try:
        for element in header["elements"]:
            items = [next(rows) for _ in range(element["count"])]
            if element["name"] == "vertex":
                vertex_props = element["props"]
                width = len(vertex_props)
                vertex_rows = np.array([[float(x) for x in row[:width]] for row in items])
                vertex_rows = vertex_rows.reshape(-1, width)
            elif element["name"] == "face":
                polygons = [[int(x) for x in row[1 : 1 + int(row[0])]] for row in items]
    except (StopIteration, ValueError, IndexError):
        raise DataError(f"mesh file {path}: PLY body is shorter than its header says") from None
    return _ply_result(vertex_rows, vertex_props, polygons, path)


def _ply_binary(file: object, header: dict, path: Path) -> tuple[np.ndarray, np.ndarray]:
    order = "<" if header["format"] == "binary_little_endian" else ">"
    data = file.read()  # type: ignore[attr-defined]
    offset = 0
    vertex_rows = np.zeros((0, 3))
    vertex_props: list = []
    polygons: list[list[int]] = []
    try:
        for element in header["elements"]:
            props = element["props"]
            if all(kind == "scalar" for _, kind, _, _ in props):
                dtype = np.dtype([(name, order + t) for name, _, t, _ in props])
                block = np.frombuffer(data, dtype=dtype, count=element["count"], offset=offset)
                offset += dtype.itemsize * element["count"]
                if element["name"] == "vertex":
                    vertex_props = props
                    vertex_rows = np.stack(
                        [block[name].astype(np.float64) for name, *_ in props], 1
                    )
                continue
            rows, offset = _ply_binary_lists(data, offset, element["count"], props, order)
            if element["name"] == "face":
                polygons = rows
    except (ValueError, IndexError):
        raise DataError(f"mesh file {path}: PLY body is shorter than its header says") from None
    return _ply_result(vertex_rows, vertex_props, polygons, path)


def _ply_binary_lists(
    data: bytes, offset: int, count: int, props: list, order: str
) -> tuple[list[list[int]], int]:
    """Read ``count`` records with list properties; returns the first list of each record."""
    firsts: list[list[int]] = []
    for _ in range(count):
        first: list[int] | None = None
        for _, kind, t, item_type in props:
            if kind == "scalar":
                offset += np.dtype(t).itemsize
                continue
            length_dtype = np.dtype(order + t)
            length = int(np.frombuffer(data, dtype=length_dtype, count=1, offset=offset)[0])
            offset += length_dtype.itemsize
            item_dtype = np.dtype(order + item_type)
            values = np.frombuffer(data, dtype=item_dtype, count=length, offset=offset)
            offset += item_dtype.itemsize * length
            if first is None:
                first = [int(v) for v in values]
        firsts.append(first or [])
    return firsts, offset
