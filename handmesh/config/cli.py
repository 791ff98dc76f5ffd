"""Command-line glue: the ``--opts KEY VALUE ...`` argument that feeds ``load_config``."""

from __future__ import annotations

import argparse

__all__ = ["add_opts_argument"]


def add_opts_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--opts KEY VALUE [KEY VALUE ...]``; pass ``args.opts`` to ``load_config(path, opts)``.

    The pairs may be followed by other options (``nargs="*"``); values are read as Python
    literals when they are ones, e.g.
    ``--opts TRAIN.BATCH_SIZE 8 DATA_PRESET.IMAGE_SIZE [128,128]``.
    """
    parser.add_argument(
        "--opts",
        nargs="*",
        default=[],
        metavar="KEY VALUE",
        help="config overrides as KEY VALUE pairs, e.g. --opts TRAIN.BATCH_SIZE 8 TRAIN.LR 1e-4",
    )
