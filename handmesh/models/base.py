"""The model interface shared by every registered model (DESIGN §3).

``forward(batch) -> preds`` with the standard pred keys (``joints_3d`` (B, 21, 3) camera metres,
``joints_2d`` crop pixels, ``verts_3d`` for mesh models, plus model-specific extras) and
``compute_loss(preds, batch) -> {"final_loss": tensor, term: tensor, ...}``. Metrics live in the
engine, not in the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from handmesh.registry import LOSSES, build


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
    so they add no state-dict keys).
    """

    #: whether preds carry ``verts_3d`` (the engine then evaluates mesh metrics too)
    has_mesh: bool = False

    def __init__(self, losses: Sequence[nn.Module] = ()) -> None:
        super().__init__()
        self.criterions = nn.ModuleList(losses)

    @staticmethod
    def build_losses(loss_nodes: Any, **extra: Any) -> list[nn.Module]:
        """Build every entry of a ``MODEL.LOSS`` node or list from the ``LOSSES`` registry."""
        return [build(node, LOSSES, **extra) for node in as_node_list(loss_nodes)]

    def compute_loss(
        self, preds: Mapping[str, torch.Tensor], batch: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        """Sum of the weighted loss terms as ``final_loss``, plus each term's logged values."""
        if len(self.criterions) == 0:
            raise RuntimeError(f"{type(self).__name__} has no loss terms (MODEL.LOSS is empty)")
        total: torch.Tensor | None = None
        terms: dict[str, torch.Tensor] = {}
        for criterion in self.criterions:
            weighted, logged = criterion(preds, batch)
            total = weighted if total is None else total + weighted
            terms.update(logged)
        assert total is not None
        return {"final_loss": total, **terms}
