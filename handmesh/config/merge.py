"""Merging parsed YAML and ``KEY VALUE`` overrides into a config, with type checks.

The rules follow yacs (``merge_from_file`` / ``merge_from_list``) with clearer errors and a few
friendlier coercions:

* a key must exist in its section unless the section accepts new keys (``new_allowed``);
* a value must have the type of the value it replaces; lists and tuples convert into each other
  (so ``IMAGE_SIZE: [224, 224]`` becomes a tuple, like the default), an integer is accepted for a
  float (``LR: 1``), and so is a string that reads as a float (YAML 1.1 reads ``1e-3`` as a
  string);
* ``None`` replaces anything inside sections that accept new keys (``MODEL``, ``DATASET.TRAIN``,
  ...), whose types belong to the classes that read them;
* dicts, also inside lists (the ``LOSS:`` and ``METRIC:`` lists), become ``CfgNode`` so that
  ``.TYPE`` works (OakInk's ``recursive_cfg_update``);
* ``AUG_PARAM: None`` (which YAML reads as the string "None") means ``None``.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from yacs.config import CfgNode as YacsCfgNode

from handmesh.config.errors import ConfigError
from handmesh.config.node import SECTION_ORDER, CfgNode
from handmesh.registry import ConfigKeyError, closest

__all__ = ["coerce_value", "freeze_config", "merge_mapping", "merge_overrides", "to_config_value"]

_SCALAR_TYPES = (str, int, float, bool, type(None))
_TYPE_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    tuple: "a list",
}
# OakInk's configs write "AUG_PARAM: None", which YAML reads as the string "None".
_NONE_STRING_KEYS = ("AUG_PARAM",)


def to_config_value(value: Any, key_path: str, source: str) -> Any:
    """A parsed YAML value as a config value: dicts, also inside lists, become new-allowed nodes."""
    if isinstance(value, CfgNode):
        node = CfgNode(new_allowed=value.is_new_allowed())
    elif isinstance(value, Mapping):
        node = CfgNode(new_allowed=True)
    elif isinstance(value, (list, tuple)):
        items = (to_config_value(v, f"{key_path}[{i}]", source) for i, v in enumerate(value))
        return type(value)(items)
    elif isinstance(value, _SCALAR_TYPES):
        return value
    else:
        raise ConfigError(
            f"{key_path} in {source} has a value of type {type(value).__name__} ({value!r}); "
            "config values are strings, numbers, booleans, null, lists or mappings "
            "(quote it in YAML to keep it as a string)."
        )
    for key, item in value.items():
        _check_key_is_str(key, key_path, source)
        node[key] = to_config_value(item, f"{key_path}.{key}", source)
    return node


def merge_mapping(node: CfgNode, data: Mapping[str, Any], prefix: str, source: str) -> None:
    """Merge ``data`` into ``node`` in place, checking keys and types.

    Args:
        node: the config section to update.
        data: parsed YAML (nested dicts and lists) or config nodes.
        prefix: key path of ``node`` followed by a dot ("" for the root), used in messages.
        source: where ``data`` came from (a file name or "--opts ..."), used in messages.
    """
    for key, value in data.items():
        _check_key_is_str(key, prefix.rstrip("."), source)
        key_path = f"{prefix}{key}"
        if key in _NONE_STRING_KEYS and value == "None":
            value = None
        if key in node and isinstance(node[key], CfgNode):
            if value is None:  # an empty section ("TEST:" with nothing below) changes nothing
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"{key_path} in {source} is a section and needs a mapping of keys "
                    f"({', '.join(node[key])}), got {value!r}."
                )
            merge_mapping(node[key], value, f"{key_path}.", source)
        elif key in node:
            new_value = to_config_value(value, key_path, source)
            node[key] = coerce_value(new_value, node[key], key_path, source, node.is_new_allowed())
        elif node.is_new_allowed() and not (prefix == "" and _top_level_typo(key)):
            if prefix == "" and not isinstance(value, Mapping):
                raise ConfigError(
                    f"{key} in {source} is a value at the top level, where only sections "
                    f"(mappings of keys) belong: {', '.join(SECTION_ORDER)} or a new section."
                    f"{_closest_section(key)}"
                )
            node[key] = to_config_value(value, key_path, source)
        else:
            raise _unknown_key(prefix, key, node, source)


def merge_overrides(cfg: CfgNode, opts: Sequence[Any], source: str) -> None:
    """Apply ``KEY VALUE`` pairs (yacs ``merge_from_list`` semantics) to ``cfg`` in place.

    A string value is read as a Python literal when it is one ("8", "1e-4", "[128, 128]",
    "True", "None"; also "true"/"false"/"null"), else kept as a string. Keys name existing
    entries; only sections that accept new keys (MODEL, DATASET.TRAIN, ...) take new ones.
    """
    if len(opts) % 2:
        raise ConfigError(
            f"{source}: overrides come as KEY VALUE pairs, got an odd number of items "
            f"({len(opts)}): {list(opts)}."
        )
    for key_path, raw in zip(opts[0::2], opts[1::2]):
        if not isinstance(key_path, str) or not key_path:
            raise ConfigError(f"{source}: override key {key_path!r} must be a dotted key path.")
        *parents, leaf = key_path.split(".")
        if not parents and leaf not in cfg:  # an override names a key; it adds no section
            raise _unknown_key("", leaf, cfg, source)
        node, prefix = cfg, ""
        for part in parents:
            if part not in node:
                raise _unknown_key(prefix, part, node, source)
            if not isinstance(node[part], CfgNode):
                raise ConfigError(
                    f"{prefix}{part} in {source} is a value, not a section, so {key_path} "
                    "cannot be set."
                )
            node, prefix = node[part], f"{prefix}{part}."
        value = _decode_override(raw)
        if isinstance(node.get(leaf), str) and not isinstance(value, str):
            value = raw  # "2024" for a string key stays the string "2024"
        merge_mapping(node, {leaf: value}, prefix, source)


def coerce_value(value: Any, default: Any, key_path: str, source: str, allow_none: bool) -> Any:
    """``value`` converted to the type of ``default`` (the value it replaces), or a ConfigError."""
    if default is None or (value is None and allow_none):
        return value
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        if default and len({type(item) for item in default}) == 1:
            value = [
                coerce_value(item, default[0], f"{key_path}[{i}]", source, allow_none)
                for i, item in enumerate(value)
            ]
        return type(default)(value)
    if isinstance(default, float) and not isinstance(value, bool):
        if isinstance(value, int):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    if type(value) is type(default):
        return value
    expected = _TYPE_NAMES.get(type(default), type(default).__name__)
    raise ConfigError(
        f"{key_path} in {source} must be {expected} (it replaces {default!r}), "
        f"got {value!r} ({type(value).__name__})."
    )


def freeze_config(value: Any) -> None:
    """Make ``value`` and every node below it, also inside lists, immutable."""
    if isinstance(value, YacsCfgNode):
        value.freeze()
        for item in value.values():
            freeze_config(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            freeze_config(item)


def _decode_override(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "~"):
        return None
    return raw


def _check_key_is_str(key: Any, parent_path: str, source: str) -> None:
    if not isinstance(key, str):
        where = f"under {parent_path}" if parent_path else "at the top level"
        raise ConfigError(f"Config key {key!r} {where} in {source} must be a string.")


def _closest_section(key: str) -> str:
    guess = closest(key.split("_")[0], SECTION_ORDER)
    return f" Did you mean {guess}.{key[len(guess) + 1 :]}?" if guess and "_" in key else ""


def _top_level_typo(key: str) -> bool:
    """A new top-level key that is almost a schema section (e.g. TRIAN) is taken for a typo."""
    return bool(difflib.get_close_matches(key.upper(), SECTION_ORDER, n=1, cutoff=0.8))


def _unknown_key(prefix: str, key: str, node: CfgNode, source: str) -> ConfigKeyError:
    candidates = (
        list(node) if prefix else [*SECTION_ORDER, *(k for k in node if k not in SECTION_ORDER)]
    )
    guess = closest(key, candidates)
    hint = f" Did you mean {prefix}{guess}?" if guess else ""
    where = prefix.rstrip(".") or "the top level"
    return ConfigKeyError(
        f"{prefix}{key} in {source} is not a valid key.{hint} "
        f"Valid keys under {where}: {', '.join(candidates)}."
    )
