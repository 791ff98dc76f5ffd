"""Dropping the entries of a loaded state dict that a backbone variant has no place for."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["drop_entries"]


def drop_entries(state_dict: dict[str, Any], prefixes: Iterable[str], what: str) -> list[str]:
    """Delete (in place) every key starting with one of ``prefixes``; log them as ``what``.

    Used by backbones built without their classification head, so that a full ImageNet file
    (torchvision ``fc.*``, HRNet's head) still loads strictly into them. Returns the dropped keys.
    """
    prefixes = tuple(prefixes)
    dropped = [key for key in state_dict if key.startswith(prefixes)]
    for key in dropped:
        del state_dict[key]
    if dropped:
        logger.info(
            "%s: dropped %d entries (%s) from the loaded weights",
            what,
            len(dropped),
            ", ".join(dropped[:4]) + (", ..." if len(dropped) > 4 else ""),
        )
    return dropped
