"""Training-loop extension points (detectron2's ``HookBase``).

A hook gets ``self.trainer`` (the ``Trainer``: ``model``, ``optimizer``, ``scheduler``,
``writer`` (TensorBoard, rank 0 only, else None), ``log``, ``ctx``, ``epoch``, ``step``,
``last_losses``, ``last_preds``, ``last_batch``) and overrides any of the methods below. Hooks come
from the model (``HandModel.training_hooks()``, e.g. I2L-MeshNet's stage freezing or RLE's sigma
logging) and from ``TRAIN.HOOKS`` (nodes of the ``TRAIN_HOOKS`` registry), so model-specific
needs never go into the trainer. Every rank runs every hook; write files on rank 0 only
(``self.trainer.ctx.is_main``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handmesh.registry import TRAIN_HOOKS, build

__all__ = ["HookBase", "build_hooks"]


class HookBase:
    """Base class: every method is a no-op; ``self.trainer`` is set before ``before_train``."""

    CONFIG_KEYS: tuple[str, ...] = ()
    trainer: Any = None

    def before_train(self) -> None:
        """Once, after setup (and after a resume), before the first epoch."""

    def after_train(self) -> None:
        """Once, after the last epoch, before the final test."""

    def before_epoch(self) -> None:
        """At the start of every epoch (``trainer.epoch`` is the 0-based epoch)."""

    def after_epoch(self) -> None:
        """After the epoch's scheduler step, before validation and the checkpoint."""

    def before_step(self) -> None:
        """Before every training step (``trainer.step`` is the step within the epoch)."""

    def after_step(self) -> None:
        """After every optimiser step (``trainer.last_losses`` holds the step's loss terms)."""


def build_hooks(nodes: Sequence[Mapping[str, Any]] | None) -> list[HookBase]:
    """The hooks of ``TRAIN.HOOKS``, in order."""
    return [
        build(node, TRAIN_HOOKS, where=f"TRAIN.HOOKS[{i}]") for i, node in enumerate(nodes or ())
    ]
