"""Dataset exporters of camera-frame predictions (``handmesh.metrics.protocol.Exporter``).

Both record ``preds["joints_3d"]`` (B, 21, 3) and ``preds["verts_3d"]`` (B, 778, 3), metres, in
the camera frame of the raw image: left hands, which the model saw mirrored, are mirrored back
with ``handmesh.data.transforms.mirror_predictions`` (``batch["side"]``). The Evaluator gathers
the records of every process, keeps each sample once and sorts them by ``sample_idx``, so the
files list every sample of the dataset in its order, on any number of processes; an export that
did not see the whole dataset is refused (the server needs every sample).

* :class:`PredictionExporter` -> ``predictions.npz`` (``sample_idx``, ``image_id``,
  ``joints_3d``, ``verts_3d`` when the model has a mesh).
* :class:`HO3DSubmissionExporter` -> ``pred.zip``, the HO-3D CodaLab submission
  (``handmesh.io.write_ho3d_submission``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sized
from pathlib import Path
from typing import Any

import numpy as np

from handmesh.data.transforms import mirror_predictions
from handmesh.errors import ArgumentError
from handmesh.io.atomic import atomic_write
from handmesh.io.ho3d_submission import write_ho3d_submission
from handmesh.metrics.protocol import Exporter

__all__ = ["HO3DSubmissionExporter", "PredictionExporter"]


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().double().numpy() if hasattr(value, "detach") else np.asarray(value)


class _CameraPredictions(Exporter):
    """Records the camera-frame joints (and vertices), each hand on its own side."""

    needs_verts = False

    def __init__(self, dataset: Sized) -> None:
        self.dataset = dataset

    def records(self, preds: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        keys = ("joints_3d", "verts_3d") if self.needs_verts else ("joints_3d",)
        missing = [k for k in keys if k not in preds]
        if missing:
            raise KeyError(
                f"exporter {self.name!r} needs preds {missing} (camera metres; the model places "
                "them when the batch has target_root_joint)"
            )
        sides = batch.get("side", ["right"] * len(preds["joints_3d"]))
        kept = {k: preds[k] for k in ("joints_3d", "verts_3d") if k in preds}
        mirrored = mirror_predictions(kept, [side == "left" for side in sides])
        return {key: _numpy(value) for key, value in mirrored.items()}

    def _check_complete(self, sample_idx: np.ndarray) -> None:
        count = len(self.dataset)
        if not np.array_equal(sample_idx, np.arange(count)):
            raise ArgumentError(
                f"exporter {self.name!r}: the evaluation saw {len(sample_idx)} of the dataset's "
                f"{count} samples; the export needs every sample once, in dataset order"
            )


class PredictionExporter(_CameraPredictions):
    """``predictions.npz``: every sample's camera-frame prediction, in dataset order."""

    name = "predictions"

    def export(
        self, sample_idx: np.ndarray, records: Mapping[str, np.ndarray], out_dir: Path
    ) -> dict[str, str]:
        self._check_complete(sample_idx)
        arrays = {"sample_idx": sample_idx, **{k: v.astype(np.float32) for k, v in records.items()}}
        image_ids = getattr(self.dataset, "image_ids", None)
        if image_ids is not None:
            arrays["image_id"] = np.asarray(image_ids)[sample_idx]
        path = Path(out_dir) / "predictions.npz"

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)  # type: ignore[arg-type]

        atomic_write(path, write)
        return {self.name: str(path)}


class HO3DSubmissionExporter(_CameraPredictions):
    """``pred.zip`` for the HO-3D CodaLab server (the original's ``print_eval_result``)."""

    name = "ho3d_submission"
    needs_verts = True

    def export(
        self, sample_idx: np.ndarray, records: Mapping[str, np.ndarray], out_dir: Path
    ) -> dict[str, str]:
        self._check_complete(sample_idx)
        path = write_ho3d_submission(
            Path(out_dir) / "pred.zip",
            records["joints_3d"],
            records["verts_3d"],
            num_samples=len(self.dataset),
        )
        print(f"HO-3D submission ({len(sample_idx)} samples): {path}")
        return {self.name: str(path)}
