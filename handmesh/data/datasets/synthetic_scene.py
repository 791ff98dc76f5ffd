"""Scene pieces of SyntheticHands: camera, backgrounds, occluders, skin colours, light.

Every function draws from the generator it is given, so a scene is a deterministic function of
that generator's seed. Images are (H, W, 3) uint8 RGB; sizes are (W, H) in pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = [
    "draw_occluders",
    "plain_background",
    "random_background",
    "sample_intrinsics",
    "sample_light_dir",
    "sample_skin_colour",
]

SKIN_TONES = np.array(
    [
        [255, 224, 196],
        [241, 194, 160],
        [224, 172, 130],
        [198, 134, 96],
        [161, 102, 68],
        [120, 74, 48],
        [86, 54, 36],
    ],
    dtype=np.float32,
)
"""Reference skin tones (RGB, light to dark) that skin colours are drawn around."""


def sample_intrinsics(rng: np.random.Generator, raw_size: Sequence[int]) -> np.ndarray:
    """(3, 3) float32 pinhole intrinsics: fx = fy in [0.9, 1.5] x image width, principal point
    within 3 % of the image size from the centre."""
    width, height = raw_size
    focal = rng.uniform(0.9, 1.5) * width
    cx = width / 2.0 + rng.uniform(-0.03, 0.03) * width
    cy = height / 2.0 + rng.uniform(-0.03, 0.03) * height
    return np.array([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]], dtype=np.float32)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, size=3).astype(np.float32)


BACKGROUND_DOWNSAMPLE = 4
"""Smooth background layers are made at 1/4 resolution and upsampled (speed)."""


def _gradient(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Linear gradient between two random colours at a random angle; float32 (h, w, 3)."""
    angle = rng.uniform(0, 2 * np.pi)
    xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)
    ys = np.linspace(-0.5, 0.5, height, dtype=np.float32)
    ramp = np.cos(angle) * xs[None, :] + np.sin(angle) * ys[:, None] + 0.5
    start, end = _random_colour(rng), _random_colour(rng)
    return start + np.clip(ramp, 0, 1)[..., None] * (end - start)


def _noise_texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Smooth colour noise: a coarse random grid upsampled bicubically; float32 (h, w, 3)."""
    cells = int(rng.integers(3, 24))
    coarse = rng.uniform(0, 255, size=(max(2, cells * height // width), cells, 3)).astype(
        np.float32
    )
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _stripes(rng: np.random.Generator, image: np.ndarray) -> None:
    """Draw parallel stripes of a random colour in place."""
    height, width = image.shape[:2]
    spacing = int(rng.integers(8, max(9, width // 4)))
    thickness = max(1, int(spacing * rng.uniform(0.2, 0.6)))
    colour = _random_colour(rng).tolist()
    angle = rng.uniform(0, np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    reach = width + height
    for offset in range(-reach, reach, spacing):
        centre = np.array([width / 2, height / 2]) + normal * offset
        p0, p1 = centre - direction * reach, centre + direction * reach
        cv2.line(image, tuple(int(v) for v in p0), tuple(int(v) for v in p1), colour, thickness)


def _blobs(rng: np.random.Generator, image: np.ndarray) -> None:
    """Draw random filled ellipses and rectangles in place."""
    height, width = image.shape[:2]
    for _ in range(int(rng.integers(3, 12))):
        colour = _random_colour(rng).tolist()
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.6:
            axes = (int(rng.integers(4, width // 4 + 5)), int(rng.integers(4, height // 4 + 5)))
            cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        else:
            corner = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.rectangle(image, centre, corner, colour, -1)


def _grain(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Blocky high-frequency colour noise in [0, 255]; float32 (h, w, 3)."""
    return rng.uniform(0, 255, size=(height, width, 3)).astype(np.float32)


def random_background(rng: np.random.Generator, raw_size: Sequence[int]) -> np.ndarray:
    """(H, W, 3) uint8 background: a colour gradient, smooth noise or coarse grain (made at low
    resolution and upsampled), optionally with stripes and blobs drawn at full resolution."""
    width, height = int(raw_size[0]), int(raw_size[1])
    small = (max(2, width // BACKGROUND_DOWNSAMPLE), max(2, height // BACKGROUND_DOWNSAMPLE))
    kind = rng.random()
    if kind < 0.45:
        base = _gradient(rng, *small)
    elif kind < 0.85:
        base = _noise_texture(rng, *small)
    else:
        base = 0.5 * _grain(rng, *small) + 0.5 * _gradient(rng, *small)
    interpolation = cv2.INTER_NEAREST if kind >= 0.85 else cv2.INTER_LINEAR
    image = cv2.resize(base.astype(np.uint8), (width, height), interpolation=interpolation)
    if rng.random() < 0.35:
        _stripes(rng, image)
    if rng.random() < 0.5:
        _blobs(rng, image)
    return image


def plain_background(rng: np.random.Generator, raw_size: Sequence[int]) -> np.ndarray:
    """(H, W, 3) uint8 background of one random colour."""
    width, height = int(raw_size[0]), int(raw_size[1])
    colour = _random_colour(rng).astype(np.uint8)
    return np.broadcast_to(colour, (height, width, 3)).copy()


def draw_occluders(
    rng: np.random.Generator, image: np.ndarray, hand_box: Sequence[float]
) -> np.ndarray:
    """Draw 1-2 random polygons or ellipses over part of the hand box, in place.

    Args:
        image: (H, W, 3) uint8, modified in place.
        hand_box: ``(x0, y0, x1, y1)`` pixels of the rendered hand.
    Returns:
        (H, W) bool mask of the occluder pixels.
    """
    height, width = image.shape[:2]
    mask = np.zeros((height, width), dtype=bool)
    x0, y0, x1, y1 = hand_box
    size = max(x1 - x0, y1 - y0, 4.0)
    # occluders stay within 0.4 x size of the box: draw in that window only
    wx0, wy0 = max(0, int(x0 - 0.4 * size)), max(0, int(y0 - 0.4 * size))
    wx1, wy1 = min(width, int(x1 + 0.4 * size) + 1), min(height, int(y1 + 0.4 * size) + 1)
    window, window_mask = image[wy0:wy1, wx0:wx1], mask[wy0:wy1, wx0:wx1]
    for _ in range(int(rng.integers(1, 3))):
        centre = np.array([rng.uniform(x0, x1) - wx0, rng.uniform(y0, y1) - wy0])
        radius = size * rng.uniform(0.12, 0.3)
        colour = _random_colour(rng).tolist()
        layer = np.zeros(window.shape[:2], dtype=np.uint8)
        if rng.random() < 0.5:
            count = int(rng.integers(3, 8))
            angles = np.sort(rng.uniform(0, 2 * np.pi, size=count))
            radii = radius * rng.uniform(0.5, 1.3, size=count)
            points = centre + np.stack([np.cos(angles), np.sin(angles)], 1) * radii[:, None]
            cv2.fillPoly(layer, [np.round(points).astype(np.int32)], 1)
        else:
            axes = (max(1, int(radius)), max(1, int(radius * rng.uniform(0.3, 1.0))))
            angle = float(rng.uniform(0, 180))
            cv2.ellipse(layer, tuple(int(v) for v in centre), axes, angle, 0, 360, 1, -1)
        covered = layer > 0
        window[covered] = colour
        window_mask |= covered
    return mask


def sample_skin_colour(rng: np.random.Generator) -> np.ndarray:
    """(3,) float32 RGB in [0, 1]: a reference skin tone with random tint."""
    tone = SKIN_TONES[int(rng.integers(0, len(SKIN_TONES)))]
    tint = rng.normal(1.0, 0.06, size=3)
    return np.clip(tone * tint / 255.0, 0.0, 1.0).astype(np.float32)


def sample_light_dir(rng: np.random.Generator) -> np.ndarray:
    """(3,) float32 unit direction the light travels in camera coordinates (mostly along +z)."""
    direction = np.array([rng.uniform(-0.8, 0.8), rng.uniform(-0.8, 0.8), 1.0])
    return (direction / np.linalg.norm(direction)).astype(np.float32)
