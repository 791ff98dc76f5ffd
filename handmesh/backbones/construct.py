"""Shared helper of the backbones' ``from_config``: constructor arguments plus caller overrides."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["construct_with_overrides"]


def construct_with_overrides(
    cls: type[T], kwargs: Mapping[str, Any], extra: Mapping[str, Any], where: str
) -> T:
    """``cls(**kwargs)`` with ``extra`` (from ``from_config(cfg, **extra)``) overriding entries.

    An ``extra`` name that is not a constructor argument fails with the accepted names, so a
    caller's typo never goes unnoticed.
    """
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(extra) - accepted)
    if unknown:
        raise TypeError(
            f"{cls.__name__}.from_config ({where}) got unknown keyword arguments {unknown}; "
            f"accepted: {sorted(accepted)}."
        )
    return cls(**{**kwargs, **extra})
