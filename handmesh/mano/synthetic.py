"""The built-in synthetic hand: a procedural model in the exact official MANO pickle format.

No MANO files can be downloaded here, and a new user should see the whole pipeline work first, so
``build_synthetic_mano_dict`` builds a plausible adult hand in code (about a quarter of a second,
deterministic) with the keys, shapes and conventions of ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``:
778 vertices, 1538 faces, MANO's 16-joint tree, fingertips at MANO's tip vertex ids, smooth
skinning weights, 10 shape and 135 pose blend shapes and a 45-D pose PCA. It is not MANO: results
obtained with it say nothing about MANO-based benchmarks, so print ``SYNTHETIC_MANO_NOTE``
wherever it is used.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import scipy.sparse

from handmesh.mano._synthetic_mesh import (
    WRIST,
    Digit,
    SyntheticMesh,
    build_rest_mesh,
    rest_digits,
    rest_joints,
)
from handmesh.mano.constants import MANO_PARENTS, NUM_MANO_JOINTS, NUM_VERTS

__all__ = ["SYNTHETIC_MANO_NOTE", "build_synthetic_mano_dict"]

SYNTHETIC_MANO_NOTE = (
    "Using handmesh's built-in SYNTHETIC hand model (procedural, MANO-format, not the real MANO): "
    "put MANO_RIGHT.pkl/MANO_LEFT.pkl under assets/mano_v1_2/models for real results."
)

_ROOT_PARENT = 4294967295
"""``kintree_table[0, 0]`` in the official files: the root's parent as uint32(-1)."""

_MIRROR = np.array([-1.0, 1.0, 1.0])
"""Right <-> left: the template is mirrored in x."""

_RAMP_HALF_WIDTH = {"finger": (0.013, 0.0075, 0.006), "thumb": (0.018, 0.010, 0.007)}
"""Half-width (metres) of the skinning blend across each of a digit's three joints."""

_SKIN_SMOOTHING_STEPS = 3
_OWN_DIGIT_AFTER = 0.04
"""Metres past its knuckle after which a digit's tube moves with that digit alone."""
_MEMBERSHIP_SCALE = 0.012
"""Metres: how far from a digit's bone chain palm vertices still move with that digit."""


# ------------------------------------------------------------------------------- digit geometry


def _chain_coordinates(points: np.ndarray, digit: Digit) -> tuple[np.ndarray, np.ndarray]:
    """Arclength (from the wrist) of the closest point on wrist-joints-tip, and the distance to it.

    Returns (N,) arclengths and (N,) distances, metres.
    """
    chain = np.vstack([WRIST, digit.chain])
    best_s = np.zeros(len(points))
    best_d = np.full(len(points), np.inf)
    start = 0.0
    for a, b in zip(chain[:-1], chain[1:]):
        ab = b - a
        length = float(np.linalg.norm(ab))
        t = np.clip((points - a) @ ab / length**2, 0.0, 1.0)
        dist = np.linalg.norm(points - (a + t[:, None] * ab), axis=1)
        closer = dist < best_d
        best_s[closer], best_d[closer] = start + t[closer] * length, dist[closer]
        start += length
    return best_s, best_d


def _joint_knots(digit: Digit) -> np.ndarray:
    """(3,) arclengths (from the wrist) of the digit's joints."""
    chain = np.vstack([WRIST, digit.joints])
    return np.cumsum(np.linalg.norm(np.diff(chain, axis=0), axis=1))


def _joint_axes(digit: Digit, k: int) -> np.ndarray:
    """(3, 3) rows: flexion, abduction and twist axes of the digit's joint ``k`` (0..2).

    A positive rotation about the flexion axis curls the digit toward the palm; about the
    abduction axis it swings toward the thumb side (+z); the twist axis is the bone.
    """
    chain = digit.chain
    twist = chain[k + 1] - chain[k]
    twist /= np.linalg.norm(twist)
    flexion = np.cross(digit.dorsal, twist)
    flexion /= np.linalg.norm(flexion)
    return np.stack([flexion, np.cross(twist, flexion), twist])


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(vertices)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


# --------------------------------------------------------------------------------------- rig


def _digit_membership(mesh: SyntheticMesh, digits: tuple[Digit, ...]) -> np.ndarray:
    """(778, 5) how much each vertex belongs to each digit's chain (rows sum to 1).

    Palm vertices are shared by proximity to the chains, so that webs and knuckles blend between
    neighbouring digits; a digit's tube blends from that into belonging to its own digit alone
    over the first centimetres past the knuckle.
    """
    coords = [_chain_coordinates(mesh.vertices, d) for d in digits]
    distances = np.stack([d for _, d in coords], axis=1)
    logits = -((distances / _MEMBERSHIP_SCALE) ** 2)
    share = np.exp(logits - logits.max(axis=1, keepdims=True))
    share /= share.sum(axis=1, keepdims=True)
    for c, digit in enumerate(digits):
        on_digit = mesh.part == c + 1
        past_knuckle = coords[c][0][on_digit] - _joint_knots(digit)[0]
        own = _smoothstep(past_knuckle / _OWN_DIGIT_AFTER)[:, None]
        share[on_digit] = (1 - own) * share[on_digit] + own * np.eye(len(digits))[c]
    return share


def _skinning_weights(
    mesh: SyntheticMesh, digits: tuple[Digit, ...], membership: np.ndarray
) -> np.ndarray:
    """(778, 16) LBS weights: smooth ramps across every joint along each digit, rows sum to 1."""
    weights = np.zeros((NUM_VERTS, NUM_MANO_JOINTS))
    for c, digit in enumerate(digits):
        s, _ = _chain_coordinates(mesh.vertices, digit)
        widths = _RAMP_HALF_WIDTH["thumb" if digit.name == "thumb" else "finger"]
        past = [
            _smoothstep((s - knot + h) / (2 * h)) for knot, h in zip(_joint_knots(digit), widths)
        ]
        owners = [0, *digit.mano_joints]
        shares = [1 - past[0], past[0] - past[1], past[1] - past[2], past[2]]
        for joint, share in zip(owners, shares):
            weights[:, joint] += membership[:, c] * share
    # neighbour averaging irons out the seams between palm and digit tubes and widens the webs
    faces = mesh.faces
    for _ in range(_SKIN_SMOOTHING_STEPS):
        summed = np.zeros_like(weights)
        count = np.zeros(NUM_VERTS)
        for a, b in ((0, 1), (1, 2), (2, 0)):
            np.add.at(summed, faces[:, a], weights[faces[:, b]])
            np.add.at(count, faces[:, a], 1.0)
        weights = 0.5 * weights + 0.5 * summed / count[:, None]
    return weights / weights.sum(axis=1, keepdims=True)


def _convex_weights(points: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """Non-negative weights summing to 1 with ``weights @ points == target``, closest to uniform.

    Returns None when ``target`` is outside the convex hull of ``points``.
    """
    n = len(points)
    system = np.vstack([points.T, np.ones(n)])
    rhs = np.append(target, 1.0)
    uniform = np.full(n, 1.0 / n)
    active = np.ones(n, dtype=bool)
    for _ in range(n):
        sub = system[:, active]
        w = np.zeros(n)
        correction = (
            sub.T @ np.linalg.lstsq(sub @ sub.T, rhs - sub @ uniform[active], rcond=None)[0]
        )
        w[active] = uniform[active] + correction
        if w.min() >= -1e-12:
            w = np.clip(w, 0.0, None)
            return w if np.abs(system @ w - rhs).max() < 1e-9 else None
        active &= w > 0
    return None


def _joint_regressor(vertices: np.ndarray, joints: np.ndarray) -> scipy.sparse.csc_matrix:
    """(16, 778) regressor whose rows are convex weights of the vertices around each joint and
    which reproduces the designed rest joints exactly."""
    rows = []
    for joint in joints:
        order = np.argsort(np.linalg.norm(vertices - joint, axis=1), kind="stable")
        for k in (24, 36, 48, 72, 96):
            w = _convex_weights(vertices[order[:k]], joint)
            if w is not None:
                break
        else:
            raise RuntimeError(f"synthetic hand: joint at {joint} is not inside the mesh")
        row = np.zeros(NUM_VERTS)
        row[order[:k]] = w
        rows.append(row)
    return scipy.sparse.csc_matrix(np.asarray(rows))


def _pose_blend_shapes(
    mesh: SyntheticMesh, digits: tuple[Digit, ...], membership: np.ndarray
) -> np.ndarray:
    """(778, 3, 135) corrections driven by (R_j - I) of the 15 finger joints (MANO's layout).

    Bending a joint by theta bulges the skin over its knuckle by up to 3 mm * (1 - cos theta)
    and pulls the palmar crease in by up to 2 mm * sin(flexion).
    """
    normals = _vertex_normals(mesh.vertices, mesh.faces)
    posedirs = np.zeros((NUM_VERTS, 3, 9 * (NUM_MANO_JOINTS - 1)))
    for c, digit in enumerate(digits):
        for k, joint in enumerate(digit.mano_joints):
            centre = digit.joints[k]
            reach = 1.3 * digit.radii[k]
            near = np.exp(-((np.linalg.norm(mesh.vertices - centre, axis=1) / reach) ** 2))
            near *= membership[:, c]
            facing = normals @ _joint_axes(digit, k)[1]
            bulge = (0.003, 0.002, 0.0015)[k] * near * np.clip(facing, 0.0, 1.0)
            crease = 0.002 * near * np.clip(-facing, 0.0, 1.0)
            base = 9 * (joint - 1)
            # 1 - cos(theta) = -trace(R - I) / 2
            for diag in (0, 4, 8):
                posedirs[:, :, base + diag] = -0.5 * bulge[:, None] * normals
            # sin(theta) * (axis . flexion) from the antisymmetric part of R - I
            ax, ay, az = _joint_axes(digit, k)[0]
            for entry, coeff in ((7, ax), (5, -ax), (2, ay), (6, -ay), (3, az), (1, -az)):
                posedirs[:, :, base + entry] = -0.5 * coeff * crease[:, None] * normals
    return posedirs


def _shape_blend_shapes(
    mesh: SyntheticMesh, digits: tuple[Digit, ...], weights: np.ndarray
) -> np.ndarray:
    """(778, 3, 10) displacements per unit beta; +-2 betas give a visibly different hand.

    beta0 overall size, beta1 palm width, beta2 digit length, beta3 palm length, beta4 finger
    thickness, beta5 palm thickness, beta6 index longer / ring shorter, beta7 pinky length,
    beta8 thumb length, beta9 fingertip fullness.
    """
    v = mesh.vertices
    palm = weights[:, 0]
    share = np.stack([weights[:, list(d.mano_joints)].sum(1) for d in digits], axis=1)
    knuckles = np.stack([d.joints[0] for d in digits])
    # positions that digits carry rigidly: their knuckle; the palm carries itself
    carried = palm[:, None] * v + share @ knuckles
    centre = digits[1].joints[0]
    shapes = np.zeros((NUM_VERTS, 3, 10))
    shapes[:, :, 0] = 0.045 * (v - centre)
    shapes[:, 2, 1] = 0.07 * (carried[:, 2] - centre[2])
    shapes[:, 0, 3] = 0.05 * (carried[:, 0] - WRIST[0])
    shapes[:, 1, 5] = 0.10 * palm * (v[:, 1] - WRIST[1])
    per_digit_length = [(2, (1, 1, 1, 1, 1)), (6, (1, 0, -1, 0, 0)), (7, (0, 0, 0, 1, 0)),
                        (8, (0, 0, 0, 0, 1))]  # fmt: skip
    amounts = {2: 0.06, 6: 0.04, 7: 0.07, 8: 0.06}
    for c, digit in enumerate(digits):
        axis = digit.tip - digit.joints[0]
        axis /= np.linalg.norm(axis)
        along = np.outer((v - digit.joints[0]) @ axis, axis)
        radial = v - digit.joints[0] - along
        for beta, factors in per_digit_length:
            shapes[:, :, beta] += amounts[beta] * factors[c] * share[:, c, None] * along
        shapes[:, :, 4] += 0.08 * share[:, c, None] * radial
        tip_share = weights[:, digit.mano_joints[2]]
        shapes[:, :, 9] += 0.10 * tip_share[:, None] * radial
    return shapes


def _pose_space(digits: tuple[Digit, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``hands_components`` (45, 45) orthonormal rows, most natural first, and ``hands_mean``."""
    axes = np.zeros((NUM_MANO_JOINTS - 1, 3, 3))  # joint, (flexion, abduction, twist), xyz
    for digit in digits:
        for k, joint in enumerate(digit.mano_joints):
            axes[joint - 1] = _joint_axes(digit, k)

    def motion(amounts: dict[int, tuple[float, float, float]], axis: int = 0) -> np.ndarray:
        """45-vector rotating joints of the given digits about one of their axes."""
        vec = np.zeros((NUM_MANO_JOINTS - 1, 3))
        for c, per_joint in amounts.items():
            for k, angle in enumerate(per_joint):
                joint = digits[c].mano_joints[k]
                vec[joint - 1] = angle * axes[joint - 1, axis]
        return vec.ravel()

    curl = (0.8, 1.0, 0.7)
    spread = {0: (1.0, 0.0, 0.0), 1: (0.2, 0.0, 0.0), 2: (-0.6, 0.0, 0.0), 3: (-1.0, 0.0, 0.0)}
    synergies = [
        motion({0: curl, 1: curl, 2: curl, 3: curl, 4: (0.3, 0.5, 0.5)}),  # close the hand
        motion(dict.fromkeys(range(4), (-1.0, 1.0, 1.0))),  # hook: knuckles straight, fingers bent
        motion(spread, axis=1),  # fan the fingers out
        motion({4: (1.0, 0.6, 0.4)}) + motion({4: (0.6, 0.0, 0.0)}, axis=1),  # thumb opposition
        sum(g * motion({c: curl}) for c, g in enumerate((-1.5, -0.5, 0.5, 1.5))),  # pinky first
        motion({4: (-0.5, 1.0, 1.0)}),  # thumb tip curl
        *[motion({c: curl}) for c in range(4)],  # single fingers
    ]
    # then single joints: every flexion, every abduction, every twist (these span all 45 dims)
    singles = np.zeros((3, NUM_MANO_JOINTS - 1, NUM_MANO_JOINTS - 1, 3))
    for j in range(NUM_MANO_JOINTS - 1):
        singles[:, j, j] = axes[j]
    basis = [*synergies, *singles.reshape(45, 45)]
    rows: list[np.ndarray] = []
    for vec in basis:
        for row in rows:
            vec = vec - (vec @ row) * row
        norm = np.linalg.norm(vec)
        if norm > 1e-6:
            rows.append(vec / norm)
        if len(rows) == 45:
            break
    mean = motion(dict.fromkeys(range(4), (0.2, 0.35, 0.15))) + motion({4: (0.1, 0.15, 0.1)})
    return np.stack(rows), mean


def _mirror_pose_vectors(vectors: np.ndarray) -> np.ndarray:
    """Right -> left axis-angle (..., 45): negate every joint's y and z components."""
    return (vectors.reshape(*vectors.shape[:-1], 15, 3) * _MIRROR * -1.0).reshape(vectors.shape)


def _mirror_posedirs(posedirs: np.ndarray) -> np.ndarray:
    """Right -> left pose blend shapes: x of the displacement and of R's rows/columns flip sign.

    Left rotations are ``M R M`` (M = diag(-1, 1, 1)), so entry (r, c) of (R - I) picks up
    ``M[r] * M[c]``; the displacement's x flips with the mesh.
    """
    entry_sign = np.outer(_MIRROR, _MIRROR).ravel()
    return posedirs * _MIRROR[None, :, None] * np.tile(entry_sign, 15)[None, None, :]


@functools.lru_cache(maxsize=2)
def _build(side: str) -> dict[str, Any]:
    if side == "left":
        right = _build("right")
        left = dict(right)
        left["v_template"] = right["v_template"] * _MIRROR
        left["f"] = right["f"][:, ::-1].copy()
        left["posedirs"] = _mirror_posedirs(right["posedirs"])
        left["shapedirs"] = right["shapedirs"] * _MIRROR[None, :, None]
        left["hands_components"] = _mirror_pose_vectors(right["hands_components"])
        left["hands_mean"] = _mirror_pose_vectors(right["hands_mean"])
        return left
    digits = rest_digits()
    mesh = build_rest_mesh(digits)
    joints = rest_joints(digits)
    membership = _digit_membership(mesh, digits)
    weights = _skinning_weights(mesh, digits, membership)
    components, mean = _pose_space(digits)
    model = {
        "v_template": mesh.vertices.astype(np.float64),
        "f": mesh.faces.astype(np.int64),
        "J_regressor": _joint_regressor(mesh.vertices, joints),
        "kintree_table": np.array(
            [[_ROOT_PARENT, *MANO_PARENTS[1:]], list(range(NUM_MANO_JOINTS))], dtype=np.int64
        ),
        "weights": weights,
        "posedirs": _pose_blend_shapes(mesh, digits, membership),
        "shapedirs": _shape_blend_shapes(mesh, digits, weights),
        "hands_components": components,
        "hands_mean": mean,
        "bs_type": "lrotmin",
        "bs_style": "lbs",
    }
    return model


def build_synthetic_mano_dict(side: str = "right") -> dict[str, Any]:
    """The synthetic hand as a MANO pickle dict (the keys and shapes of ``MANO_{SIDE}.pkl``).

    Args:
        side: "right" or "left" (the left hand is the right one mirrored in x, as MANO's).

    Returns:
        A fresh dict of fresh arrays (built once per side, then copied): ``v_template`` (778, 3)
        float64 metres; ``f`` (1538, 3) int64; ``J_regressor`` scipy.sparse.csc_matrix (16, 778);
        ``kintree_table`` (2, 16) int64 (root parent 4294967295); ``weights`` (778, 16);
        ``posedirs`` (778, 3, 135); ``shapedirs`` (778, 3, 10); ``hands_components`` (45, 45);
        ``hands_mean`` (45,); ``bs_type`` "lrotmin"; ``bs_style`` "lbs".
    """
    if side not in ("right", "left"):
        raise ValueError(f"synthetic MANO side must be 'right' or 'left', got {side!r}")
    return {
        key: value if isinstance(value, str) else value.copy()
        for key, value in _build(side).items()
    }
