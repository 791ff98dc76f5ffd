"""Render the built-in synthetic hand (rest pose and a fist) to docs/synthetic_hand.png.

Usage: python dev/render_synthetic_hand.py [--out docs/synthetic_hand.png]

A painter's-algorithm rasteriser with OpenCV (faces sorted back to front, flat Lambert shading):
no OpenGL and no matplotlib needed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from handmesh.mano.layer import MANO
from handmesh.mano.synthetic import SYNTHETIC_MANO_NOTE

PANEL = 300
SKIN_BGR = np.array([150.0, 185.0, 230.0])


def look_rotation(forward: np.ndarray, up: np.ndarray) -> np.ndarray:
    """World -> camera rotation (OpenCV camera: x right, y down, z forward)."""
    z = forward / np.linalg.norm(forward)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def render(verts: np.ndarray, faces: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(PANEL, PANEL, 3) BGR image of the mesh, orthographic, fitted to the panel."""
    cam = verts @ rotation.T
    cam -= (cam.max(0) + cam.min(0)) / 2
    scale = 0.85 * PANEL / (cam[:, :2].max(0) - cam[:, :2].min(0)).max()
    tri = cam[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    light = np.array([0.35, -0.45, -0.8])
    light /= np.linalg.norm(light)
    image = np.full((PANEL, PANEL, 3), 255, np.uint8)
    for i in np.argsort(-tri[:, :, 2].mean(1)):
        if normals[i, 2] > 0:  # facing away from the camera
            continue
        shade = 0.3 + 0.7 * max(0.0, float(normals[i] @ light))
        corners = np.round(tri[i, :, :2] * scale + PANEL / 2).astype(np.int32)
        cv2.fillConvexPoly(image, corners, (SKIN_BGR * shade).tolist(), lineType=cv2.LINE_AA)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/synthetic_hand.png"))
    args = parser.parse_args()

    print(SYNTHETIC_MANO_NOTE)
    layer = MANO(side="right", allow_synthetic=True, flat_hand_mean=True, dtype=torch.float64)
    faces = layer.faces.numpy()
    rest = torch.zeros(1, 48, dtype=torch.float64)
    # a fist: pose components 0 (all digits curl) and 3 (thumb opposition) on the mean pose
    fist = torch.zeros(1, 48, dtype=torch.float64)
    components = layer.hands_components
    fist[0, 3:] = layer.hands_mean + 4.5 * components[0] + 1.0 * components[3]
    with torch.no_grad():
        rest_verts = layer(rest).verts[0].numpy()
        fist_verts = layer(fist).verts[0].numpy()

    back_view = look_rotation(np.array([0.0, -1.0, 0.0]), up=np.array([-1.0, 0.0, 0.0]))
    oblique = look_rotation(np.array([0.8, 0.35, -0.5]), up=np.array([0.0, 1.0, 0.0]))
    image = np.hstack([render(rest_verts, faces, back_view), render(fist_verts, faces, oblique)])
    label = "synthetic hand (not MANO): rest pose | fist"
    cv2.putText(image, label, (8, PANEL - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1,
                cv2.LINE_AA)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), image)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
