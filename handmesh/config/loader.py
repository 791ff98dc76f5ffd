"""Loading a YAML config (defaults + file + ``KEY VALUE`` overrides) and dumping it back."""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from handmesh.config.defaults import get_default_config
from handmesh.config.errors import ConfigError
from handmesh.config.merge import freeze_config, merge_mapping, merge_overrides
from handmesh.config.node import CfgNode, config_to_dict
from handmesh.config.validate import validate_config
from handmesh.errors import ConfigFileNotFoundError
from handmesh.io.atomic import atomic_write_text

__all__ = ["config_from_dict", "dump_config", "load_config"]


def load_config(path: str | os.PathLike[str], opts: Sequence[Any] | None = None) -> CfgNode:
    """The frozen config from the defaults, the YAML file ``path`` and then ``opts``.

    Args:
        path: a YAML config, e.g. ``config/oii/train_integral_pose_oii_sp0.yml`` or an
            experiment's ``dump_cfg.yaml``.
        opts: ``KEY VALUE`` override pairs, e.g. ``["TRAIN.BATCH_SIZE", "8",
            "DATA_PRESET.IMAGE_SIZE", "[128,128]"]`` (yacs ``merge_from_list`` semantics).

    Raises:
        ConfigFileNotFoundError: ``path`` does not exist (a FileNotFoundError).
        ConfigError: YAML syntax error (with the line), a value of the wrong type or out of range,
            an odd number of override items.
        ConfigKeyError: an unknown key under DATA_PRESET, DATASET or TRAIN (or an unknown override
            key), with the closest valid key.
    """
    path = Path(path)
    if not path.is_file():
        where = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise ConfigFileNotFoundError(f"Config file {path} {where} (resolved: {path.resolve()}).")
    data = _read_yaml(path)
    return config_from_dict(data, opts, source=str(path))


def config_from_dict(
    data: Mapping[str, Any], opts: Sequence[Any] | None = None, source: str = "<dict>"
) -> CfgNode:
    """Like ``load_config`` for already parsed data (nested dicts); ``source`` names it in
    errors."""
    cfg = get_default_config()
    merge_mapping(cfg, data, "", source)
    validate_config(cfg, source)  # the file alone first: an error here is the file's
    if opts:
        overrides = f"--opts (overrides for {source})"
        merge_overrides(cfg, opts, overrides)
        validate_config(cfg, overrides)
    freeze_config(cfg)
    return cfg


def dump_config(cfg: CfgNode, path: str | os.PathLike[str], header: str = "") -> None:
    """Write the full config as YAML to ``path`` atomically (temp file + rename).

    Sections in the order DATA_PRESET, DATASET, TRAIN, MODEL, TEST, then any other; tuples are
    written as lists (``load_config`` turns them back into tuples where the default is one).
    ``header`` lines are written first as YAML comments (e.g. which MANO file was used). Missing
    parent folders are created.
    """
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True)
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    atomic_write_text(path, comments + text)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML SafeLoader that rejects a key given twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"Cannot read config file {path}: {err}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no code runs
    except yaml.YAMLError as err:
        raise ConfigError(f"YAML error in {path}{_describe_yaml_error(err)}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"Config file {path} must hold a mapping of sections (DATA_PRESET, DATASET, TRAIN, "
            f"MODEL), got {type(data).__name__}."
        )
    return data


def _describe_yaml_error(err: yaml.YAMLError) -> str:
    if not isinstance(err, yaml.MarkedYAMLError):
        return f": {err}"
    mark = err.problem_mark or err.context_mark
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    details = "; ".join(str(part) for part in (err.context, err.problem) if part)
    return f"{where}: {details}"
