"""The error raised for a config value that is malformed or out of range."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config file, value or override is invalid; the message names the file and the key path.

    Unknown keys raise ``handmesh.registry.ConfigKeyError`` instead (a ``KeyError``), missing files
    ``FileNotFoundError``.
    """
