"""Train IKNet weights: ``python -m train.train_iknet [--allow_synthetic] [--out PATH]``.

For when OakInk-HMR's official ``assets/postprocess/iknet.pt`` is not at hand, or for another MANO
model: trains IKNet on random poses of the MANO model in use (``--mano_root``,
``$HANDMESH_MANO_ROOT`` or ``assets/mano_v1_2/models``; ``--allow_synthetic`` falls back to the
built-in synthetic hand) and writes ``assets/postprocess/iknet.pt`` (``{"model": state_dict}``, the
official layout) atomically. Interrupted runs continue with ``--resume`` and the same flags.
"""

from __future__ import annotations

import argparse
import sys

import torch
from tqdm import tqdm

from handmesh.engine.cli import ArgumentParser, positive_int, run_cli
from handmesh.iknet.training import IKNetTrainConfig, train_iknet
from handmesh.iknet.weights import DEFAULT_IKNET_PATH
from handmesh.mano import MANO
from handmesh.mano.synthetic import SYNTHETIC_MANO_NOTE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = IKNetTrainConfig()
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_IKNET_PATH), help="weights file to write")
    parser.add_argument("--mano_root", default=None, help="MANO_RIGHT.pkl or its folder")
    parser.add_argument(
        "--allow_synthetic",
        action="store_true",
        help="use the built-in synthetic hand when the MANO file is missing",
    )
    parser.add_argument("--steps", type=positive_int, default=defaults.steps)
    parser.add_argument("--batch_size", type=positive_int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr, help="Adam, cosine decay")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--pool_size", type=positive_int, default=defaults.pool_size)
    parser.add_argument("--pose_jitter", type=float, default=defaults.pose_jitter)
    parser.add_argument("--joint_noise", type=float, default=defaults.joint_noise)
    parser.add_argument("--save_every", type=positive_int, default=defaults.save_every)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--resume", action="store_true", help="continue from OUT.state.pt")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = IKNetTrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        pool_size=args.pool_size,
        pose_jitter=args.pose_jitter,
        joint_noise=args.joint_noise,
        save_every=args.save_every,
    )
    config.check()
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    mano = MANO(
        side="right", model_path=args.mano_root, flat_hand_mean=True,
        allow_synthetic=args.allow_synthetic,
    )  # fmt: skip
    if mano.is_synthetic:
        print(SYNTHETIC_MANO_NOTE)
    print(f"Training IKNet for {config.steps} steps of {config.batch_size} on {device}; MANO: "
          f"{mano.source}")  # fmt: skip
    bar = tqdm(total=config.steps, desc="IKNet", dynamic_ncols=True, mininterval=1.0)

    def progress(step: int, steps: int, info: dict[str, float]) -> None:
        bar.set_postfix(loss=f"{info['loss']:.4f}", refresh=False)
        bar.update(step - bar.n)

    _, result = train_iknet(
        mano, args.out, config=config, device=device, resume=args.resume, progress=progress
    )
    bar.close()
    print(
        f"IK error on held-out poses: {result['ik_error_mm_before']:.1f} mm untrained -> "
        f"{result['ik_error_mm_after']:.1f} mm trained; wrote {args.out}"
    )


if __name__ == "__main__":
    sys.exit(run_cli(main))
