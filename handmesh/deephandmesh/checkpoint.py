"""The official DeepHandMesh snapshot layout and its adaptation to :class:`DeepHandMeshNet`.

``snapshot_{epoch}.pth.tar`` is ``{"epoch", "network", "optimizer"}``; ``network`` is the state
dict of the ``DataParallel``-wrapped model, every key prefixed ``module.``. Besides the network's
own entries it holds three buffers derived from the hand model -- ``pose_net.DoF`` (22, 3),
``penet_loss.segmentation`` (V,) and ``lap_loss.laplacian`` (V, V), dense, ~0.6 GB at V = 12.5k.
handmesh rebuilds those from the hand-model files and never stores them, so the adapter checks
that they belong to the given hand model and drops them. Everything else must match exactly: the
original loads with ``strict=False``, where a missing ``module.id_code`` silently becomes a fresh
random identity; here it is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from handmesh.deephandmesh.hand_model import HandTemplate
from handmesh.errors import CheckpointError

__all__ = [
    "DERIVED_BUFFERS",
    "OFFICIAL_PREFIX",
    "adapt_official_state_dict",
    "load_network_strict",
]

OFFICIAL_PREFIX = "module."
DERIVED_BUFFERS = ("pose_net.DoF", "penet_loss.segmentation", "lap_loss.laplacian")
"""Entries of the official state dict that handmesh derives from the hand-model files."""


def _strip_prefix(state_dict: Mapping[str, Any], source: str) -> dict[str, Any]:
    prefixed = [key.startswith(OFFICIAL_PREFIX) for key in state_dict]
    if all(prefixed):
        return {key[len(OFFICIAL_PREFIX) :]: value for key, value in state_dict.items()}
    if any(prefixed):
        raise CheckpointError(
            f"{source}: some keys start with {OFFICIAL_PREFIX!r} and some do not; expected the "
            "official DataParallel layout (all prefixed) or none"
        )
    return dict(state_dict)


def _check_derived(name: str, value: Tensor, template: HandTemplate, source: str) -> None:
    mismatch = None
    if name == "pose_net.DoF":
        expected = torch.as_tensor(template.dof, dtype=torch.float32)
        if tuple(value.shape) != tuple(expected.shape) or not torch.equal(
            value.float().cpu(), expected
        ):
            mismatch = f"DoF mask {tuple(value.shape)} differs from the skeleton's"
    elif name == "penet_loss.segmentation":
        expected = torch.as_tensor(template.segmentation.astype(np.float32))
        if tuple(value.shape) != tuple(expected.shape):
            mismatch = f"segmentation has {tuple(value.shape)} entries, the mesh {template.num_verts} vertices"
        elif not torch.equal(value.float().cpu(), expected):
            mismatch = "segmentation (dominant joint per vertex) differs from the skinning weights'"
    elif tuple(value.shape) != (template.num_verts, template.num_verts):
        mismatch = f"Laplacian is {tuple(value.shape)}, the mesh has {template.num_verts} vertices"
    if mismatch:
        raise CheckpointError(
            f"{source}: {OFFICIAL_PREFIX}{name}: {mismatch}; the snapshot was trained with a "
            f"different hand model than {template.source}"
        )


def adapt_official_state_dict(
    state_dict: Mapping[str, Any], *, template: HandTemplate, source: str = "checkpoint"
) -> dict[str, Any]:
    """The official ``network`` state dict -> the keys of :class:`DeepHandMeshNet`.

    Strips ``module.``, checks the hand-model-derived buffers (:data:`DERIVED_BUFFERS`) against
    ``template`` (``CheckpointError`` on a mismatch) and drops them. Nothing is added: a
    missing ``id_code`` stays missing so that a strict load refuses it.
    """
    adapted = _strip_prefix(state_dict, source)
    for name in DERIVED_BUFFERS:
        if name in adapted:
            _check_derived(name, adapted.pop(name), template, source)
    return adapted


def load_network_strict(network: nn.Module, state_dict: Mapping[str, Any], source: str) -> None:
    """``load_state_dict(strict=True)`` with a ``CheckpointError`` naming what does not fit.

    A missing ``id_code`` gets its own message: the identity code is part of the trained model
    (the original would silently draw a new random one).
    """
    own = network.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    if "id_code" in missing:
        raise CheckpointError(
            f"{source}: no {OFFICIAL_PREFIX}id_code: the identity code is part of the trained "
            "model and cannot be re-drawn (the original's strict=False load would silently use a "
            "random one); refusing to load"
        )
    wrong = [
        f"{key} {tuple(state_dict[key].shape)} (model {tuple(own[key].shape)})"
        for key in sorted(set(own) & set(state_dict))
        if isinstance(state_dict[key], Tensor) and state_dict[key].shape != own[key].shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)}: {', '.join(missing[:8])}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)}: {', '.join(unexpected[:8])}")
        if wrong:
            parts.append(f"shape mismatch: {', '.join(wrong[:8])}")
        raise CheckpointError(f"{source} does not fit the DeepHandMesh network: {'; '.join(parts)}")
    network.load_state_dict(dict(state_dict), strict=True)
