"""DeepHandMesh's hand model: the six text files of ``data/hand_model/`` and the arrays they hold.

=======================  ========================================================================
``hand.obj``             template mesh in **cm** (read x10 -> mm): ``v x y z``, ``vt u v`` and
                         triangles ``f v/vt v/vt v/vt`` (1-based; the UV index differs from the
                         vertex index where the UV map has seams)
``skeleton.txt``         one ``name id parent_id`` line per joint (``-1``: the root)
``skinning_weight.txt``  ``vertex_idx name weight name weight ...`` (0-based vertex index, sparse)
``local_pose.txt``       ``name m00 m01 ... m33``: the joint's rest transform in its parent's
                         frame, row-major 4x4, mm
``global_pose.txt``      the same layout: rest (bind) transforms in model space, mm
``global_pose_inv.txt``  the same layout: their inverses (read, not computed)
=======================  ========================================================================

What the published files contain, and the original loader (``common/utils/mesh.py``) relies on,
is handled here: ``#`` header lines, pose files listed in depth-first order and matched to the
skeleton by joint name, a trailing space before every newline of the weight and pose files (the
original drops the last token; splitting on any whitespace reads the same numbers whether the
space is there or not). Every line is parsed once into lists and converted to arrays at the end,
so the real mesh (~12.5k vertices) loads in well under a second; a malformed line raises
``handmesh.errors.DataError`` naming the file and the line number.

Degrees of freedom come from the joint names, as the original derives them: ``...null`` 0,
``...3`` / ``...2`` z only, ``...1`` x, y, z, ``...thumb0`` x, y, z, anything else (the wrist) 0
-- 28 for the real 22-joint skeleton.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from handmesh.errors import DataError, DataNotFoundError

__all__ = [
    "HAND_MODEL_FILES",
    "HandTemplate",
    "dof_from_name",
    "load_hand_model",
    "read_hand_obj",
    "read_pose_file",
    "read_skeleton",
    "read_skinning_weights",
]

HAND_MODEL_FILES = (
    "hand.obj",
    "skeleton.txt",
    "skinning_weight.txt",
    "local_pose.txt",
    "global_pose.txt",
    "global_pose_inv.txt",
)
"""The six files of a DeepHandMesh hand-model directory (``hand.fbx`` is not read)."""

OBJ_CM_TO_MM = 10.0
"""``hand.obj`` is in centimetres; everything read from it is returned in millimetres."""


def dof_from_name(name: str) -> tuple[int, int, int]:
    """The (x, y, z) rotational degrees of freedom of a joint, from its name (the original's rule).

    ``...null`` (fingertip end effectors) 0; ``...3`` and ``...2`` (distal / middle hinges) z only;
    ``...1`` (knuckles) and ``...thumb0`` x, y and z; anything else (the wrist) none.
    """
    if name.endswith("null"):
        return (0, 0, 0)
    if name.endswith(("3", "2")):
        return (0, 0, 1)
    if name.endswith("1") or name.endswith("thumb0"):
        return (1, 1, 1)
    return (0, 0, 0)


@dataclass(frozen=True)
class HandTemplate:
    """A DeepHandMesh hand model as arrays (units: millimetres).

    Attributes:
        verts: (V, 3) float32 template vertices, mm (the obj's cm x 10).
        faces: (F, 3) int64 0-based vertex indices of each triangle.
        uvs: (VT, 2) float32 texture coordinates.
        face_uvs: (F, 3) int64 0-based UV indices of each triangle corner.
        joint_names: the J joint names in skeleton (id) order.
        parents: (J,) parent id of each joint, -1 for the root.
        dof: (J, 3) float32 0/1 rotational degrees of freedom (x, y, z) per joint.
        skinning_weights: (V, J) float32 dense LBS weights.
        local_pose: (J, 4, 4) float32 rest transforms relative to the parent, mm.
        global_pose: (J, 4, 4) float32 rest (bind) transforms in model space, mm.
        global_pose_inv: (J, 4, 4) float32 their inverses, as stored in the file.
        source: where it was read from (for messages).
    """

    verts: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    face_uvs: np.ndarray
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    dof: np.ndarray
    skinning_weights: np.ndarray
    local_pose: np.ndarray
    global_pose: np.ndarray
    global_pose_inv: np.ndarray
    source: str = field(default="<memory>", compare=False)

    @property
    def num_verts(self) -> int:
        return int(self.verts.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def num_dof(self) -> int:
        return int(self.dof.sum())

    @property
    def root(self) -> int:
        """The id of the root joint (the one whose parent is -1)."""
        return self.parents.index(-1)

    @property
    def segmentation(self) -> np.ndarray:
        """(V,) int64 dominant joint of every vertex: the argmax of its skinning weights (the
        original's "segmentation", used by the penetration loss; 0 for an unweighted vertex)."""
        return np.argmax(self.skinning_weights, axis=1).astype(np.int64)

    def children(self, joint: int) -> tuple[int, ...]:
        """Ids of the joints whose parent is ``joint``, ascending (the original's ``child_id``)."""
        return tuple(j for j, parent in enumerate(self.parents) if parent == joint)

    def joint_index(self, name: str) -> int:
        """The id of the joint called ``name`` (KeyError naming the known joints otherwise)."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(
                f"no joint {name!r} in {self.source}; joints: {self.joint_names}"
            ) from None


# ----------------------------------------------------------------------------------- reading


def _lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(1-based line number, whitespace-split tokens) of every non-empty, non-``#`` line."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise DataNotFoundError(f"DeepHandMesh hand model: {path} does not exist") from None
    except OSError as error:
        raise DataError(f"DeepHandMesh hand model: cannot read {path}: {error}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            continue
        tokens = line.split()
        if tokens:
            yield number, tokens


def _bad(path: Path, number: int, what: str) -> DataError:
    return DataError(f"{path}, line {number}: {what}")


def _floats(path: Path, number: int, tokens: list[str]) -> list[float]:
    try:
        return [float(token) for token in tokens]
    except ValueError:
        raise _bad(path, number, f"expected numbers, got {' '.join(tokens)!r}") from None


def _corner(path: Path, number: int, token: str, num_v: int, num_vt: int) -> tuple[int, int]:
    """A face corner ``v/vt`` or ``v/vt/vn`` -> 0-based (v, vt)."""
    parts = token.split("/")
    if len(parts) < 2 or not parts[1]:
        raise _bad(path, number, f"face corner {token!r} has no UV index (expected 'v/vt')")
    try:
        vertex, uv = int(parts[0]), int(parts[1])
    except ValueError:
        raise _bad(path, number, f"face corner {token!r} is not 'v/vt' integers") from None
    if not 1 <= vertex <= num_v:
        raise _bad(path, number, f"vertex index {vertex} outside 1..{num_v}")
    if not 1 <= uv <= num_vt:
        raise _bad(path, number, f"UV index {uv} outside 1..{num_vt}")
    return vertex - 1, uv - 1


def read_hand_obj(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read ``hand.obj``: (V, 3) float32 vertices in **mm** (the file's cm x 10), (F, 3) int64
    faces, (VT, 2) float32 UVs and (F, 3) int64 face UV indices (both 0-based).

    Only ``v``, ``vt`` and ``f`` lines are read; faces must be triangles with UV indices.
    """
    path = Path(path)
    verts: list[list[float]] = []
    uvs: list[list[float]] = []
    face_lines: list[tuple[int, list[str]]] = []
    for number, tokens in _lines(path):
        kind = tokens[0]
        if kind == "v":
            if len(tokens) < 4:
                raise _bad(path, number, "a 'v' line needs x y z")
            verts.append(_floats(path, number, tokens[1:4]))
        elif kind == "vt":
            if len(tokens) < 3:
                raise _bad(path, number, "a 'vt' line needs u v")
            uvs.append(_floats(path, number, tokens[1:3]))
        elif kind == "f":
            if len(tokens) != 4:
                raise _bad(path, number, f"faces must be triangles, got {len(tokens) - 1} corners")
            face_lines.append((number, tokens[1:]))
    if not verts or not face_lines:
        raise DataError(f"{path}: no 'v' or no 'f' lines; is this the DeepHandMesh hand.obj?")
    faces = np.empty((len(face_lines), 3), dtype=np.int64)
    face_uvs = np.empty((len(face_lines), 3), dtype=np.int64)
    for row, (number, corners) in enumerate(face_lines):
        for col, token in enumerate(corners):
            faces[row, col], face_uvs[row, col] = _corner(path, number, token, len(verts), len(uvs))
    vertices = np.asarray(verts, dtype=np.float64) * OBJ_CM_TO_MM
    return vertices.astype(np.float32), faces, np.asarray(uvs, dtype=np.float32), face_uvs


def read_skeleton(path: str | os.PathLike) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Read ``skeleton.txt`` -> (joint names in id order, parent ids with -1 for the root).

    Every line is ``name id parent_id``; the ids must be exactly 0..J-1, with one root and no
    cycle.
    """
    path = Path(path)
    entries: dict[int, tuple[str, int, int]] = {}
    for number, tokens in _lines(path):
        if len(tokens) != 3:
            raise _bad(path, number, f"expected 'name id parent_id', got {' '.join(tokens)!r}")
        name, joint_id, parent_id = tokens
        try:
            joint, parent = int(joint_id), int(parent_id)
        except ValueError:
            raise _bad(
                path, number, f"ids must be integers, got {joint_id!r} {parent_id!r}"
            ) from None
        if joint in entries:
            raise _bad(path, number, f"joint id {joint} already given on line {entries[joint][2]}")
        entries[joint] = (name, parent, number)
    count = len(entries)
    if sorted(entries) != list(range(count)) or count == 0:
        raise DataError(f"{path}: joint ids must be 0..{count - 1}, got {sorted(entries)}")
    names = tuple(entries[j][0] for j in range(count))
    parents = tuple(entries[j][1] for j in range(count))
    if len(set(names)) != count:
        raise DataError(f"{path}: joint names must be unique, got {names}")
    for joint, parent in enumerate(parents):
        if parent != -1 and not 0 <= parent < count:
            raise _bad(path, entries[joint][2], f"parent id {parent} outside -1..{count - 1}")
    roots = [j for j, p in enumerate(parents) if p == -1]
    if len(roots) != 1:
        raise DataError(f"{path}: expected exactly one root (parent -1), got {roots}")
    for joint in range(count):  # every chain must reach the root within J steps
        current, steps = joint, 0
        while parents[current] != -1:
            current, steps = parents[current], steps + 1
            if steps > count:
                raise _bad(path, entries[joint][2], f"joint {names[joint]!r} is on a cycle")
    return names, parents


def _joint_id(path: Path, number: int, name: str, index: dict[str, int]) -> int:
    if name not in index:
        raise _bad(path, number, f"unknown joint {name!r} (skeleton joints: {', '.join(index)})")
    return index[name]


def read_skinning_weights(
    path: str | os.PathLike, joint_names: tuple[str, ...], num_verts: int
) -> np.ndarray:
    """Read ``skinning_weight.txt`` -> (V, J) float32 dense weights (joints by skeleton id).

    Each line is ``vertex_idx name weight [name weight ...]`` with a 0-based vertex index;
    vertices not listed keep zero weights (as in the original).
    """
    path = Path(path)
    index = {name: j for j, name in enumerate(joint_names)}
    weights = np.zeros((num_verts, len(joint_names)), dtype=np.float32)
    for number, tokens in _lines(path):
        if len(tokens) < 3 or len(tokens) % 2 == 0:
            raise _bad(path, number, "expected 'vertex_idx name weight [name weight ...]'")
        try:
            vertex = int(tokens[0])
        except ValueError:
            raise _bad(path, number, f"vertex index {tokens[0]!r} is not an integer") from None
        if not 0 <= vertex < num_verts:
            raise _bad(path, number, f"vertex index {vertex} outside 0..{num_verts - 1}")
        values = _floats(path, number, tokens[2::2])
        for name, value in zip(tokens[1::2], values):
            weights[vertex, _joint_id(path, number, name, index)] = value
    return weights


def read_pose_file(path: str | os.PathLike, joint_names: tuple[str, ...]) -> np.ndarray:
    """Read ``local_pose.txt`` / ``global_pose.txt`` / ``global_pose_inv.txt`` -> (J, 4, 4) float32.

    Each line is ``name`` then 16 numbers (row-major 4x4, mm). The lines may come in any order
    (the published files are depth-first); every joint must appear exactly once.
    """
    path = Path(path)
    index = {name: j for j, name in enumerate(joint_names)}
    poses = np.zeros((len(joint_names), 4, 4), dtype=np.float32)
    seen: dict[int, int] = {}
    for number, tokens in _lines(path):
        joint = _joint_id(path, number, tokens[0], index)
        if len(tokens) != 17:
            raise _bad(path, number, f"expected a joint name and 16 numbers, got {len(tokens) - 1}")
        if joint in seen:
            raise _bad(path, number, f"joint {tokens[0]!r} already given on line {seen[joint]}")
        seen[joint] = number
        poses[joint] = np.asarray(_floats(path, number, tokens[1:]), dtype=np.float64).reshape(4, 4)
    missing = [name for j, name in enumerate(joint_names) if j not in seen]
    if missing:
        raise DataError(f"{path}: no transform for joint(s) {', '.join(missing)}")
    return poses


def load_hand_model(directory: str | os.PathLike) -> HandTemplate:
    """Read the six files of a DeepHandMesh hand-model directory (``data/hand_model``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataNotFoundError(
            f"DeepHandMesh hand model directory {directory} does not exist (it holds "
            f"{', '.join(HAND_MODEL_FILES)}; set MODEL.HAND_MODEL_DIR / --hand_model)"
        )
    missing = [name for name in HAND_MODEL_FILES if not (directory / name).is_file()]
    if missing:
        raise DataNotFoundError(
            f"DeepHandMesh hand model {directory}: missing {', '.join(missing)}"
        )
    verts, faces, uvs, face_uvs = read_hand_obj(directory / "hand.obj")
    names, parents = read_skeleton(directory / "skeleton.txt")
    weights = read_skinning_weights(directory / "skinning_weight.txt", names, len(verts))
    return HandTemplate(
        verts=verts,
        faces=faces,
        uvs=uvs,
        face_uvs=face_uvs,
        joint_names=names,
        parents=parents,
        dof=np.asarray([dof_from_name(n) for n in names], dtype=np.float32).reshape(-1, 3),
        skinning_weights=weights,
        local_pose=read_pose_file(directory / "local_pose.txt", names),
        global_pose=read_pose_file(directory / "global_pose.txt", names),
        global_pose_inv=read_pose_file(directory / "global_pose_inv.txt", names),
        source=str(directory),
    )
