"""handmesh's error hierarchy: every error caused by user input is a ``HandmeshError``.

The CLIs print any ``HandmeshError`` as one ``error: <message>`` line and exit with code 2; any
other exception is a bug and keeps its traceback. Each message names the file, key or value that
is wrong and what was expected. This module imports nothing from handmesh, so every layer
(registry, config, io, mano, data, backbones, engine) can raise these.

::

    HandmeshError
    ├── ConfigError (ValueError)          a config file, value or override is invalid
    │   ├── ConfigKeyError (KeyError)     an unknown / missing config key or TYPE
    │   └── ConfigFileNotFoundError (FileNotFoundError) a config file is missing
    ├── ArgumentError (ValueError, TypeError) a bad constructor argument (Python API); the builder
    │                                     re-raises it as ConfigError naming the config path
    ├── WeightsError                      weights missing, unreadable or not fitting the model
    │   └── CheckpointError               ... for a model checkpoint (--reload, --resume, ...)
    ├── UnsafePickleError (UnpicklingError) a pickle would run code: refused before it runs
    ├── DataError                         a dataset, annotation or model file is malformed
    │   └── DataNotFoundError (FileNotFoundError) ... or missing
    ├── LaunchError                       inconsistent process / device / batch settings
    ├── ExperimentError                   an experiment directory is missing or incomplete
    └── DivergenceError                   training diverged (non-finite loss or weights); the
                                          last good checkpoint is kept

The secondary bases keep Python conventions: code that catches ``ValueError``, ``TypeError``,
``KeyError`` or ``FileNotFoundError`` still catches the matching handmesh errors.
"""

from __future__ import annotations

import pickle

__all__ = [
    "ArgumentError",
    "CheckpointError",
    "ConfigError",
    "ConfigFileNotFoundError",
    "ConfigKeyError",
    "DataError",
    "DivergenceError",
    "DataNotFoundError",
    "ExperimentError",
    "HandmeshError",
    "LaunchError",
    "UnsafePickleError",
    "WeightsError",
]


class HandmeshError(Exception):
    """Bad user input (a file, a key, a value): the message names it and what was expected."""


class ConfigError(HandmeshError, ValueError):
    """A config file, value or override is invalid; the message names the file or key path."""


class ConfigKeyError(ConfigError, KeyError):
    """A config key or TYPE is unknown or missing; the message names it and the accepted ones."""

    def __str__(self) -> str:  # KeyError would repr() the message and add quotes
        return str(self.args[0]) if self.args else ""


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A config file does not exist (the message gives the path as given and resolved)."""

    def __str__(self) -> str:  # OSError would print "[Errno ...]" forms for 2-argument calls
        return str(self.args[0]) if self.args else ""


class ArgumentError(HandmeshError, ValueError, TypeError):
    """A constructor or function argument has a bad value or type; the message names it.

    Raised by ``nn.Module`` constructors for the Python API. When the part is built from a config
    node, ``handmesh.registry.build`` re-raises it as a ``ConfigError`` prefixed with the node's
    key path and the class name. Plain ``ValueError`` (a bug) is never converted.
    """


class WeightsError(HandmeshError):
    """Weights cannot be found or read, or do not fit the module (the message says which)."""


class CheckpointError(WeightsError):
    """A checkpoint file is missing, unreadable, or does not fit the model."""


class UnsafePickleError(HandmeshError, pickle.UnpicklingError):
    """A pickle references a callable or class outside the allow-list; nothing was executed."""


class DataError(HandmeshError):
    """A dataset, annotation or model file is malformed (the message names the file)."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A dataset, annotation or model file or folder is missing (the message says where)."""

    def __str__(self) -> str:  # OSError would print "[Errno ...]" forms for 2-argument calls
        return str(self.args[0]) if self.args else ""


class LaunchError(HandmeshError):
    """Inconsistent process / device / batch settings."""


class ExperimentError(HandmeshError):
    """An experiment directory is missing or incomplete (e.g. for --resume)."""


class DivergenceError(HandmeshError):
    """Training diverged (a non-finite loss or weights); names the epoch and step, and the last
    good checkpoint, which is never overwritten by non-finite weights."""
