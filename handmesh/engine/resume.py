"""Restoring the optimiser and LR schedule on ``--resume``, with the config's overrides applied.

A resumed run continues with the optimiser and scheduler state of its latest checkpoint, so
that an unchanged config continues bit for bit. When ``--opts`` changes the schedule (``TRAIN.LR``,
``EPOCH``, ``SCHEDULER``, ``LR_DECAY_STEP``, ``LR_DECAY_GAMMA``) or the optimiser's
hyper-parameters (``WEIGHT_DECAY``, ``MOMENTUM``), the new values are applied to the restored
optimiser (its moments are kept) and the schedule is recomputed from them up to the resumed epoch
(so an extended cosine keeps decaying instead of climbing back up); the log says so. Changing
``TRAIN.OPTIMIZER`` is refused: the saved state belongs to the other optimiser.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch

from handmesh.engine.optim import build_scheduler
from handmesh.errors import ConfigError

__all__ = ["restore_optimisation"]

SCHEDULE_KEYS = ("LR", "EPOCH", "SCHEDULER", "LR_DECAY_STEP", "LR_DECAY_GAMMA")
GROUP_KEYS = {"WEIGHT_DECAY": "weight_decay", "MOMENTUM": "momentum"}


def _changes(before: Mapping[str, Any], after: Mapping[str, Any], keys: Any) -> dict[str, Any]:
    def norm(value: Any) -> Any:
        return list(value) if isinstance(value, (list, tuple)) else value

    return {
        key: (before.get(key), after.get(key))
        for key in keys
        if norm(before.get(key)) != norm(after.get(key))
    }


def restore_optimisation(
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    train_param: Mapping[str, Any],
    saved_train: Mapping[str, Any],
    train: Mapping[str, Any],
) -> tuple[torch.optim.lr_scheduler.LRScheduler, str]:
    """Load the saved optimiser/scheduler state, apply ``train``'s changes to ``saved_train``
    (the experiment's ``TRAIN`` node) as described in the module docstring; returns the scheduler
    to use (the given one, or a recomputed one) and a note for the log ("" if nothing changed)."""
    saved_opt, new_opt = str(saved_train.get("OPTIMIZER")), str(train.get("OPTIMIZER"))
    if saved_opt.lower() != new_opt.lower():
        raise ConfigError(
            f"--resume: TRAIN.OPTIMIZER {saved_opt} -> {new_opt} cannot be applied: the saved "
            "optimiser state belongs to the other optimiser. Start a new run and initialise it "
            "from the checkpoint (--reload) instead."
        )
    optimizer.load_state_dict(train_param["optimizer"])
    scheduler.load_state_dict(train_param["scheduler"])
    schedule = _changes(saved_train, train, SCHEDULE_KEYS)
    groups = _changes(saved_train, train, GROUP_KEYS)
    if not schedule and not groups:
        return scheduler, ""
    epoch = int(train_param["epoch"])
    for key, name in GROUP_KEYS.items():
        if key in groups:
            for group in optimizer.param_groups:
                if name in group:
                    group[name] = float(train[key])
    if schedule:
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] = float(train["LR"])
        scheduler = build_scheduler(optimizer, train)
        with warnings.catch_warnings():  # stepping without optimiser steps is the point here
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(epoch):
                scheduler.step()
    described = ", ".join(
        f"TRAIN.{key} {old} -> {new}" for key, (old, new) in {**schedule, **groups}.items()
    )
    note = (
        f"--resume with new values: {described}. Applied to the restored optimiser"
        + (" and the LR schedule recomputed" if schedule else "")
        + f": epoch {epoch + 1} continues at lr {optimizer.param_groups[0]['lr']:.6g}."
    )
    return scheduler, note
