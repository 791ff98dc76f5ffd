"""The HandTailor fit as a test-time ``POSTPROCESS`` step, and the fitted-joint MPJPE metric.

Config (``TEST.POSTPROCESS``)::

    - TYPE: HandTailorFit
      IKNET: assets/postprocess/iknet.pt   # default: where the original looks
      REG_TARGET: batch                    # the original; "sample": per-sample regulariser (fix)
      ADAM_STEP_QUIRK: true                # the original; false: textbook Adam
      OPTIMIZE_BONE: true                  # the original; false: bone kept at the input's
      STEPS: 20

The step fits MANO to ``preds["joints_3d"]`` and adds ``verts_3d`` (the fitted mesh) and
``fitted_joints_3d``; ``joints_3d`` stays the model's own, so MPJPE / PA-MPJPE / PCK-AUC measure
the model, as OakInk-HMR reports them (it discards the fitted joints); ``fitted_mpjpe`` measures the
fitted joints. Predictions that already hold ``verts_3d`` (mesh models) pass through unchanged.

With ``REG_TARGET: batch`` the result of a sample depends on its evaluation batch (the original's
regulariser); the engine's evaluation batches are the single-process batches on any number of
processes, so the numbers do not depend on the process count. The fit's gradients are written by
hand, so it needs no autograd and runs the same inside or outside ``torch.no_grad()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handmesh.errors import ArgumentError
from handmesh.iknet.fitter import REG_TARGETS, HandTailorFitter
from handmesh.iknet.weights import load_iknet
from handmesh.mano.layer import MANO
from handmesh.mano.loader import load_mano_from_preset
from handmesh.metrics.hand_metrics import MPJPE
from handmesh.postprocess import PostprocessStep
from handmesh.registry import METRICS, POSTPROCESS

__all__ = ["FITTED_JOINTS_KEY", "FittedMPJPE", "HandTailorFit"]

FITTED_JOINTS_KEY = "fitted_joints_3d"


@POSTPROCESS.register()
class HandTailorFit(PostprocessStep):
    """IKNet + HandTailor fit of the predicted joints (see the module docstring).

    Args:
        fitter: the fitter to run.
    """

    CONFIG_KEYS = ("IKNET", "REG_TARGET", "ADAM_STEP_QUIRK", "OPTIMIZE_BONE", "STEPS")

    def __init__(self, fitter: HandTailorFitter) -> None:
        super().__init__()
        if not isinstance(fitter, HandTailorFitter):
            raise ArgumentError(f"fitter must be a HandTailorFitter, got {type(fitter).__name__}")
        self.fitter = fitter

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, data_preset: Any) -> dict[str, Any]:
        """Reads the IKNet weights (``IKNET``) and the MANO model of ``data_preset``."""
        reg_target = str(cfg.get("REG_TARGET", "batch"))
        if reg_target not in REG_TARGETS:
            raise ArgumentError(f"REG_TARGET must be 'batch' or 'sample', got {reg_target!r}")
        mano = MANO(
            side="right", flat_hand_mean=True, model=load_mano_from_preset(data_preset, "right")
        )
        fitter = HandTailorFitter(
            load_iknet(cfg.get("IKNET") or None),
            mano=mano,
            reg_target=reg_target,  # type: ignore[arg-type]
            steps=int(cfg.get("STEPS", 20)),
            adam_step_quirk=bool(cfg.get("ADAM_STEP_QUIRK", True)),
            optimize_bone=bool(cfg.get("OPTIMIZE_BONE", True)),
        )
        return {"fitter": fitter}

    def forward(self, preds: dict[str, Any], batch: Mapping[str, Any]) -> dict[str, Any]:
        if "verts_3d" in preds:
            return preds
        joints = preds["joints_3d"]
        fitted = self.fitter(joints.detach())
        return {
            **preds,
            "verts_3d": fitted["verts_3d"],
            FITTED_JOINTS_KEY: fitted["joints_3d"],
        }


@METRICS.register("fitted_mpjpe")
class FittedMPJPE(MPJPE):
    """MPJPE (mm) of the HandTailor-fitted joints, ``preds["fitted_joints_3d"]``."""

    name = "fitted_mpjpe"
    pred_key = FITTED_JOINTS_KEY
