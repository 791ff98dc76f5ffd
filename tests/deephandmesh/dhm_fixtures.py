"""Small DeepHandMesh fixtures written in the exact published formats, and reference maths.

The writers here are independent of handmesh's own writer (``synthetic_model.write_hand_model``):
they reproduce what the published files look like, pitfalls included (``#`` headers, cm, ``f v/vt``
with UV indices that differ from the vertex indices, stray ``vn``/``g``/``s`` lines, pose files in
depth-first order, a trailing space before every newline of the weight and pose files).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

# The published skeleton (names, ids, parents), written out as data.
SKELETON = [
    ("b_r_thumb_null", 0, 1), ("b_r_thumb3", 1, 2), ("b_r_thumb2", 2, 3), ("b_r_thumb1", 3, 4),
    ("b_r_thumb0", 4, 21),
    ("b_r_index_null", 5, 6), ("b_r_index3", 6, 7), ("b_r_index2", 7, 8), ("b_r_index1", 8, 21),
    ("b_r_middle_null", 9, 10), ("b_r_middle3", 10, 11), ("b_r_middle2", 11, 12),
    ("b_r_middle1", 12, 21),
    ("b_r_ring_null", 13, 14), ("b_r_ring3", 14, 15), ("b_r_ring2", 15, 16), ("b_r_ring1", 16, 21),
    ("b_r_pinky_null", 17, 18), ("b_r_pinky3", 18, 19), ("b_r_pinky2", 19, 20),
    ("b_r_pinky1", 20, 21),
    ("b_r_wrist", 21, -1),
]  # fmt: skip
NAMES = [name for name, _, _ in SKELETON]
PARENTS = [parent for _, _, parent in SKELETON]

# The DoF table of the reference notes (x, y, z per joint id), as data.
EXPECTED_DOF = {
    0: (0, 0, 0), 1: (0, 0, 1), 2: (0, 0, 1), 3: (1, 1, 1), 4: (1, 1, 1),
    5: (0, 0, 0), 6: (0, 0, 1), 7: (0, 0, 1), 8: (1, 1, 1),
    9: (0, 0, 0), 10: (0, 0, 1), 11: (0, 0, 1), 12: (1, 1, 1),
    13: (0, 0, 0), 14: (0, 0, 1), 15: (0, 0, 1), 16: (1, 1, 1),
    17: (0, 0, 0), 18: (0, 0, 1), 19: (0, 0, 1), 20: (1, 1, 1),
    21: (0, 0, 0),
}  # fmt: skip


def depth_first_ids() -> list[int]:
    """Joint ids from the wrist, depth first, children in ascending id order."""
    out: list[int] = []

    def visit(j: int) -> None:
        out.append(j)
        for c in sorted(i for i, p in enumerate(PARENTS) if p == j):
            visit(c)

    visit(21)
    return out


def random_rigid(rng: np.random.Generator, scale: float = 30.0) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    rot = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    out = np.eye(4)
    out[:3, :3] = rot
    out[:3, 3] = rng.normal(size=3) * scale
    return out


def tiny_hand(rng: np.random.Generator) -> dict:
    """Arrays of a small hand model: 7 vertices (cm), 10 UVs, 6 faces, 22 joints."""
    verts_cm = rng.normal(size=(7, 3)) * 2.0
    uvs = rng.uniform(size=(10, 2))
    faces = np.array([[0, 1, 2], [0, 2, 3], [3, 4, 5], [1, 5, 6], [2, 4, 6], [0, 3, 6]])
    face_uvs = np.array([[9, 1, 2], [0, 8, 3], [3, 4, 5], [7, 5, 6], [2, 4, 6], [0, 3, 6]])
    local = np.stack([random_rigid(rng) for _ in NAMES])
    glob = np.stack([random_rigid(rng) for _ in NAMES])
    weights = np.zeros((7, 22))
    for v in range(7):
        joints = rng.choice(22, size=3, replace=False)
        w = rng.uniform(0.1, 1.0, size=3)
        weights[v, joints] = w / w.sum()
    return {
        "verts_cm": verts_cm,
        "uvs": uvs,
        "faces": faces,
        "face_uvs": face_uvs,
        "local": local,
        "global": glob,
        "global_inv": np.linalg.inv(glob),
        "weights": weights,
    }


def write_obj(path: Path, verts_cm: np.ndarray, uvs: np.ndarray, faces, face_uvs) -> None:
    lines = ["# Exported hand model (units: cm)", "mtllib hand.mtl", "g hand"]
    lines += [f"v {float(x)!r} {float(y)!r} {float(z)!r}" for x, y, z in verts_cm]
    lines += [f"vt {float(u)!r} {float(v)!r}" for u, v in uvs]
    lines += ["vn 0 0 1", "usemtl skin", "s 1"]
    lines += [
        "f " + " ".join(f"{a + 1}/{b + 1}/1" for a, b in zip(face, uv))
        for face, uv in zip(faces, face_uvs)
    ]
    path.write_text("\n".join(lines) + "\n")


def write_pose_file(path: Path, poses: np.ndarray, order: list[int]) -> None:
    rows = ["# joint_name m00 m01 m02 m03 m10 ... m33 (row-major, mm)"]
    for j in order:
        rows.append(NAMES[j] + " " + " ".join(repr(float(x)) for x in poses[j].reshape(-1)) + " ")
    path.write_text("\n".join(rows) + "\n")


def write_hand_dir(directory: Path, arrays: dict) -> Path:
    """The six files of ``arrays`` (from :func:`tiny_hand`) in the published layout."""
    directory.mkdir(parents=True, exist_ok=True)
    write_obj(
        directory / "hand.obj",
        arrays["verts_cm"],
        arrays["uvs"],
        arrays["faces"],
        arrays["face_uvs"],
    )
    (directory / "skeleton.txt").write_text(
        "# joint_name joint_id parent_joint_id\n"
        + "".join(f"{name} {j} {p}\n" for name, j, p in SKELETON)
    )
    rows = ["# vertex_idx joint_name weight ..."]
    for v, row in enumerate(arrays["weights"]):
        pairs = " ".join(f"{NAMES[j]} {float(row[j])!r}" for j in np.nonzero(row)[0][::-1])
        rows.append(f"{v} {pairs} ")
    (directory / "skinning_weight.txt").write_text("\n".join(rows) + "\n")
    order = depth_first_ids()
    write_pose_file(directory / "local_pose.txt", arrays["local"], order)
    write_pose_file(directory / "global_pose.txt", arrays["global"], order)
    write_pose_file(directory / "global_pose_inv.txt", arrays["global_inv"], order)
    return directory


# ------------------------------------------------------------------ reference maths (loops)


def euler_zyx(theta: tuple[float, float, float]) -> np.ndarray:
    """Rz(c) @ Ry(b) @ Rx(a) written out element by element."""
    a, b, c = theta
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def fk_recursive(parents, local: np.ndarray, root: np.ndarray) -> np.ndarray:
    """The original's recursive ``forward_kinematics`` over the child lists."""
    glob: list = [None] * len(parents)
    r = parents.index(-1)
    glob[r] = root

    def visit(j: int) -> None:
        for c in [i for i, p in enumerate(parents) if p == j]:
            glob[c] = glob[j] @ local[c]
            visit(c)

    visit(r)
    return np.stack(glob)


def lbs_loop(verts: np.ndarray, weights: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """sum_j W[:, j] * (T_j @ [v; 1])[:3], one joint at a time."""
    homo = np.concatenate([verts, np.ones((len(verts), 1))], 1)
    out = np.zeros_like(verts)
    for j in range(transforms.shape[0]):
        out += weights[:, j : j + 1] * (homo @ transforms[j].T)[:, :3]
    return out


def kabsch(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The original's ``rigid_transform_3D`` in numpy: R, t with b ~ R a + t, det R = +1."""
    ca, cb = a.mean(0), b.mean(0)
    h = (a - ca).T @ (b - cb)
    u, _, vt = np.linalg.svd(h)
    v = vt.T
    r = v @ u.T
    if np.linalg.det(r) < 0:
        v[:, 2] = -v[:, 2]
        r = v @ u.T
    return r, cb - r @ ca
