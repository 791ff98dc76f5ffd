"""CPU cost of the OakInk-HMR models (and HandOccNet) against the original code's timings.

For each model, built from its published config in its own process at the published input size
with random weights (no ImageNet download; the synthetic MANO hand if no MANO file): one
training step at batch 4 (forward, loss, backward, Adam step) and an eval forward (no grad) at
batch 1 and batch 8, each the median of ``--repeats`` runs after one warm-up. The table shows the
seconds and their ratio to the anchors, the medians measured with the original implementations on
the project's 2-core CPU; a ratio <= 1.0 means no slower than the original. Timings on a shared
machine vary by tens of percent: compare ratios from one quiet run.

    python benchmarks/models.py [--models IntegralPose,RegressFlow3D] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from handmesh.geometry.camera import project_points, xyz_to_uvd


@dataclass(frozen=True)
class Entry:
    """A benchmarked model: its published config, input size (px) and the anchors (train b4,
    eval b1, eval b8 seconds of the original implementation)."""

    config: str | None
    image_size: int
    anchors: tuple[float, float, float]
    note: str = ""


MODELS: dict[str, Entry] = {
    "IntegralPose": Entry("config/oii/train_integral_pose_oii_sp0.yml", 224, (0.979, 0.075, 0.537)),
    "RegressFlow3D": Entry("config/oii/train_res_loglike_oii_sp0.yml", 224, (0.914, 0.064, 0.509)),
    "I2L_MeshNet": Entry("config/oii/train_i2l_meshnet_oii_sp0.yml", 256, (4.35, 0.286, 3.32)),
    "HandOccNet": Entry("config/handoccnet/train_handoccnet_ho3d.yml", 256, (3.70, 0.256, 2.48)),
}


def _without_pretrained(node: Any) -> Any:
    """A copy of a config node with every nested ``PRETRAINED`` switched off (random weights:
    nothing is downloaded or read)."""
    if isinstance(node, dict):
        return {
            k: (False if k == "PRETRAINED" else _without_pretrained(v)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_without_pretrained(v) for v in node]
    return node


def build_model(name: str) -> nn.Module:
    """The model of ``MODELS[name]`` built from its published config, random weights, with the
    built-in synthetic MANO hand when no MANO file is installed (same array sizes)."""
    from handmesh.config import config_to_dict, load_config
    from handmesh.registry import MODELS as REGISTRY
    from handmesh.registry import build

    entry = MODELS[name]
    assert entry.config is not None
    cfg = load_config(entry.config)
    preset = {**dict(cfg.DATA_PRESET), "ALLOW_SYNTHETIC_MANO": True}
    node = _without_pretrained(config_to_dict(cfg)["MODEL"])
    return build(node, REGISTRY, data_preset=preset)


def make_batch(batch_size: int, image_size: int, generator: torch.Generator) -> dict[str, Any]:
    """A collated batch with every target the models read, geometrically consistent (metres)."""
    num_joints, num_verts = 21, 778
    focal, centre = 2.2 * image_size, image_size / 2
    intr = torch.tensor([[focal, 0.0, centre], [0.0, focal, centre], [0.0, 0.0, 1.0]])
    intr = intr.expand(batch_size, 3, 3).clone()
    root = torch.tensor([0.0, 0.0, 0.6]) + 0.02 * torch.randn(batch_size, 3, generator=generator)
    joints = root[:, None] + 0.04 * torch.randn(batch_size, num_joints, 3, generator=generator)
    verts = root[:, None] + 0.05 * torch.randn(batch_size, num_verts, 3, generator=generator)
    size = (image_size, image_size)
    return {
        "image": torch.rand(batch_size, 3, image_size, image_size, generator=generator) - 0.5,
        "target_root_joint": root,
        "target_cam_intr": intr,
        "target_joints_3d": joints,
        "target_joints_3d_rel": joints - root[:, None],
        "target_joints_2d": project_points(joints, intr),
        "target_joints_uvd": xyz_to_uvd(joints, root, intr, size),
        "target_joints_vis": torch.ones(batch_size, num_joints),
        "target_verts_3d": verts,
        "target_verts_3d_rel": verts - root[:, None],
        "target_verts_uvd": xyz_to_uvd(verts, root, intr, size),
        "target_verts_vis": torch.ones(batch_size, num_verts),
        "mano_pose": 0.3 * torch.randn(batch_size, 48, generator=generator),  # HandOccNet's targets
        "mano_shape": 0.5 * torch.randn(batch_size, 10, generator=generator),
    }


def _median_seconds(run: Callable[[], None], repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, repeats: int) -> dict[str, float]:
    """Train-step (batch 4) and eval-forward (batch 1, 8) medians in seconds for one model."""
    entry = MODELS[name]
    generator = torch.Generator().manual_seed(0)
    model = build_model(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    train_batch = make_batch(4, entry.image_size, generator)

    def train_step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = model.compute_loss(model(train_batch), train_batch)["final_loss"]
        loss.backward()
        optimizer.step()

    result = {"train_b4": _median_seconds(train_step, repeats)}
    model.eval()
    for size in (1, 8):
        eval_batch = make_batch(size, entry.image_size, generator)

        def forward(batch: dict[str, Any] = eval_batch) -> None:
            with torch.no_grad():
                model(batch)

        result[f"eval_b{size}"] = _median_seconds(forward, repeats)
    return result


def _run_child(name: str, args: argparse.Namespace) -> dict[str, float] | str:
    command = [sys.executable, __file__, "--child", name, "--repeats", str(args.repeats)]
    command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated names")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per cell (median)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads per model")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(measure(args.child, args.repeats)))
        return
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    print(
        f"CPU, {args.threads} thread(s), median of {args.repeats} runs after a warm-up, "
        f"torch {torch.__version__}; ratio = seconds / original's seconds (<= 1.0: no slower)"
    )
    cells = ("train_b4", "eval_b1", "eval_b8")
    header = f"{'model':<15}{'size':>6}" + "".join(f"{c + ' s':>12}{'ratio':>8}" for c in cells)
    print(header)
    print("-" * len(header))
    for name in names:
        entry = MODELS[name]
        line = f"{name:<15}{entry.image_size:>6}"
        if entry.config is None:
            print(f"{line}  skipped: {entry.note}")
            continue
        result = _run_child(name, args)
        if isinstance(result, str):
            print(f"{line}  {result}")
            continue
        for cell, anchor in zip(cells, entry.anchors):
            line += f"{result[cell]:>12.3f}{result[cell] / anchor:>8.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
