"""Throughput of SyntheticHands + the OakInk transform at 224 x 224 crops.

    python benchmarks/data_throughput.py --samples 200 --workers 2

Reports, in one run: samples/s in process (one core) with the share of time spent in MANO,
rendering (rasterize + shade + composite), scene drawing (background, occluders) and the
transform; then samples/s through a DataLoader with N workers and samples/s per worker.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Sequence

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import torch

from handmesh.data import HandTransform, SyntheticHands, collate, sample_rng


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--raw-size", type=int, nargs=2, default=(640, 480), metavar=("W", "H"))
    parser.add_argument("--aug", action="store_true", help="train transform with augmentation")
    return parser.parse_args(argv)


def make_dataset(args: argparse.Namespace) -> SyntheticHands:
    size = (args.image_size, args.image_size)
    transform = HandTransform(image_size=size, train=args.aug, aug=args.aug)
    return SyntheticHands(
        num_samples=args.samples, data_split="train", raw_size=args.raw_size, transform=transform
    )


def in_process(dataset: SyntheticHands, count: int) -> dict[str, float]:
    """Seconds per stage over ``count`` samples, one process, one thread (wall clock), plus the
    process's CPU seconds (``cpu``), which contention from other processes barely changes."""
    dataset.hand_model("right")  # build the layer outside the timed loop
    totals = {"mano": 0.0, "render": 0.0, "scene": 0.0, "transform": 0.0, "total": 0.0}
    cpu_start = time.process_time()
    for index in range(count):
        start = time.perf_counter()
        raw, info = dataset.render_sample(index)
        middle = time.perf_counter()
        rng = sample_rng(dataset.seed, index) if dataset.transform.aug else None
        dataset.transform(raw, rng)
        end = time.perf_counter()
        for key, seconds in info["timings"].items():
            totals[key] += seconds
        totals["transform"] += end - middle
        totals["total"] += end - start
    totals["cpu"] = time.process_time() - cpu_start
    totals["other"] = totals["total"] - sum(
        totals[k] for k in ("mano", "render", "scene", "transform")
    )
    return totals


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def with_loader(dataset: SyntheticHands, workers: int, batch_size: int) -> dict[str, float]:
    """Wall seconds, worker CPU seconds and samples for one pass through a DataLoader.

    Wall time starts after the first batch (worker start-up is not counted); worker CPU time
    (from the workers' resource usage once they have exited) covers the whole pass.
    """
    cpu_start = _children_cpu()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate
    )
    iterator = iter(loader)
    first = next(iterator)
    start = time.perf_counter()
    count = 0
    for batch in iterator:
        count += len(batch["sample_idx"])
    seconds = time.perf_counter() - start
    del iterator  # joins the workers, so their CPU time is accounted
    return {
        "wall": seconds,
        "samples": count,
        "worker_cpu": _children_cpu() - cpu_start,
        "all_samples": count + len(first["sample_idx"]),
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    dataset = make_dataset(args)
    print(f"SyntheticHands raw {args.raw_size[0]}x{args.raw_size[1]} -> crops "
          f"{args.image_size}x{args.image_size}, aug={args.aug}, {args.samples} samples, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    totals = in_process(dataset, args.samples)
    rate = args.samples / totals["total"]
    print(f"in process: {rate:7.1f} samples/s wall clock ({1000 / rate:.1f} ms/sample), "
          f"{args.samples / totals['cpu']:7.1f} samples per CPU-second")  # fmt: skip
    for key in ("mano", "render", "scene", "transform", "other"):
        print(f"  {key:<10} {totals[key] / totals['total']:6.1%}")
    print(f"  render : rest = {totals['render'] / (totals['total'] - totals['render']):.2f}")
    if args.workers > 0:
        result = with_loader(dataset, args.workers, args.batch_size)
        rate = result["samples"] / result["wall"]
        per_cpu = result["all_samples"] / result["worker_cpu"]
        print(f"DataLoader, {args.workers} workers: {rate:7.1f} samples/s wall clock "
              f"({rate / args.workers:.1f} per worker), {per_cpu:7.1f} samples per worker "
              f"CPU-second")  # fmt: skip


if __name__ == "__main__":
    main()
