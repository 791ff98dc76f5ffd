"""State-dict layout adapters: small pure functions registered per module class (timm's
``pretrained_filter_fn``), applied by the one loader before the strict comparison.

An adapter receives the entries that belong to one module (keys relative to it) and the module
itself, and returns the entries the module should load, e.g. ResNet drops an ImageNet ``fc.*``
it has no place for; FrozenBatchNorm drops ``num_batches_tracked``. ``adapt_state_dict`` walks the
model and applies each registered adapter at its module's prefix, outer modules first. Adapters
never read files and never change values silently: they rename, drop entries the module has no
place for, or fill entries that hold no weights (a BatchNorm counter).

Register with::

    @state_dict_adapter(ResNet)
    def _resnet_layout(entries: dict[str, Tensor], module: ResNet) -> dict[str, Tensor]: ...
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

__all__ = ["Adapter", "adapt_state_dict", "adapters_for", "state_dict_adapter"]

logger = logging.getLogger("handmesh")

StateDict = dict[str, torch.Tensor]
Adapter = Callable[[StateDict, Any], StateDict]
M = TypeVar("M", bound=type)

_ADAPTERS: dict[type, list[Adapter]] = {}


def state_dict_adapter(module_type: type) -> Callable[[Adapter], Adapter]:
    """Decorator: register ``fn(entries, module) -> entries`` for ``module_type`` and its
    subclasses."""

    def register(fn: Adapter) -> Adapter:
        _ADAPTERS.setdefault(module_type, []).append(fn)
        return fn

    return register


def adapters_for(module: nn.Module) -> list[Adapter]:
    """The adapters registered for the module's class and its base classes (base first)."""
    found: list[Adapter] = []
    for cls in reversed(type(module).__mro__):
        found.extend(_ADAPTERS.get(cls, ()))
    return found


def adapt_state_dict(model: nn.Module, state_dict: StateDict) -> StateDict:
    """``state_dict`` with every registered adapter of ``model``'s modules applied (a new dict)."""
    adapted = dict(state_dict)
    for prefix, module in model.named_modules():
        for adapter in adapters_for(module):
            head = f"{prefix}." if prefix else ""
            own = {k[len(head) :]: v for k, v in adapted.items() if k.startswith(head)}
            result = adapter(own, module)
            adapted = {k: v for k, v in adapted.items() if not k.startswith(head)}
            adapted.update({head + k: v for k, v in result.items()})
    return adapted


def drop_prefixes(entries: StateDict, prefixes: tuple[str, ...], what: str) -> StateDict:
    """``entries`` without the keys starting with ``prefixes`` (logged as ``what``)."""
    dropped = [key for key in entries if key.startswith(prefixes)]
    if dropped:
        logger.info(
            "%s: dropped %d entries (%s) from the loaded weights",
            what,
            len(dropped),
            ", ".join(dropped[:4]) + (", ..." if len(dropped) > 4 else ""),
        )
    return {k: v for k, v in entries.items() if not k.startswith(prefixes)}


def match_batchnorm_counters(entries: StateDict, module: nn.Module) -> StateDict:
    """Drop ``*.num_batches_tracked`` entries the module has no place for (frozen BN) and fill the
    ones it has that the file lacks (files saved before PyTorch 0.4.1) with the module's current
    value. The counter holds no weights, so neither changes what the network computes."""
    own = module.state_dict(keep_vars=True)
    counters = {k for k in own if k.endswith("num_batches_tracked")}
    result = {k: v for k, v in entries.items() if not k.endswith("num_batches_tracked") or k in own}
    filled = [
        k
        for k in counters
        if k not in entries and k[: -len("num_batches_tracked")] + "weight" in entries
    ]
    for key in filled:
        result[key] = own[key].detach().clone()
    if filled:
        logger.info(
            "%s: %d BatchNorm num_batches_tracked counters missing from the weights; kept at "
            "their current value",
            type(module).__name__,
            len(filled),
        )
    return result
