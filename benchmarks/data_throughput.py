"""Data-loading throughput: SyntheticHands or OakInk + the OakInk transform at 224 x 224 crops.

    python benchmarks/data_throughput.py --samples 200 --workers 2
    python benchmarks/data_throughput.py --dataset oakink --samples 440 --workers 2 \
        [--data_root DIR]

SyntheticHands reports, in one run: samples/s in process (one core) with the share of time spent
in MANO, rendering (rasterize + shade + composite), scene drawing (background, occluders) and the
transform; then samples/s through a DataLoader with N workers and samples/s per worker.

OakInk (``--data_root``: a folder holding ``OakInk/image``; default: a tree generated in a temp
folder with the test generator, 848 x 480 PNGs, packed for split ``all``) reports, for the raw and
the packed annotations side by side: the time to the first batch (dataset construction, worker
start-up, first batch), samples/s in process (reading vs transform) and through the DataLoader,
and what opening every packed pickle at start-up would cost next to the index check.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import torch

from handmesh.data import HandTransform, SyntheticHands, collate, sample_rng
from handmesh.data.datasets import OakInk
from handmesh.data.oakink import info_str, pack_split, read_packed
from handmesh.data.oakink.packed import check_index, write_index
from handmesh.data.oakink.splits import read_info_file

REPO = Path(__file__).resolve().parents[1]
OAKINK_SPLIT = ("default", "all")
SP0_TRAIN_VAL = 232_049  # samples in OakInk's SP0 train+val split


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("synthetic", "oakink"), default="synthetic")
    parser.add_argument(
        "--data_root", default=None, help="oakink: folder holding OakInk/image (default: generate)"
    )
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


def in_process_synthetic(dataset: SyntheticHands, count: int) -> dict[str, float]:
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


def with_loader(
    dataset: torch.utils.data.Dataset, workers: int, batch_size: int
) -> dict[str, float]:
    """Wall seconds, worker CPU seconds and samples for one pass through a DataLoader.

    Wall time starts after the first batch (``first_batch``: worker start-up and the first batch);
    worker CPU time (from the workers' resource usage once they have exited) covers the whole pass.
    """
    cpu_start = _children_cpu()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate
    )
    begin = time.perf_counter()
    iterator = iter(loader)
    first = next(iterator)
    start = time.perf_counter()
    count = 0
    for batch in iterator:
        count += len(batch["sample_idx"])
    seconds = time.perf_counter() - start
    del iterator  # joins the workers, so their CPU time is accounted
    return {
        "first_batch": start - begin,
        "wall": seconds,
        "samples": count,
        "worker_cpu": _children_cpu() - cpu_start,
        "all_samples": count + len(first["sample_idx"]),
    }


def run_synthetic(args: argparse.Namespace) -> None:
    dataset = make_dataset(args)
    print(f"SyntheticHands raw {args.raw_size[0]}x{args.raw_size[1]} -> crops "
          f"{args.image_size}x{args.image_size}, aug={args.aug}, {args.samples} samples, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    totals = in_process_synthetic(dataset, args.samples)
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


def oakink_tree(args: argparse.Namespace, folder: str) -> Path:
    """``--data_root``, or a generated tree of at least ``--samples`` samples, packed."""
    if args.data_root:
        return Path(args.data_root)
    if str(REPO) not in sys.path:  # the generator lives with the tests
        sys.path.insert(0, str(REPO))
    from tests.data.oakink.oakink_tree import make_oakink_tree

    start = time.perf_counter()
    tree = make_oakink_tree(Path(folder) / "OakInk", frames_scale=max(1, -(-args.samples // 22)))
    report = pack_split(tree.data_dir, *OAKINK_SPLIT, workers=max(1, args.workers), progress=False)
    print(f"generated {len(tree.samples)} samples and packed them in "
          f"{time.perf_counter() - start:.1f} s under {folder}")  # fmt: skip
    assert report.complete
    return Path(folder)


def oakink_dataset(args: argparse.Namespace, root: Path, use_pack: bool) -> OakInk:
    size = (args.image_size, args.image_size)
    transform = HandTransform(image_size=size, train=args.aug, aug=args.aug)
    mode, split = OAKINK_SPLIT
    return OakInk(root, split, mode, use_pack=use_pack, transform=transform)


def in_process_oakink(dataset: OakInk, count: int) -> dict[str, float]:
    """Seconds reading raw samples (image + annotations) and transforming them, one thread."""
    totals = {"read": 0.0, "transform": 0.0}
    for index in range(count):
        start = time.perf_counter()
        raw = dataset.get_raw(index)
        middle = time.perf_counter()
        rng = sample_rng(dataset.seed, index) if dataset.transform.aug else None
        dataset.transform(raw, rng)
        totals["read"] += middle - start
        totals["transform"] += time.perf_counter() - middle
    return totals


def run_oakink(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="oakink_bench_") as folder:
        root = oakink_tree(args, folder)
        print(f"OakInk {OAKINK_SPLIT[0]}/{OAKINK_SPLIT[1]} -> crops {args.image_size}x"
              f"{args.image_size}, aug={args.aug}, batch {args.batch_size}, {args.workers} "
              f"workers, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
        for use_pack in (False, True):
            start = time.perf_counter()
            dataset = oakink_dataset(args, root, use_pack)
            built = time.perf_counter() - start
            result = with_loader(dataset, args.workers, args.batch_size)
            count = min(len(dataset), args.samples)
            totals = in_process_oakink(dataset, count)
            per_sample = (totals["read"] + totals["transform"]) / count
            rate = result["samples"] / result["wall"] if result["wall"] > 0 else float("nan")
            print(f"{'packed' if use_pack else 'raw   '} ({len(dataset)} samples): first batch "
                  f"{built + result['first_batch']:.2f} s (dataset {built:.2f} s + loader "
                  f"{result['first_batch']:.2f} s); DataLoader {rate:.1f} samples/s; in process "
                  f"{1 / per_sample:.1f} samples/s (read {totals['read'] / count * 1e3:.1f} ms + "
                  f"transform {totals['transform'] / count * 1e3:.1f} ms per sample)")  # fmt: skip
        dataset = oakink_dataset(args, root, True)
        start = time.perf_counter()
        check_index(dataset.pack_dir, split_path=dataset.reader.split_path,
                    info_strs=dataset.info_str_list)  # fmt: skip
        index_seconds = time.perf_counter() - start
        start = time.perf_counter()
        for name in dataset.info_str_list:
            read_packed(dataset.pack_dir / f"{name}.pkl")
        open_all = time.perf_counter() - start
        print(f"start-up check of {len(dataset)} packed samples: index {index_seconds * 1e3:.1f} "
              f"ms vs opening every pickle {open_all * 1e3:.1f} ms "
              f"({open_all / max(index_seconds, 1e-9):.0f}x)")  # fmt: skip
        startup_at_scale(Path(folder), open_all / len(dataset))


def startup_at_scale(folder: Path, seconds_per_pickle: float) -> None:
    """The packed dataset's start-up work (read the split list, check the index) for a list as
    long as SP0 train+val, next to opening that many pickles at the rate measured above."""
    entries = [
        [f"A{i // 4000:05d}_0001_0000/2021-09-26-19-59-58", 0, i % 4000 // 4, i % 4]
        for i in range(SP0_TRAIN_VAL)
    ]
    split_path = folder / "large_split.json"
    split_path.write_text(json.dumps(entries))
    pack_dir = folder / "large_pack"
    names = [info_str(tuple(entry)) for entry in entries]  # type: ignore[arg-type]
    write_index(pack_dir, mode_split="default", data_split="train+val", split_path=split_path,
                info_strs=names)  # fmt: skip
    start = time.perf_counter()
    items = read_info_file(split_path)
    check_index(pack_dir, split_path=split_path, info_strs=[info_str(item) for item in items])
    seconds = time.perf_counter() - start
    print(f"start-up for {SP0_TRAIN_VAL} samples (SP0 train+val): split list + index check "
          f"{seconds:.2f} s; opening {SP0_TRAIN_VAL} pickles at the rate above would take "
          f"{seconds_per_pickle * SP0_TRAIN_VAL:.0f} s")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    if args.dataset == "oakink":
        run_oakink(args)
    else:
        run_synthetic(args)


if __name__ == "__main__":
    main()
