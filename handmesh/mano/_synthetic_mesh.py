"""Skeleton and surface of the built-in synthetic right hand (private to ``synthetic.py``).

The hand is a sweep of vertex rings: a palm tube from the open wrist (one 16-vertex boundary
loop, as MANO) that branches into four finger tubes, a thumb tube stitched into a hole on the
palm's radial side, and a fan cap on every digit whose apex is the fingertip vertex. The rings
give the topology; the geometry comes from projecting every vertex onto a smooth implicit hand
(tapered capsules and ellipsoids joined with smooth minimums) and relaxing it tangentially.

Frame (MANO's right-hand template frame, metres): fingers point to -x, the back of the hand faces
+y, the thumb is on the +z side, the wrist joint sits at x ~ +0.095 and the middle-finger knuckle
near the origin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from handmesh.mano.constants import NUM_FACES, NUM_VERTS

WRIST = np.array([0.095, 0.005, 0.006])
"""Rest position of the wrist joint (MANO joint 0), metres."""

DORSAL = np.array([0.0, 1.0, 0.0])
"""Back-of-hand direction of the four fingers."""

PALM_RING_STEP = 3
"""Vertices per finger on the dorsal (and on the palmar) side of the palm, minus one."""

WRIST_LOOP_SIZE = 16
WRIST_BOUNDARY_X = 0.104
TRANSITION_RING_SIZE = 21
NUM_PALM_RINGS = 11
THUMB_HOLE_ROWS = (2, 4)
"""Palm rings (counted from the first full palm ring) between which the thumb hole is cut."""
THUMB_HOLE_COLUMNS = 3
"""Quads across the thumb hole, ending at the radial side vertex of the palm rings."""

_WEB = 0.014
"""Arclength (metres) past the knuckle where the finger tubes leave the palm."""

_SIDE_GAP = 0.35
"""Angle (radians) between a ring's side vertex and the first dorsal / palmar column."""

Sdf = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Digit:
    """One finger (or the thumb) at rest: three joints, a fingertip and the flesh around them.

    Attributes:
        name: "index", "middle", "ring", "pinky" or "thumb".
        mano_joints: native MANO indices of its three joints (knuckle to distal).
        tip_vertex: MANO vertex id of the fingertip.
        joints: (3, 3) joint centres, metres.
        tip: (3,) fingertip surface point (the extreme of the digit), metres.
        radii: flesh radius at the three joints and at the tip, metres.
        dorsal: (3,) unit nail-side direction, perpendicular to the digit.
        num_rings: rings of its tube after the base ring (the last one borders the cap).
    """

    name: str
    mano_joints: tuple[int, int, int]
    tip_vertex: int
    joints: np.ndarray
    tip: np.ndarray
    radii: tuple[float, float, float, float]
    dorsal: np.ndarray
    num_rings: int

    @property
    def chain(self) -> np.ndarray:
        """(4, 3) joints then tip."""
        return np.vstack([self.joints, self.tip])

    @property
    def direction(self) -> np.ndarray:
        """(3,) unit direction of the distal segment."""
        d = self.tip - self.joints[2]
        return d / np.linalg.norm(d)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _straight_finger(
    name: str,
    mano_joints: tuple[int, int, int],
    tip_vertex: int,
    knuckle: tuple[float, float, float],
    spread: float,
    lengths: tuple[float, float, float],
    radii: tuple[float, float, float, float],
    num_rings: int,
) -> Digit:
    """A straight finger in the palm plane, ``spread`` radians from -x toward +z."""
    d = np.array([-np.cos(spread), 0.0, np.sin(spread)])
    start = np.asarray(knuckle, dtype=float)
    offsets = np.cumsum(lengths)
    joints = np.vstack([start, start + offsets[0] * d, start + offsets[1] * d])
    tip = start + offsets[2] * d
    return Digit(name, mano_joints, tip_vertex, joints, tip, radii, DORSAL, num_rings)


def _thumb() -> Digit:
    """The thumb, abducted about 50 degrees from the index and a little toward the palm."""
    base = np.array([0.071, -0.007, 0.030])
    d1 = _unit(np.array([-0.60, -0.08, 0.80]))
    d2 = _unit(np.array([-0.80, -0.16, 0.58]))
    joints = np.vstack([base, base + 0.036 * d1, base + 0.036 * d1 + 0.030 * d2])
    tip = joints[2] + 0.026 * d2
    # the thumbnail faces half up, half away from the palm
    dorsal = _unit(np.cross(d2, _unit(np.cross(_unit(np.array([0.0, 1.0, 1.0])), d2))))
    return Digit(
        "thumb", (13, 14, 15), 745, joints, tip, (0.0125, 0.0105, 0.0095, 0.0085), dorsal, 10
    )


def rest_digits() -> tuple[Digit, ...]:
    """The five digits of the rest hand: index, middle, ring, pinky (palm order), then thumb.

    Knuckle positions, spread angles (radians toward +z), phalanx lengths (the last one to the
    fingertip surface) and flesh radii are plausible adult values, in metres.
    """
    return (
        _straight_finger("index", (1, 2, 3), 317, (0.010, 0.004, 0.028), 0.03,
                         (0.040, 0.024, 0.022), (0.0098, 0.0088, 0.0080, 0.0072), 10),
        _straight_finger("middle", (4, 5, 6), 444, (0.000, 0.005, 0.005), -0.07,
                         (0.044, 0.027, 0.023), (0.0100, 0.0090, 0.0082, 0.0074), 11),
        _straight_finger("ring", (10, 11, 12), 556, (0.008, 0.004, -0.016), -0.17,
                         (0.041, 0.026, 0.023), (0.0094, 0.0085, 0.0078, 0.0070), 10),
        _straight_finger("pinky", (7, 8, 9), 673, (0.022, 0.002, -0.037), -0.30,
                         (0.032, 0.019, 0.020), (0.0085, 0.0076, 0.0070, 0.0064), 8),
        _thumb(),
    )  # fmt: skip


def rest_joints(digits: tuple[Digit, ...]) -> np.ndarray:
    """(16, 3) rest joints in MANO's native order, metres."""
    joints = np.zeros((16, 3))
    joints[0] = WRIST
    for digit in digits:
        joints[list(digit.mano_joints)] = digit.joints
    return joints


# ---------------------------------------------------------------------------- implicit surface


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum (blend radius ``k``)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1.0 - h) + a * h - k * h * (1.0 - h)


def _capsule(
    p: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    ra: float,
    rb: float,
    flat: np.ndarray | None = None,
) -> np.ndarray:
    """Signed distance (approximate) to a tapered capsule, optionally squashed along ``flat``.

    ``flat`` is a vector perpendicular to the axis whose length (< 1) is the squash factor.
    """
    rel = p - a
    if flat is not None:
        scale = np.linalg.norm(flat)
        n = flat / scale
        rel = rel + np.outer(rel @ n, n) * (1.0 / scale - 1.0)
    ab = b - a
    t = np.clip(rel @ ab / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(rel - t[:, None] * ab, axis=1) - (ra + t * (rb - ra))


def _ellipsoid(p: np.ndarray, centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipsoid (exact on its surface: 0)."""
    return (np.linalg.norm((p - centre) / radii, axis=1) - 1.0) * radii.min()


def _digit_sdf(p: np.ndarray, digit: Digit) -> np.ndarray:
    """Tapered capsules along the digit, fingers slightly flattened; the tip is the extreme."""
    chain = digit.chain.copy()
    chain[3] = digit.tip - digit.radii[3] * digit.direction  # cap centre: the tip is its extreme
    flat = 0.9 * digit.dorsal if digit.name != "thumb" else None
    return np.min(
        [_capsule(p, chain[i], chain[i + 1], digit.radii[i], digit.radii[i + 1], flat)
         for i in range(3)],
        axis=0,
    )  # fmt: skip


def hand_sdf(digits: tuple[Digit, ...]) -> Sdf:
    """Signed distance (approximate, metres) of the rest hand: < 0 inside."""
    fingers, thumb = digits[:4], digits[4]
    squash = 0.72 * DORSAL
    bases = [np.array([0.090, 0.004, z]) for z in (0.016, 0.005, -0.007, -0.019)]
    forearm = (np.array([0.080, 0.004, 0.000]), np.array([0.140, 0.004, 0.000]))

    def sdf(p: np.ndarray) -> np.ndarray:
        palm = _capsule(p, *forearm, 0.026, 0.025, 0.66 * DORSAL)
        for base, finger in zip(bases, fingers):
            knuckle = finger.joints[0]
            bone = _capsule(p, base, knuckle, 0.0115, finger.radii[0] + 0.0012, squash)
            palm = _smin(palm, bone, 0.012)
        palm = _smin(palm, _ellipsoid(p, np.array([0.066, -0.006, 0.020]),
                                      np.array([0.026, 0.013, 0.015])), 0.010)  # fmt: skip
        palm = _smin(palm, _ellipsoid(p, np.array([0.058, -0.004, -0.028]),
                                      np.array([0.032, 0.011, 0.012])), 0.010)  # fmt: skip
        parts = [_smin(palm, _digit_sdf(p, finger), 0.006) for finger in fingers]
        parts.append(_smin(palm, _digit_sdf(p, thumb), 0.010))
        return np.min(parts, axis=0)

    return sdf


def sdf_value_and_gradient(
    sdf: Sdf, p: np.ndarray, eps: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """``sdf(p)`` (N,) and its forward-difference gradient (N, 3), in one batched evaluation."""
    stacked = np.concatenate([p, p + [eps, 0, 0], p + [0, eps, 0], p + [0, 0, eps]])
    values = sdf(stacked).reshape(4, len(p))
    return values[0], (values[1:] - values[0]).T / eps


# ---------------------------------------------------------------------------------- topology


class _MeshBuilder:
    """Collects vertices (initial positions) and faces; faces wind outward by construction.

    Rings are ordered counter-clockwise seen from the side the tube advances to, so a strip from
    ring A to the next ring B has outward normals.
    """

    def __init__(self) -> None:
        self.points: list[np.ndarray] = []
        self.faces: list[tuple[int, int, int]] = []

    def add(self, points: np.ndarray) -> list[int]:
        start = len(self.points)
        self.points.extend(np.atleast_2d(points))
        return list(range(start, len(self.points)))

    def strip(
        self, ring_a: list[int], ring_b: list[int], skip: frozenset[int] = frozenset()
    ) -> None:
        """Triangulate between two closed rings; equal sizes give quads split in two.

        ``skip`` holds positions ``i`` of quads (ring_a[i], ring_a[i+1]) left open (equal sizes).
        """
        n, m = len(ring_a), len(ring_b)
        if n == m:
            for i in range(n):
                if i in skip:
                    continue
                a0, a1, b0, b1 = ring_a[i], ring_a[(i + 1) % n], ring_b[i], ring_b[(i + 1) % n]
                self.faces += [(a0, a1, b0), (a1, b1, b0)]
            return
        i = j = 0
        while i < n or j < m:
            advance_a = j == m or (i < n and (i + 1) / n <= (j + 1) / m)
            if advance_a:
                self.faces.append((ring_a[i % n], ring_a[(i + 1) % n], ring_b[j % m]))
                i += 1
            else:
                self.faces.append((ring_a[i % n], ring_b[(j + 1) % m], ring_b[j % m]))
                j += 1

    def fan(self, ring: list[int], apex: int) -> None:
        n = len(ring)
        self.faces += [(ring[i], ring[(i + 1) % n], apex) for i in range(n)]


def _ellipse_ring(
    centre: np.ndarray, half_z: float, half_y: float, angles: np.ndarray
) -> np.ndarray:
    """Points of a cross-section in the (z, y) plane, counter-clockwise seen from -x."""
    return np.stack(
        [np.full_like(angles, centre[0]), centre[1] + half_y * np.sin(angles),
         centre[2] + half_z * np.cos(angles)], axis=1,
    )  # fmt: skip


def _digit_frame(digit: Digit) -> tuple[np.ndarray, np.ndarray]:
    """(lateral, dorsal) unit vectors with lateral x dorsal = the digit direction."""
    lateral = np.cross(digit.dorsal, digit.direction)
    return lateral, digit.dorsal


def _finger_base_angles(side: str | None) -> np.ndarray:
    """Angles of a finger's base ring: dorsal arc, palmar arc, and a side vertex for the outer
    fingers ("radial" for the index, "ulnar" for the pinky)."""
    a = PALM_RING_STEP
    dorsal = np.linspace(_SIDE_GAP, np.pi - _SIDE_GAP, a + 1)
    palmar = np.linspace(np.pi + _SIDE_GAP, 2 * np.pi - _SIDE_GAP, a + 1)
    if side == "radial":
        return np.concatenate([dorsal, palmar, [2 * np.pi]])
    if side == "ulnar":
        return np.concatenate([dorsal, [np.pi], palmar])
    return np.concatenate([dorsal, palmar])


def _ring_around(digit: Digit, s: float, angles: np.ndarray) -> np.ndarray:
    """Ring points on the digit's flesh at arclength ``s`` from its first joint."""
    chain = digit.chain
    seg_len = np.linalg.norm(np.diff(chain, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    k = int(np.clip(np.searchsorted(cum, s) - 1, 0, 2))
    t = (s - cum[k]) / seg_len[k]
    centre = chain[k] + t * (chain[k + 1] - chain[k])
    radius = np.interp(s, cum, digit.radii)
    lateral, dorsal = _digit_frame(digit)
    return centre + radius * (np.outer(np.cos(angles), lateral) + np.outer(np.sin(angles), dorsal))


@dataclass(frozen=True)
class SyntheticMesh:
    """The rest mesh.

    Attributes:
        vertices: (778, 3) metres.
        faces: (1538, 3) int64, outward winding.
        part: (778,) int64, 0 palm, 1 + digit index for a digit's tube (incl. cap, excl. base ring).
    """

    vertices: np.ndarray
    faces: np.ndarray
    part: np.ndarray


def _cap_start(digit: Digit) -> float:
    """Arclength of the last ring before the fingertip fan (45 degrees around the tip sphere)."""
    total = float(np.sum(np.linalg.norm(np.diff(digit.chain, axis=0), axis=1)))
    return total - digit.radii[3] * (1.0 - np.cos(np.pi / 4))


def _distal_palm_ring(fingers: tuple[Digit, ...]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The four finger base rings merged into the last palm ring, and each base ring's angles.

    Columns: dorsal radial->ulnar (4a+1), ulnar side, palmar ulnar->radial (4a+1), radial side;
    neighbouring fingers share the dorsal and the palmar vertex of the web between them.
    """
    a = PALM_RING_STEP
    base_angles, dorsal, palmar = [], np.zeros((4 * a + 1, 3)), np.zeros((4 * a + 1, 3))
    for i, finger in enumerate(fingers):
        angles = _finger_base_angles({0: "radial", 3: "ulnar"}.get(i))
        points = _ring_around(finger, _WEB, angles)
        arc = a + 1 + (1 if i == 3 else 0)  # start of the palmar arc (ulnar end first)
        finger_dorsal, finger_palmar = points[: a + 1], points[arc : arc + a + 1][::-1]
        if i > 0:  # the web vertices sit half-way between the two fingers' sides
            finger_dorsal[0] = 0.5 * (finger_dorsal[0] + dorsal[i * a])
            finger_palmar[0] = 0.5 * (finger_palmar[0] + palmar[i * a])
        dorsal[i * a : (i + 1) * a + 1] = finger_dorsal
        palmar[i * a : (i + 1) * a + 1] = finger_palmar
        base_angles.append(angles)
        if i == 0:
            radial_side = points[-1]
        if i == 3:
            ulnar_side = points[a + 1]
    return np.vstack([dorsal, ulnar_side, palmar[::-1], radial_side]), base_angles


def _finger_base_rings(distal_ids: list[int]) -> list[list[int]]:
    """Split the ids of the distal palm ring into the four finger base rings (same order)."""
    a = PALM_RING_STEP
    dorsal = distal_ids[: 4 * a + 1]
    palmar = distal_ids[4 * a + 2 : 8 * a + 3][::-1]  # radial -> ulnar
    ulnar_side, radial_side = distal_ids[4 * a + 1], distal_ids[-1]
    rings = []
    for i in range(4):
        ring = dorsal[i * a : (i + 1) * a + 1] + ([ulnar_side] if i == 3 else [])
        ring += palmar[i * a : (i + 1) * a + 1][::-1] + ([radial_side] if i == 0 else [])
        rings.append(ring)
    return rings


def _palm_tube(mesh: _MeshBuilder, distal: np.ndarray) -> tuple[list[list[int]], list[int]]:
    """Wrist loop, transition ring and palm rings up to (not including) the distal ring.

    Returns the palm rings and the ids of the vertices left unused inside the thumb hole.
    """
    a = PALM_RING_STEP
    wrist_centre = np.array([WRIST_BOUNDARY_X, 0.004, 0.001])
    column = np.linspace(_SIDE_GAP, np.pi - _SIDE_GAP, 4 * a + 1)
    proximal_angles = np.concatenate([column, [np.pi], np.pi + column, [2 * np.pi]])
    proximal = _ellipse_ring(wrist_centre - [0.012, 0, 0], 0.030, 0.015, proximal_angles)
    wrist_angles = _SIDE_GAP + np.linspace(0, 2 * np.pi, WRIST_LOOP_SIZE, endpoint=False)
    wrist = mesh.add(_ellipse_ring(wrist_centre, 0.027, 0.016, wrist_angles))
    transition_angles = _SIDE_GAP + np.linspace(0, 2 * np.pi, TRANSITION_RING_SIZE, endpoint=False)
    transition = mesh.add(
        _ellipse_ring(wrist_centre - [0.006, 0, 0], 0.0285, 0.0155, transition_angles)
    )
    mesh.strip(wrist, transition)
    fractions = np.arange(NUM_PALM_RINGS - 1) / (NUM_PALM_RINGS - 1)
    rings = [mesh.add((1 - t) * proximal + t * distal) for t in fractions]
    mesh.strip(transition, rings[0])
    hole_columns = _thumb_hole_columns(len(distal))
    hole_rows = range(*THUMB_HOLE_ROWS)
    for r in range(NUM_PALM_RINGS - 2):
        skip = frozenset(hole_columns[:-1]) if r in hole_rows else frozenset()
        mesh.strip(rings[r], rings[r + 1], skip)
    unused = [rings[r][c] for r in hole_rows[1:] for c in hole_columns[1:-1]]
    return rings, unused


def _thumb_hole_columns(palm_ring_size: int) -> list[int]:
    """Palm ring positions around the thumb hole, ending at the radial side vertex."""
    return list(range(palm_ring_size - 1 - THUMB_HOLE_COLUMNS, palm_ring_size))


def _thumb_hole_loop(
    mesh: _MeshBuilder, palm_rings: list[list[int]], thumb: Digit
) -> tuple[list[int], np.ndarray]:
    """The hole's boundary, counter-clockwise seen from the thumb tip, and its angles around
    the thumb."""
    columns = _thumb_hole_columns(len(palm_rings[0]))
    rows = palm_rings[THUMB_HOLE_ROWS[0] : THUMB_HOLE_ROWS[1] + 1]
    loop = [rows[0][c] for c in columns] + [row[columns[-1]] for row in rows[1:-1]]
    loop += [rows[-1][c] for c in reversed(columns)]
    loop += [row[columns[0]] for row in reversed(rows[1:-1])]
    lateral, up = _digit_frame(thumb)
    rel = np.array([mesh.points[v] for v in loop])
    rel -= rel.mean(axis=0)
    angles = np.unwrap(np.arctan2(rel @ up, rel @ lateral))
    if angles[-1] < angles[0]:
        loop, angles = loop[::-1], np.unwrap(np.arctan2(rel[::-1] @ up, rel[::-1] @ lateral))
    return loop, angles


def _build_topology(
    digits: tuple[Digit, ...],
) -> tuple[_MeshBuilder, list[int], list[int], list[int]]:
    """Rings, strips and caps with initial positions.

    Returns the builder, the part label of every vertex, the five apex (fingertip) ids in digit
    order and the ids of unused vertices.
    """
    mesh = _MeshBuilder()
    fingers, thumb = digits[:4], digits[4]
    distal, base_angles = _distal_palm_ring(fingers)
    palm_rings, unused = _palm_tube(mesh, distal)
    distal_ids = mesh.add(distal)
    mesh.strip(palm_rings[-1], distal_ids)
    part = [0] * len(mesh.points)
    tips = [
        _add_tube(mesh, finger, ring, angles, _WEB, part, i + 1)
        for i, (finger, ring, angles) in enumerate(
            zip(fingers, _finger_base_rings(distal_ids), base_angles)
        )
    ]
    loop, angles = _thumb_hole_loop(mesh, palm_rings, thumb)
    tips.append(_add_tube(mesh, thumb, loop, angles, -0.004, part, 5))
    return mesh, part, tips, unused


def _add_tube(
    mesh: _MeshBuilder,
    digit: Digit,
    base_ring: list[int],
    base_angles: np.ndarray,
    s_base: float,
    part: list[int],
    label: int,
) -> int:
    """Rings from ``base_ring`` (at arclength ``s_base`` past the digit's first joint) to the
    cap, then the fingertip apex; appends part labels and returns the apex id."""
    n = len(base_ring)
    uniform = np.arange(n) * 2 * np.pi / n
    phase = np.angle(np.mean(np.exp(1j * (base_angles - uniform))))
    previous = base_ring
    s_values = np.linspace(s_base, _cap_start(digit), digit.num_rings + 1)[1:]
    for k, s in enumerate(s_values):
        blend = min(1.0, (k + 1) / 3)  # from the base ring's angles to evenly spaced ones
        ring = mesh.add(
            _ring_around(digit, s, (1 - blend) * base_angles + blend * (uniform + phase))
        )
        part += [label] * n
        mesh.strip(previous, ring)
        previous = ring
    apex = mesh.add(digit.tip)[0]
    part.append(label)
    mesh.fan(previous, apex)
    return apex


def _neighbours(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (vertex, neighbour) pair of the mesh as two (2E,) arrays, sorted by vertex."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    pairs = np.concatenate([edges, edges[:, ::-1]])
    pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
    return pairs[:, 0], pairs[:, 1]


def _relax(
    points: np.ndarray,
    faces: np.ndarray,
    sdf: Sdf,
    pinned: np.ndarray,
    boundary: np.ndarray,
    iterations: int = 12,
    step: float = 0.5,
) -> np.ndarray:
    """Project onto the surface, then alternate tangential smoothing and re-projection.

    ``pinned`` vertices never move, their neighbours are projected but not smoothed (so that the
    fingertip caps stay round); ``boundary`` vertices only slide inside their x = const plane.
    """
    owner, neighbour = _neighbours(faces)
    counts = np.bincount(owner, minlength=len(points))
    free = ~pinned
    smooth = free & ~boundary
    smooth[neighbour[pinned[owner]]] = False

    def project(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        for _ in range(2):
            value, grad = sdf_value_and_gradient(sdf, p)
            grad[boundary, 0] = 0.0
            move = (value / np.maximum((grad * grad).sum(1), 1e-12))[:, None] * grad
            p = p - np.where(free[:, None], move, 0.0)
        return p, grad / np.linalg.norm(grad, axis=1, keepdims=True)

    points, normal = project(project(points)[0])
    for _ in range(iterations):
        mean = np.zeros_like(points)
        np.add.at(mean, owner, points[neighbour])
        delta = mean / counts[:, None] - points
        delta -= (delta * normal).sum(1, keepdims=True) * normal
        delta[~smooth] = 0.0
        points, normal = project(points + step * delta)
    return points


def build_rest_mesh(digits: tuple[Digit, ...]) -> SyntheticMesh:
    """The rest hand mesh with MANO's vertex count, face count, wrist loop and fingertip ids."""
    mesh, part, apexes, unused = _build_topology(digits)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    used = np.setdiff1d(np.arange(len(mesh.points)), unused)
    if len(used) != NUM_VERTS or len(faces) != NUM_FACES:
        raise RuntimeError(
            f"synthetic hand layout gives {len(used)} vertices and {len(faces)} faces, "
            f"expected {NUM_VERTS} and {NUM_FACES}"
        )
    # renumber: the fingertip apexes go to MANO's tip ids, and a neighbour of the middle apex to
    # 445 (manopth's left middle tip); every other vertex keeps its construction order
    middle_cap = faces[np.any(faces == apexes[1], axis=1)]
    fixed = {digit.tip_vertex: apex for digit, apex in zip(digits, apexes)}
    fixed[445] = int(np.setdiff1d(middle_cap, [apexes[1]])[0])
    others = iter(v for v in used if v not in fixed.values())
    order = [fixed[new] if new in fixed else next(others) for new in range(NUM_VERTS)]
    old_to_new = np.full(len(mesh.points), -1, dtype=np.int64)
    old_to_new[order] = np.arange(NUM_VERTS)

    pinned = np.zeros(NUM_VERTS, dtype=bool)
    pinned[[digit.tip_vertex for digit in digits]] = True
    boundary = np.zeros(NUM_VERTS, dtype=bool)
    boundary[:WRIST_LOOP_SIZE] = True  # the wrist loop is built first and keeps ids 0..15
    faces = old_to_new[faces]
    points = np.asarray(mesh.points)[order]
    vertices = _relax(points, faces, hand_sdf(digits), pinned, boundary)
    return SyntheticMesh(vertices, faces, np.asarray(part, dtype=np.int64)[order])
