"""DeepHandMesh demo: pose the hand of a checkpoint and write it as OBJ (+ a shaded PNG).

    python -m handmesh.demo.deephandmesh --checkpoint CKPT --hand_model DIR \\
        [--euler FILE.json | --preset fist|open|demo] --out mesh.obj [--png mesh.png]
    python -m handmesh.demo.deephandmesh --checkpoint CKPT --hand_model DIR \\
        --image IMG --bbox X Y W H --out mesh.obj

Without an image this is the original ``demo/demo.py``: the decoder posed by Euler angles
(``--preset demo``, the default, is its pose: the four knuckles bent 90 degrees; ``--euler`` reads
a JSON file, see ``handmesh.deephandmesh.poses``). With ``--image`` and ``--bbox`` (pixels) the
encoder predicts the angles from the box's crop, stretched to 256 x 256 as the original crops
(RGB in [0, 1]). The OBJ holds the posed mesh in **mm**, in the wrist frame, with the template's
faces and UVs (``f v/vt``), as the original writes it; the PNG is rendered with handmesh's
rasterizer. ``CKPT``: an official snapshot (``snapshot_N.pth.tar``) or a handmesh checkpoint of
a DeepHandMesh model; ``DIR``: the six hand-model files it was trained with (``synthetic``: the
built-in synthetic hand model).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from handmesh.backbones.resnet import ResNet
from handmesh.checkpoint import extract_state_dict, load_state_dict, read_checkpoint
from handmesh.data.transforms.steps import normalise_image
from handmesh.deephandmesh.annotations import crop_patch
from handmesh.deephandmesh.checkpoint import network_settings
from handmesh.deephandmesh.mesh_io import render_preview, write_obj
from handmesh.deephandmesh.poses import PRESETS, load_euler_json, preset_pose
from handmesh.engine.cli import run_cli
from handmesh.errors import ArgumentError, DataError, DataNotFoundError
from handmesh.io.atomic import atomic_write
from handmesh.models.deephandmesh import DeepHandMesh, hand_model_from_setting

INPUT_SIZE = (256, 256)  # the original's cfg.input_img_shape (H, W)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m handmesh.demo.deephandmesh", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--checkpoint", required=True, help="official snapshot or handmesh file")
    parser.add_argument("--hand_model", required=True, help="hand_model/ directory, or synthetic")
    pose = parser.add_mutually_exclusive_group()
    pose.add_argument("--euler", help="JSON file of Euler angles (radians, 22 x [x, y, z])")
    pose.add_argument("--preset", choices=PRESETS, help="a named pose (default: demo)")
    parser.add_argument("--image", help="an RGB picture: the encoder predicts the pose")
    parser.add_argument("--bbox", type=float, nargs=4, metavar=("X", "Y", "W", "H"),
                        help="the hand's box in --image, pixels")  # fmt: skip
    parser.add_argument("--out", default="mesh.obj", help="OBJ to write (mm)")
    parser.add_argument("--png", default=None, help="shaded image to write (default: OUT.png)")
    parser.add_argument("--png_size", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.image and (args.euler or args.preset):
        parser.error("--image runs the encoder: give either --image or --euler / --preset")
    if bool(args.image) != (args.bbox is not None):
        parser.error("--image and --bbox go together")
    return args


def build_demo_model(checkpoint: str, hand_model: str, device: str = "cpu") -> DeepHandMesh:
    """The DeepHandMesh of ``checkpoint`` (settings read from its keys), loaded strictly."""
    source = f"Checkpoint {checkpoint}"
    state_dict = extract_state_dict(read_checkpoint(checkpoint), source=checkpoint)
    settings = network_settings(state_dict, source=checkpoint)
    model = DeepHandMesh(
        template=hand_model_from_setting(hand_model),
        backbone=ResNet(depth=settings["resnet_depth"]),
        img_feat_dim=settings["img_feat_dim"],
        id_code_dim=settings["id_code_dim"],
    )
    load_state_dict(model, state_dict, source=source)
    return model.to(device).eval()


def read_crop(path: str, bbox: Sequence[float]) -> torch.Tensor:
    """(1, 3, 256, 256) RGB in [0, 1]: the box ``X Y W H`` of the image, stretched."""
    image = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise DataNotFoundError(f"cannot read image {path}")
    x, y, w, h = (float(v) for v in bbox)
    if w <= 1 or h <= 1:
        raise ArgumentError(f"--bbox: width and height must exceed 1 pixel, got {w} x {h}")
    # crop_patch takes xmin, ymin, xmax, ymax with the original's "+ 1" pixel convention
    corners = np.array([x, y, x + w - 1.0, y + h - 1.0], dtype=np.float32)
    crop, _ = crop_patch(image[:, :, ::-1], corners, INPUT_SIZE, reference_hw=image.shape[:2])
    return normalise_image(crop, "unit")[None]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    model = build_demo_model(args.checkpoint, args.hand_model, args.device)
    with torch.no_grad():
        if args.image:
            euler = model.encode(read_crop(args.image, args.bbox).to(args.device))
        else:
            pose = load_euler_json(args.euler) if args.euler else preset_pose(args.preset or "demo")
            if pose.shape[0] != model.local_pose.shape[0]:
                raise DataError(
                    f"the pose has {pose.shape[0]} joints, the model {model.local_pose.shape[0]}"
                )
            euler = torch.from_numpy(pose)[None].to(args.device)
        preds = model.decode(euler)
    verts_mm = preds["verts_3d"][0].cpu().double().numpy() * 1000.0
    out = Path(args.out)
    write_obj(out, verts_mm, model.template)
    png = Path(args.png) if args.png else out.with_suffix(".png")
    image = render_preview(verts_mm, model.template.faces, size=args.png_size)
    atomic_write(png, lambda tmp: _write_png(tmp, image))
    print(f"wrote {out} ({model.num_verts} vertices, mm, wrist frame) and {png}")


def _write_png(path: str, rgb: np.ndarray) -> None:
    if not cv2.imwrite(path + ".png", rgb[:, :, ::-1]):
        raise DataError(f"cannot write {path}")
    Path(path + ".png").replace(path)


if __name__ == "__main__":
    sys.exit(run_cli(main))
