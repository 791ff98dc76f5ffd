"""Fixed facts of DeepHandMesh's 22-joint right-hand skeleton (the original hard-codes them).

Joint ids follow ``skeleton.txt``: per finger from the tip ("null" end effector) to the knuckle,
thumb, index, middle, ring, pinky, then the wrist (the root)::

    0 b_r_thumb_null  1 b_r_thumb3  2 b_r_thumb2  3 b_r_thumb1  4 b_r_thumb0
    5 b_r_index_null  6 b_r_index3  7 b_r_index2  8 b_r_index1
    9..12 middle, 13..16 ring, 17..20 pinky (null, 3, 2, 1)     21 b_r_wrist

``b_r_thumb0`` (the carpometacarpal joint) has no keypoint annotation; the other 21 do.
"""

from __future__ import annotations

import math

__all__ = [
    "ALIGN_JOINTS",
    "DEMO_POSE",
    "JOINT_NAMES",
    "KEYPOINT_NAMES",
    "NON_RIGID_JOINTS",
    "NUM_JOINTS",
    "ROOT_JOINT",
    "TO_CANONICAL",
]

JOINT_NAMES: tuple[str, ...] = (
    "b_r_thumb_null", "b_r_thumb3", "b_r_thumb2", "b_r_thumb1", "b_r_thumb0",
    "b_r_index_null", "b_r_index3", "b_r_index2", "b_r_index1",
    "b_r_middle_null", "b_r_middle3", "b_r_middle2", "b_r_middle1",
    "b_r_ring_null", "b_r_ring3", "b_r_ring2", "b_r_ring1",
    "b_r_pinky_null", "b_r_pinky3", "b_r_pinky2", "b_r_pinky1",
    "b_r_wrist",
)  # fmt: skip
"""The 22 joints of the published ``skeleton.txt``, in id order."""

NUM_JOINTS = 22
ROOT_JOINT = 21
"""The wrist."""

ALIGN_JOINTS: tuple[int, ...] = (8, 12, 16, 20, 21)
"""Joints (four non-thumb knuckles + wrist) rigidly fitted to the ground truth to place the root
in training."""

NON_RIGID_JOINTS: tuple[int, ...] = (3, 21)
"""Segments (dominant joint thumb1 / wrist: thenar and palm skin) the non-rigid penetration loss
keeps the fingertips out of."""

KEYPOINT_NAMES: tuple[str, ...] = tuple(name for name in JOINT_NAMES if name != "b_r_thumb0")
"""Joint of each right-hand id 0..20 of ``keypoints*.pts`` (ids 21..41 are the left hand)."""

TO_CANONICAL: tuple[int, ...] = (
    21,
    3,
    2,
    1,
    0,
    8,
    7,
    6,
    5,
    12,
    11,
    10,
    9,
    16,
    15,
    14,
    13,
    20,
    19,
    18,
    17,
)
"""``canonical_21 = dhm_22[..., TO_CANONICAL, :]``: handmesh's OpenPose order (wrist; thumb,
index, middle, ring, pinky from knuckle to tip); thumb0 has no canonical joint."""

DEMO_POSE: dict[int, float] = {8: math.pi / 2, 12: math.pi / 2, 16: math.pi / 2, 20: math.pi / 2}
"""The original demo's pose: z (flexion) angle of the index, middle, ring and pinky knuckles."""
