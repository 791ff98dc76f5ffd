"""Test-time postprocess steps: registered in ``POSTPROCESS``, configured in ``TEST.POSTPROCESS``.

A step runs between the model and the metrics on every test batch::

    preds = step(preds, batch)        # a dict of predictions in, a dict out

The engine calls the model under ``torch.no_grad()`` but calls the steps outside it, so a step
may optimise (e.g. the HandTailor fit: ``torch.enable_grad()`` inside). Steps are ``nn.Module``s
so they follow the model to its device; they must treat every sample of a batch independently
or say otherwise in their docstring (evaluation batches have the same composition on any number
of processes, see ``handmesh.engine.build.build_eval_loader``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from handmesh.registry import POSTPROCESS, build

__all__ = ["PostprocessStep", "build_postprocess"]


class PostprocessStep(nn.Module):
    """Base class of a registered step: implement ``forward(preds, batch) -> preds``."""

    CONFIG_KEYS: tuple[str, ...] = ()

    def forward(self, preds: dict[str, Any], batch: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


def build_postprocess(
    nodes: Sequence[Mapping[str, Any]] | None, data_preset: Mapping[str, Any] | None
) -> list[nn.Module]:
    """The steps of ``TEST.POSTPROCESS`` (in order), built with ``data_preset`` as context."""
    return [
        build(node, POSTPROCESS, where=f"TEST.POSTPROCESS[{i}]", data_preset=data_preset)
        for i, node in enumerate(nodes or ())
    ]
