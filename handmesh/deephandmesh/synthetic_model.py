"""A synthetic DeepHandMesh hand model, generated in code, and the writer of the six-file format.

The real hand model is a separate download; so that the pipeline runs before anything is
downloaded, :func:`build_synthetic_template` rigs handmesh's built-in synthetic hand surface
(778 vertices, the one :mod:`handmesh.mano.synthetic` builds) with DeepHandMesh's 22-joint
skeleton (same names, ids, parents and hence the same 28 DoF): wrist at the MANO wrist, knuckle /
middle / distal joints at the MANO finger joints, ``null`` end effectors at the fingertips, and an
extra ``thumb0`` between the wrist and the thumb's base. Joint frames put x along the bone and z
on the flexion axis, so a positive z angle curls a digit towards the palm (the demo pose bends
the four knuckles by 90 degrees). Skinning weights are the synthetic MANO weights moved to the
corresponding joints. UVs are a planar map with a seam between the back and the palm, so UV
indices differ from vertex indices, as in the real ``hand.obj``. It is labelled synthetic
wherever it is used (``SYNTHETIC_HAND_NOTE``); numbers obtained with it say nothing about the
real model.

:func:`write_hand_model` writes any :class:`HandTemplate` in the published layout: ``hand.obj``
in cm with ``f v/vt`` faces, ``#`` headers, pose files in depth-first order, trailing spaces.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from handmesh.deephandmesh.constants import JOINT_NAMES, ROOT_JOINT
from handmesh.deephandmesh.hand_model import OBJ_CM_TO_MM, HandTemplate, dof_from_name
from handmesh.io.atomic import atomic_write_text

__all__ = ["SYNTHETIC_HAND_NOTE", "build_synthetic_template", "depth_first", "write_hand_model"]

SYNTHETIC_HAND_NOTE = (
    "Using handmesh's SYNTHETIC DeepHandMesh hand model (procedural, not the published one): put "
    "the published hand_model/ directory in MODEL.HAND_MODEL_DIR for real results."
)

M_TO_MM = 1000.0
THUMB0_FRACTION = 0.45
"""Where thumb0 sits on the segment from the wrist to the thumb's base joint."""

_FINGERS = ("thumb", "index", "middle", "ring", "pinky")

# synthetic MANO joint -> DeepHandMesh joint id (the joint whose transform moves that MANO bone)
_MANO_TO_DHM = {0: 21, 13: 3, 14: 2, 15: 1, 1: 8, 2: 7, 3: 6, 4: 12, 5: 11, 6: 10, 10: 16, 11: 15,
                12: 14, 7: 20, 8: 19, 9: 18}  # fmt: skip


def _parents() -> tuple[int, ...]:
    parents = [0] * len(JOINT_NAMES)
    parents[ROOT_JOINT] = -1
    parents[4] = ROOT_JOINT  # thumb0 <- wrist
    for tip in (0, 5, 9, 13, 17):  # each chain: null <- 3 <- 2 <- 1
        parents[tip], parents[tip + 1], parents[tip + 2] = tip + 1, tip + 2, tip + 3
    parents[3] = 4  # thumb1 <- thumb0
    for knuckle in (8, 12, 16, 20):
        parents[knuckle] = ROOT_JOINT
    return tuple(parents)


def _frame(twist: np.ndarray, dorsal: np.ndarray) -> np.ndarray:
    """(3, 3) joint rotation: x along the bone, z the flexion axis, y = z x x (palmar)."""
    x = twist / np.linalg.norm(twist)
    z = np.cross(dorsal, x)
    z /= np.linalg.norm(z)
    return np.stack([x, np.cross(z, x), z], axis=1)


def _uv_map(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Planar UVs: back-of-hand faces on the left half, palm faces on the right half."""
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    side = (normal[:, 1] < 0).astype(np.int64)  # +y is the back of the hand
    lo, hi = verts.min(0), verts.max(0)
    keys = faces * 2 + side[:, None]  # one UV per (vertex, side)
    unique, face_uvs = np.unique(keys.reshape(-1), return_inverse=True)
    vertex, half = unique // 2, unique % 2
    u = (verts[vertex, 0] - lo[0]) / (hi[0] - lo[0]) * 0.5 + 0.5 * half
    v = (verts[vertex, 2] - lo[2]) / (hi[2] - lo[2])
    return np.stack([u, v], 1).astype(np.float32), face_uvs.reshape(-1, 3).astype(np.int64)


@functools.lru_cache(maxsize=1)
def _build() -> HandTemplate:
    from handmesh.mano._synthetic_mesh import WRIST, rest_digits
    from handmesh.mano.synthetic import build_synthetic_mano_dict

    mano = build_synthetic_mano_dict("right")
    verts_m, faces = mano["v_template"], mano["f"].astype(np.int64)
    digits = {d.name: d for d in rest_digits()}
    position = np.zeros((len(JOINT_NAMES), 3))
    dorsal = np.zeros((len(JOINT_NAMES), 3))
    position[ROOT_JOINT] = WRIST
    dorsal[ROOT_JOINT] = digits["middle"].dorsal
    for name in _FINGERS:
        digit = digits[name]
        tip = JOINT_NAMES.index(f"b_r_{name}_null")
        position[[tip + 3, tip + 2, tip + 1]] = digit.joints
        position[tip] = digit.tip
        dorsal[tip : tip + 4] = digit.dorsal
    position[4] = WRIST + THUMB0_FRACTION * (digits["thumb"].joints[0] - WRIST)
    dorsal[4] = digits["thumb"].dorsal
    parents = _parents()
    rotation = np.zeros((len(JOINT_NAMES), 3, 3))
    for joint in range(len(JOINT_NAMES)):
        children = [c for c, p in enumerate(parents) if p == joint]
        if joint == ROOT_JOINT:
            twist = position[12] - position[joint]  # towards the middle knuckle
        elif children:
            twist = position[children[0]] - position[joint]
        else:  # fingertip: the distal bone's direction
            twist = position[joint] - position[parents[joint]]
        rotation[joint] = _frame(twist, dorsal[joint])
    glob = np.tile(np.eye(4), (len(JOINT_NAMES), 1, 1))
    glob[:, :3, :3] = rotation
    glob[:, :3, 3] = position * M_TO_MM
    glob_inv = np.linalg.inv(glob)
    local = glob.copy()
    for joint, parent in enumerate(parents):
        if parent >= 0:
            local[joint] = glob_inv[parent] @ glob[joint]
    weights = np.zeros((len(verts_m), len(JOINT_NAMES)))
    for mano_joint, joint in _MANO_TO_DHM.items():
        weights[:, joint] = mano["weights"][:, mano_joint]
    uvs, face_uvs = _uv_map(verts_m, faces)
    return HandTemplate(
        verts=(verts_m * M_TO_MM).astype(np.float32),
        faces=faces,
        uvs=uvs,
        face_uvs=face_uvs,
        joint_names=JOINT_NAMES,
        parents=parents,
        dof=np.asarray([dof_from_name(n) for n in JOINT_NAMES], dtype=np.float32),
        skinning_weights=weights.astype(np.float32),
        local_pose=local.astype(np.float32),
        global_pose=glob.astype(np.float32),
        global_pose_inv=glob_inv.astype(np.float32),
        source="<synthetic DeepHandMesh hand model>",
    )


def build_synthetic_template() -> HandTemplate:
    """The synthetic hand model (deterministic, built once per process; see the module doc)."""
    return _build()


def depth_first(parents: Sequence[int]) -> list[int]:
    """Joint ids in depth-first order from the root, children ascending (the pose files' order)."""
    order: list[int] = []
    stack = [list(parents).index(-1)]
    while stack:
        joint = stack.pop()
        order.append(joint)
        stack.extend(sorted((c for c, p in enumerate(parents) if p == joint), reverse=True))
    return order


def _matrix_lines(names: Sequence[str], poses: np.ndarray, order: Sequence[int]) -> str:
    return "".join(
        names[j] + " " + " ".join(f"{value:.9g}" for value in poses[j].reshape(-1)) + " \n"
        for j in order
    )


def write_hand_model(template: HandTemplate, directory: str | os.PathLike) -> None:
    """Write ``template`` as the six files of a published ``hand_model/`` directory."""
    directory = Path(directory)
    header = "# written by handmesh (DeepHandMesh hand-model format)\n"
    cm = template.verts.astype(np.float64) / OBJ_CM_TO_MM
    obj = [header]
    obj += [f"v {x:.7f} {y:.7f} {z:.7f}\n" for x, y, z in cm]
    obj += [f"vt {u:.7f} {v:.7f}\n" for u, v in template.uvs]
    obj += [
        "f " + " ".join(f"{v + 1}/{t + 1}" for v, t in zip(face, uv)) + "\n"
        for face, uv in zip(template.faces, template.face_uvs)
    ]
    atomic_write_text(directory / "hand.obj", "".join(obj))
    skeleton = [header] + [
        f"{name} {j} {parent}\n"
        for j, (name, parent) in enumerate(zip(template.joint_names, template.parents))
    ]
    atomic_write_text(directory / "skeleton.txt", "".join(skeleton))
    weights = [header]
    for vertex, row in enumerate(template.skinning_weights):
        nonzero = np.nonzero(row)[0]
        nonzero = nonzero[np.argsort(-row[nonzero], kind="stable")]
        pairs = " ".join(f"{template.joint_names[j]} {row[j]:.9g}" for j in nonzero)
        weights.append(f"{vertex} {pairs} \n")
    atomic_write_text(directory / "skinning_weight.txt", "".join(weights))
    order = depth_first(template.parents)
    for name, poses in (
        ("local_pose.txt", template.local_pose),
        ("global_pose.txt", template.global_pose),
        ("global_pose_inv.txt", template.global_pose_inv),
    ):
        atomic_write_text(
            directory / name, header + _matrix_lines(template.joint_names, poses, order)
        )
