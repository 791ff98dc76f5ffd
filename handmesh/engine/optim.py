"""Optimiser, LR scheduler and gradient clipping from the ``TRAIN`` config node.

- ``OPTIMIZER``: "Adam" or "SGD" (case-insensitive; the published configs write "adam").
- ``SCHEDULER``: "MultiStepLR" (milestones ``LR_DECAY_STEP``, factor ``LR_DECAY_GAMMA``);
  "StepLR" is an alias of it, as in OakInk-HMR; "CosineAnnealingLR" (``T_max = EPOCH``).
  Schedulers step once per epoch.
- ``GRAD_CLIP.MODE``: "global" clips the norm of all gradients together (``clip_grad_norm_``);
  "per_tensor" clips each parameter's gradient separately, as OakInk-HMR did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from handmesh.engine.errors import HandmeshError

OPTIMIZERS = ("adam", "sgd")
SCHEDULERS = ("multisteplr", "steplr", "cosineannealinglr")
CLIP_MODES = ("global", "per_tensor")


def build_optimizer(
    params: Iterable[nn.Parameter], train: Mapping[str, Any]
) -> torch.optim.Optimizer:
    """Adam or SGD with ``TRAIN.LR`` and ``TRAIN.WEIGHT_DECAY`` (default 0)."""
    name = str(train.get("OPTIMIZER", "Adam"))
    lr = float(train["LR"])
    weight_decay = float(train.get("WEIGHT_DECAY", 0.0) or 0.0)
    params = [p for p in params if p.requires_grad]
    if name.lower() == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name.lower() == "sgd":
        momentum = float(train.get("MOMENTUM", 0.0) or 0.0)
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise HandmeshError(f"TRAIN.OPTIMIZER {name!r}: expected one of Adam, SGD")


def build_scheduler(
    optimizer: torch.optim.Optimizer, train: Mapping[str, Any]
) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-epoch LR scheduler named by ``TRAIN.SCHEDULER`` (see module doc)."""
    name = str(train.get("SCHEDULER", "MultiStepLR"))
    if name.lower() in ("multisteplr", "steplr"):
        milestones = [int(m) for m in train.get("LR_DECAY_STEP", [])]
        gamma = float(train.get("LR_DECAY_GAMMA", 0.1))
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=gamma)
    if name.lower() == "cosineannealinglr":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=int(train["EPOCH"]))
    raise HandmeshError(
        f"TRAIN.SCHEDULER {name!r}: expected one of MultiStepLR, StepLR, CosineAnnealingLR"
    )


def clip_gradients(
    params: Iterable[nn.Parameter], max_norm: float, norm_type: float, mode: str
) -> None:
    """Clip gradients in place: all together ("global") or tensor by tensor ("per_tensor")."""
    grads = [p for p in params if p.grad is not None]
    if mode == "global":
        torch.nn.utils.clip_grad_norm_(grads, max_norm, norm_type=norm_type)
    elif mode == "per_tensor":
        for param in grads:
            torch.nn.utils.clip_grad_norm_(param, max_norm, norm_type=norm_type)
    else:
        raise HandmeshError(
            f"TRAIN.GRAD_CLIP.MODE {mode!r}: expected one of {', '.join(CLIP_MODES)}"
        )
