"""Coloured console logs (termcolor) and the experiment's log file, on rank 0.

Other ranks log warnings and errors only, to the console.
"""

from __future__ import annotations

import logging
import os
import sys

from termcolor import colored

LOGGER_NAME = "handmesh"
_COLOURS = {
    logging.DEBUG: "cyan",
    logging.INFO: "green",
    logging.WARNING: "yellow",
    logging.ERROR: "red",
    logging.CRITICAL: "red",
}
_FORMAT = "%(asctime)s %(levelname)s %(message)s"
_DATE = "%m-%d %H:%M:%S"


class _ColourFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = colored(
            f"[{record.levelname[0]} {self.formatTime(record, _DATE)}]",
            _COLOURS.get(record.levelno, "white"),
        )
        return f"{prefix} {record.getMessage()}"


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def setup_logging(rank: int = 0, log_file: str | os.PathLike | None = None) -> logging.Logger:
    """Configure the ``handmesh`` logger for this process (idempotent)."""
    logger = get_logger()
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(_ColourFormatter())
    logger.addHandler(console)
    if log_file is not None and rank == 0:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(_FORMAT, _DATE))
        logger.addHandler(file_handler)
    return logger
