"""Evaluator: accumulation, de-duplication by sample index, config building, messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handmesh.metrics import PCKAUC, Evaluator, FScore
from handmesh.registry import METRICS, ConfigError, ConfigKeyError

ALL_METRICS = ("mpjpe", "pa_mpjpe", "pck_auc", "mpvpe", "pa_mpvpe", "f_score")


def make_dataset(num: int, seed: int = 0, num_verts: int = 30) -> dict[str, torch.Tensor]:
    """Predictions and targets for ``num`` samples (metres); joints and verts perturbed."""
    generator = torch.Generator().manual_seed(seed)
    shift = torch.tensor([0.0, 0.0, 0.5], dtype=torch.float64)
    joints = 0.05 * torch.randn(num, 21, 3, generator=generator, dtype=torch.float64) + shift
    verts = 0.05 * torch.randn(num, num_verts, 3, generator=generator, dtype=torch.float64) + shift
    noise_j = 0.01 * torch.randn(num, 21, 3, generator=generator, dtype=torch.float64)
    noise_v = 0.008 * torch.randn(num, num_verts, 3, generator=generator, dtype=torch.float64)
    visible = (torch.rand(num, 21, generator=generator) > 0.1).float()
    return {
        "joints_3d": (joints + noise_j).float(),
        "verts_3d": (verts + noise_v).float(),
        "target_joints_3d": joints.float(),
        "target_verts_3d": verts.float(),
        "target_joints_vis": visible,
        "sample_idx": torch.arange(num),
    }


def split(data: dict[str, torch.Tensor], index: torch.Tensor) -> tuple[dict, dict]:
    """(preds, batch) for the samples at ``index``."""
    preds = {k: data[k][index] for k in ("joints_3d", "verts_3d")}
    batch = {k: v[index] for k, v in data.items() if k not in preds}
    return preds, batch


def test_result_keys_and_values_by_loop() -> None:
    data = make_dataset(7)
    evaluator = Evaluator(ALL_METRICS)
    evaluator.update(*split(data, torch.arange(7)))
    results = evaluator.compute()
    assert list(results) == [
        "mpjpe",
        "pa_mpjpe",
        "pck_auc",
        "mpvpe",
        "pa_mpvpe",
        "f5",
        "f15",
        "num_samples",
    ]
    assert results["num_samples"] == 7
    pred = data["joints_3d"].double()
    gt = data["target_joints_3d"].double()
    per_sample = [
        sum(float((pred[s, j] - gt[s, j]).norm()) for j in range(21)) / 21 for s in range(7)
    ]
    assert results["mpjpe"] == pytest.approx(1000 * sum(per_sample) / 7, rel=1e-12)
    assert 0 < results["pa_mpjpe"] < results["mpjpe"]
    assert 0 < results["pck_auc"] < 1 and 0 <= results["f5"] <= results["f15"] <= 1


def test_three_batches_equal_one_batch() -> None:
    data = make_dataset(10)
    whole = Evaluator(ALL_METRICS)
    whole.update(*split(data, torch.arange(10)))
    pieces = Evaluator(ALL_METRICS)
    for index in (torch.tensor([7, 8, 9]), torch.tensor([0, 1, 2, 3]), torch.tensor([4, 5, 6])):
        pieces.update(*split(data, index))
    assert pieces.compute() == whole.compute()  # sorted by sample_idx: identical arithmetic


def test_duplicated_samples_are_counted_once() -> None:
    data = make_dataset(5)
    once = Evaluator(ALL_METRICS)
    once.update(*split(data, torch.arange(5)))
    twice = Evaluator(ALL_METRICS)
    twice.update(*split(data, torch.tensor([0, 1, 2])))
    twice.update(*split(data, torch.tensor([3, 4, 0, 1])))  # padded like DistributedSampler
    assert twice.compute() == once.compute()
    assert twice.compute()["num_samples"] == 5


def test_reset_and_defaults() -> None:
    data = make_dataset(4)
    evaluator = Evaluator()
    evaluator.update(*split(data, torch.arange(4)))
    assert set(evaluator.compute()) == {"mpjpe", "pa_mpjpe", "pck_auc", "num_samples"}
    evaluator.reset()
    with pytest.raises(RuntimeError, match="no samples were fed"):
        evaluator.compute()


def test_joints_only_metrics_need_no_verts_and_constant_offset_is_exact() -> None:
    gt = torch.zeros(3, 21, 3, dtype=torch.float64)
    gt[:, :, 0] = torch.linspace(0, 0.1, 21, dtype=torch.float64)
    gt[:, :, 1] = torch.linspace(0, 0.05, 21, dtype=torch.float64) ** 2
    gt[:, :, 2] = 0.5
    evaluator = Evaluator(("mpjpe", "pa_mpjpe", "pck_auc"))
    evaluator.update(
        {"joints_3d": gt + torch.tensor([0.0, 0.0, 0.003], dtype=torch.float64)},
        {"target_joints_3d": gt, "sample_idx": [0, 1, 2]},
    )
    results = evaluator.compute()
    assert results["mpjpe"] == pytest.approx(3.0, rel=1e-9)
    assert results["pa_mpjpe"] == pytest.approx(0.0, abs=1e-5)
    # 3 mm lies between t_1 = 2.63 and t_2 = 5.26 mm: PCK = 0, 0, 1, ..., 1
    assert results["pck_auc"] == pytest.approx(17.5 / 19)


def test_pck_respects_visibility() -> None:
    gt = torch.zeros(2, 21, 3)
    pred = gt.clone()
    pred[:, 5, 0] = 1.0  # joint 5 far off but invisible everywhere
    vis = torch.ones(2, 21)
    vis[:, 5] = 0
    evaluator = Evaluator(("pck_auc", "mpjpe"))
    evaluator.update(
        {"joints_3d": pred},
        {"target_joints_3d": gt, "target_joints_vis": vis, "sample_idx": torch.arange(2)},
    )
    results = evaluator.compute()
    assert results["pck_auc"] == pytest.approx(1.0)
    assert results["mpjpe"] == pytest.approx(1000 / 21, rel=1e-6)  # MPJPE has no mask (OakInk)


def test_custom_metric_instances() -> None:
    data = make_dataset(3)
    evaluator = Evaluator((PCKAUC(val_min=0.0, val_max=0.02, steps=5), FScore(thresholds=(0.01,))))
    evaluator.update(*split(data, torch.arange(3)))
    assert set(evaluator.compute()) == {"pck_auc", "f10", "num_samples"}


def test_summary_is_a_readable_table() -> None:
    data = make_dataset(3)
    evaluator = Evaluator(ALL_METRICS)
    evaluator.update(*split(data, torch.arange(3)))
    results = evaluator.compute()
    text = evaluator.summary(results)
    assert f"{results['mpjpe']:.3f}  mm" in text
    assert f"{results['pck_auc']:.4f}  [0, 1]" in text
    assert "num_samples" in text and "f15" in text


def test_registered_names() -> None:
    assert set(ALL_METRICS) <= set(METRICS.names())


def test_from_config_with_oakink_entries() -> None:
    oakink_list = [
        {"TYPE": "LossMetric", "VIS_LOSS_KEYS": []},
        {
            "TYPE": "MeanEPE",
            "NAME": "joints_3d",
            "PRED_KEY": "joints_3d",
            "GT_KEY": "target_joints_3d",
        },
        {
            "TYPE": "MeanEPE2",
            "NAME": "verts_3d",
            "PRED_KEY": "verts_3d",
            "GT_KEY": "target_verts_3d",
        },
        {
            "TYPE": "Hand3DPCK",
            "EVAL_TYPE": "joints_3d",
            "VAL_MIN": 0.0,
            "VAL_MAX": 0.05,
            "STEPS": 20,
        },
        {"TYPE": "PAEval", "MESH_SCORE": True},
        {"TYPE": "I2L_MeshNet_Vis_Metric"},
    ]
    evaluator = Evaluator.from_config(oakink_list)
    assert [m.name for m in evaluator.metrics] == [
        "mpjpe",
        "mpvpe",
        "pck_auc",
        "pa_mpjpe",
        "pa_mpvpe",
    ]
    ours = Evaluator.from_config(["mpjpe", {"TYPE": "f_score", "THRESHOLDS": [0.005]}])
    assert [m.name for m in ours.metrics] == ["mpjpe", "f_score"]


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigKeyError, match=r"MODEL.METRIC\[0\].TYPE: unknown metric 'MeanEPX'"):
        Evaluator.from_config([{"TYPE": "MeanEPX"}])
    with pytest.raises(ConfigKeyError, match=r"Unknown config key MODEL\.METRIC\[0\]\.VAL_MAXX"):
        Evaluator.from_config([{"TYPE": "pck_auc", "VAL_MAXX": 0.05}])
    with pytest.raises(ConfigKeyError, match="METRICS has no entry 'mpjpee'"):
        Evaluator(("mpjpee",))
    with pytest.raises(ValueError, match="more than once"):
        Evaluator(("mpjpe", "mpjpe"))


def test_update_errors_name_the_missing_key() -> None:
    data = make_dataset(2)
    preds, batch = split(data, torch.arange(2))
    evaluator = Evaluator(ALL_METRICS)
    with pytest.raises(KeyError, match=r"batch\['sample_idx'\]"):
        evaluator.update(preds, {k: v for k, v in batch.items() if k != "sample_idx"})
    with pytest.raises(KeyError, match=r"Metric 'mpvpe' needs preds\['verts_3d'\]"):
        # mpjpe, pa_mpjpe and pck_auc can score this batch before mpvpe fails
        evaluator.update({"joints_3d": preds["joints_3d"] + 1.0}, batch)
    with pytest.raises(
        ValueError, match=r"preds\['joints_3d'\] \(2, 20, 3\) and batch\['target_joints_3d'\]"
    ):
        evaluator.update({**preds, "joints_3d": preds["joints_3d"][:, :20]}, batch)
    # the failed updates recorded nothing: a good batch afterwards is scored alone
    evaluator.update(preds, batch)
    fresh = Evaluator(ALL_METRICS)
    fresh.update(preds, batch)
    assert evaluator.compute() == fresh.compute()


def test_float32_inputs_requiring_grad_are_accepted() -> None:
    data = make_dataset(4)
    preds, batch = split(data, torch.arange(4))
    preds = {k: v.requires_grad_(True) for k, v in preds.items()}
    evaluator = Evaluator(ALL_METRICS)
    evaluator.update(preds, batch)
    assert all(math.isfinite(v) for v in evaluator.compute().values())


def test_f_score_thresholds_must_be_a_list() -> None:
    with pytest.raises(TypeError, match=r"thresholds must be a list of metres.*got 0\.005"):
        FScore(thresholds=0.005)  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError, match=r"^MODEL\.METRIC\[0\] \(FScore\): .*thresholds must be a list of metres"
    ):
        Evaluator.from_config([{"TYPE": "f_score", "THRESHOLDS": 0.005}])


def test_gathered_ranks_skip_empty_ones_and_name_the_disagreeing_rank(monkeypatch) -> None:
    """Three fake ranks: rank 0 recorded nothing, ranks 1 and 2 are concatenated in order."""
    from handmesh.metrics import distributed

    idx_1, idx_2 = np.array([3, 1]), np.array([2])
    per_rank = [
        (np.zeros(0, np.int64), {}),
        (idx_1, {"m/error": np.array([0.3, 0.1])}),
        (idx_2, {"m/error": np.array([0.2])}),
    ]

    def fake_all_gather(out: list, _local: object) -> None:
        out[:] = per_rank

    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed.dist, "get_world_size", lambda: 3)
    monkeypatch.setattr(distributed.dist, "all_gather_object", fake_all_gather)
    all_idx, records = distributed.gather_records(np.zeros(0, np.int64), {})
    np.testing.assert_array_equal(all_idx, [3, 1, 2])
    np.testing.assert_array_equal(records["m/error"], [0.3, 0.1, 0.2])

    per_rank[2] = (idx_2, {"other/error": np.array([0.2])})
    with pytest.raises(RuntimeError, match=r"rank 1 has \['m/error'\], rank 2 has"):
        distributed.gather_records(np.zeros(0, np.int64), {})
