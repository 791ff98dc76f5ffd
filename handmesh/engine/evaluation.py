"""Exact evaluation of a model over a data loader, on any number of processes."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from handmesh.engine.build import to_device
from handmesh.engine.checkpoint import unwrap_model
from handmesh.engine.dist import DistContext

JOINT_METRICS = ("mpjpe", "pa_mpjpe", "pck_auc")
MESH_METRICS = ("mpvpe", "pa_mpvpe", "f_score")


def metrics_for(model: nn.Module) -> tuple[str, ...]:
    """Joint metrics, plus mesh metrics when the model predicts ``verts_3d``."""
    has_mesh = bool(getattr(unwrap_model(model), "has_mesh", False))
    return JOINT_METRICS + (MESH_METRICS if has_mesh else ())


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    ctx: DistContext,
    metrics: tuple[str, ...] | None = None,
    desc: str = "eval",
) -> dict[str, Any]:
    """Run ``model`` (eval mode) over ``loader`` and reduce the metrics over all ranks.

    Every rank must call this. Returns the Evaluator's results (mm; ratios in [0, 1]) with
    ``num_samples``: each dataset sample counted exactly once.
    """
    from handmesh.metrics import Evaluator

    net = unwrap_model(model)
    was_training = net.training
    net.eval()
    evaluator = Evaluator(metrics or metrics_for(net))
    for batch in tqdm(loader, desc=desc, disable=not ctx.is_main, leave=False, dynamic_ncols=True):
        batch = to_device(batch, ctx.device)
        evaluator.update(net(batch), batch)
    results = evaluator.compute()
    net.train(was_training)
    return results
