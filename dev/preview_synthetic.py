"""Preview SyntheticHands: a grid of test-transform crops with mesh outline and 2D skeleton.

python dev/preview_synthetic.py --out docs/preview.png --n 16
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import cv2
import numpy as np

from handmesh.data import HandTransform, SyntheticHands
from handmesh.viz import draw_sample, make_grid

CAPTION_HEIGHT = 22


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/preview.png", help="PNG file to write")
    parser.add_argument("--n", type=int, default=16, help="number of samples")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tile", type=int, default=128, help="crop side in pixels")
    parser.add_argument("--raw-size", type=int, nargs=2, default=(640, 480), metavar=("W", "H"))
    parser.add_argument("--left-prob", type=float, default=0.25, help="share of left hands")
    parser.add_argument("--mano-root", default=None, help="MANO models folder (default assets)")
    return parser.parse_args(argv)


def caption(width: int, text: str) -> np.ndarray:
    """A white band with black text, (CAPTION_HEIGHT, width, 3) uint8 RGB."""
    band = np.full((CAPTION_HEIGHT, width, 3), 255, dtype=np.uint8)
    cv2.putText(band, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return band


def main(argv: Sequence[str] | None = None) -> str:
    args = parse_args(argv)
    transform = HandTransform(image_size=(args.tile, args.tile), train=False)
    dataset = SyntheticHands(
        num_samples=args.n,
        data_split=args.split,
        seed=args.seed,
        raw_size=args.raw_size,
        left_prob=args.left_prob,
        mano_root=args.mano_root,
        transform=transform,
    )
    faces = dataset.hand_model("right").faces
    tiles = [draw_sample(dataset[index], faces=faces) for index in range(args.n)]
    grid = make_grid(tiles)
    model = "synthetic MANO" if dataset.hand_model("right").is_synthetic else "MANO"
    text = f"SyntheticHands {args.split} seed {args.seed} ({model}), test-transform crops"
    image = np.concatenate([caption(grid.shape[1], text), grid], axis=0)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if not cv2.imwrite(args.out, image[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"could not write {args.out}")
    print(f"wrote {args.out} ({os.path.getsize(args.out) // 1024} KB, {args.n} samples)")
    return args.out


if __name__ == "__main__":
    main()
