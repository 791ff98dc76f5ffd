"""Hand poses for the decoder: named presets and Euler-angle JSON files.

A pose is a (22, 3) array of Euler angles in radians (x, y, z per joint, ``R = Rz @ Ry @ Rx``,
see :mod:`handmesh.deephandmesh.kinematics`). The decoder applies every angle, also those on
axes the encoder never predicts (DoF 0, e.g. the fingertips'); the presets set free DoFs only.

JSON files (``--euler FILE.json``) hold either a list of 22 ``[x, y, z]`` triples in joint-id
order, or an object mapping joint names to triples (joints not named stay 0), optionally under a
top-level ``"joint_euler"`` key; ``"degrees": true`` reads degrees instead of radians.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from handmesh.deephandmesh.constants import DEMO_POSE, JOINT_NAMES
from handmesh.errors import DataError, DataNotFoundError

__all__ = ["PRESETS", "load_euler_json", "preset_pose"]

PRESETS = ("open", "demo", "fist")


def preset_pose(name: str, dof: np.ndarray | None = None) -> np.ndarray:
    """(22, 3) float32 radians of a named pose.

    ``open``: all zeros (the template's rest pose); ``demo``: the original demo's 90 degree
    flexion of the index, middle, ring and pinky knuckles; ``fist``: every finger joint flexed
    by 80 degrees and the thumb by 30, on the z (flexion) axis.
    """
    euler = np.zeros((len(JOINT_NAMES), 3), dtype=np.float32)
    if name == "open":
        return euler
    if name == "demo":
        for joint, angle in DEMO_POSE.items():
            euler[joint, 2] = angle
        return euler
    if name == "fist":
        for joint, joint_name in enumerate(JOINT_NAMES):
            if joint_name.endswith(("1", "2", "3")):
                euler[joint, 2] = math.radians(30.0 if "thumb" in joint_name else 80.0)
        return euler
    raise ValueError(f"unknown pose preset {name!r}; choose one of {', '.join(PRESETS)}")


def _triple(value: Any, where: str, path: Path) -> list[float]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 3:
        raise DataError(f"{path}: {where} must be [x, y, z], got {value!r}")
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        raise DataError(f"{path}: {where} must hold numbers, got {value!r}") from None


def load_euler_json(
    path: str | os.PathLike, joint_names: Sequence[str] = JOINT_NAMES
) -> np.ndarray:
    """Read a pose JSON file (see the module docstring) -> (J, 3) float32 radians."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataNotFoundError(f"pose file {path} does not exist") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None
    degrees = False
    if isinstance(data, Mapping) and "joint_euler" in data:
        degrees = bool(data.get("degrees", False))
        unknown = set(data) - {"joint_euler", "degrees"}
        if unknown:
            raise DataError(
                f"{path}: unknown key(s) {sorted(unknown)}; expected joint_euler, degrees"
            )
        data = data["joint_euler"]
    euler = np.zeros((len(joint_names), 3), dtype=np.float64)
    if isinstance(data, Mapping):
        for name, value in data.items():
            if name not in joint_names:
                raise DataError(f"{path}: unknown joint {name!r}; joints: {', '.join(joint_names)}")
            euler[list(joint_names).index(name)] = _triple(value, f"joint {name!r}", path)
    elif isinstance(data, list):
        if len(data) != len(joint_names):
            raise DataError(
                f"{path}: expected {len(joint_names)} [x, y, z] triples, got {len(data)}"
            )
        for joint, value in enumerate(data):
            euler[joint] = _triple(value, f"entry {joint}", path)
    else:
        raise DataError(f"{path}: expected a list of triples or an object of joint names")
    if degrees:
        euler = np.radians(euler)
    return euler.astype(np.float32)
