"""Natural random hand poses for SyntheticHands (MANO axis-angle, the flat hand as zero).

The bending axes are derived from the hand model's own rest skeleton, so they fit any MANO-format
model (the real one or the built-in synthetic one) and either side: for each finger bone with
direction ``d`` and the palm normal ``n`` (pointing out of the palm), flexion is a positive rotation
about ``d x n`` (the tip moves to the palm side) and abduction a rotation about ``n``.
MANO pose rotations act in the rest-pose (world) axes, so these axes are used as they are.
"""

from __future__ import annotations

import numpy as np
import roma
import torch

from handmesh.mano.constants import MANO_TIPS_TO_CANONICAL, NUM_MANO_JOINTS

__all__ = ["HandAxes", "sample_articulation", "sample_global_rotation"]

FINGER_BASES = {"thumb": 1, "index": 5, "middle": 9, "ring": 13, "pinky": 17}
"""Canonical index of each finger's first joint (knuckle); the tip is base + 3."""

# Flexion ranges (radians) per joint of a finger at full curl, and their noise.
FLEX_AT_FULL_CURL = {"finger": (1.35, 1.7, 1.1), "thumb": (0.5, 0.7, 1.0)}
FLEX_NOISE = 0.12
ABDUCTION_RANGE = {"finger": 0.22, "thumb": 0.45}


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


class HandAxes:
    """Per-joint flexion and abduction axes from a rest (flat-hand) skeleton.

    Args:
        rest_joints: (21, 3) canonical-order joints of the flat hand (any unit).
        side: ``"right"`` or ``"left"`` (the palm normal flips with the side).
    """

    def __init__(self, rest_joints: np.ndarray, side: str = "right") -> None:
        rest_joints = np.asarray(rest_joints, dtype=np.float64)
        if rest_joints.shape != (21, 3):
            raise ValueError(f"rest_joints: expected (21, 3), got {rest_joints.shape}")
        across = rest_joints[FINGER_BASES["index"]] - rest_joints[FINGER_BASES["pinky"]]
        along = rest_joints[FINGER_BASES["middle"]] - rest_joints[0]
        normal = _unit(np.cross(across, along))
        self.palm_normal = normal if side == "right" else -normal
        self.finger_dir = _unit(along - self.palm_normal * (along @ self.palm_normal))
        self.flexion = np.zeros((NUM_MANO_JOINTS, 3))
        self.abduction = np.zeros((NUM_MANO_JOINTS, 3))
        for base in FINGER_BASES.values():
            for k in range(3):
                native = MANO_TIPS_TO_CANONICAL[base + k]
                bone = _unit(rest_joints[base + k + 1] - rest_joints[base + k])
                self.flexion[native] = _unit(np.cross(bone, self.palm_normal))
                self.abduction[native] = self.palm_normal


def sample_articulation(rng: np.random.Generator, axes: HandAxes, scale: float = 1.0) -> np.ndarray:
    """(16, 3) float32 axis-angle (native MANO order, row 0 = global = zero) of a natural pose.

    Each finger gets a curl in [0, 1] (open, relaxed and fist-like hands all occur); its three
    joints flex in proportion with noise; the knuckles get a small abduction. The thumb curls
    less at its base and moves across the palm by abduction. ``scale`` multiplies every angle
    (0: the flat hand, 1: the natural range).
    """
    pose = np.zeros((NUM_MANO_JOINTS, 3))
    overall = rng.beta(0.8, 1.2)
    for name, base in FINGER_BASES.items():
        kind = "thumb" if name == "thumb" else "finger"
        curl = float(np.clip(overall + rng.normal(0.0, 0.25), -0.1, 1.0))
        for k, full in enumerate(FLEX_AT_FULL_CURL[kind]):
            native = MANO_TIPS_TO_CANONICAL[base + k]
            angle = curl * full + rng.normal(0.0, FLEX_NOISE)
            pose[native] += axes.flexion[native] * max(angle, -0.2)
        knuckle = MANO_TIPS_TO_CANONICAL[base]
        spread = rng.uniform(-1.0, 1.0) * ABDUCTION_RANGE[kind]
        pose[knuckle] += axes.abduction[knuckle] * spread
    return (scale * pose).astype(np.float32)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    quat = rng.normal(size=4)
    return roma.unitquat_to_rotmat(torch.from_numpy(_unit(quat))).numpy()


FINGERS_UP_ANGLE = -0.5 * np.pi
"""Image-plane angle (atan2(y, x), camera y down) of the wrist -> middle direction pointing up."""


def sample_global_rotation(
    rng: np.random.Generator,
    axes: HandAxes,
    view_tilt_max: float = 0.95,
    random_rotation_prob: float = 0.2,
    inplane_rotation_max: float = np.pi,
) -> np.ndarray:
    """(3,) float32 axis-angle of the wrist in the camera frame (x right, y down, z forward).

    With probability ``random_rotation_prob`` a uniformly random rotation; otherwise the palm (or,
    half of those, the back of the hand) faces the camera, its normal tilted away from the
    viewing axis by up to ``view_tilt_max`` radians, and the fingers (the wrist -> middle
    knuckle direction projected on the image) point up within +-``inplane_rotation_max``
    radians (pi: any direction). The defaults are the full SyntheticHands variation.
    """
    if rng.random() < random_rotation_prob:
        matrix = _random_rotation(rng)
    else:
        toward_camera = np.array([0.0, 0.0, -1.0])
        facing = toward_camera if rng.random() < 0.5 else -toward_camera
        tilt_axis = _unit(np.array([*rng.normal(size=2), 0.0]))
        tilt_angle = rng.uniform(0, view_tilt_max)
        tilt = roma.rotvec_to_rotmat(torch.from_numpy(tilt_axis * tilt_angle)).numpy()
        normal = tilt @ facing
        spin = FINGERS_UP_ANGLE + rng.uniform(-inplane_rotation_max, inplane_rotation_max)
        up = np.array([np.cos(spin), np.sin(spin), 0.0])
        up = _unit(up - normal * (up @ normal))
        target = np.stack([up, np.cross(normal, up), normal], axis=1)
        rest = np.stack(
            [axes.finger_dir, np.cross(axes.palm_normal, axes.finger_dir), axes.palm_normal], axis=1
        )
        matrix = target @ rest.T
    return roma.rotmat_to_rotvec(torch.from_numpy(matrix)).numpy().astype(np.float32)
