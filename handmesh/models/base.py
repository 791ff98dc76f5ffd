"""The model interface shared by every registered model (DESIGN §3, §8).

``forward(batch) -> preds`` with the standard pred keys (``joints_3d`` (B, 21, 3) camera metres,
``joints_2d`` crop pixels, ``verts_3d`` for mesh models, plus model-specific extras) and
``compute_loss(preds, batch) -> {"final_loss": tensor, term: tensor, ...}``. Metrics live in the
engine, not in the model; a model only declares its defaults (``DEFAULT_METRICS`` for testing,
``TRAIN_METRICS`` for what is logged while training) for configs that name none.

A model class declares:

- ``CONFIG_KEYS``: its ``MODEL`` node keys (``HandModel.CONFIG_KEYS`` holds the ones the engine
  reads: ``PRETRAINED``, ``PRETRAINED_MODE``, ``METRIC``);
- ``DEFAULT_LOSS``: the loss nodes used when ``MODEL.LOSS`` is absent (an explicit empty list is
  refused);
- optionally ``training_hooks()``: ``handmesh.engine.hooks.HookBase`` instances the trainer runs
  (e.g. stage freezing, extra logging), so model-specific needs stay out of the trainer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from handmesh.errors import ArgumentError
from handmesh.registry import LOSSES, build

__all__ = ["ENGINE_MODEL_KEYS", "HandModel", "as_node_list"]

ENGINE_MODEL_KEYS = ("PRETRAINED", "PRETRAINED_MODE", "METRIC")
"""MODEL keys the engine reads (initial weights, their load mode, the test metrics)."""


def as_node_list(node: Any) -> list[Any]:
    """A config entry that may be one node or a list of nodes -> a list (None -> [])."""
    if node is None:
        return []
    if isinstance(node, Mapping):
        return [node]
    return list(node)


class HandModel(nn.Module):
    """Base class: holds the loss terms and sums them in :meth:`compute_loss`.

    Loss modules live in ``self.criterions`` (an ``nn.ModuleList``; the losses have no parameters,
    so they add no state-dict keys). ``losses=None`` builds the class's ``DEFAULT_LOSS``.
    """

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = ENGINE_MODEL_KEYS
    DEFAULT_LOSS: ClassVar[tuple[Mapping[str, Any], ...]] = ()
    DEFAULT_METRICS: ClassVar[tuple[str, ...]] = ("mpjpe", "pa_mpjpe", "pck_auc")
    TRAIN_METRICS: ClassVar[tuple[str, ...]] = ("mpjpe",)

    def __init__(self, losses: Sequence[nn.Module] | None = None) -> None:
        super().__init__()
        if losses is None:
            losses = self.build_losses({})
        self.criterions = nn.ModuleList(losses)

    @classmethod
    def build_losses(cls, cfg: Mapping[str, Any], **context: Any) -> list[nn.Module]:
        """The ``MODEL.LOSS`` entries (one node or a list) built from ``LOSSES``; the class's
        ``DEFAULT_LOSS`` when the key is absent. An explicit empty list is an ArgumentError."""
        if "LOSS" not in cfg:
            nodes = list(cls.DEFAULT_LOSS)
        else:
            nodes = as_node_list(cfg["LOSS"])
            if not nodes:
                default = ", ".join(str(n.get("TYPE")) for n in cls.DEFAULT_LOSS) or "none"
                raise ArgumentError(
                    f"LOSS is empty: give at least one loss node, or leave LOSS out for "
                    f"{cls.__name__}'s default ({default})"
                )
        single = "LOSS" in cfg and isinstance(cfg["LOSS"], Mapping)
        return [
            build(node, LOSSES, where="MODEL.LOSS" if single else f"MODEL.LOSS[{i}]", **context)
            for i, node in enumerate(nodes)
        ]

    def training_hooks(self) -> list[Any]:
        """``HookBase`` instances the trainer runs for this model (none by default)."""
        return []

    def compute_loss(
        self, preds: Mapping[str, torch.Tensor], batch: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        """Sum of the weighted loss terms as ``final_loss``, plus each term's logged values."""
        if len(self.criterions) == 0:
            raise RuntimeError(f"{type(self).__name__} was constructed without loss terms")
        total: torch.Tensor | None = None
        terms: dict[str, torch.Tensor] = {}
        for criterion in self.criterions:
            weighted, logged = criterion(preds, batch)
            total = weighted if total is None else total + weighted
            terms.update(logged)
        assert total is not None
        return {"final_loss": total, **terms}
