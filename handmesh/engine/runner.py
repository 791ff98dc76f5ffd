"""What the ``train.train_model`` and ``train.test_model`` CLIs do, as library functions.

Bad input is reported before any process is spawned: with several processes the config, model
(and its checkpoint) and datasets are built once in the parent first, so a mistake gives one
clear error instead of one traceback per process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence, Sized
from dataclasses import replace
from typing import Any, cast

from handmesh.engine.build import (
    build_dataset,
    build_evaluator,
    build_model,
    per_process_batch,
    train_batches_per_process,
)
from handmesh.engine.experiment import ExperimentDir, timestamp
from handmesh.engine.launch import LaunchSettings, launch, under_torchrun, world_size_of
from handmesh.engine.tester import EvalOptions, eval_worker
from handmesh.engine.trainer import TrainOptions, train_worker
from handmesh.errors import CheckpointError, ConfigError, HandmeshError, LaunchError


def train_config(
    cfg_path: str | None,
    opts: Sequence[str] = (),
    resume: str | None = None,
    batch_size: int | None = None,
    reload: str | None = None,
) -> Any:
    """The training config: ``cfg_path`` (or ``resume``'s ``dump_cfg.yaml``) + overrides.

    ``batch_size`` overrides ``TRAIN.BATCH_SIZE`` (the total batch); ``reload`` sets
    ``MODEL.PRETRAINED`` (initial weights).
    """
    from handmesh.config import load_config

    if resume and cfg_path:
        raise ConfigError(
            f"--resume {resume} continues that experiment with its own dump_cfg.yaml; --cfg "
            f"{cfg_path} would be ignored. Change values with --opts KEY VALUE, or start a new "
            "run with --cfg."
        )
    if resume and reload:
        raise ConfigError("--resume continues from the experiment's checkpoint; drop --reload")
    if resume:
        path: str = str(ExperimentDir.open_existing(resume).config_path)
    elif cfg_path:
        path = cfg_path
    else:
        raise HandmeshError("No config: give --cfg CONFIG.yml (or --resume EXP_DIR)")
    overrides = list(opts)
    if batch_size is not None:
        overrides += ["TRAIN.BATCH_SIZE", str(batch_size)]
    if reload is not None:
        overrides += ["MODEL.PRETRAINED", str(reload)]
    return load_config(path, overrides)


def _preflight(cfg: Any, batch: int, world: int, checkpoint: str | None = None) -> None:
    """Build and initialise the model, the datasets and the evaluators once, so errors surface
    before spawning (every process would report them)."""
    from handmesh.postprocess import build_postprocess

    model = build_model(cfg, checkpoint)
    if batch:
        train_set = build_dataset(cfg, "TRAIN")
        train_batches_per_process(len(cast(Sized, train_set)), batch, world)
        build_evaluator(cfg, model, train=True)
    if cfg["DATASET"].get("TEST"):
        build_evaluator(cfg, model, build_dataset(cfg, "TEST"))
    build_postprocess(cfg["TEST"].get("POSTPROCESS"), cfg.get("DATA_PRESET"))


def run_training(cfg: Any, options: TrainOptions, settings: LaunchSettings) -> None:
    """Train in every process described by ``settings``; see ``handmesh.engine.trainer``."""
    world = world_size_of(settings)
    batch = per_process_batch(int(cfg["TRAIN"]["BATCH_SIZE"]), world)
    if options.resume:
        ExperimentDir.open_existing(options.resume).latest_checkpoint_dir()
    options = replace(options, stamp=options.stamp or timestamp(), command=_command())
    if world > 1 and not under_torchrun():
        _preflight(cfg, batch, world)
    launch(train_worker, settings, cfg, options)


def eval_config(
    cfg_path: str | None,
    opts: Sequence[str] = (),
    reload: str | None = None,
    untrained: bool = False,
) -> Any:
    """The test config: ``cfg_path`` + overrides, with ``MODEL.PRETRAINED = reload``.

    Without ``reload`` the config must name weights (``MODEL.PRETRAINED``), unless ``untrained``
    says that evaluating the freshly initialised model is meant.
    """
    from handmesh.config import load_config

    if not cfg_path:
        raise HandmeshError("No config: give --cfg CONFIG.yml (e.g. an experiment's dump_cfg.yaml)")
    if reload is not None and not os.path.isfile(reload):
        raise CheckpointError(f"Checkpoint file not found: {reload}")
    overrides = list(opts) + (["MODEL.PRETRAINED", str(reload)] if reload else [])
    cfg = load_config(cfg_path, overrides)
    if not reload and not cfg["MODEL"].get("PRETRAINED") and not untrained:
        raise ConfigError(
            f"No weights to test: give --reload CHECKPOINT (or MODEL.PRETRAINED in {cfg_path}); "
            "to evaluate the untrained model on purpose, pass --untrained"
        )
    return cfg


def run_testing(cfg: Any, options: EvalOptions, settings: LaunchSettings) -> None:
    """Evaluate the checkpoint on ``DATASET.TEST`` in every process of ``settings``."""
    world = world_size_of(settings)
    if options.batch_size is not None and options.batch_size < 1:
        raise LaunchError(f"--batch_size must be at least 1, got {options.batch_size}")
    options = replace(options, stamp=options.stamp or timestamp(), command=_command())
    if world > 1 and not under_torchrun():
        _preflight(cfg, 0, world, options.reload)
    launch(eval_worker, settings, cfg, options)


def _command() -> str:
    return " ".join([os.path.basename(sys.executable), *sys.argv])
