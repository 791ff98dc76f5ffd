"""Error types the CLIs turn into one-line messages (exit code 2) instead of tracebacks."""

from __future__ import annotations


class HandmeshError(Exception):
    """Bad user input (a file, a key, a value): the message names it and what was expected."""


class CheckpointError(HandmeshError):
    """A checkpoint file is missing, unreadable, or does not fit the model."""


class LaunchError(HandmeshError):
    """Inconsistent process / device / batch settings."""


class ExperimentError(HandmeshError):
    """An experiment directory is missing or incomplete (e.g. for --resume)."""
