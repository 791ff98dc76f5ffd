"""Speed of handmesh.render.rasterize / render_mesh on a hand mesh, on one CPU thread.

Renders the built-in synthetic MANO-format hand (778 vertices, 1538 faces, from
``handmesh.mano.synthetic``) at 640x480 covering about 150x150 px, at 224x224 filling the frame,
and at 96x96 (the hand-region size ``SyntheticHands`` renders), batch 1 and 16. Side by side, in
the same process, a naive dense rasterizer (every pixel centre against every face, in chunks of
faces) gives the speed-up; its time is measured on one image and is linear in the batch size. The
naive result also cross-checks the face ids.

    python benchmarks/render.py [--repeats 10] [--threads 1] [--device cpu] [--clock process]
                                [--skip-naive]

Times are CPU time of this process by default (``--clock wall`` for wall-clock time), the fairer
measure on a machine shared with other jobs; each is the best of 5 means over ``--repeats`` calls.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from handmesh.mano.synthetic import build_synthetic_mano_dict
from handmesh.render import rasterize, render_mesh

# (name, H, W, focal px, hand length in pixels)
SCENES = [
    ("640x480, hand ~150 px", 480, 640, 600.0, 150.0),
    ("224x224, hand fills it", 224, 224, 250.0, 220.0),
    ("96x96 hand region", 96, 96, 120.0, 90.0),
]


def hand_mesh() -> tuple[Tensor, Tensor]:
    """The synthetic hand's template, palm towards the camera, centred: (778, 3) m, (1538, 3)."""
    model = build_synthetic_mano_dict("right")
    verts = torch.as_tensor(np.asarray(model["v_template"]), dtype=torch.float32)
    faces = torch.as_tensor(np.asarray(model["f"]).astype(np.int64))
    palm_to_camera = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    verts = verts @ palm_to_camera.T
    return verts - verts.mean(dim=0), faces


def naive_rasterize(verts: Tensor, faces: Tensor, intr: Tensor, height: int, width: int) -> Tensor:
    """Reference: every pixel centre tested against every face; (B, H, W) face ids or -1."""
    screen = torch.einsum("bij,bvj->bvi", intr[:, :2], verts) / verts[..., 2:3]
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    pixels = torch.stack([xs, ys], dim=-1).reshape(-1, 1, 2).to(verts.dtype)
    out = []
    for b in range(verts.shape[0]):
        best_z = torch.full((height * width,), math.inf)
        best_face = torch.full((height * width,), -1, dtype=torch.int64)
        for lo in range(0, faces.shape[0], 64):
            chunk = faces[lo : lo + 64]
            corners = screen[b, chunk]  # (C, 3, 2)
            edge_fns = []
            for i in range(3):
                start, end = corners[:, (i + 1) % 3], corners[:, (i + 2) % 3]
                rel, edge = pixels - start[None], end - start
                edge_fns.append(edge[None, :, 0] * rel[..., 1] - edge[None, :, 1] * rel[..., 0])
            edge_fn = torch.stack(edge_fns, dim=-1)  # (P, C, 3)
            area = edge_fn.sum(dim=-1, keepdim=True)
            bary = edge_fn / area
            inside = (bary >= 0).all(dim=-1) & (area[..., 0] != 0)
            depth = 1.0 / (bary / verts[b, chunk, 2][None]).sum(dim=-1)
            depth = torch.where(inside, depth, torch.full_like(depth, math.inf))
            chunk_z, chunk_arg = depth.min(dim=1)
            closer = chunk_z < best_z
            best_z = torch.where(closer, chunk_z, best_z)
            best_face = torch.where(closer, chunk_arg + lo, best_face)
        out.append(best_face.reshape(height, width))
    return torch.stack(out)


def seconds_per_call(fn: Callable[[], object], repeats: int, clock: Callable[[], float]) -> float:
    """Best of 5 means over ``repeats`` calls, after a warm-up call."""
    fn()
    best = math.inf
    for _ in range(5):
        start = clock()
        for _ in range(repeats):
            fn()
        best = min(best, (clock() - start) / repeats)
    return best


def posed_batch(verts: Tensor, batch: int, depth: float) -> Tensor:
    """(batch, V, 3): the hand turned by a different angle (0 to 0.5 rad) about y per sample."""
    angle = torch.linspace(0, 0.5, batch)
    rot = torch.zeros(batch, 3, 3)
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1] = angle.cos(), angle.sin(), 1.0
    rot[:, 2, 0], rot[:, 2, 2] = -angle.sin(), angle.cos()
    return verts @ rot.transpose(1, 2) + torch.tensor([0.0, 0.0, depth])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clock", choices=["process", "wall"], default="process")
    parser.add_argument("--skip-naive", action="store_true", help="no naive reference (slow)")
    args = parser.parse_args()
    clock = time.process_time if args.clock == "process" else time.perf_counter
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    verts, faces = hand_mesh()
    hand_length_m = float((verts.amax(0) - verts.amin(0))[:2].max())

    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {device}, "
        f"{args.clock} time; mesh {verts.shape[0]} vertices, "
        f"{faces.shape[0]} faces"
    )
    print(
        f"{'scene':<24}{'B':>4}{'raster ms/img':>15}{'render ms/img':>15}{'render img/s':>14}"
        f"{'naive ms/img':>14}{'speed-up':>10}{'ids agree':>11}"
    )
    for name, height, width, focal, hand_px in SCENES:
        depth = focal * hand_length_m / hand_px
        intr = torch.tensor([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1]])
        naive_s = math.nan
        agree = math.nan
        for batch in (1, 16):
            v = posed_batch(verts, batch, depth).to(device)
            k = intr.expand(batch, 3, 3).to(device)
            f = faces.to(device)
            size = (height, width)
            raster_s = seconds_per_call(lambda: rasterize(v, f, k, size), args.repeats, clock)  # noqa: B023
            render_s = seconds_per_call(lambda: render_mesh(v, f, k, size), args.repeats, clock)  # noqa: B023
            if batch == 1 and not args.skip_naive:
                start = clock()
                naive_ids = naive_rasterize(v.cpu(), faces, k.cpu(), height, width)
                naive_s = clock() - start
                ids = rasterize(v, f, k, size).face_idx.cpu()
                agree = (ids == naive_ids).float().mean().item()
            per_image = raster_s / batch
            print(
                f"{name:<24}{batch:>4}{per_image * 1e3:>15.2f}{render_s / batch * 1e3:>15.2f}"
                f"{batch / render_s:>14.0f}{naive_s * 1e3:>14.0f}{naive_s / per_image:>9.0f}x"
                f"{agree:>11.5f}"
            )


if __name__ == "__main__":
    main()
