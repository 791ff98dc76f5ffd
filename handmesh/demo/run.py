"""The demo on one image: crop the hand, predict, place the mesh in the camera, write the files.

Steps (HandOccNet's ``demo.py`` and ``demo_fitting.py``, for any handmesh mesh model):

1. the box: ``--bbox`` made square and expanded x1.25 (``process_bbox``, as the original demo),
   or the joint box of detector keypoints (``get_bbox`` x1.5 + ``process_bbox``);
2. the crop (DATA_PRESET size and normalisation); a left hand is cropped from the mirrored image;
3. the network; its 2D joints go back to image pixels through the inverse crop affine, and a left
   hand's outputs are mirrored back to the left;
4. the camera translation of the hand by the batched L-BFGS fit of ``demo_fitting.py``
   (``handmesh.heads.handoccnet.fitting``): pinhole camera ``fx = fy = focal``, principal point at
   the image centre, the 2D reprojection L1 plus the depth prior around ``depth``;
5. files in ``out_dir``: ``bbox.png`` (the box), ``crop.png`` (the network input), ``joints_2d.png``
   (the predicted 2D skeleton), ``overlay.png`` (the mesh, placed with the fitted translation,
   shaded with handmesh's rasterizer over the image), ``mesh.obj`` and ``prediction.json``.

``mesh.obj`` holds the predicted mesh in metres with OpenGL axes (y up, z towards the viewer), as
HandOccNet's ``output.obj``: the model's frame, or with ``fit_translation`` the camera frame
(the translation applied). ``prediction.json``: ``side``, ``bbox_xywh``, ``mano_pose`` (48,
axis-angle, ``flat_hand_mean=False``, of the hand's own side) and ``mano_shape`` (10) when the model
has them, ``joints_2d`` (21 x 2 image px) and, with ``fit_translation``, ``hand_scale`` ([1.0]: the
original never fits it), ``hand_translation`` (3, m, OpenCV camera), ``joints_3d`` (21 x 3 camera
metres) and ``reprojection_error_px`` (mean over the joints).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from handmesh.data.transforms import mirror_intrinsics, mirror_predictions
from handmesh.demo.crop import crop_hand
from handmesh.demo.overlay import draw_box, render_overlay
from handmesh.errors import ArgumentError
from handmesh.geometry.camera import project_points
from handmesh.geometry.crop import apply_affine, crop_intrinsics
from handmesh.heads.handoccnet.fitting import ScaleTranslationLoss, fit_translation
from handmesh.io.atomic import atomic_write, atomic_write_text
from handmesh.io.obj import write_obj
from handmesh.viz import draw_skeleton

__all__ = ["DEMO_FILES", "camera_matrix", "run_demo"]

logger = logging.getLogger(__name__)

DEMO_FILES = ("bbox.png", "crop.png", "joints_2d.png", "overlay.png", "mesh.obj", "prediction.json")
_OPENCV_TO_OPENGL = np.array([1.0, -1.0, -1.0])


def camera_matrix(focal: float, image_size: tuple[int, int]) -> np.ndarray:
    """(3, 3) float32 pinhole matrix with ``fx = fy = focal`` and the principal point at the image
    centre ``(W / 2, H / 2)`` (``demo_fitting.py``'s camera)."""
    if focal <= 0:
        raise ArgumentError(f"--focal must be > 0 pixels, got {focal}")
    width, height = image_size
    return np.array(
        [[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]], dtype=np.float32
    )


def _write_png(path: Path, rgb: np.ndarray) -> None:
    def write(tmp: str) -> None:
        ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
        if not ok:
            raise OSError(f"cannot encode {path}")
        Path(tmp).write_bytes(data.tobytes())

    atomic_write(path, write)


def _model_frame(preds: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The hand in the model's own frame: HandOccNet's uncentred MANO frame (the frame the
    original fit starts from), else a mesh model's root-relative camera-frame joints."""
    if "mano_joints_3d" in preds and "mano_verts_3d" in preds:
        return preds["mano_joints_3d"], preds["mano_verts_3d"]
    if "joints_3d" in preds and "verts_3d" in preds:
        root = preds["joints_3d"][:, :1]
        return preds["joints_3d"] - root, preds["verts_3d"] - root
    raise ArgumentError(
        f"the demo needs a mesh model (preds with mano_joints_3d / mano_verts_3d or joints_3d / "
        f"verts_3d), got preds {sorted(preds)}"
    )


def run_demo(
    model: nn.Module,
    faces: torch.Tensor,
    image: np.ndarray,
    bbox_xywh: np.ndarray,
    out_dir: str | Path,
    data_preset: Mapping[str, Any],
    left: bool = False,
    fit_translation_out: bool = False,
    depth: float = 0.5,
    cam_intr: np.ndarray | None = None,
    focal: float = 500.0,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Run the demo on an (H, W, 3) uint8 RGB ``image`` and its square hand box (module doc).

    Args:
        model: a handmesh mesh model in eval mode (e.g. ``handmesh.load_model``).
        faces: (F, 3) triangles of its mesh (HandOccNet: ``model.faces``; MANO's otherwise).
        bbox_xywh: the square crop box in image pixels (``demo_box`` / ``box_from_keypoints``).
        data_preset: the model's DATA_PRESET (IMAGE_SIZE, IMAGE_NORM, CENTER_IDX).
        left: the hand is a left hand (cropped mirrored, outputs mirrored back).
        fit_translation_out: write the fitted translation (JSON) and place ``mesh.obj`` in the
            camera; the overlay always uses the fit.
        depth: initial hand depth and depth prior, metres (``--depth``).
        cam_intr: the image's (3, 3) intrinsics, if known; else :func:`camera_matrix` of ``focal``.
        focal: pixels, for the default camera.

    Returns:
        {"files": {name: path}, "translation": (3,) metres, "reprojection_error_px": float,
        "overlay_mask": (H, W) bool, "joints_2d": (21, 2) image pixels}.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    height, width = image.shape[:2]
    crop_size = tuple(int(v) for v in data_preset.get("IMAGE_SIZE", (256, 256)))
    crop = crop_hand(image, bbox_xywh, crop_size, str(data_preset.get("IMAGE_NORM", "unit")), left)
    intr = camera_matrix(focal, (width, height)) if cam_intr is None else np.asarray(cam_intr)
    box = crop.bbox_xywh
    box_center = (box[0] + box[2] / 2.0, box[1] + box[3] / 2.0)
    if left:
        box_center = (width - 1 - box_center[0], box_center[1])
    seen_intr = mirror_intrinsics(intr, width) if left else intr  # the camera of what is cropped
    crop_intr = np.asarray(crop_intrinsics(seen_intr, box_center, float(box[2]), crop_size))
    batch = {
        "image": crop.image[None].to(device),
        "target_root_joint": torch.tensor([[0.0, 0.0, depth]], device=device),
        "target_cam_intr": torch.from_numpy(crop_intr)[None].to(device),
    }
    with torch.no_grad():
        preds = model(batch)
    joints, verts = (t.detach().cpu().double() for t in _model_frame(preds))
    joints_2d = apply_affine(
        preds["joints_2d"][0].detach().cpu().numpy(), np.linalg.inv(crop.affine)
    )
    own: dict[str, Any] = {"joints_3d": joints, "verts_3d": verts}
    if "mano_pose" in preds:
        own["mano_pose"] = preds["mano_pose"].detach().cpu().double()
    if left:
        own = mirror_predictions(own, [True])
        joints_2d[:, 0] = width - 1 - joints_2d[:, 0]
    joints, verts = own["joints_3d"], own["verts_3d"]
    fitting = getattr(model, "fitting_loss", None)
    fit = fit_translation(
        joints,
        torch.from_numpy(joints_2d).double()[None],
        torch.from_numpy(intr).double(),
        init_depth=depth,
        loss=fitting if isinstance(fitting, ScaleTranslationLoss) else None,
    )
    translation = fit.translation[0]
    camera_joints = joints[0] + translation
    projected = project_points(camera_joints, torch.from_numpy(intr).double()).numpy()
    error_px = float(np.linalg.norm(projected - joints_2d, axis=1).mean())
    faces = faces.detach().cpu()
    if left:
        faces = faces[:, [0, 2, 1]]  # mirroring flips the triangles' orientation
    camera_verts = verts[0] + translation
    overlay, mask = render_overlay(image, camera_verts.float(), faces, torch.from_numpy(intr))
    files = {
        "bbox.png": out / "bbox.png",
        "crop.png": out / "crop.png",
        "joints_2d.png": out / "joints_2d.png",
        "overlay.png": out / "overlay.png",
        "mesh.obj": out / "mesh.obj",
        "prediction.json": out / "prediction.json",
    }
    _write_png(files["bbox.png"], draw_box(image, box))
    _write_png(files["crop.png"], crop.pixels)
    _write_png(files["joints_2d.png"], draw_skeleton(image, joints_2d, radius=3, thickness=2))
    _write_png(files["overlay.png"], overlay)
    mesh = (camera_verts if fit_translation_out else verts[0]).numpy() * _OPENCV_TO_OPENGL
    write_obj(files["mesh.obj"], mesh, faces.numpy())
    result: dict[str, Any] = {
        "side": "left" if left else "right",
        "bbox_xywh": [float(v) for v in box],
        "joints_2d": joints_2d.tolist(),
    }
    if "mano_pose" in own:
        result["mano_pose"] = own["mano_pose"][0].tolist()
        result["mano_shape"] = preds["mano_shape"][0].detach().cpu().tolist()
    if fit_translation_out:
        result.update(
            {
                "hand_scale": [1.0],
                "hand_translation": translation.tolist(),
                "joints_3d": camera_joints.tolist(),
                "reprojection_error_px": error_px,
            }
        )
    atomic_write_text(files["prediction.json"], json.dumps(result, indent=1))
    return {
        "files": {name: str(path) for name, path in files.items()},
        "translation": translation.numpy(),
        "reprojection_error_px": error_px,
        "overlay_mask": mask,
        "joints_2d": joints_2d,
    }
