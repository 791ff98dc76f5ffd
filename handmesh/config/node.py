"""The config node type: a yacs ``CfgNode`` that also dumps nodes nested inside lists."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from yacs.config import CfgNode as _YacsCfgNode

__all__ = ["SECTION_ORDER", "CfgNode", "config_to_dict"]

SECTION_ORDER = ("DATA_PRESET", "DATASET", "TRAIN", "MODEL", "TEST")
"""Top-level sections of the schema, in dump order; any other top-level section follows them."""


class CfgNode(_YacsCfgNode):
    """yacs ``CfgNode`` whose ``dump()`` handles the ``LOSS:`` / ``METRIC:`` lists of nodes.

    ``dump()`` writes sections in the order DATA_PRESET, DATASET, TRAIN, MODEL, then any other,
    and tuples as YAML lists (yacs's own ``dump`` fails on a node inside a list).
    """

    def dump(self, **kwargs: Any) -> str:
        kwargs.setdefault("sort_keys", False)
        kwargs.setdefault("allow_unicode", True)
        return yaml.safe_dump(config_to_dict(self), **kwargs)


def config_to_dict(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Plain Python data (dicts, lists, scalars) from a config: nodes become dicts, tuples lists.

    The schema sections come first (DATA_PRESET, DATASET, TRAIN, MODEL), then any other
    top-level section in its order; below the top level the config's own key order is kept.
    """
    keys = [*(k for k in SECTION_ORDER if k in cfg), *(k for k in cfg if k not in SECTION_ORDER)]
    return {key: _to_plain(cfg[key]) for key in keys}


def _to_plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(item) for item in value]
    return value
