"""Load MANO model files (``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``) without chumpy, safely.

The official files come from https://mano.is.tue.mpg.de ("Models & Code", ``mano_v1_2.zip``);
handmesh looks for them in ``assets/mano_v1_2/models`` (relative to the working directory) or in
the folder named by the ``HANDMESH_MANO_ROOT`` environment variable. When they are absent and the
caller allows it, the built-in synthetic MANO-format hand (``handmesh.mano.synthetic``) is used
instead and labelled as such.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import scipy.sparse

from handmesh.errors import ArgumentError, DataError, DataNotFoundError
from handmesh.io.safe_pickle import safe_load_pickle
from handmesh.mano.constants import MANO_JOINT_NAMES, NUM_FACES, NUM_MANO_JOINTS, NUM_VERTS

__all__ = [
    "DEFAULT_MANO_ROOT",
    "MANO_FILENAMES",
    "MANO_ROOT_ENV",
    "ManoModelData",
    "check_chirality",
    "describe_mano_source",
    "load_mano_from_preset",
    "load_mano_model",
    "resolve_mano_path",
    "template_chirality",
]

logger = logging.getLogger("handmesh")

MANO_ROOT_ENV = "HANDMESH_MANO_ROOT"
DEFAULT_MANO_ROOT = Path("assets/mano_v1_2/models")
MANO_FILENAMES = {"right": "MANO_RIGHT.pkl", "left": "MANO_LEFT.pkl"}
SYNTHETIC_SOURCE = "synthetic"

_NUM_POSE_FEATURES = (NUM_MANO_JOINTS - 1) * 9
_EXPECTED_SHAPES: dict[str, tuple[int, ...]] = {
    "v_template": (NUM_VERTS, 3),
    "f": (NUM_FACES, 3),
    "J_regressor": (NUM_MANO_JOINTS, NUM_VERTS),
    "kintree_table": (2, NUM_MANO_JOINTS),
    "weights": (NUM_VERTS, NUM_MANO_JOINTS),
    "posedirs": (NUM_VERTS, 3, _NUM_POSE_FEATURES),
    "shapedirs": (NUM_VERTS, 3, 10),
    "hands_components": (45, 45),
    "hands_mean": (45,),
}

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True, eq=False)
class ManoModelData:
    """The arrays of one MANO hand model (read-only float64 numpy arrays, metres).

    Attributes:
        v_template: (778, 3) mean-shape rest vertices, metres.
        faces: (1538, 3) int64 triangle vertex ids (the pickle's ``f``).
        J_regressor: (16, 778) dense joint regressor (native MANO joint order).
        kintree_table: (2, 16) int64; row 0 holds each joint's parent (the root's is a sentinel,
            4294967295 in the official files), row 1 the joint ids.
        weights: (778, 16) linear-blend-skinning weights.
        posedirs: (778, 3, 135) pose blend shapes, indexed by the flattened (R - I) of joints 1..15.
        shapedirs: (778, 3, 10) shape blend shapes, metres per unit beta.
        hands_components: (45, 45) PCA basis of the 15 finger rotations (rows are components).
        hands_mean: (45,) mean finger pose, axis-angle.
        side: "right" or "left".
        source: the file the model came from, or "synthetic".
        is_synthetic: True for the built-in procedural hand (not the real MANO).
    """

    v_template: np.ndarray
    faces: np.ndarray
    J_regressor: np.ndarray
    kintree_table: np.ndarray
    weights: np.ndarray
    posedirs: np.ndarray
    shapedirs: np.ndarray
    hands_components: np.ndarray
    hands_mean: np.ndarray
    side: str
    source: str
    is_synthetic: bool

    @property
    def parents(self) -> tuple[int, ...]:
        """Parent of each native joint from ``kintree_table[0]``, with -1 for the root."""
        ids = [int(j) for j in self.kintree_table[1]]
        out = []
        for parent in self.kintree_table[0]:
            out.append(ids.index(int(parent)) if int(parent) in ids else -1)
        return tuple(out)


_CACHE: dict[tuple[Any, ...], ManoModelData] = {}


def _check_side(side: str) -> str:
    if side not in MANO_FILENAMES:
        raise ArgumentError(f"MANO side must be 'right' or 'left', got {side!r}")
    return side


def resolve_mano_path(path: PathLike | None, side: str) -> Path:
    """The MANO pickle to read for ``side``.

    ``path`` may be the .pkl file itself, the folder holding ``MANO_RIGHT.pkl``/``MANO_LEFT.pkl``,
    or the ``mano_v1_2`` folder (with a ``models/`` subfolder). ``None`` means the
    ``HANDMESH_MANO_ROOT`` environment variable, else ``assets/mano_v1_2/models`` (CWD-relative).
    The returned path may not exist. A file named for the other side (``MANO_LEFT.pkl`` for
    ``side="right"`` and vice versa) is refused: it would silently give the wrong hand.
    """
    filename = MANO_FILENAMES[_check_side(side)]
    if path is None:
        path = os.environ.get(MANO_ROOT_ENV) or DEFAULT_MANO_ROOT
    candidate = Path(path).expanduser()
    if candidate.suffix == ".pkl" or candidate.is_file():
        other_sides = {name for other, name in MANO_FILENAMES.items() if other != side}
        if candidate.name in other_sides:
            raise DataError(
                f"MANO file {candidate} is not the {side} hand's model: pass {filename} (or the "
                f"folder holding it) for side={side!r}"
            )
        return candidate
    for folder in (candidate, candidate / "models"):
        if (folder / filename).is_file():
            return folder / filename
    return candidate / filename


def _missing_file_message(path: Path, side: str, given: PathLike | None) -> str:
    env_value = os.environ.get(MANO_ROOT_ENV)
    if given is not None:
        origin = "the given path (DATA_PRESET.MANO_ROOT / mano_root)"
    elif env_value:
        origin = f"{MANO_ROOT_ENV}={env_value!r}"
    else:
        origin = f"the default folder; {MANO_ROOT_ENV} is not set"
    return (
        f"MANO model file not found: {path} (side={side!r}, from {origin}). MANO is not distributed "
        "with handmesh: register at https://mano.is.tue.mpg.de, download 'Models & Code' "
        "(mano_v1_2.zip) and put its models at assets/mano_v1_2/models/MANO_RIGHT.pkl and "
        f"assets/mano_v1_2/models/MANO_LEFT.pkl (relative to the working directory), or set "
        f"{MANO_ROOT_ENV} to the folder holding them. To run without it, pass "
        "allow_synthetic=True (config DATA_PRESET.ALLOW_SYNTHETIC_MANO: True) to use the built-in "
        "SYNTHETIC hand model instead (not the real MANO)."
    )


def _as_array(value: Any, source: str, key: str, dtype: type) -> np.ndarray:
    if scipy.sparse.issparse(value):
        value = value.toarray()
    try:
        array: np.ndarray = np.array(value, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise DataError(
            f"{source}: MANO key {key!r} is not a numeric array ({type(value).__name__}): {error}"
        ) from error
    expected = _EXPECTED_SHAPES[key]
    if array.shape != expected:
        raise DataError(f"{source}: MANO key {key!r} has shape {array.shape}, expected {expected}")
    array.setflags(write=False)
    return array


def model_from_dict(
    raw: Mapping[str, Any], source: str, side: str, is_synthetic: bool = False
) -> ManoModelData:
    """Convert a dict with the official MANO pickle keys into a validated ``ManoModelData``.

    Used for loaded pickles and for the synthetic model alike (one conversion path).
    """
    if not isinstance(raw, Mapping):
        raise DataError(f"{source}: a MANO file holds a dict, found {type(raw).__name__}")
    missing = [key for key in _EXPECTED_SHAPES if key not in raw]
    if missing:
        raise DataError(
            f"{source}: not a MANO model, missing key(s) {missing} (found: {sorted(raw)})"
        )
    faces = _as_array(raw["f"], source, "f", np.int64)
    if faces.min() < 0 or faces.max() >= NUM_VERTS:
        raise DataError(
            f"{source}: MANO key 'f' holds vertex ids outside [0, {NUM_VERTS}): "
            f"min {faces.min()}, max {faces.max()}"
        )
    floats = {
        key: _as_array(raw[key], source, key, np.float64)
        for key in _EXPECTED_SHAPES
        if key not in ("f", "kintree_table")
    }
    return ManoModelData(
        faces=faces,
        kintree_table=_as_array(raw["kintree_table"], source, "kintree_table", np.int64),
        side=side,
        source=source,
        is_synthetic=is_synthetic,
        **floats,
    )


def _load_synthetic(side: str) -> ManoModelData:
    from handmesh.mano.synthetic import build_synthetic_mano_dict

    logger.warning(
        "Using the SYNTHETIC %s hand model, not the real MANO: results are not comparable with "
        "published numbers. Get MANO from https://mano.is.tue.mpg.de for real use.",
        side,
    )
    return model_from_dict(
        build_synthetic_mano_dict(side), SYNTHETIC_SOURCE, side, is_synthetic=True
    )


def load_mano_model(
    path: PathLike | None = None, side: str = "right", allow_synthetic: bool = False
) -> ManoModelData:
    """Load (and cache) the MANO model of one hand side.

    Args:
        path: the .pkl file or a folder holding MANO_RIGHT.pkl / MANO_LEFT.pkl; None looks in
            ``$HANDMESH_MANO_ROOT`` then ``assets/mano_v1_2/models`` (see ``resolve_mano_path``).
        side: "right" or "left".
        allow_synthetic: when the file is missing, use the built-in synthetic hand (a warning is
            logged) instead of failing.

    Raises:
        DataNotFoundError: the file is missing and ``allow_synthetic`` is False; the message says
            where to get MANO and where to put it (a FileNotFoundError).
        DataError: not a readable pickle, or a key is missing or has the wrong shape (the message
            names file and key).
        UnsafePickleError: the file references non-data classes (nothing from it is executed).
    """
    file = resolve_mano_path(path, side)
    if not file.is_file():
        if not allow_synthetic:
            raise DataNotFoundError(_missing_file_message(file, side, path))
        key: tuple[Any, ...] = (SYNTHETIC_SOURCE, side)
        if key not in _CACHE:
            _CACHE[key] = _load_synthetic(side)
        return _CACHE[key]
    resolved = file.resolve()
    stat = resolved.stat()
    key = (str(resolved), side, stat.st_mtime_ns, stat.st_size)
    if key not in _CACHE:
        model = model_from_dict(safe_load_pickle(resolved), str(resolved), side)
        check_chirality(model)
        _CACHE[key] = model
    return _CACHE[key]


def template_chirality(model: ManoModelData) -> str:
    """ "right" or "left" from the rest template's anatomy, whatever the file is called.

    MANO's templates share one frame (fingers toward -x for the right hand, the back of the hand
    toward +y, the left template the right one mirrored in x). With ``f`` = middle knuckle - wrist
    and ``s`` = index knuckle - pinky knuckle (toward the thumb side), the back of a right hand is
    on the side of ``f x s``: its y component is positive for a right template and negative for
    a left one.
    """
    joints = model.J_regressor @ model.v_template
    index = {name: i for i, name in enumerate(MANO_JOINT_NAMES)}
    forward = joints[index["middle1"]] - joints[index["wrist"]]
    across = joints[index["index1"]] - joints[index["pinky1"]]
    return "right" if np.cross(forward, across)[1] > 0 else "left"


def check_chirality(model: ManoModelData) -> None:
    """Refuse a file whose template is the other hand (e.g. MANO_LEFT.pkl renamed MANO_RIGHT.pkl:
    its thumb would be on the wrong side)."""
    found = template_chirality(model)
    if found != model.side:
        raise DataError(
            f"{model.source} was loaded as the {model.side} hand, but its template is a {found} "
            f"hand (thumb on the other side): was MANO_{found.upper()}.pkl renamed? Use the "
            f"official MANO_{model.side.upper()}.pkl."
        )


def describe_mano_source(data_preset: Mapping[str, Any] | None, side: str = "right") -> str:
    """Which MANO model a config resolves to, for logs and result files (reads no pickle): the
    file's absolute path, "synthetic (built-in ...)", or "not found"."""
    preset = data_preset or {}
    file = resolve_mano_path(preset.get("MANO_ROOT") or None, side)
    if file.is_file():
        return str(file.resolve())
    if preset.get("ALLOW_SYNTHETIC_MANO", False):
        return "synthetic (the built-in MANO-format hand, not the real MANO)"
    return f"not found ({file})"


def load_mano_from_preset(
    data_preset: Mapping[str, Any] | None, side: str = "right"
) -> ManoModelData:
    """The MANO model a config asks for: ``DATA_PRESET.MANO_ROOT`` when set, else
    ``$HANDMESH_MANO_ROOT``, else ``assets/mano_v1_2/models``, else (only with
    ``DATA_PRESET.ALLOW_SYNTHETIC_MANO: true``) the built-in synthetic hand. The one rule every
    model, dataset and CLI uses; read in ``from_config``, never in a constructor."""
    preset = data_preset or {}
    return load_mano_model(
        preset.get("MANO_ROOT") or None,
        side,
        allow_synthetic=bool(preset.get("ALLOW_SYNTHETIC_MANO", False)),
    )
