"""Registries and the config-driven builder.

Every buildable part (dataset, backbone, head, model, loss, metric) is a class registered in one of
the registries below. A class registers itself with a decorator::

    @BACKBONES.register()
    class ResNet(nn.Module):
        def __init__(self, depth: int = 50, ...): ...

        @classmethod
        def from_config(cls, cfg, **extra) -> "ResNet":
            return cls(depth=cfg.DEPTH, ...)

and a config node with a ``TYPE`` key builds it with ``build(cfg_node, BACKBONES, **extra)``,
which calls ``cls.from_config(cfg_node, **extra)``. Classes keep explicit keyword arguments so
they are usable from Python with no config at all.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from handmesh.errors import ConfigError, ConfigKeyError

T = TypeVar("T")

__all__ = [
    "BACKBONES",
    "DATASETS",
    "HEADS",
    "LOSSES",
    "METRICS",
    "MODELS",
    "ConfigError",
    "ConfigKeyError",
    "Registry",
    "build",
    "check_keys",
    "closest",
]


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most similar to ``name`` (case-insensitive), or None if none is close."""
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    return lowered[match[0]] if match else None


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    guess = closest(name, candidates)
    return f" Did you mean {guess!r}?" if guess else ""


class Registry:
    """A name -> class mapping filled by the ``register`` decorator.

    >>> HEADS = Registry("HEADS")
    >>> @HEADS.register()
    ... class MyHead: ...
    >>> HEADS.get("MyHead") is MyHead
    True
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: dict[str, type] = {}

    def register(self, name: str | None = None) -> Callable[[type[T]], type[T]]:
        """Class decorator: register under ``name`` (default: the class name)."""

        def decorator(cls: type[T]) -> type[T]:
            key = name or cls.__name__
            existing = self._entries.get(key)
            if existing is not None and existing is not cls:
                raise KeyError(
                    f"{self.name}: {key!r} is already registered by "
                    f"{existing.__module__}.{existing.__qualname__}"
                )
            self._entries[key] = cls
            return cls

        return decorator

    def get(self, name: str) -> type:
        """The class registered as ``name``; an unknown name lists the registered ones."""
        if not isinstance(name, str):
            raise ConfigKeyError(
                f"{self.name}: a TYPE must be a registered name (a string), got {name!r}. "
                f"Registered: {', '.join(self.names()) or '(none)'}."
            )
        try:
            return self._entries[name]
        except KeyError:
            registered = ", ".join(sorted(self._entries)) or "(none)"
            raise ConfigKeyError(
                f"{self.name} has no entry {name!r}.{_did_you_mean(name, self._entries)} "
                f"Registered: {registered}."
            ) from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {self.names()})"


DATASETS = Registry("DATASETS")
BACKBONES = Registry("BACKBONES")
HEADS = Registry("HEADS")
MODELS = Registry("MODELS")
LOSSES = Registry("LOSSES")
METRICS = Registry("METRICS")


def build(cfg_node: Mapping[str, Any], registry: Registry, **extra: Any) -> Any:
    """Build ``registry[cfg_node.TYPE].from_config(cfg_node, **extra)``.

    Args:
        cfg_node: a config node (yacs CfgNode or dict) with a ``TYPE`` entry.
        registry: where to look the TYPE up.
        **extra: passed through to ``from_config`` (e.g. ``data_preset=cfg.DATA_PRESET``).

    A ``ValueError`` from ``from_config`` (a bad value in the node) is re-raised as a
    ``ConfigError`` (still a ``ValueError``) that names the registry and the class, so the CLIs
    report it in one line.
    """
    if not isinstance(cfg_node, Mapping):
        raise TypeError(
            f"Cannot build from {registry.name}: expected a config node with a TYPE key, got "
            f"{cfg_node!r}"
        )
    if "TYPE" not in cfg_node:
        raise ConfigKeyError(
            f"Cannot build from {registry.name}: the config node has no TYPE key "
            f"(keys: {sorted(cfg_node)}). Registered types: {', '.join(registry.names())}."
        )
    cls = registry.get(cfg_node["TYPE"])
    from_config = getattr(cls, "from_config", None)
    if from_config is None:
        raise TypeError(f"{registry.name} entry {cls.__name__} has no from_config classmethod")
    try:
        return from_config(cfg_node, **extra)
    except ConfigError:
        raise
    except ValueError as err:  # a bad value in the node: say which part of the config it came from
        raise ConfigError(f"{registry.name} {cls.__name__}: {err}") from err


def check_keys(
    node: Mapping[str, Any], accepted: Iterable[str], where: str, required: Iterable[str] = ()
) -> None:
    """Fail if ``node`` holds a key outside ``accepted`` or lacks one of ``required``.

    ``where`` is the key path shown in the message, e.g. ``"MODEL.HEAD"``. Used by ``from_config``
    implementations so a misspelled key never goes unnoticed.
    """
    accepted = set(accepted)
    for key in node:
        if key not in accepted:
            raise ConfigKeyError(
                f"Unknown config key {where}.{key}.{_did_you_mean(key, accepted)} "
                f"Accepted keys under {where}: {', '.join(sorted(accepted))}."
            )
    for key in required:
        if key not in node:
            raise ConfigKeyError(f"Missing required config key {where}.{key}.")
