"""Testing a checkpoint: exact distributed evaluation written to an experiment directory.

Results go to ``exp/{exp_id}_{stamp}/evaluations/test_eval.json`` and ``test_eval.txt`` (the
metrics the config selects: ``TEST.METRIC``, else ``MODEL.METRIC``, else the dataset's protocol,
else the model's defaults), plus the files of the dataset's exporters (e.g. a submission zip),
``dump_cfg.yaml`` and ``test.log``. ``TEST.POSTPROCESS`` steps run between the model and the
metrics. Every test sample is counted exactly once, whatever the number of processes, and the
evaluation batches (``batch_size`` samples, dataset order) are the same on any number of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handmesh.engine.build import build_dataset, build_eval_loader, build_evaluator, build_model
from handmesh.engine.dist import DistContext
from handmesh.engine.evaluation import evaluate, write_test_summary
from handmesh.engine.experiment import TEST_LOG_FILE, ExperimentDir, check_writable
from handmesh.engine.log import setup_logging
from handmesh.mano.loader import describe_mano_source
from handmesh.postprocess import build_postprocess

_CHECKPOINT_PATH = re.compile(r"(?P<name>[^/]+)/checkpoints/checkpoint(?:_(?P<epoch>\d+))?/[^/]+$")


@dataclass(frozen=True)
class EvalOptions:
    """Run options of ``train.test_model`` that are not part of the config."""

    reload: str | None = None  # checkpoint file; None: MODEL.PRETRAINED of the config
    exp_id: str | None = None  # default: derived from the checkpoint path
    exp_root: str = "exp"
    workers: int = 8
    batch_size: int | None = None  # samples per evaluation batch; default TRAIN.BATCH_SIZE
    stamp: str = ""
    command: str = ""


def default_test_exp_id(checkpoint: str | None) -> str:
    """``eval_{experiment}_ckp{N}`` for ``exp/{experiment}/checkpoints/checkpoint_{N}/X.pth.tar``,
    else ``eval_{file stem}`` (or ``eval``)."""
    if not checkpoint:
        return "eval"
    match = _CHECKPOINT_PATH.search(Path(checkpoint).as_posix())
    if match:
        suffix = f"_ckp{match['epoch']}" if match["epoch"] else ""
        return f"eval_{match['name']}{suffix}"
    return f"eval_{Path(checkpoint).name.split('.')[0]}"


def eval_worker(ctx: DistContext, cfg: Any, options: EvalOptions) -> dict[str, Any]:
    """Process entry point: evaluate and (rank 0) write the results; returns them."""
    from handmesh.config import dump_config

    log = setup_logging(ctx.rank)
    batch = options.batch_size or int(cfg["TRAIN"]["BATCH_SIZE"])
    # everything that can fail on bad input comes before the experiment directory is made
    check_writable(options.exp_root)
    model = build_model(cfg, options.reload).to(ctx.device)
    mano = describe_mano_source(cfg.get("DATA_PRESET"))
    dataset = build_dataset(cfg, "TEST")
    evaluator = build_evaluator(cfg, model, dataset)
    postprocess = [
        step.to(ctx.device)
        for step in build_postprocess(
            cfg.get("TEST", {}).get("POSTPROCESS"), cfg.get("DATA_PRESET")
        )
    ]
    workers = -(-options.workers // ctx.world_size) if options.workers > 0 else 0
    loader = build_eval_loader(dataset, ctx, batch, workers, int(cfg["TRAIN"]["MANUAL_SEED"]))
    root = None
    if ctx.is_main:
        exp_id = options.exp_id or default_test_exp_id(options.reload)
        exp = ExperimentDir.create(options.exp_root, exp_id, options.stamp, TEST_LOG_FILE)
        dump_config(cfg, exp.config_path, header=f"MANO model used: {mano}")
        root = str(exp.root)
    exp = ExperimentDir(ctx.broadcast_object(root), TEST_LOG_FILE)
    setup_logging(ctx.rank, exp.log_path)
    if options.command:
        log.info(f"command: {options.command}")
    log.info(f"MANO model: {mano}")
    results = evaluate(model, loader, ctx, evaluator, postprocess, desc="test")
    if ctx.is_main:
        checkpoint = options.reload or cfg["MODEL"].get("PRETRAINED") or None
        exp.append_evaluation("test", 0, results)
        summary: dict[str, Any] = {
            "model_type": type(model).__name__,
            "checkpoint": checkpoint,
            "mano": mano,
            "metrics": results,
        }
        summary_path = write_test_summary(exp, evaluator, summary, log)
        log.info(
            f"{type(model).__name__} on {results['num_samples']} test samples ({ctx.world_size} "
            f"process(es)): " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(results.items()))
        )
        log.info(f"Results in {summary_path}")
    return results
