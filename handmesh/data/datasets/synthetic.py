"""``SyntheticHands``: rendered MANO hands, the embedded default dataset (DESIGN §5).

Each sample is a deterministic function of (SEED, DATA_SPLIT, index): a natural random pose and
shape, a wrist orientation (mostly palm or back towards the camera), a camera (fx = fy, principal
point near the centre), a depth of 0.35-0.9 m with the hand (mostly) inside the image, a random
background, optional occluders, a skin colour and a light direction. The hand is rendered with
``handmesh.render`` over its bounding region only and composited on the background. Samples
follow the RawSample schema (keys.py) and go through the same transforms as real datasets.

Config (``DATASET.TRAIN`` / ``DATASET.TEST`` node), all optional except TYPE:

====================  ==========================================================================
TYPE                  ``SyntheticHands``
DATA_SPLIT            ``train`` | ``val`` | ``test`` (each split has its own samples)
NUM_SAMPLES           dataset length (default 1000)
SEED                  base seed (default 0)
RAW_SIZE              raw image ``[W, H]`` (default ``[640, 480]``)
OCCLUDERS             draw occluders in front of half of the hands (default True)
BACKGROUND            ``random`` (gradients, noise, stripes, blobs; default) | ``plain`` (one
                      random colour)
VIEW_TILT_MAX         radians (0 to pi) the palm (or back) normal may tilt away from the viewing
                      axis (default 0.95, about 54 degrees)
INPLANE_ROTATION_MAX  radians (0 to pi) the fingers (wrist -> middle knuckle, in the image) may
                      turn away from pointing up (default pi: any direction)
RANDOM_ROTATION_PROB  share of hands with a uniformly random wrist rotation instead
                      (default 0.2)
ARTICULATION_SCALE    multiplies the finger angles, 0 to 2 (0: flat hand; default 1: natural)
LEFT_PROB             share of left hands, rendered with the left MANO (default 0.0)
AUG                   augment (train splits; default False)
AUG_PARAM             OakInk-HMR augmentation names: SCALE_JIT, COLOR_JIT, ROT_JIT, ROT_PROB,
                      OCCLUSION, OCCLUSION_PROB (default: the DATA_PRESET.TRANSFORM recipe's)
DATA_MODE             accepted for OakInk-HMR config compatibility; only ``3D``
====================  ==========================================================================

The hand model is the real MANO from DATA_PRESET.MANO_ROOT when present, else the built-in
synthetic one if DATA_PRESET.ALLOW_SYNTHETIC_MANO (logged), else a clear error. Worker safety:
the MANO layers are built lazily in each process and never pickled; all randomness comes from
per-sample generators.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch

from handmesh.config.values import cfg_bool, cfg_float, cfg_int, cfg_ints, cfg_str
from handmesh.data.datasets.base import HandDataset
from handmesh.data.datasets.synthetic_pose import (
    HandAxes,
    sample_articulation,
    sample_global_rotation,
)
from handmesh.data.datasets.synthetic_scene import (
    draw_occluders,
    plain_background,
    random_background,
    sample_intrinsics,
    sample_light_dir,
    sample_skin_colour,
)
from handmesh.data.transforms import HandTransform
from handmesh.data.transforms.steps import project
from handmesh.errors import ArgumentError, DataNotFoundError
from handmesh.registry import DATASETS

__all__ = ["SyntheticHands"]

logger = logging.getLogger(__name__)

SPLIT_SALT = {"train": 0, "val": 1, "test": 2}
CONTENT_TAG = 0x5E7  # keeps content seeds apart from the (seed, epoch, index) augmentation seeds
CONFIG_KEYS = (
    "DATA_SPLIT",
    "NUM_SAMPLES",
    "SEED",
    "RAW_SIZE",
    "OCCLUDERS",
    "BACKGROUND",
    "VIEW_TILT_MAX",
    "INPLANE_ROTATION_MAX",
    "RANDOM_ROTATION_PROB",
    "ARTICULATION_SCALE",
    "LEFT_PROB",
    "AUG",
    "AUG_PARAM",
    "DATA_MODE",
)
DEPTH_RANGE_M = (0.35, 0.9)
MAX_HAND_RADIUS_SHARE = 0.45  # hand radius at most this share of min(W, H) in pixels
OCCLUDER_PROB = 0.5
BETA_CLIP = 2.5
BACKGROUNDS = {"random": random_background, "plain": plain_background}
RENDER_MARGIN_PX = 2
MAX_RENDER_SIDE = 96  # longest side (pixels) the rasterizer renders a hand region at


class _HandModel:
    """One side's MANO layer with what sampling needs (built once per process)."""

    def __init__(self, side: str, mano_root: str | None, allow_synthetic: bool) -> None:
        from handmesh.mano import MANO

        self.layer = MANO(
            side=side, model_path=mano_root, flat_hand_mean=False, allow_synthetic=allow_synthetic
        ).eval()
        self.is_synthetic = bool(self.layer.is_synthetic)
        self.hands_mean = self.layer.hands_mean.numpy().astype(np.float32)
        self.faces = self.layer.faces
        flat = torch.cat([torch.zeros(1, 3), -self.layer.hands_mean[None]], 1)
        with torch.no_grad():
            rest_joints = self.layer(flat).joints[0].numpy()
        self.axes = HandAxes(rest_joints, side)

    @torch.no_grad()
    def __call__(self, pose: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pose the hand: (48,) pose (flat_hand_mean=False offsets) and (10,) betas ->
        verts (778, 3) and joints (21, 3), metres, MANO frame."""
        out = self.layer(torch.from_numpy(pose)[None], torch.from_numpy(betas)[None])
        return out.verts[0].numpy(), out.joints[0].numpy()


@DATASETS.register()
class SyntheticHands(HandDataset):
    """Rendered random hands with RawSample annotations (see the module docstring).

    Args:
        num_samples: dataset length.
        data_split: ``"train"``, ``"val"`` or ``"test"``.
        seed: base seed; samples depend only on (seed, data_split, index).
        raw_size: raw image (W, H) pixels.
        occluders: draw occluders over some hands.
        background: ``"random"`` (textured) or ``"plain"`` (one colour) backgrounds.
        view_tilt_max: radians the palm normal may tilt away from the viewing axis.
        inplane_rotation_max: radians the fingers may turn in the image away from pointing up
            (pi: any direction).
        random_rotation_prob: share of uniformly random wrist rotations.
        articulation_scale: multiplies the finger angles (0: flat hand, 1: natural).
        left_prob: share of left hands.
        mano_root: folder (or file) of the MANO models; None for the default assets path.
        allow_synthetic_mano: use the built-in synthetic hand when MANO files are missing.
        transform: the crop transform (default: OakInk test transform at 224 x 224).
    """

    name = "SyntheticHands"

    def __init__(
        self,
        num_samples: int = 1000,
        data_split: str = "train",
        seed: int = 0,
        raw_size: Sequence[int] = (640, 480),
        occluders: bool = True,
        background: str = "random",
        view_tilt_max: float = 0.95,
        inplane_rotation_max: float = np.pi,
        random_rotation_prob: float = 0.2,
        articulation_scale: float = 1.0,
        left_prob: float = 0.0,
        mano_root: str | None = None,
        allow_synthetic_mano: bool = True,
        transform: HandTransform | None = None,
    ) -> None:
        if data_split not in SPLIT_SALT:
            raise ArgumentError(
                f"SyntheticHands DATA_SPLIT: expected one of {sorted(SPLIT_SALT)}, "
                f"got {data_split!r}"
            )
        if int(num_samples) <= 0:
            raise ArgumentError(f"SyntheticHands NUM_SAMPLES must be positive, got {num_samples}")
        if len(raw_size) != 2 or min(raw_size) < 16:
            raise ArgumentError(
                f"SyntheticHands RAW_SIZE: expected [W, H] >= 16, got {list(raw_size)}"
            )
        _check_range("LEFT_PROB", left_prob, 0.0, 1.0)
        _check_range("RANDOM_ROTATION_PROB", random_rotation_prob, 0.0, 1.0)
        _check_range("VIEW_TILT_MAX", view_tilt_max, 0.0, np.pi)
        _check_range("INPLANE_ROTATION_MAX", inplane_rotation_max, 0.0, np.pi)
        _check_range("ARTICULATION_SCALE", articulation_scale, 0.0, 2.0)
        if background not in BACKGROUNDS:
            raise ArgumentError(
                f"SyntheticHands BACKGROUND: expected one of {sorted(BACKGROUNDS)}, "
                f"got {background!r}"
            )
        super().__init__(transform=transform, seed=seed)
        self.num_samples = int(num_samples)
        self.data_split = data_split
        self.raw_size = (int(raw_size[0]), int(raw_size[1]))
        self.occluders = bool(occluders)
        self.background = background
        self.view_tilt_max = float(view_tilt_max)
        self.inplane_rotation_max = float(inplane_rotation_max)
        self.random_rotation_prob = float(random_rotation_prob)
        self.articulation_scale = float(articulation_scale)
        self.left_prob = float(left_prob)
        self.mano_root = mano_root
        self.allow_synthetic_mano = bool(allow_synthetic_mano)
        self._models: dict[str, _HandModel] = {}
        self._check_hand_model()

    def _check_hand_model(self) -> None:
        """Fail at construction (not in a worker) when no hand model can be loaded."""
        from handmesh.mano.loader import load_mano_model

        sides = ["right"] + (["left"] if self.left_prob > 0 else [])
        for side in sides:
            try:
                load_mano_model(self.mano_root, side, allow_synthetic=self.allow_synthetic_mano)
            except FileNotFoundError as error:
                raise DataNotFoundError(
                    f"SyntheticHands needs a {side} hand model: {error} (or set "
                    "DATA_PRESET.ALLOW_SYNTHETIC_MANO: True to use the built-in synthetic hand)"
                ) from None

    CONFIG_KEYS = CONFIG_KEYS

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], *, data_preset: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """From a ``DATASET.*`` node and DATA_PRESET (transform settings, MANO_ROOT,
        ALLOW_SYNTHETIC_MANO)."""
        if str(cfg.get("DATA_MODE", "3D")) != "3D":
            raise ArgumentError(
                f"SyntheticHands supports DATA_MODE '3D' only, got {cfg['DATA_MODE']!r}"
            )
        preset = data_preset or {}
        split = cfg_str(cfg, "DATA_SPLIT", "train")
        transform = cls.transform_from_preset(
            preset, split, aug=cfg_bool(cfg, "AUG", False), aug_param=cfg.get("AUG_PARAM")
        )
        return {
            "num_samples": cfg_int(cfg, "NUM_SAMPLES", 1000),
            "data_split": split,
            "seed": cfg_int(cfg, "SEED", 0),
            "raw_size": cfg_ints(cfg, "RAW_SIZE", (640, 480), length=2),
            "occluders": cfg_bool(cfg, "OCCLUDERS", True),
            "background": cfg_str(cfg, "BACKGROUND", "random"),
            "view_tilt_max": cfg_float(cfg, "VIEW_TILT_MAX", 0.95),
            "inplane_rotation_max": cfg_float(cfg, "INPLANE_ROTATION_MAX", np.pi),
            "random_rotation_prob": cfg_float(cfg, "RANDOM_ROTATION_PROB", 0.2),
            "articulation_scale": cfg_float(cfg, "ARTICULATION_SCALE", 1.0),
            "left_prob": cfg_float(cfg, "LEFT_PROB", 0.0),
            "mano_root": preset.get("MANO_ROOT") or None,
            "allow_synthetic_mano": bool(preset.get("ALLOW_SYNTHETIC_MANO", True)),
            "transform": transform,
        }

    def __len__(self) -> int:
        return self.num_samples

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_models"] = {}  # each worker builds its own layers
        return state

    def hand_model(self, side: str) -> _HandModel:
        """The MANO layer of ``side``, built on first use in this process."""
        if side not in self._models:
            in_worker = torch.utils.data.get_worker_info() is not None
            if in_worker:
                torch.set_num_threads(1)  # one thread per DataLoader worker
                cv2.setNumThreads(1)
            model = _HandModel(side, self.mano_root, self.allow_synthetic_mano)
            if model.is_synthetic and not in_worker:  # said once, not by every worker
                logger.info(
                    "SyntheticHands: using the built-in SYNTHETIC %s hand model (MANO files not "
                    "found); results are not comparable with real MANO",
                    side,
                )
            self._models[side] = model
        return self._models[side]

    def content_rng(self, idx: int) -> np.random.Generator:
        """The generator of sample ``idx``'s content (pose, camera, scene)."""
        entropy = [self.seed, SPLIT_SALT[self.data_split], int(idx), CONTENT_TAG]
        return np.random.default_rng(np.random.SeedSequence(entropy))

    def get_raw(self, idx: int) -> dict[str, Any]:
        """RawSample ``idx`` (keys.py RAW_KEYS)."""
        return self.render_sample(idx)[0]

    def render_sample(self, idx: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """RawSample ``idx`` and render details.

        Returns:
            raw: the RawSample.
            info: ``hand_mask`` (H, W) bool silhouette of the rendered hand (before occluders),
            ``occluder_mask`` (H, W) bool, ``timings`` seconds spent in ``mano``, ``render``
            (rasterize + shade + composite) and ``scene`` (background, occluders).
        """
        idx = self._check_index(int(idx))
        rng = self.content_rng(idx)
        side = "left" if rng.random() < self.left_prob else "right"
        model = self.hand_model(side)
        timings: dict[str, float] = {}

        start = time.perf_counter()
        pose, betas = self._sample_pose(rng, model)
        verts, joints = model(pose, betas)
        timings["mano"] = time.perf_counter() - start

        cam_intr, offset = self._place_hand(rng, verts, joints)
        verts, joints = verts + offset, joints + offset

        start = time.perf_counter()
        image = BACKGROUNDS[self.background](rng, self.raw_size)
        timings["scene"] = time.perf_counter() - start

        start = time.perf_counter()
        hand_mask, hand_box = self._render_onto(rng, image, verts, model.faces, cam_intr)
        timings["render"] = time.perf_counter() - start

        start = time.perf_counter()
        occluder_mask = np.zeros_like(hand_mask)
        if self.occluders and rng.random() < OCCLUDER_PROB and hand_box is not None:
            occluder_mask = draw_occluders(rng, image, hand_box)
        timings["scene"] += time.perf_counter() - start

        raw = {
            "image": image,
            "cam_intr": cam_intr,
            "joints_3d": joints.astype(np.float32),
            "verts_3d": verts.astype(np.float32),
            "joints_2d": project(joints, cam_intr),
            "mano_pose": pose,
            "mano_shape": betas,
            "side": side,
            "image_path": f"synthetic://{self.data_split}/{self.seed}/{idx}",
            "sample_idx": idx,
        }
        info = {"hand_mask": hand_mask, "occluder_mask": occluder_mask, "timings": timings}
        return raw, info

    def _sample_pose(
        self, rng: np.random.Generator, model: _HandModel
    ) -> tuple[np.ndarray, np.ndarray]:
        """(48,) MANO pose (flat_hand_mean=False offsets) and (10,) betas, float32."""
        articulation = sample_articulation(rng, model.axes, self.articulation_scale)
        articulation[0] = sample_global_rotation(
            rng,
            model.axes,
            view_tilt_max=self.view_tilt_max,
            random_rotation_prob=self.random_rotation_prob,
            inplane_rotation_max=self.inplane_rotation_max,
        )
        pose = articulation.reshape(-1).copy()
        pose[3:] -= model.hands_mean
        betas = np.clip(rng.standard_normal(10), -BETA_CLIP, BETA_CLIP).astype(np.float32)
        return pose.astype(np.float32), betas

    def _place_hand(
        self, rng: np.random.Generator, verts: np.ndarray, joints: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Camera intrinsics (3, 3) and the (3,) offset moving the MANO-frame hand into the camera.

        The middle knuckle goes to a depth in DEPTH_RANGE_M and to a pixel where the hand stays
        (mostly) inside the image; the focal length is lowered where the hand would not fit.
        """
        width, height = self.raw_size
        cam_intr = sample_intrinsics(rng, self.raw_size)
        root = joints[9]
        radius = float(np.linalg.norm(verts - root, axis=1).max())
        depth = rng.uniform(*DEPTH_RANGE_M)
        max_focal = MAX_HAND_RADIUS_SHARE * min(width, height) * depth / radius
        focal = min(float(cam_intr[0, 0]), max_focal)
        cam_intr[0, 0] = cam_intr[1, 1] = focal
        radius_px = 0.8 * focal * radius / depth
        u = rng.uniform(min(radius_px, width / 2), max(width - radius_px, width / 2))
        v = rng.uniform(min(radius_px, height / 2), max(height - radius_px, height / 2))
        root_cam = depth * np.array(
            [(u - cam_intr[0, 2]) / focal, (v - cam_intr[1, 2]) / focal, 1.0], dtype=np.float32
        )
        return cam_intr, (root_cam - root).astype(np.float32)

    def _render_onto(
        self,
        rng: np.random.Generator,
        image: np.ndarray,
        verts: np.ndarray,
        faces: torch.Tensor,
        cam_intr: np.ndarray,
    ) -> tuple[np.ndarray, tuple[float, float, float, float] | None]:
        """Render the hand over its bounding region and composite it on ``image`` in place.

        Regions longer than MAX_RENDER_SIDE pixels are rendered at that size and upsampled
        (bilinear, premultiplied alpha), which keeps the rasterizer's cost bounded.

        Returns the (H, W) bool hand silhouette and the hand box (x0, y0, x1, y1) in pixels (None
        if the hand is outside the image).
        """
        height, width = image.shape[:2]
        hand_mask = np.zeros((height, width), dtype=bool)
        skin = sample_skin_colour(rng)
        shading = rng.normal(1.0, 0.04, size=(len(verts), 1)).astype(np.float32)
        vert_colors = np.clip(skin[None] * shading, 0.0, 1.0)
        light_dir = sample_light_dir(rng)
        points = project(verts, cam_intr)
        x0, y0 = np.floor(points.min(0)).astype(int) - RENDER_MARGIN_PX
        x1, y1 = np.ceil(points.max(0)).astype(int) + RENDER_MARGIN_PX + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x1 <= x0 or y1 <= y0:
            return hand_mask, None
        region_size = (x1 - x0, y1 - y0)
        premultiplied, alpha = _render_region(
            verts, faces, cam_intr, (x0, y0), region_size, vert_colors, light_dir
        )
        region = image[y0:y1, x0:x1]
        blended = premultiplied * 255.0 + (1.0 - alpha[..., None]) * region
        region[:] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        hand_mask[y0:y1, x0:x1] = alpha > 0.5
        return hand_mask, (float(x0), float(y0), float(x1), float(y1))


def _render_region(
    verts: np.ndarray,
    faces: torch.Tensor,
    cam_intr: np.ndarray,
    origin: tuple[int, int],
    region_size: tuple[int, int],
    vert_colors: np.ndarray,
    light_dir: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Render the image region at ``origin`` (x0, y0) of ``region_size`` (w, h) pixels.

    Returns (h, w, 3) float32 premultiplied RGB in [0, 1] and (h, w) float32 coverage alpha.
    """
    from handmesh.render import render_mesh

    region_w, region_h = region_size
    zoom = min(1.0, MAX_RENDER_SIDE / max(region_w, region_h))
    render_w, render_h = max(1, round(region_w * zoom)), max(1, round(region_h * zoom))
    sx, sy = render_w / region_w, render_h / region_h
    # pixel centres as cv2.resize aligns them: render_x = sx * (x - x0 + 0.5) - 0.5
    render_intr = cam_intr.astype(np.float32).copy()
    render_intr[0] *= sx
    render_intr[1] *= sy
    render_intr[0, 2] = sx * (cam_intr[0, 2] - origin[0] + 0.5) - 0.5
    render_intr[1, 2] = sy * (cam_intr[1, 2] - origin[1] + 0.5) - 0.5
    with torch.no_grad():
        out = render_mesh(
            torch.from_numpy(verts)[None],
            faces,
            torch.from_numpy(render_intr)[None],
            (render_h, render_w),
            vert_colors=torch.from_numpy(vert_colors)[None],
            light_dir=torch.from_numpy(light_dir),
        )
    rgb = out["rgb"][0].numpy()
    alpha: np.ndarray = out["mask"][0].numpy().astype(np.float32)
    if (render_w, render_h) != (region_w, region_h):
        rgb = cv2.resize(rgb, (region_w, region_h), interpolation=cv2.INTER_LINEAR)
        alpha = cv2.resize(alpha, (region_w, region_h), interpolation=cv2.INTER_LINEAR)
    return rgb, alpha


def _check_range(key: str, value: float, low: float, high: float) -> None:
    if not low <= float(value) <= high:
        raise ArgumentError(f"SyntheticHands {key} must be in [{low:g}, {high:g}], got {value}")
