"""Joint orders, names, parents and fingertip vertex ids shared by the whole library.

The canonical order (DESIGN §2) is the 21-joint OpenPose/SNAP order used by OakInk, HandOccNet,
DexYCB and manopth's output: wrist; thumb 1-4; index 1-4; middle 1-4; ring 1-4; pinky 1-4, each
finger from knuckle to tip. MANO's native skeleton has 16 joints (wrist; index, middle, pinky, ring,
thumb, three each); appending the five fingertip vertices (thumb, index, middle, ring, pinky)
gives the 21-joint "MANO + tips" order, which is also HO3D's order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NUM_JOINTS = 21
NUM_MANO_JOINTS = 16
NUM_VERTS = 778
NUM_FACES = 1538

JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb1", "thumb2", "thumb3", "thumb4",
    "index1", "index2", "index3", "index4",
    "middle1", "middle2", "middle3", "middle4",
    "ring1", "ring2", "ring3", "ring4",
    "pinky1", "pinky2", "pinky3", "pinky4",
)  # fmt: skip
"""Canonical 21-joint names (OpenPose/SNAP order)."""

JOINT_PARENTS: tuple[int, ...] = (
    -1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19,
)  # fmt: skip
"""Parent of each canonical joint (-1 for the wrist)."""

BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(JOINT_PARENTS) if p >= 0)
"""The 20 (parent, child) bones of the canonical skeleton."""

MANO_JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
)  # fmt: skip
"""MANO's native 16 joints (the order of ``J_regressor`` rows and of the pose vector)."""

MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
"""Parent of each native MANO joint: MANO's ``kintree_table[0]`` with the root as -1."""

TIP_VERTEX_IDS_RIGHT: tuple[int, ...] = (745, 317, 444, 556, 673)
"""Fingertip vertices (thumb, index, middle, ring, pinky) of the right MANO hand, as manopth."""

TIP_VERTEX_IDS_LEFT: tuple[int, ...] = (745, 317, 445, 556, 673)
"""Fingertip vertices of the left hand as manopth uses them (middle tip 445)."""

MANO_TIPS_NAMES: tuple[str, ...] = (
    *MANO_JOINT_NAMES,
    "thumb4",
    "index4",
    "middle4",
    "ring4",
    "pinky4",
)
"""The 21-joint "MANO + tips" order: native 16, then tips thumb, index, middle, ring, pinky."""

MANO_TIPS_TO_CANONICAL: tuple[int, ...] = (
    0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20,
)  # fmt: skip
"""``canonical = mano_tips[..., MANO_TIPS_TO_CANONICAL, :]`` (manopth's re-index)."""

CANONICAL_TO_MANO_TIPS: tuple[int, ...] = tuple(
    int(i) for i in np.argsort(np.asarray(MANO_TIPS_TO_CANONICAL))
)
"""``mano_tips = canonical[..., CANONICAL_TO_MANO_TIPS, :]``."""

HO3D_JOINT_NAMES: tuple[str, ...] = MANO_TIPS_NAMES
"""HO3D's 21-joint order is MANO's native order followed by the five tips."""

CANONICAL_TO_HO3D: tuple[int, ...] = CANONICAL_TO_MANO_TIPS
"""``ho3d = canonical[..., CANONICAL_TO_HO3D, :]`` (used only by the HO3D submission writer)."""


def reorder(joints: Any, index: tuple[int, ...]) -> Any:
    """Re-index the joint axis (second to last) of an array or tensor: ``joints[..., index, :]``."""
    return joints[..., list(index), :]
