"""Speed of the HandTailor fit: ms per sample of the batched fit at batch 1, 16, 64 and 256.

The fit (IKNet, 20 Adam steps, the final mesh) runs on natural random hands of the MANO model in
use (the built-in synthetic hand when the MANO files are absent). For each batch size, after one
warm-up call (its time is printed too: a new batch size costs no compilation), ``--rounds``
alternating measurements are taken of the batched fit and of a per-sample loop over the same
fitter (batch 1, the original's structure) on up to ``--loop_samples`` samples; medians are
reported side by side with their ratio, and the ratio to the original's 5.4 ms per sample
(OakInk-HMR's JAX fitting unit on the 2-core development CPU, warm, quoted from the issue).
The machine's load average is printed: on a shared machine wall-clock timings vary with it; the
process CPU time of the batched fit (meaningful with ``--threads 1``) varies less.

    python benchmarks/hand_tailor_fit.py [--batches 1,16,64,256] [--rounds 5] [--threads N]
        [--device cpu|cuda|all] [--iknet assets/postprocess/iknet.pt] [--reg_target batch]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

from handmesh.iknet import HandTailorFitter, IKNet, load_iknet
from handmesh.iknet.training import PoseSampler
from handmesh.mano import MANO

ORIGINAL_MS_PER_SAMPLE = 5.4
"""OakInk-HMR's per-sample JAX loop on the 2-core development CPU (warm), from the issue."""


def natural_joints(mano: MANO, batch: int, seed: int = 0) -> torch.Tensor:
    """(B, 21, 3) camera-space joints of natural random hands 0.6 m in front of the camera."""
    sampler = PoseSampler(mano, pool_size=max(batch, 64), seed=seed)
    so3, betas = sampler.sample(batch, torch.Generator().manual_seed(seed), pose_jitter=0.05)
    joints = sampler.joints(so3, betas)
    noise = 0.003 * torch.randn(joints.shape, generator=torch.Generator().manual_seed(seed + 1))
    return joints + noise + torch.tensor([0.02, -0.03, 0.6])


def _timed(run: Callable[[], object], device: str) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of ``run()``."""
    start, cpu = time.perf_counter(), time.process_time()
    run()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - cpu


def measure(
    fitter: HandTailorFitter, joints: torch.Tensor, rounds: int, loop_samples: int, device: str
) -> dict[str, float]:
    """Warm-up (first call) time and median ms/sample of the batched fit (wall and process CPU)
    and of the per-sample loop (wall)."""
    batch = joints.shape[0]
    looped = joints[: min(batch, loop_samples)]

    def batched() -> None:
        fitter(joints)

    def per_sample() -> None:
        for i in range(looped.shape[0]):
            fitter(looped[i : i + 1])

    first, _ = _timed(batched, device)
    _timed(per_sample, device)
    batched_ms, batched_cpu_ms, loop_ms = [], [], []
    for _ in range(rounds):
        wall, cpu = _timed(batched, device)
        batched_ms.append(wall * 1e3 / batch)
        batched_cpu_ms.append(cpu * 1e3 / batch)
        loop_ms.append(_timed(per_sample, device)[0] * 1e3 / looped.shape[0])
    return {
        "first_call_ms": first * 1e3,
        "batched": statistics.median(batched_ms),
        "batched_cpu": statistics.median(batched_cpu_ms),
        "loop": statistics.median(loop_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,16,64,256")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loop_samples", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as is)")
    parser.add_argument("--device", default="all", choices=("cpu", "cuda", "all"))
    parser.add_argument("--iknet", default=None, help="iknet.pt (default: random IKNet weights)")
    parser.add_argument("--reg_target", default="batch", choices=("batch", "sample"))
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    batches = [int(b) for b in args.batches.split(",")]

    mano = MANO(side="right", flat_hand_mean=True, allow_synthetic=True)
    iknet = load_iknet(args.iknet) if args.iknet else IKNet().eval()
    print(f"MANO: {mano.source}; IKNet: {args.iknet or 'random weights'}; reg_target "
          f"{args.reg_target}; torch threads {torch.get_num_threads()}; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")  # fmt: skip
    header = (f"{'device':>6} {'batch':>5} {'first call ms':>13} {'batched ms/sample':>17} "
              f"{'(process CPU)':>13} {'per-sample loop ms/sample':>25} {'loop/batched':>12} "
              f"{'original/batched':>16}")  # fmt: skip
    print(header)
    for device in devices:
        fitter = HandTailorFitter(iknet, mano=mano, reg_target=args.reg_target).to(device)
        for batch in batches:
            joints = natural_joints(mano, batch).to(device)
            result = measure(fitter, joints, args.rounds, args.loop_samples, device)
            print(
                f"{device:>6} {batch:>5} {result['first_call_ms']:>13.1f} "
                f"{result['batched']:>17.3f} {result['batched_cpu']:>13.3f} {result['loop']:>25.3f} "
                f"{result['loop'] / result['batched']:>12.1f} "
                f"{ORIGINAL_MS_PER_SAMPLE / result['batched']:>16.1f}"
            )


if __name__ == "__main__":
    main()
