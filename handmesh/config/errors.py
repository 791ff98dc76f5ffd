"""The error raised for a config value that is malformed or out of range.

Defined in ``handmesh.registry`` (which every builder imports) and re-exported here.
"""

from __future__ import annotations

from handmesh.registry import ConfigError

__all__ = ["ConfigError"]
