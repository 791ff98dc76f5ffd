"""Test a checkpoint: ``python -m train.test_model --cfg EXP/dump_cfg.yaml --reload CKPT``.

Exact evaluation on ``DATASET.TEST`` on CPU or 1..N GPUs / processes; results in
``exp/{exp_id}_{timestamp}/evaluations/test_eval.json`` (MPJPE, PA-MPJPE, PCK-AUC in mm).
"""

from __future__ import annotations

import argparse
import sys

from handmesh.config import add_opts_argument
from handmesh.engine.cli import (
    ArgumentParser,
    add_launch_arguments,
    launch_settings,
    non_negative_int,
    positive_int,
    run_cli,
)
from handmesh.engine.runner import eval_config, run_testing
from handmesh.engine.tester import EvalOptions


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cfg", default=None, help="config file, e.g. an experiment's dump_cfg.yaml"
    )
    parser.add_argument("--reload", default=None, help="checkpoint file ({Model}.pth.tar)")
    parser.add_argument("--exp_id", default=None, help="default: eval_{experiment}_ckp{N}")
    parser.add_argument("--exp_root", default="exp", help="where experiment directories go")
    parser.add_argument(
        "--workers", type=non_negative_int, default=8, help="DataLoader workers in total"
    )
    parser.add_argument(
        "--batch_size",
        type=positive_int,
        default=None,
        help="samples per evaluation batch (each process runs whole batches); "
        "default TRAIN.BATCH_SIZE",
    )
    parser.add_argument(
        "--untrained", action="store_true", help="test the model without loading weights"
    )
    add_launch_arguments(parser)
    add_opts_argument(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = eval_config(args.cfg, args.opts, args.reload, args.untrained)
    options = EvalOptions(
        reload=args.reload,
        exp_id=args.exp_id,
        exp_root=args.exp_root,
        workers=args.workers,
        batch_size=args.batch_size,
    )
    run_testing(cfg, options, launch_settings(args))


if __name__ == "__main__":
    sys.exit(run_cli(main))
