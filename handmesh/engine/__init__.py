"""Training and testing machinery (DESIGN §4).

- ``launch``: one process per GPU, N CPU processes or ``torchrun``; a ``DistContext`` per process.
- ``Trainer`` / ``eval_worker``: the training loop and exact (distributed) evaluation.
- ``experiment``: the ``exp/{exp_id}_{timestamp}/`` layout; ``checkpoint``: published layouts in,
  strict loading with clear errors, atomic writes (handmesh.io.atomic).
- ``runner``: what ``train.train_model`` and ``train.test_model`` do.
"""

from handmesh.engine.build import (
    build_dataset,
    build_eval_loader,
    build_evaluator,
    build_loader,
    build_model,
)
from handmesh.engine.checkpoint import save_model
from handmesh.engine.dist import DistContext
from handmesh.engine.errors import CheckpointError, ExperimentError, HandmeshError, LaunchError
from handmesh.engine.evaluation import evaluate
from handmesh.engine.experiment import ExperimentDir
from handmesh.engine.hooks import HookBase
from handmesh.engine.launch import LaunchSettings, launch
from handmesh.engine.runner import eval_config, run_testing, run_training, train_config
from handmesh.engine.tester import EvalOptions, eval_worker
from handmesh.engine.trainer import Trainer, TrainOptions

__all__ = [
    "CheckpointError",
    "DistContext",
    "EvalOptions",
    "ExperimentDir",
    "ExperimentError",
    "HandmeshError",
    "HookBase",
    "LaunchError",
    "LaunchSettings",
    "TrainOptions",
    "Trainer",
    "build_dataset",
    "build_eval_loader",
    "build_evaluator",
    "build_loader",
    "build_model",
    "eval_config",
    "eval_worker",
    "evaluate",
    "launch",
    "run_testing",
    "run_training",
    "save_model",
    "train_config",
]
