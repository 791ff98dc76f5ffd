"""Registries and the config-driven builder (DESIGN §8: construct, then initialise).

Every buildable part (dataset, backbone, head, model, loss, metric, postprocess step, training
hook) is a class registered in one of the registries below::

    @HEADS.register()
    class ToyHead(nn.Module):
        CONFIG_KEYS = ("NUM_JOINTS",)          # accepted node keys besides TYPE

        def __init__(self, in_channels: int, num_joints: int = 21) -> None: ...

        @classmethod
        def from_config(cls, cfg, *, in_channels: int) -> dict[str, Any]:
            return {"in_channels": in_channels, "num_joints": cfg.get("NUM_JOINTS", 21)}

``build(node, HEADS, where="MODEL.HEAD", in_channels=2048)`` then

1. looks ``node.TYPE`` up (an unknown TYPE lists the registered names and the closest one);
2. checks the node's keys against ``TYPE`` + ``CONFIG_KEYS`` (+ ``REQUIRED_KEYS``), so a
   misspelled key fails the same way for every part, naming ``where`` and the closest key;
3. checks the keyword context against ``from_config``'s signature (a misspelled builder argument
   is a ``TypeError`` naming it, for every part alike);
4. calls ``from_config`` (explicit keyword-only context, returns the constructor's keyword
   arguments: detectron2's ``configurable`` pattern) and then the constructor.

Constructors do no file or network I/O (what a part needs from a file, e.g. MANO arrays, is read
in ``from_config`` and passed in; weights are loaded afterwards, see ``handmesh.checkpoint``).
An ``ArgumentError`` raised by ``from_config`` or the constructor is re-raised as a
``ConfigError`` that names ``where`` and the class; any other exception is a bug and propagates
unchanged. Classes keep explicit keyword arguments, so they are usable from Python with no config.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from handmesh.errors import ArgumentError, ConfigError, ConfigKeyError

T = TypeVar("T")

__all__ = [
    "BACKBONES",
    "DATASETS",
    "HEADS",
    "LOSSES",
    "METRICS",
    "MODELS",
    "POSTPROCESS",
    "TRAIN_HOOKS",
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

    def __init__(self, name: str, where: str | None = None) -> None:
        self.name = name
        self.where = where or f"{name} node"  # the usual config path of its nodes, for messages
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


DATASETS = Registry("DATASETS", "DATASET")
BACKBONES = Registry("BACKBONES", "MODEL.BACKBONE")
HEADS = Registry("HEADS", "MODEL.HEAD")
MODELS = Registry("MODELS", "MODEL")
LOSSES = Registry("LOSSES", "MODEL.LOSS")
METRICS = Registry("METRICS", "MODEL.METRIC")
POSTPROCESS = Registry("POSTPROCESS", "TEST.POSTPROCESS")  # test-time steps: model -> metrics
TRAIN_HOOKS = Registry("TRAIN_HOOKS", "TRAIN.HOOKS")  # training-loop callbacks (engine.hooks)


def build(
    cfg_node: Mapping[str, Any], registry: Registry, where: str | None = None, **context: Any
) -> Any:
    """Build ``registry[cfg_node.TYPE]`` from its node (see the module docstring).

    Args:
        cfg_node: a config node (yacs CfgNode or dict) with a ``TYPE`` entry.
        registry: where to look the TYPE up.
        where: the node's key path for messages, e.g. ``"MODEL.BACKBONE"`` or
            ``"MODEL.LOSS[0]"`` (default: the registry's usual path, ``registry.where``).
        **context: keyword arguments of the class's ``from_config`` (e.g. ``data_preset``).
    """
    where = where or registry.where
    if not isinstance(cfg_node, Mapping):
        raise ConfigError(
            f"{where}: expected a config node with a TYPE key ({registry.name}: "
            f"{', '.join(registry.names())}), got {cfg_node!r}"
        )
    if "TYPE" not in cfg_node:
        raise ConfigKeyError(
            f"{where} has no TYPE key (keys: {sorted(cfg_node)}). Registered {registry.name}: "
            f"{', '.join(registry.names())}."
        )
    try:
        cls = registry.get(cfg_node["TYPE"])
    except ConfigKeyError as err:
        raise ConfigKeyError(f"{where}.TYPE: {err}") from None
    accepted = getattr(cls, "CONFIG_KEYS", None)
    from_config = getattr(cls, "from_config", None)
    if accepted is None or from_config is None:
        raise TypeError(
            f"{registry.name} entry {cls.__name__} needs a CONFIG_KEYS tuple and a from_config "
            "classmethod to be built from a config"
        )
    check_keys(cfg_node, ("TYPE", *accepted), where, required=getattr(cls, "REQUIRED_KEYS", ()))
    _check_arguments(from_config, context, f"{cls.__name__}.from_config", "context")
    try:
        kwargs = from_config(cfg_node, **context)
        if not isinstance(kwargs, Mapping):
            raise TypeError(
                f"{cls.__name__}.from_config must return the constructor's keyword arguments "
                f"(a dict), got {type(kwargs).__name__}"
            )
        _check_arguments(cls, kwargs, cls.__name__, "constructor")
        return cls(**kwargs)
    except ArgumentError as err:  # a bad value, named by the class: add where it came from
        raise ConfigError(f"{where} ({cls.__name__}): {err}") from err


def _check_arguments(func: Any, kwargs: Mapping[str, Any], name: str, what: str) -> None:
    """Fail with the accepted names if ``kwargs`` holds a name ``func`` does not take."""
    params = inspect.signature(func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"{name} got unknown {what} keyword argument(s) {unknown}; accepted: "
            f"{sorted(n for n in accepted if n not in ('self', 'cls', 'cfg'))}"
        )


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
