"""2D hand skeleton drawing (canonical 21-joint order, one colour per finger)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from handmesh.mano.constants import BONES, NUM_JOINTS

__all__ = ["FINGER_COLOURS", "draw_skeleton", "joint_colour"]

FINGER_COLOURS: tuple[tuple[int, int, int], ...] = (
    (255, 60, 60),  # thumb: red
    (255, 200, 0),  # index: yellow
    (60, 220, 60),  # middle: green
    (0, 200, 255),  # ring: cyan
    (200, 80, 255),  # pinky: violet
)
"""RGB colour of each finger (thumb, index, middle, ring, pinky); the wrist is white."""


def joint_colour(joint: int) -> tuple[int, int, int]:
    """RGB colour of a canonical joint: white for the wrist, else its finger's colour."""
    if joint == 0:
        return (255, 255, 255)
    return FINGER_COLOURS[(joint - 1) // 4]


def draw_skeleton(
    image: np.ndarray,
    joints_2d: np.ndarray,
    visible: Sequence[float] | None = None,
    radius: int = 2,
    thickness: int = 1,
) -> np.ndarray:
    """Draw bones and joints on a copy of an (H, W, 3) uint8 RGB image.

    Args:
        joints_2d: (21, 2) pixels of the image, canonical order.
        visible: (21,) 0/1; invisible joints (and their bones) are drawn hollow / not at all.
    Returns:
        the (H, W, 3) uint8 drawing.
    """
    joints_2d = np.asarray(joints_2d, dtype=np.float64)
    if joints_2d.shape != (NUM_JOINTS, 2):
        raise ValueError(f"draw_skeleton: joints_2d must be (21, 2), got {joints_2d.shape}")
    vis = np.ones(NUM_JOINTS) if visible is None else np.asarray(visible, dtype=np.float64)
    canvas = np.ascontiguousarray(image, dtype=np.uint8).copy()
    points = [tuple(int(round(v)) for v in p) for p in joints_2d]
    for parent, child in BONES:
        if vis[parent] > 0 and vis[child] > 0:
            cv2.line(
                canvas, points[parent], points[child], joint_colour(child), thickness, cv2.LINE_AA
            )
    for joint, point in enumerate(points):
        fill = -1 if vis[joint] > 0 else 1
        cv2.circle(canvas, point, radius, joint_colour(joint), fill, cv2.LINE_8)
    return canvas
