"""Compare handmesh's ``ManoLayer`` with hassony2/manopth over a grid of settings.

Usage (from the repository root, with manopth importable, e.g. ``PYTHONPATH=/path/to/manopth``)::

    python -m dev.compare_manopth --mano-root assets/mano_v1_2/models
    python -m dev.compare_manopth --synthetic          # the built-in synthetic hand model

manopth's own loader needs chumpy; this script replaces its ``ready_arguments`` by handmesh's safe
loader (same arrays), so chumpy is not needed. Without CUDA, manopth's ``rotmat`` mode (which calls
``.cuda()`` unconditionally) runs with ``Tensor.cuda`` made a no-op. Prints the max absolute
difference in millimetres (verts and joints) per setting; exits 1 if one exceeds ``--tolerance``
in float64, 0 when manopth is not importable.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from handmesh.mano import ManoLayer, load_mano_model


class _ChumpyLike:
    """What manopth reads from chumpy arrays: the ``.r`` attribute."""

    def __init__(self, array: np.ndarray) -> None:
        self.r = array


def _ready_arguments_from_handmesh(use_synthetic: bool) -> Any:
    def ready_arguments(path: str) -> dict[str, Any]:
        side = "left" if os.path.basename(path) == "MANO_LEFT.pkl" else "right"
        model = load_mano_model(path, side, allow_synthetic=use_synthetic)
        return {
            "hands_components": np.array(model.hands_components),
            "hands_mean": np.array(model.hands_mean),
            "betas": _ChumpyLike(np.zeros(model.shapedirs.shape[-1])),
            "shapedirs": _ChumpyLike(np.array(model.shapedirs)),
            "posedirs": _ChumpyLike(np.array(model.posedirs)),
            "v_template": _ChumpyLike(np.array(model.v_template)),
            "J_regressor": _DenseAsSparse(model.J_regressor),
            "weights": _ChumpyLike(np.array(model.weights)),
            "f": np.array(model.faces),
            "kintree_table": np.array(model.kintree_table),
        }

    return ready_arguments


class _DenseAsSparse:
    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def toarray(self) -> np.ndarray:
        return np.array(self.array)


@contextlib.contextmanager
def _cuda_calls_are_no_ops() -> Iterator[None]:
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.cuda = original  # type: ignore[method-assign]


def _settings() -> Iterator[dict[str, Any]]:
    pose_modes = [
        {"use_pca": True, "ncomps": 6},
        {"use_pca": True, "ncomps": 45},
        {"use_pca": False},
        {"use_pca": False, "joint_rot_mode": "rotmat"},
    ]
    root_modes = [
        {"root_rot_mode": "axisang"},
        {"root_rot_mode": "rot6d"},
        {"root_rot_mode": "rot6d", "robust_rot": True},
    ]
    for side, pose_mode, root_mode, flat, center_idx in itertools.product(
        ("right", "left"), pose_modes, root_modes, (True, False), (None, 9)
    ):
        if pose_mode.get("joint_rot_mode") == "rotmat" and root_mode["root_rot_mode"] != "axisang":
            continue  # the root comes from the rotation matrices in rotmat mode
        yield {
            "side": side,
            "flat_hand_mean": flat,
            "center_idx": center_idx,
            **pose_mode,
            **root_mode,
        }


def _inputs(layer: ManoLayer, batch: int, generator: torch.Generator) -> torch.Tensor:
    if layer.joint_rot_mode == "rotmat" and not layer.use_pca:
        return torch.randn(batch, 16, 3, 3, generator=generator, dtype=torch.float64)
    return 0.7 * torch.randn(
        batch, layer.rot + layer.ncomps, generator=generator, dtype=torch.float64
    )


_CALL_VARIANTS = {
    "betas+trans": {"betas": True, "trans": True},
    "betas, zero trans": {"betas": True, "trans": False},
    "mean shape": {"betas": False, "trans": False},
    "shared betas, palm": {"betas": True, "trans": True, "share_betas": 1, "root_palm": 1},
}


def compare(mano_root: str, use_synthetic: bool, dtype: torch.dtype, batch: int = 4) -> float:
    """Print the max |handmesh - manopth| in mm per setting; return the overall max."""
    import manopth.manolayer as manopth_layer_module

    manopth_layer_module.ready_arguments = _ready_arguments_from_handmesh(use_synthetic)
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for setting in _settings():
        ours = ManoLayer(mano_root=mano_root, allow_synthetic=use_synthetic, **setting).to(dtype)
        theirs = manopth_layer_module.ManoLayer(mano_root=mano_root, **setting).to(dtype)
        pose = _inputs(ours, batch, generator).to(dtype)
        betas = torch.randn(batch, 10, generator=generator, dtype=dtype)
        trans = 0.1 * torch.randn(batch, 3, generator=generator, dtype=dtype)
        for name, variant in _CALL_VARIANTS.items():
            kwargs = {
                "th_betas": betas if variant["betas"] else torch.zeros(1, dtype=dtype),
                "th_trans": trans if variant["trans"] else torch.zeros(1, dtype=dtype),
                "share_betas": torch.Tensor([variant.get("share_betas", 0)]),
                "root_palm": torch.Tensor([variant.get("root_palm", 0)]),
            }
            our_verts, our_joints = ours(pose, **kwargs)
            with (
                _cuda_calls_are_no_ops()
                if not torch.cuda.is_available()
                else contextlib.nullcontext()
            ):
                their_verts, their_joints = theirs(pose, **kwargs)
            error = max(
                (our_verts - their_verts).abs().max().item(),
                (our_joints - their_joints).abs().max().item(),
            )
            worst = max(worst, error)
            label = ", ".join(f"{k}={v}" for k, v in setting.items())
            print(f"{str(dtype):14s} {label:100s} {name:20s} max |diff| = {error:.3e} mm")
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--mano-root", help="folder holding MANO_RIGHT.pkl and MANO_LEFT.pkl")
    source.add_argument("--synthetic", action="store_true", help="use the built-in synthetic hand")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="float64 bar, millimetres")
    args = parser.parse_args()
    try:
        import manopth.manolayer  # noqa: F401
    except ImportError as error:
        print(f"manopth is not importable ({error}); nothing to compare.")
        return 0
    mano_root = args.mano_root or "<synthetic>"
    torch.set_num_threads(1)
    worst64 = compare(mano_root, args.synthetic, torch.float64)
    worst32 = compare(mano_root, args.synthetic, torch.float32)
    print(f"overall max |diff|: float64 {worst64:.3e} mm, float32 {worst32:.3e} mm")
    if worst64 > args.tolerance:
        print(f"FAILED: float64 difference above {args.tolerance} mm")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
