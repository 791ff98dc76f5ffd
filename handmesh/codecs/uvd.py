"""``UVDCodec``: OakInk-HMR's normalised (u, v, d) joint encoding, in one object.

::

    u = x_crop_px / W,   v = y_crop_px / H,   d = 0.5 + (z - z_root) / depth_range

with (W, H) the crop size, ``z_root`` the camera depth of joint ``center_idx`` and
``depth_range`` = 0.4 m in every published model (+-0.2 m around the root maps to d in [0, 1]).
Decoding uses the crop intrinsics and the *ground-truth* root depth, exactly as OakInk-HMR
evaluates. Heatmap heads read bin coordinates from the same object: bin ``i`` of ``N`` sits at
``(i + bin_offset) / N`` (OakInk's IntegralPose: offset 0, half a bin short of the centre; 0.5 is
the unbiased centre).

The transforms build the codec from ``DATA_PRESET`` to make ``target_*_uvd``; models build it from
the same ``DATA_PRESET`` (plus their head's bin offset) to decode, so changing
``DATA_PRESET.UVD_DEPTH_RANGE`` changes both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from handmesh.errors import ArgumentError
from handmesh.geometry.camera import UVD_DEPTH_RANGE, uvd_to_xyz, xyz_to_uvd

__all__ = ["UVD_DEPTH_RANGE", "UVDCodec"]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class UVDCodec:
    """Normalised uvd <-> crop pixels / camera metres (see the module docstring).

    Args:
        image_size: (W, H) of the crop, pixels.
        depth_range: metres spanned by d in [0, 1].
        center_idx: the root joint (canonical order) whose depth anchors d.
        bin_offset: position of bin ``i`` of ``N`` is ``(i + bin_offset) / N``.
    """

    image_size: tuple[int, int] = (224, 224)
    depth_range: float = UVD_DEPTH_RANGE
    center_idx: int = 9
    bin_offset: float = 0.0

    def __post_init__(self) -> None:
        size = tuple(int(s) for s in self.image_size)
        if len(size) != 2 or min(size) <= 0:
            raise ArgumentError(f"UVDCodec image_size must be (W, H) > 0, got {self.image_size}")
        if not float(self.depth_range) > 0:
            raise ArgumentError(f"UVDCodec depth_range must be > 0 metres, got {self.depth_range}")
        if not 0 <= int(self.center_idx) < 21:
            raise ArgumentError(
                f"UVDCodec center_idx must be a joint index in 0..20, got {self.center_idx}"
            )
        object.__setattr__(self, "image_size", size)
        object.__setattr__(self, "depth_range", float(self.depth_range))
        object.__setattr__(self, "center_idx", int(self.center_idx))
        object.__setattr__(self, "bin_offset", float(self.bin_offset))

    @classmethod
    def from_preset(
        cls, data_preset: Mapping[str, Any] | None, bin_offset: float = 0.0
    ) -> UVDCodec:
        """From ``DATA_PRESET`` (IMAGE_SIZE, UVD_DEPTH_RANGE, CENTER_IDX); missing keys take the
        OakInk defaults."""
        preset = data_preset or {}
        return cls(
            image_size=tuple(preset.get("IMAGE_SIZE", (224, 224))),
            depth_range=float(preset.get("UVD_DEPTH_RANGE", UVD_DEPTH_RANGE)),
            center_idx=int(preset.get("CENTER_IDX", 9)),
            bin_offset=bin_offset,
        )

    # ----- targets (numpy, one sample) -----

    def encode(self, points_2d: np.ndarray, depth: np.ndarray, root_depth: float) -> np.ndarray:
        """(N, 2) crop pixels and (N,) camera depths z (m) -> (N, 3) float32 normalised uvd."""
        uv = np.asarray(points_2d, dtype=np.float64) / np.asarray(self.image_size, np.float64)
        d = 0.5 + (np.asarray(depth, dtype=np.float64) - float(root_depth)) / self.depth_range
        return np.concatenate([uv, d[:, None]], axis=1).astype(np.float32)

    # ----- batched (numpy or torch) -----

    def encode_xyz(self, xyz: ArrayT, root_joint: Any, cam_intr: Any) -> ArrayT:
        """(..., N, 3) camera metres -> (..., N, 3) uvd, projecting with the crop intrinsics
        ``cam_intr`` (..., 3, 3); ``root_joint`` (..., 3) metres (only its z is used)."""
        return xyz_to_uvd(xyz, root_joint, cam_intr, self.image_size, self.depth_range)

    def decode(self, uvd: ArrayT, root_joint: Any, cam_intr: Any) -> ArrayT:
        """(..., N, 3) uvd -> (..., N, 3) camera metres with the root depth of ``root_joint``
        (..., 3) and the crop intrinsics ``cam_intr`` (..., 3, 3); inverse of ``encode_xyz``."""
        return uvd_to_xyz(uvd, root_joint, cam_intr, self.image_size, self.depth_range)

    def decode_2d(self, uvd: torch.Tensor) -> torch.Tensor:
        """(..., N, 3) uvd -> (..., N, 2) crop pixels."""
        size = torch.tensor(self.image_size, dtype=uvd.dtype, device=uvd.device)
        return uvd[..., :2] * size

    def recentre_depth(self, uvd: torch.Tensor) -> torch.Tensor:
        """d <- d - d[center_idx] + 0.5 (the root at exactly the given root depth); a new tensor."""
        root_d = uvd[..., self.center_idx : self.center_idx + 1, 2:3]
        return torch.cat([uvd[..., :2], uvd[..., 2:3] - root_d + 0.5], dim=-1)

    def bin_coords(
        self, size: int, dtype: torch.dtype = torch.float32, device: torch.device | None = None
    ) -> torch.Tensor:
        """(size,) normalised coordinates of the bins of one heatmap axis."""
        return (torch.arange(size, dtype=dtype, device=device) + self.bin_offset) / size
