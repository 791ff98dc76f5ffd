"""dev/preview_synthetic.py writes a PNG grid of drawn samples."""

from __future__ import annotations

import runpy
from pathlib import Path

import cv2

SCRIPT = Path(__file__).resolve().parents[2] / "dev" / "preview_synthetic.py"


def test_preview_command_writes_a_png(tmp_path):
    main = runpy.run_path(str(SCRIPT), run_name="preview")["main"]
    out = tmp_path / "sub" / "preview.png"
    argv = ["--out", str(out), "--n", "3", "--tile", "48", "--raw-size", "160", "120"]
    assert main(argv) == str(out)
    image = cv2.imread(str(out))
    assert image is not None
    # 2 x 2 grid of 48 px tiles with 2 px padding, under a 22 px caption band
    assert image.shape == (22 + 2 * 50 + 2, 2 * 50 + 2, 3)
    assert image[24:72, 2:50].std() > 10  # the first tile holds a picture, not a flat fill
    assert image[22 + 2 + 50 + 24, 2 + 50 + 24].tolist() == [255, 255, 255]  # the empty 4th tile
