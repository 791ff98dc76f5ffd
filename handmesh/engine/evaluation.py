"""Exact evaluation of a model over a data loader, on any number of processes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from handmesh.checkpoint import unwrap_model
from handmesh.engine.build import to_device
from handmesh.engine.dist import DistContext
from handmesh.engine.experiment import ExperimentDir
from handmesh.metrics.evaluator import Evaluator

__all__ = ["TEST_SUMMARY_FILE", "evaluate", "write_test_summary"]

TEST_SUMMARY_FILE = "test_eval.json"


def evaluate(
    model: nn.Module,
    loader: DataLoader,
    ctx: DistContext,
    evaluator: Any,
    postprocess: Sequence[nn.Module] = (),
    desc: str = "eval",
) -> dict[str, Any]:
    """Run ``model`` (eval mode, under ``no_grad``) and then the ``postprocess`` steps (with
    gradients allowed: a step may optimise) over ``loader``, feed ``evaluator`` and reduce it over
    all ranks.

    Every rank must call this. Returns the Evaluator's results (mm; ratios in [0, 1]) with
    ``num_samples``: each dataset sample counted exactly once.
    """
    net = unwrap_model(model)
    was_training = net.training
    net.eval()
    evaluator.reset()
    for batch in tqdm(loader, desc=desc, disable=not ctx.is_main, leave=False, dynamic_ncols=True):
        batch = to_device(batch, ctx.device)
        with torch.no_grad():
            preds = net(batch)
        for step in postprocess:
            preds = step(preds, batch)
        evaluator.update(preds, batch)
    results: dict[str, Any] = evaluator.compute()
    net.train(was_training)
    return results


def write_test_summary(
    exp: ExperimentDir, evaluator: Evaluator, summary: dict[str, Any], log: logging.Logger
) -> Path:
    """Report a finished test the one way both CLIs do (``train_model``'s final test and
    ``test_model``): the evaluator's exporters -- the dataset protocol's files, e.g. the HO-3D
    submission zip -- write into ``exp.evaluations_dir`` and are logged, their paths go to
    ``summary["exported"]``, and the summary is written to ``evaluations/test_eval.json``, whose
    path is returned. Rank 0, after :func:`evaluate` (the evaluator holds every rank's samples)."""
    exported = evaluator.export(exp.evaluations_dir)
    for label, path in exported.items():
        log.info(f"{label}: {path}")
    return Path(
        exp.write_json(
            TEST_SUMMARY_FILE, {**summary, **({"exported": exported} if exported else {})}
        )
    )
