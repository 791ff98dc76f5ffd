"""Train a model: ``python -m train.train_model --cfg CONFIG.yml [--gpu_id 0,1 | --nproc 2]``.

Flags follow OakInk-HMR; ``--opts KEY VALUE ...`` overrides config entries. Results land in
``exp/{exp_id}_{timestamp}/`` (printed at the end); ``--resume EXP_DIR`` continues a run there.
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
from handmesh.engine.runner import run_training, train_config
from handmesh.engine.trainer import TrainOptions


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", default=None, help="config file (YAML)")
    parser.add_argument("--exp_id", default="default", help="experiment name prefix")
    parser.add_argument("--exp_root", default="exp", help="where experiment directories go")
    parser.add_argument("--resume", default=None, help="experiment directory to continue")
    parser.add_argument("--reload", default=None, help="checkpoint to initialise the model from")
    parser.add_argument(
        "--workers", type=non_negative_int, default=8, help="DataLoader workers in total"
    )
    parser.add_argument(
        "--batch_size", type=positive_int, default=None, help="total batch (all processes)"
    )
    parser.add_argument(
        "--val_batch_size", type=positive_int, default=None, help="per-process val batch"
    )
    parser.add_argument("--snapshot", type=int, default=10, help="keep checkpoint_N every N epochs")
    parser.add_argument(
        "--checkpoint_interval",
        type=positive_int,
        default=1,
        help="write the resumable checkpoint every N epochs (and after the last one)",
    )
    parser.add_argument(
        "--eval_interval", type=int, default=5, help="validate every N epochs (-1: never)"
    )
    parser.add_argument(
        "--skip_untrained_eval", action="store_true", help="do not test the model before training"
    )
    add_launch_arguments(parser)
    add_opts_argument(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = train_config(args.cfg, args.opts, args.resume, args.batch_size, args.reload)
    options = TrainOptions(
        exp_id=args.exp_id,
        exp_root=args.exp_root,
        resume=args.resume,
        workers=args.workers,
        val_batch_size=args.val_batch_size,
        snapshot=args.snapshot,
        checkpoint_interval=args.checkpoint_interval,
        eval_interval=args.eval_interval,
        evaluate_untrained=not args.skip_untrained_eval,
    )
    run_training(cfg, options, launch_settings(args))


if __name__ == "__main__":
    sys.exit(run_cli(main))
