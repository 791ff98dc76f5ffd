"""Training throughput of the backbones: forward + backward images/s, contiguous vs channels_last.

Each variant is built once (random weights, train mode) and copied; one copy runs contiguous
(NCHW) tensors, the other has model and input in ``torch.channels_last`` (NHWC). On a random batch
at 224x224 (batch 8 by default), after one warm-up step each, ``--rounds`` alternating measurements
of ``--iters`` forward+backward steps are taken per layout and the median is reported (alternating
keeps load from other processes from favouring one side). The loss is the sum of the means of
every output, so every output feeds the backward pass. One table shows both layouts and their
ratio side by side.

    python benchmarks/backbones.py [--variants resnet18,resnet50] [--iters 2] [--rounds 3]
        [--threads 1] [--batch 8] [--size 224] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from handmesh.backbones import FPN, HRNet, ResNet

VARIANTS: dict[str, Callable[[], nn.Module]] = {
    "resnet18": lambda: ResNet(depth=18),
    "resnet34": lambda: ResNet(depth=34),
    "resnet50": lambda: ResNet(depth=50),
    "resnet50_oakink": lambda: ResNet(depth=50, frozen_bn="oakink"),
    "resnet101": lambda: ResNet(depth=101),
    "resnet152": lambda: ResNet(depth=152),
    "hrnet_w18": lambda: HRNet(width=18),
    "hrnet_w32": lambda: HRNet(width=32),
    "hrnet_w40": lambda: HRNet(width=40),
    "hrnet_w48": lambda: HRNet(width=48),
    "hrnet_w64": lambda: HRNet(width=64),
    "fpn": lambda: FPN(),
}


def _loss(outputs: object) -> torch.Tensor:
    tensors = outputs.values() if isinstance(outputs, dict) else outputs
    return sum(t.float().mean() for t in tensors)


def _stepper(
    model: nn.Module, batch: int, size: int, device: str, channels_last: bool
) -> Callable[[], None]:
    """One forward+backward step of ``model`` on a fixed random batch in the given layout."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format).train()
    image = torch.randn(batch, 3, size, size, device=device).to(memory_format=memory_format)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        _loss(model(image)).backward()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    return step


def _images_per_second(step: Callable[[], None], batch: int, iters: int) -> float:
    start = time.perf_counter()
    for _ in range(iters):
        step()
    return batch * iters / (time.perf_counter() - start)


def compare_layouts(
    model: nn.Module, batch: int, size: int, iters: int, rounds: int, device: str
) -> tuple[float, float]:
    """Median images/s (NCHW, NHWC) over ``rounds`` alternating measurements of ``iters`` steps.

    Both layouts start from the same weights; alternating makes load from other processes hit
    both sides alike.
    """
    steps = {
        False: _stepper(copy.deepcopy(model), batch, size, device, channels_last=False),
        True: _stepper(model, batch, size, device, channels_last=True),
    }
    for step in steps.values():
        step()  # warm-up
    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for channels_last, step in steps.items():
            rates[channels_last].append(_images_per_second(step, batch, iters))
    return statistics.median(rates[False]), statistics.median(rates[True])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    parser.add_argument("--iters", type=int, default=2, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements (median)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print(
        f"forward+backward, batch {args.batch}, {args.size}x{args.size}, median of {args.rounds} "
        f"rounds of {args.iters} iters, "
        f"device {args.device}, {args.threads} thread(s), torch {torch.__version__}"
    )
    header = f"{'variant':<16}{'params M':>10}{'NCHW img/s':>13}{'NHWC img/s':>13}{'NHWC/NCHW':>11}"
    print(header)
    print("-" * len(header))
    for name in names:
        model = VARIANTS[name]()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        nchw, nhwc = compare_layouts(
            model, args.batch, args.size, args.iters, args.rounds, args.device
        )
        print(f"{name:<16}{params:>10.1f}{nchw:>13.2f}{nhwc:>13.2f}{nhwc / nchw:>11.2f}")


if __name__ == "__main__":
    main()
