"""A synthetic multi-view RGB + depth dataset written in the published DeepHandMesh layout.

The DeepHandMesh RGB images are not released, so the embedded default is generated: the
synthetic hand model (:mod:`handmesh.deephandmesh.synthetic_model`) as a "subject" whose bones are
``BONE_SCALE`` longer and whose skin is ``INFLATE_MM`` thicker than the template (so that the
skeleton and identity correctives have something to learn), posed with random Euler angles and a
random wrist rotation, seen by a ring of colour cameras. Per frame it writes, exactly as the
published data is laid out (see :mod:`handmesh.deephandmesh.dataset`): a shaded RGB ``jpg`` per
camera over a random background, a ``depthmap{CAM}.pkl`` per camera (mm, 0 = background), the
21 right-hand keypoints (``keypoints{frame:04d}.pts``, mm; a fingertip is left out now and then,
as triangulation does), and one ``KRT_512`` for all frames (plus one non-colour camera, which
readers must skip). Images and depth maps are stored at a fraction of 512 x 334 (the reader
rescales the boxes, as the original does for its depth maps). Everything is a deterministic
function of ``seed``; the tree is written to a temporary directory and renamed into place.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from handmesh.data.datasets.synthetic_scene import (
    plain_background,
    random_background,
    sample_light_dir,
    sample_skin_colour,
)
from handmesh.deephandmesh.annotations import ORIGINAL_IMAGE_HW
from handmesh.deephandmesh.constants import ALIGN_JOINTS, KEYPOINT_NAMES
from handmesh.deephandmesh.dataset import DeepHandMeshFrames
from handmesh.deephandmesh.hand_model import HandTemplate
from handmesh.deephandmesh.kinematics import (
    euler_to_rotation,
    forward_kinematics,
    linear_blend_skinning,
    to_homogeneous,
)
from handmesh.deephandmesh.synthetic_model import build_synthetic_template, write_hand_model
from handmesh.errors import ArgumentError, DataError
from handmesh.geometry.rotations import axis_angle_to_matrix
from handmesh.io.atomic import new_temp_dir, replace_dir
from handmesh.registry import DATASETS
from handmesh.render import render_mesh, vertex_normals

__all__ = [
    "SYNTHETIC_MARKER",
    "SyntheticDeepHandMesh",
    "SyntheticPoses",
    "ensure_synthetic_dataset",
    "ground_truth_frame",
    "write_synthetic_dataset",
]

logger = logging.getLogger(__name__)

SYNTHETIC_MARKER = "SYNTHETIC_DEEPHANDMESH.json"
BONE_SCALE = 1.06
INFLATE_MM = 1.5
CAMERA_DISTANCE_MM = 550.0
FOCAL_PX = 520.0  # at 512 x 334
NON_COLOUR_CAMERA = "410001"
DROP_TIP_PROB = 0.1
GRIP_RANGE = (-0.1, 1.3)  # radians of flexion (z) of every finger joint
THUMB_GRIP_RANGE = (-0.1, 0.7)
FLEX_NOISE = 0.12
KNUCKLE_SPREAD = 0.15  # radians, y of the 3-DoF joints
TWIST = 0.05  # radians, x of the 3-DoF joints
ROTATION_SIGMA = 0.5  # radians, per-axis spread of the wrist rotation about upright
WRIST_HEIGHT_MM = 80.0
BACKGROUNDS = ("random", "plain")


class SyntheticPoses:
    """Random DeepHandMesh poses on the free DoFs (the wrist placement is drawn separately).

    A hand-closing "grip" in ``GRIP_RANGE`` sets the flexion (z) of every finger joint, plus
    ``FLEX_NOISE`` per joint; the thumb closes with its own grip; the knuckles spread (y) by up
    to ``KNUCKLE_SPREAD`` and the 3-DoF joints twist (x) by up to ``TWIST``.
    """

    def __init__(self, template: HandTemplate) -> None:
        self.template = template
        self.thumb = np.array(["thumb" in name for name in template.joint_names])

    def euler(self, rng: np.random.Generator) -> np.ndarray:
        """(J, 3) float32 radians, zero on the fixed DoFs."""
        dof = self.template.dof
        grip = np.where(self.thumb, rng.uniform(*THUMB_GRIP_RANGE), rng.uniform(*GRIP_RANGE))
        euler = np.stack(
            [
                rng.uniform(-TWIST, TWIST, size=len(dof)),
                rng.uniform(-KNUCKLE_SPREAD, KNUCKLE_SPREAD, size=len(dof)),
                grip + rng.normal(0.0, FLEX_NOISE, size=len(dof)),
            ],
            axis=1,
        )
        return (euler * dof).astype(np.float32)


def _subject(template: HandTemplate) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic subject: local poses with longer bones, and an inflated rest mesh (mm)."""
    local = template.local_pose.copy()
    not_root = np.arange(template.num_joints) != template.root
    local[not_root, :3, 3] *= BONE_SCALE
    normals = vertex_normals(
        torch.from_numpy(template.verts)[None], torch.from_numpy(template.faces)
    )[0].numpy()
    return local, template.verts + INFLATE_MM * normals


def _look_at(position: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(3, 3) world -> camera rotation of a camera at ``position`` looking at the origin
    (OpenCV: z forward, y down along -up)."""
    forward = -position / np.linalg.norm(position)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def _cameras(num_cameras: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Colour cameras ``400000 + i`` on a ring (alternating +-25 degrees elevation) and one
    non-colour camera; name -> (K (3, 3) at 512 x 334, [R | t] (3, 4) mm)."""
    height, width = ORIGINAL_IMAGE_HW
    intr = np.array([[FOCAL_PX, 0.0, width / 2.0], [0.0, FOCAL_PX, height / 2.0], [0.0, 0.0, 1.0]])
    up = np.array([0.0, 0.0, 1.0])
    cams = {}
    names = [f"{400000 + i}" for i in range(num_cameras)] + [NON_COLOUR_CAMERA]
    for i, name in enumerate(names):
        azimuth = 2 * np.pi * i / num_cameras + 0.3
        elevation = np.deg2rad(25.0 if i % 2 else -25.0)
        position = CAMERA_DISTANCE_MM * np.array(
            [
                np.cos(elevation) * np.cos(azimuth),
                np.cos(elevation) * np.sin(azimuth),
                np.sin(elevation),
            ]
        )
        rotation = _look_at(position, up)
        cams[name] = (intr, np.hstack([rotation, -(rotation @ position)[:, None]]))
    return cams


def _krt_text(cameras: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    blocks = []
    for name, (intr, extr) in cameras.items():
        rows = [" ".join(f"{v:.9g}" for v in row) for row in intr]
        rows.append("0 0 0 0 0")
        rows += [" ".join(f"{v:.9g}" for v in row) for row in extr]
        blocks.append(name + "\n" + "\n".join(rows) + "\n\n")
    return "".join(blocks)


def _pose_frame(
    template: HandTemplate,
    local: np.ndarray,
    rest_verts: np.ndarray,
    euler: np.ndarray,
    root: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """World joints (J, 3) and vertices (V, 3), mm, of one posed frame."""
    posed = torch.from_numpy(local) @ to_homogeneous(euler_to_rotation(torch.from_numpy(euler)))
    glob = forward_kinematics(posed, template.parents, torch.from_numpy(root).float())
    transforms = (glob @ torch.from_numpy(template.global_pose_inv))[None]
    verts = linear_blend_skinning(
        torch.from_numpy(rest_verts)[None].float(),
        torch.from_numpy(template.skinning_weights),
        transforms,
    )
    return glob[:, :3, 3].numpy(), verts[0].numpy()


def _upright(template: HandTemplate) -> np.ndarray:
    """(4, 4) placement that turns the template's wrist frame fingers-up (world +z) with the palm
    towards world +x (the wrist frame: x to the middle knuckle, y palmar, z the flexion axis),
    the wrist ``WRIST_HEIGHT_MM`` below the world origin (where the cameras look)."""
    target = np.stack([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], axis=1)
    out = np.eye(4)
    out[:3, :3] = target @ template.global_pose[template.root, :3, :3].astype(np.float64).T
    out[:3, 3] = -out[:3, :3] @ template.global_pose[template.root, :3, 3]
    out[2, 3] -= WRIST_HEIGHT_MM
    return out


def _sample_pose(
    rng: np.random.Generator,
    template: HandTemplate,
    local: np.ndarray,
    rest_verts: np.ndarray,
    rotation_sigma: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The first draws of a frame's generator: its pose and wrist placement -> joints, verts.

    The wrist is rotated from upright (:func:`_upright`) by an axis-angle with per-axis standard
    deviation ``rotation_sigma`` (radians) and shifted by up to 20 mm.
    """
    euler = SyntheticPoses(template).euler(rng)
    wobble = to_homogeneous(
        axis_angle_to_matrix(torch.from_numpy(rng.normal(size=3) * rotation_sigma)),
        torch.from_numpy(rng.uniform(-20.0, 20.0, size=3)),
    ).numpy()
    root_pose = wobble @ _upright(template) @ template.global_pose[template.root].astype(np.float64)
    return _pose_frame(template, local, rest_verts, euler, root_pose)


def ground_truth_frame(
    template: HandTemplate, frame: int, *, seed: int, rotation_sigma: float = ROTATION_SIGMA
) -> tuple[np.ndarray, np.ndarray]:
    """World joints (J, 3) and vertices (V, 3), mm, of frame ``frame`` of the dataset that
    :func:`write_synthetic_dataset` writes with ``seed`` (for checks and visualisation)."""
    local, rest_verts = _subject(template)
    rng = np.random.default_rng([seed, frame])
    return _sample_pose(rng, template, local, rest_verts, rotation_sigma)


def _render(
    verts_mm: np.ndarray,
    faces: np.ndarray,
    intr: np.ndarray,
    extr: np.ndarray,
    size_hw: tuple[int, int],
    colour: np.ndarray,
    light: np.ndarray,
) -> dict[str, np.ndarray]:
    """Shaded RGB, mask and depth (mm) of the mesh in a camera at ``size_hw`` (intrinsics given at
    512 x 334 are rescaled per axis, as the reader rescales its boxes)."""
    height, width = ORIGINAL_IMAGE_HW
    scaled = np.diag([size_hw[1] / width, size_hw[0] / height, 1.0]) @ intr
    cam_m = (verts_mm @ extr[:, :3].T + extr[:, 3]) / 1000.0
    with torch.no_grad():
        out = render_mesh(
            torch.from_numpy(cam_m).float()[None],
            torch.from_numpy(faces),
            torch.from_numpy(scaled).float()[None],
            size_hw,
            vert_colors=torch.from_numpy(colour).float().expand(len(verts_mm), 3)[None],
            light_dir=torch.from_numpy(light).float(),
            cull_backfaces=True,
        )
    return {
        "rgb": out["rgb"][0].numpy(),
        "mask": out["mask"][0].numpy(),
        "depth": (out["depth"][0].numpy() * 1000.0).astype(np.float32),
    }


def write_synthetic_dataset(
    root: str | os.PathLike,
    *,
    num_frames: int = 160,
    num_cameras: int = 6,
    subject: int = 4,
    sequence: str = "SYN_RT",
    image_hw: Sequence[int] = (256, 167),
    depth_hw: Sequence[int] = (128, 84),
    seed: int = 0,
    first_frame: int = 0,
    rotation_sigma: float = ROTATION_SIGMA,
    background: str = "random",
    progress: bool = True,
) -> Path:
    """Write the synthetic dataset under ``root`` (replacing it) and return ``root``.

    ``root`` gets ``hand_model/`` (the synthetic hand model), ``images/``, ``annotations/`` and a
    ``SYNTHETIC_DEEPHANDMESH.json`` marker holding these settings. Frames are numbered from ``first_frame``; the hands
    stand fingers-up in the middle of the camera ring, their wrist rotated from upright by
    ``rotation_sigma`` radians (per-axis standard deviation of an axis-angle), over a
    ``background`` that is "random" (gradients, noise, stripes, blobs) or "plain" (one colour).
    """
    root = Path(root)
    if background not in BACKGROUNDS:
        raise ArgumentError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    image_hw = (int(image_hw[0]), int(image_hw[1]))
    depth_hw = (int(depth_hw[0]), int(depth_hw[1]))
    template = build_synthetic_template()
    local, rest_verts = _subject(template)
    cameras = _cameras(num_cameras)
    colour_cams = [name for name in cameras if name != NON_COLOUR_CAMERA]
    tmp = new_temp_dir(root)
    write_hand_model(template, tmp / "hand_model")
    annotations = tmp / "annotations"
    (annotations).mkdir(parents=True)
    (annotations / "KRT_512").write_text(_krt_text(cameras), encoding="utf-8")
    keypoint_dir = annotations / "keypoints" / f"subject_{subject}"
    keypoint_dir.mkdir(parents=True)
    image_dir = tmp / "images" / f"subject_{subject}" / sequence
    frames = range(first_frame, first_frame + num_frames)
    for frame in tqdm(frames, desc="synthetic DeepHandMesh", disable=not progress):
        rng = np.random.default_rng([seed, frame])
        joints, verts = _sample_pose(rng, template, local, rest_verts, rotation_sigma)
        drop = int(rng.choice([0, 5, 9, 13, 17])) if rng.uniform() < DROP_TIP_PROB else -1
        rows = [
            f"{i} {x:.6f} {y:.6f} {z:.6f} {len(colour_cams):.1f} {len(colour_cams)}\n"
            for i, name in enumerate(KEYPOINT_NAMES)
            for x, y, z in [joints[template.joint_names.index(name)]]
            if template.joint_names.index(name) != drop
        ]
        assert all(j != drop for j in ALIGN_JOINTS)
        (keypoint_dir / f"keypoints{frame:04d}.pts").write_text("".join(rows), encoding="utf-8")
        depth_dir = annotations / "depthmaps" / f"subject_{subject}" / f"{frame:06d}"
        depth_dir.mkdir(parents=True)
        colour, light = sample_skin_colour(rng), sample_light_dir(rng)
        for cam in colour_cams:
            intr, extr = cameras[cam]
            view = _render(verts, template.faces, intr, extr, image_hw, colour, light)
            draw = random_background if background == "random" else plain_background
            backdrop = draw(rng, (image_hw[1], image_hw[0])).astype(np.float32)
            alpha = view["mask"][..., None].astype(np.float32)
            image = view["rgb"] * 255.0 * alpha + backdrop * (1.0 - alpha)
            cam_dir = image_dir / f"cam{cam}"
            cam_dir.mkdir(parents=True, exist_ok=True)
            bgr = np.clip(image, 0, 255).astype(np.uint8)[:, :, ::-1]
            cv2.imwrite(str(cam_dir / f"image{frame:04d}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
            depth = _render(verts, template.faces, intr, extr, depth_hw, colour, light)["depth"]
            with open(depth_dir / f"depthmap{cam}.pkl", "wb") as file:
                pickle.dump(depth, file, protocol=2)
    settings = {
        "num_frames": num_frames, "num_cameras": num_cameras, "subject": subject,
        "sequence": sequence, "image_hw": list(image_hw), "depth_hw": list(depth_hw),
        "seed": seed, "first_frame": first_frame, "rotation_sigma": rotation_sigma,
        "background": background,
    }  # fmt: skip
    marker = {"note": "synthetic DeepHandMesh data, not the published dataset", **settings}
    (tmp / SYNTHETIC_MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
    replace_dir(tmp, root)
    return root


def ensure_synthetic_dataset(root: str | os.PathLike, **settings: Any) -> Path:
    """``root`` holding the synthetic dataset written with ``settings`` (the keyword arguments
    of :func:`write_synthetic_dataset`): written if absent or written with other settings.

    Processes sharing ``root`` (DDP ranks, DataLoader workers) wait on a file lock, so the data
    is written once.
    """
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    expected = {**_defaults(), **settings}
    expected.pop("progress", None)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            found = json.loads((root / SYNTHETIC_MARKER).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            found = {}
        if any(found.get(key) != _jsonable(value) for key, value in expected.items()):
            if root.exists() and not found:
                raise DataError(
                    f"{root} exists but is not a synthetic DeepHandMesh dataset (no "
                    f"{SYNTHETIC_MARKER}); refusing to overwrite it"
                )
            logger.info("writing the synthetic DeepHandMesh dataset to %s", root)
            write_synthetic_dataset(root, **settings)
    return root


def _defaults() -> dict[str, Any]:
    import inspect

    signature = inspect.signature(write_synthetic_dataset)
    return {
        name: _jsonable(p.default)
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty and name != "progress"
    }


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@DATASETS.register("DeepHandMeshSynthetic")
class SyntheticDeepHandMesh(DeepHandMeshFrames):
    """The embedded default: :func:`write_synthetic_dataset`'s data under ``DATA_ROOT`` (written
    on first use), read by the published-format reader :class:`DeepHandMeshFrames`.

    Config: the keys of ``DeepHandMesh`` (``DATA_ROOT``, ``NUM_VIEWS``, ``RENDER_SIZE``,
    ``SEED``) plus ``NUM_FRAMES`` (160), ``NUM_CAMERAS`` (6), ``FIRST_FRAME`` (0),
    ``ROTATION_SIGMA`` (0.5 rad), ``BACKGROUND`` ("random" | "plain"), ``DATA_SEED`` (0),
    ``IMAGE_HW`` ([256, 167]) and ``DEPTH_HW`` ([128, 84]) of the written files. Use different ``DATA_ROOT`` s (and ``DATA_SEED`` or
    ``FIRST_FRAME``) for the training and the test set.
    """

    CONFIG_KEYS = (
        "DATA_ROOT", "NUM_VIEWS", "RENDER_SIZE", "SEED", "NUM_FRAMES", "NUM_CAMERAS",
        "FIRST_FRAME", "ROTATION_SIGMA", "BACKGROUND", "DATA_SEED", "IMAGE_HW", "DEPTH_HW",
    )  # fmt: skip
    REQUIRED_KEYS = ("DATA_ROOT",)

    def __init__(
        self, *, data_root: str | os.PathLike, synthetic: Mapping[str, Any], **reader: Any
    ) -> None:
        ensure_synthetic_dataset(data_root, progress=False, **synthetic)
        super().__init__(data_root=data_root, **reader)

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], *, data_preset: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        reader = DeepHandMeshFrames.from_config(cfg, data_preset=data_preset)
        reader["subject"] = 4
        synthetic = {
            "num_frames": int(cfg.get("NUM_FRAMES", 160)),
            "num_cameras": int(cfg.get("NUM_CAMERAS", 6)),
            "first_frame": int(cfg.get("FIRST_FRAME", 0)),
            "rotation_sigma": float(cfg.get("ROTATION_SIGMA", ROTATION_SIGMA)),
            "background": str(cfg.get("BACKGROUND", "random")),
            "seed": int(cfg.get("DATA_SEED", 0)),
            "image_hw": [int(v) for v in cfg.get("IMAGE_HW", (256, 167))],
            "depth_hw": [int(v) for v in cfg.get("DEPTH_HW", (128, 84))],
        }
        return {"synthetic": synthetic, **reader}
