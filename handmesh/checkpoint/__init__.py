"""Weights in: one safe reader, one strict loader with registered layout adapters, and the
initialise phase that picks exactly one source of weights (DESIGN §8).

Files are read with ``torch.load(weights_only=True)`` only: nothing in a downloaded checkpoint
runs code.
"""

from handmesh.checkpoint.adapters import (
    adapt_state_dict,
    drop_prefixes,
    match_batchnorm_counters,
    state_dict_adapter,
)
from handmesh.checkpoint.initialize import initialize_model, pretrained_parts
from handmesh.checkpoint.loading import (
    LOAD_MODES,
    LoadReport,
    load_state_dict,
    load_weights,
    match_module_prefix,
    unwrap_model,
)
from handmesh.checkpoint.reading import extract_state_dict, read_checkpoint

__all__ = [
    "LOAD_MODES",
    "LoadReport",
    "adapt_state_dict",
    "drop_prefixes",
    "extract_state_dict",
    "initialize_model",
    "load_state_dict",
    "load_weights",
    "match_batchnorm_counters",
    "match_module_prefix",
    "pretrained_parts",
    "read_checkpoint",
    "state_dict_adapter",
    "unwrap_model",
]
