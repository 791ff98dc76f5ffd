"""Shared pieces of the CLIs: the published flags (OakInk-HMR ``oib/opt.py``) and error handling.

Bad input (missing file, unknown key or TYPE, wrong checkpoint, ...) raises a
``handmesh.errors.HandmeshError``, which ends with one ``error:`` line on stderr and exit code 2;
any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from handmesh.engine.launch import LaunchSettings, parse_gpu_ids
from handmesh.errors import HandmeshError

USAGE_ERROR = 2


def add_launch_arguments(parser: argparse.ArgumentParser) -> None:
    """--gpu_id, --device, --nproc and the --dist_* / --node* flags."""
    parser.add_argument(
        "--gpu_id", default=None, help="GPUs to use, e.g. 0,1,2,3 (one process each)"
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument(
        "--nproc",
        type=positive_int,
        default=1,
        help="processes without --gpu_id (CPU: gloo; CUDA: GPUs 0..N-1)",
    )
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--node_rank", type=int, default=0)
    parser.add_argument("--dist_master_addr", default="localhost")
    parser.add_argument("--dist_master_port", default="auto", help='a port, or "auto" (free port)')
    parser.add_argument(
        "--dist_backend",
        default=None,
        help="process group backend (default: nccl on CUDA, gloo on CPU)",
    )


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line ``error: ...`` (exit 2) for bad flags, like every other CLI
    error (``--help`` still shows the usage)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (0 or a negative number is an error, not "the default")."""
    return _bounded_int(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _bounded_int(text, 0)


def _bounded_int(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
    return value


def launch_settings(args: argparse.Namespace) -> LaunchSettings:
    return LaunchSettings(
        device=args.device,
        gpu_ids=parse_gpu_ids(args.gpu_id),
        nproc=args.nproc,
        nodes=args.nodes,
        node_rank=args.node_rank,
        master_addr=args.dist_master_addr,
        master_port=str(args.dist_master_port),
        backend=args.dist_backend,
    )


def run_cli(main: Callable[[], None]) -> int:
    """Run ``main``; a ``HandmeshError`` prints ``error: <message>`` on stderr and returns 2."""
    try:
        main()
    except HandmeshError as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return USAGE_ERROR
    return 0
