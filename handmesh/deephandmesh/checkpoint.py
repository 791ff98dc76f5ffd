"""The official DeepHandMesh snapshot layout, adapted to handmesh's DeepHandMesh model.

``snapshot_{epoch}.pth.tar`` is ``{"epoch", "network", "optimizer"}``; ``network`` is the state
dict of the ``DataParallel``-wrapped model, every key prefixed ``module.`` (handmesh's loader
finds ``network`` and strips the prefix). Besides the network's own entries it holds three
buffers derived from the hand model -- ``pose_net.DoF`` (22, 3), ``penet_loss.segmentation`` (V,)
and ``lap_loss.laplacian`` (V, V), dense, ~0.6 GB at V = 12.5k. handmesh rebuilds those from the
hand-model files and never stores them, so :func:`adapt_official_entries` checks that they belong
to the model's hand model and drops them. Everything else must match exactly: the original loads
with ``strict=False``, where a missing ``module.id_code`` silently becomes a fresh random
identity; here a decoder without its identity code is refused.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from handmesh.errors import CheckpointError

__all__ = ["DECODER_PREFIXES", "DERIVED_BUFFERS", "adapt_official_entries", "network_settings"]

DERIVED_BUFFERS = ("pose_net.DoF", "penet_loss.segmentation", "lap_loss.laplacian")
"""Entries of the official state dict that handmesh derives from the hand-model files."""

DECODER_PREFIXES = ("skeleton_refine_net.", "skin_refine_net.")
"""A state dict with these entries holds a decoder, which is meaningless without its id_code."""


def _mismatch(name: str, value: Tensor, dof: Tensor, segmentation: Tensor, num_verts: int) -> str:
    if name == "pose_net.DoF":
        if tuple(value.shape) != tuple(dof.shape) or not torch.equal(value.float().cpu(), dof):
            return f"its DoF mask {tuple(value.shape)} differs from the skeleton's"
    elif name == "penet_loss.segmentation":
        if tuple(value.shape) != (num_verts,):
            return f"segmentation has {tuple(value.shape)} entries, the mesh {num_verts} vertices"
        if not torch.equal(value.float().cpu(), segmentation.float()):
            return "its segmentation (dominant joint per vertex) differs from the skinning weights'"
    elif tuple(value.shape) != (num_verts, num_verts):
        return f"its Laplacian is {tuple(value.shape)}, the mesh has {num_verts} vertices"
    return ""


def adapt_official_entries(
    entries: Mapping[str, Tensor],
    *,
    dof: np.ndarray | Tensor,
    segmentation: np.ndarray | Tensor,
    num_verts: int,
    hand_model: str = "the hand model",
) -> dict[str, Tensor]:
    """The official ``network`` entries (``module.`` already stripped) -> the model's keys.

    Checks the hand-model-derived buffers (:data:`DERIVED_BUFFERS`) against the model's hand
    model (``CheckpointError`` on a mismatch) and drops them; refuses a decoder without
    ``id_code``. Entries of handmesh's own checkpoints pass through unchanged.

    Args:
        entries: state-dict entries; dof: (J, 3) the model's DoF mask; segmentation: (V,) its
            dominant joint per vertex; num_verts: V; hand_model: named in messages.
    """
    adapted = dict(entries)
    dof_t = torch.as_tensor(dof, dtype=torch.float32).cpu()
    segmentation_t = torch.as_tensor(segmentation).cpu()
    for name in DERIVED_BUFFERS:
        if name in adapted:
            problem = _mismatch(name, adapted.pop(name), dof_t, segmentation_t, num_verts)
            if problem:
                raise CheckpointError(
                    f"checkpoint entry {name}: {problem}; the snapshot was trained with a "
                    f"different hand model than {hand_model}"
                )
    if "id_code" not in adapted and any(key.startswith(DECODER_PREFIXES) for key in adapted):
        raise CheckpointError(
            "checkpoint has no id_code (module.id_code in the official snapshots): the identity "
            "code is part of the trained decoder and cannot be re-drawn (the original's "
            "strict=False load would silently use a random one); refusing to load"
        )
    return adapted


_BLOCKS_TO_DEPTH = {(False, 2): 18, (False, 6): 34, (True, 6): 50, (True, 23): 101, (True, 36): 152}
"""(bottleneck blocks?, blocks in layer3) -> ResNet depth."""


def network_settings(
    state_dict: Mapping[str, Tensor], source: str = "checkpoint"
) -> dict[str, int]:
    """The constructor settings a DeepHandMesh state dict was trained with: ``resnet_depth``,
    ``img_feat_dim`` and ``id_code_dim`` (read from the key layout and shapes; official
    ``module.`` keys or handmesh's own)."""
    keys = {key.removeprefix("module."): value for key, value in state_dict.items()}
    trunk = "backbone_net.resnet.layer3."
    blocks = {int(key[len(trunk) :].split(".")[0]) for key in keys if key.startswith(trunk)}
    bottleneck = f"{trunk}0.conv3.weight" in keys
    depth = _BLOCKS_TO_DEPTH.get((bottleneck, len(blocks)))
    for needed in ("backbone_net.fc.0.weight", "id_code"):
        if needed not in keys:
            raise CheckpointError(f"{source}: no {needed}; not a DeepHandMesh checkpoint")
    if depth is None:
        raise CheckpointError(
            f"{source}: backbone_net.resnet has {len(blocks)} blocks in layer3 "
            f"({'bottleneck' if bottleneck else 'basic'}): not a ResNet-18/34/50/101/152"
        )
    return {
        "resnet_depth": depth,
        "img_feat_dim": int(keys["backbone_net.fc.0.weight"].shape[0]),
        "id_code_dim": int(keys["id_code"].shape[0]),
    }
