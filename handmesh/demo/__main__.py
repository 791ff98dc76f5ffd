"""``python -m handmesh.demo``: a mesh model on one image (see ``handmesh.demo.run``).

::

    python -m handmesh.demo --cfg CFG --checkpoint CKPT --image IMG --bbox x,y,w,h \\
        [--left] [--fit-translation --depth 0.5 --focal F] [--out DIR] [--device cpu|cuda]

``--keypoints FILE.json`` (2D hand keypoints of any detector) replaces ``--bbox``. Without
``--image`` the demo renders test sample ``--sample`` of the config's SyntheticHands test set
(with its camera and its hand's box), so it runs on the embedded default with a checkpoint of
``config/synthetic/train_handoccnet.yml``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["main", "parse_args"]

DEFAULT_CFG = "config/synthetic/train_handoccnet.yml"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m handmesh.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cfg", default=DEFAULT_CFG, help="config file (YAML) or experiment dir")
    parser.add_argument(
        "--checkpoint", required=True, help="model checkpoint (any published layout)"
    )
    parser.add_argument("--image", help="input image; absent: a rendered synthetic test image")
    parser.add_argument("--bbox", help="hand box x,y,w,h in image pixels")
    parser.add_argument("--keypoints", help="JSON of 2D hand keypoints (instead of --bbox)")
    parser.add_argument("--left", action="store_true", help="the hand is a left hand")
    parser.add_argument(
        "--fit-translation", action="store_true", help="write the camera translation"
    )
    parser.add_argument("--depth", type=float, default=0.5, help="initial hand depth, metres")
    parser.add_argument("--focal", type=float, default=None, help="focal length, pixels (500)")
    parser.add_argument("--sample", type=int, default=0, help="synthetic test sample (no --image)")
    parser.add_argument("--out", default="demo_out", help="output folder")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    return parser.parse_args(argv)


def _parse_bbox(text: str) -> np.ndarray:
    from handmesh.errors import ArgumentError

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0:
        raise ArgumentError(f"--bbox must be x,y,w,h with w, h > 0 (pixels), got {text!r}")
    return np.asarray(values, dtype=np.float32)


def _synthetic_input(cfg: Any, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(image, square box, intrinsics, left) of a SyntheticHands test sample of the config."""
    from handmesh.data.datasets.handoccnet_common import joint_box
    from handmesh.engine import build_dataset
    from handmesh.errors import ArgumentError

    dataset = build_dataset(cfg, "TEST")
    if type(dataset).__name__ != "SyntheticHands":
        raise ArgumentError("without --image the config's DATASET.TEST must be SyntheticHands")
    raw = dataset.get_raw(index)  # type: ignore[attr-defined]
    size = (raw["image"].shape[1], raw["image"].shape[0])
    box = joint_box(raw["joints_2d"], size)
    if box is None:
        raise ArgumentError(f"synthetic test sample {index} has its hand outside the image")
    return raw["image"], box, raw["cam_intr"], raw["side"] == "left"


def main(argv: Sequence[str] | None = None) -> int:
    from handmesh.errors import HandmeshError

    args = parse_args(argv)
    try:
        return _run(args)
    except HandmeshError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    import handmesh
    from handmesh.api import _resolve_config
    from handmesh.data.datasets.handoccnet_common import read_rgb
    from handmesh.demo.crop import demo_box
    from handmesh.demo.keypoints import box_from_keypoints, read_keypoints_json
    from handmesh.demo.run import run_demo
    from handmesh.errors import ArgumentError

    cfg, _ = _resolve_config(args.cfg)
    intr = None
    left = bool(args.left)
    if args.image is None:
        if args.bbox or args.keypoints:
            raise ArgumentError("--bbox / --keypoints need --image")
        image, box, intr, left = _synthetic_input(cfg, args.sample)
    else:
        image = read_rgb(args.image)
        size = (image.shape[1], image.shape[0])
        if args.bbox:
            box = demo_box(_parse_bbox(args.bbox), size)
        elif args.keypoints:
            side = "left" if left else "right"
            box = box_from_keypoints(read_keypoints_json(args.keypoints, side), size)
        else:
            raise ArgumentError("give the hand's --bbox x,y,w,h or --keypoints FILE.json")
    if args.focal is not None:
        from handmesh.demo.run import camera_matrix

        intr = camera_matrix(args.focal, (image.shape[1], image.shape[0]))
    model = handmesh.load_model(cfg, checkpoint=args.checkpoint, device=args.device)
    faces = getattr(model, "faces", None)
    if faces is None:  # another mesh model: MANO's triangles
        from handmesh.mano.loader import load_mano_from_preset

        faces = torch.from_numpy(load_mano_from_preset(cfg["DATA_PRESET"]).faces.astype(np.int64))
    result = run_demo(
        model,
        faces,
        image,
        box,
        args.out,
        cfg["DATA_PRESET"],
        left=left,
        fit_translation_out=args.fit_translation,
        depth=args.depth,
        cam_intr=intr,
        device=args.device,
    )
    for name, path in result["files"].items():
        print(f"{name}: {path}")
    if args.fit_translation:
        t = result["translation"]
        print(
            f"translation [{t[0]:.4f}, {t[1]:.4f}, {t[2]:.4f}] m, reprojection error "
            f"{result['reprojection_error_px']:.2f} px"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
