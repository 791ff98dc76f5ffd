"""Config-driven evaluation: metric selection, dataset protocols (exporters), test-time
postprocess steps (with gradients), evaluation batches that do not depend on the process count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from handmesh.config import load_config
from handmesh.engine.build import ShardedBatchSampler, build_eval_loader, build_evaluator
from handmesh.engine.dist import DistContext
from handmesh.engine.evaluation import evaluate
from handmesh.errors import ConfigKeyError
from handmesh.metrics import EvalProtocol, Exporter, select_metrics
from handmesh.models import IntegralPose
from handmesh.postprocess import PostprocessStep, build_postprocess
from handmesh.registry import POSTPROCESS

PUBLISHED = Path(__file__).resolve().parents[2] / "config" / "oii"


def _names(metrics: list) -> list[str]:
    return [m.name for m in metrics]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("integral_pose", ["mpjpe"]),  # LossMetric, Integal_Pose_Vis_Metric, MeanEPE
        ("res_loglike", ["mpjpe", "pa_mpjpe"]),  # + PAEval(MESH_SCORE False), RLE_Vis_Metric
        ("i2l_meshnet", ["mpjpe", "mpvpe", "pa_mpjpe"]),  # MeanEPE, MeanEPE2(verts), PAEval
    ],
)
@pytest.mark.parametrize("split", ["sp0", "sp1", "sp2"])
def test_published_metric_lists_select_exactly_what_they_name(
    model: str, expected: list[str], split: str
) -> None:
    cfg = load_config(PUBLISHED / f"train_{model}_oii_{split}.yml")
    metrics, source = select_metrics(cfg, IntegralPose.DEFAULT_METRICS)
    assert (_names(metrics), source) == (expected, "MODEL.METRIC")


def test_sources_in_order_test_metric_model_metric_dataset_model_default() -> None:
    cfg: dict[str, Any] = {"MODEL": {}, "TEST": {"METRIC": []}, "TRAIN": {"METRIC": []}}
    defaults = ("mpjpe", "pa_mpjpe", "pck_auc")
    assert _names(select_metrics(cfg, defaults)[0]) == list(defaults)
    assert select_metrics(cfg, defaults, ["mpvpe"])[1] == "the test dataset's protocol"
    cfg["MODEL"]["METRIC"] = [{"TYPE": "LossMetric"}]  # selects nothing: falls through
    assert select_metrics(cfg, defaults)[1] == "the model's defaults"
    cfg["MODEL"]["METRIC"] = ["pa_mpvpe"]
    assert _names(select_metrics(cfg, defaults, ["mpvpe"])[0]) == ["pa_mpvpe"]
    cfg["TEST"]["METRIC"] = [{"TYPE": "pck_auc", "VAL_MAX": 0.03}]
    assert select_metrics(cfg, defaults)[1] == "TEST.METRIC"
    assert _names(select_metrics(cfg, defaults, train=True)[0]) == list(defaults)
    cfg["TRAIN"]["METRIC"] = ["mpvpe"]
    assert select_metrics(cfg, defaults, train=True)[1] == "TRAIN.METRIC"


def test_a_bogus_metric_fails_when_the_evaluator_is_built() -> None:
    cfg = {"MODEL": {"METRIC": ["mpjpe", {"TYPE": "Bogus"}]}, "TEST": {}}
    with pytest.raises(ConfigKeyError, match=r"MODEL\.METRIC\[1\]\.TYPE: unknown metric 'Bogus'"):
        build_evaluator(cfg, IntegralPose(backbone=nn.Identity()))


# ----- a tiny dataset of joints, a model that predicts them with an offset -----


class JointsDataset(Dataset):
    """Sample i: target_joints_3d = i-dependent joints; no image needed by OffsetModel."""

    def __init__(self, size: int, protocol: EvalProtocol | None = None) -> None:
        self.size = size
        self.protocol = protocol

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, idx: int) -> dict[str, Any]:
        joints = torch.arange(63, dtype=torch.float32).view(21, 3) * 0.001 + idx * 0.01
        return {"target_joints_3d": joints, "sample_idx": idx}

    def eval_protocol(self) -> EvalProtocol:
        return self.protocol or EvalProtocol()


class OffsetModel(nn.Module):
    DEFAULT_METRICS = ("mpjpe",)

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        assert not torch.is_grad_enabled()  # the model runs under no_grad
        return {"joints_3d": batch["target_joints_3d"] + 0.004}  # 4 mm off along every axis


class CopyExporter(Exporter):
    name = "copy"

    def records(self, preds: Any, batch: Any) -> dict[str, np.ndarray]:
        return {"joints": preds["joints_3d"].detach().numpy()}

    def export(self, sample_idx: np.ndarray, records: Any, out_dir: Path) -> dict[str, str]:
        path = out_dir / "joints.npy"
        np.save(
            path, np.stack([sample_idx.astype(np.float32)[:, None, None] * 0 + records["joints"]])
        )
        np.save(out_dir / "order.npy", sample_idx)
        return {"copy": str(path)}


@POSTPROCESS.register()
class GradientShift(PostprocessStep):
    """Test step: moves joints_3d halfway to the target with one gradient step (needs grads)."""

    CONFIG_KEYS = ("STEP",)
    grad_mode_seen: list[bool] = []

    def __init__(self, step: float = 0.25) -> None:
        super().__init__()
        self.step = step

    def forward(self, preds: dict[str, Any], batch: Any) -> dict[str, Any]:
        self.grad_mode_seen.append(torch.is_grad_enabled())
        with torch.enable_grad():  # a step that optimises says so (the caller may be in no_grad)
            joints = preds["joints_3d"].detach().clone().requires_grad_(True)
            loss = ((joints - batch["target_joints_3d"]) ** 2).sum()
            (grad,) = torch.autograd.grad(loss, joints)
        return {**preds, "joints_3d": joints.detach() - self.step * grad}

    @classmethod
    def from_config(cls, cfg: Any, *, data_preset: Any) -> dict[str, Any]:
        return {"step": float(cfg.get("STEP", 0.25))}


def test_postprocess_runs_with_gradients_and_changes_the_metrics() -> None:
    dataset = JointsDataset(5)
    ctx = DistContext()
    loader = build_eval_loader(dataset, ctx, batch_size=2, workers=0, seed=0)
    evaluator = build_evaluator({"MODEL": {}, "TEST": {}}, OffsetModel(), dataset)
    plain = evaluate(OffsetModel(), loader, ctx, evaluator)
    assert plain["mpjpe"] == pytest.approx(4.0 * 3**0.5, rel=1e-5)  # |(4, 4, 4)| mm
    steps = build_postprocess([{"TYPE": "GradientShift", "STEP": 0.25}], None)
    GradientShift.grad_mode_seen.clear()
    shifted = evaluate(OffsetModel(), loader, ctx, evaluator, steps)
    assert shifted["mpjpe"] == pytest.approx(2.0 * 3**0.5, rel=1e-4)  # x - 0.25 * 2 (x - t)
    assert shifted["num_samples"] == 5
    assert GradientShift.grad_mode_seen == [True, True, True]  # evaluate did not force no_grad
    with torch.no_grad():  # a caller's no_grad: the step enables what it needs itself
        again = evaluate(OffsetModel(), loader, ctx, evaluator, steps)
    assert again["mpjpe"] == pytest.approx(shifted["mpjpe"])


def test_dataset_protocol_exporters_see_every_sample_once_in_order(tmp_path: Path) -> None:
    dataset = JointsDataset(
        7, EvalProtocol(metrics=["mpjpe", "pa_mpjpe"], exporters=[CopyExporter()])
    )
    ctx = DistContext()
    evaluator = build_evaluator({"MODEL": {}, "TEST": {}}, OffsetModel(), dataset)
    assert _names(evaluator.metrics) == ["mpjpe", "pa_mpjpe"]  # the dataset's metric set
    results = evaluate(OffsetModel(), build_eval_loader(dataset, ctx, 3, 0, 0), ctx, evaluator)
    assert results["pa_mpjpe"] == pytest.approx(0.0, abs=1e-4)  # a pure translation (mm)
    written = evaluator.export(tmp_path)
    assert written == {"copy": str(tmp_path / "joints.npy")}
    assert np.load(tmp_path / "order.npy").tolist() == list(range(7))
    expected = np.stack([dataset[i]["target_joints_3d"].numpy() + 0.004 for i in range(7)])
    np.testing.assert_allclose(np.load(tmp_path / "joints.npy")[0], expected, atol=1e-7)


@pytest.mark.parametrize(
    ("size", "batch", "world"), [(10, 3, 1), (10, 3, 2), (10, 3, 4), (3, 4, 2)]
)
def test_sharded_eval_batches_are_the_single_process_batches(
    size: int, batch: int, world: int
) -> None:
    single = list(ShardedBatchSampler(size, batch, 0, 1))
    assert single == [list(range(s, min(s + batch, size))) for s in range(0, size, batch)]
    per_rank = [list(ShardedBatchSampler(size, batch, r, world)) for r in range(world)]
    dealt = [per_rank[b % world][b // world] for b in range(len(single))]
    assert dealt == single  # same batches, same composition, every sample exactly once
    assert sum(len(list(ShardedBatchSampler(size, batch, r, world))) for r in range(world)) == len(
        single
    )
