"""Typed reads of config node values for ``from_config``: a wrong type names the key.

``cfg_int(node, "NUM_SAMPLES", 1000)`` returns the value as an int, or raises an ``ArgumentError``
("NUM_SAMPLES must be an integer, got 'lots'") that ``handmesh.registry.build`` prefixes with the
node's path and the class (``DATASET.TRAIN (SyntheticHands): ...``). Booleans are not integers,
and integers are accepted where a float is expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handmesh.errors import ArgumentError

__all__ = ["cfg_bool", "cfg_float", "cfg_int", "cfg_ints", "cfg_str"]


def _value(node: Mapping[str, Any], key: str, default: Any) -> Any:
    return node.get(key, default) if isinstance(node, Mapping) else default


def cfg_int(node: Mapping[str, Any], key: str, default: int) -> int:
    value = _value(node, key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ArgumentError(f"{key} must be an integer, got {value!r}")
    return value


def cfg_float(node: Mapping[str, Any], key: str, default: float) -> float:
    value = _value(node, key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads 1e-3 as a string
            except ValueError:
                pass
        raise ArgumentError(f"{key} must be a number, got {value!r}")
    return float(value)


def cfg_bool(node: Mapping[str, Any], key: str, default: bool) -> bool:
    value = _value(node, key, default)
    if not isinstance(value, bool):
        raise ArgumentError(f"{key} must be true or false, got {value!r}")
    return value


def cfg_str(node: Mapping[str, Any], key: str, default: str) -> str:
    value = _value(node, key, default)
    if not isinstance(value, str):
        raise ArgumentError(f"{key} must be a string, got {value!r}")
    return value


def cfg_ints(
    node: Mapping[str, Any], key: str, default: Sequence[int], length: int | None = None
) -> tuple[int, ...]:
    """A list of integers (of ``length`` entries when given)."""
    value = _value(node, key, default)
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )
    if not ok or (length is not None and len(value) != length):
        size = f" of {length}" if length is not None else ""
        raise ArgumentError(f"{key} must be a list{size} integers, got {value!r}")
    return tuple(value)
