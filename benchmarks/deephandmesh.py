"""DeepHandMesh at the real hand model's size (~12.5k vertices): reader and Laplacian, side by side.

1. Reading ``hand.obj`` + ``skinning_weight.txt``: handmesh's reader (one pass into lists) vs a
   reader that grows its arrays with ``np.concatenate`` per line, as the original does (quadratic).
2. The Laplacian smoothness term on a batch of meshes: handmesh's sparse edge list vs the
   original's dense V x V matrix (its construction, and forward + backward of the loss).

The mesh is the synthetic hand subdivided (each triangle into four) until it has at least
``--verts`` vertices, written in the published format to a temporary directory. Timings are the
median of ``--rounds`` alternating runs (alternating keeps other load from favouring one side).

    python benchmarks/deephandmesh.py [--verts 12000] [--batch 8] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from handmesh.deephandmesh.hand_model import HandTemplate, read_hand_obj, read_skinning_weights
from handmesh.deephandmesh.losses import LaplacianLoss
from handmesh.deephandmesh.synthetic_model import build_synthetic_template, write_hand_model


def subdivide(template: HandTemplate, min_verts: int) -> HandTemplate:
    """Loop-free midpoint subdivision (4 triangles per triangle) until ``min_verts`` vertices;
    weights, UVs and poses carried along (UVs and weights averaged at the midpoints)."""
    verts, faces, weights = template.verts, template.faces, template.skinning_weights
    uvs, face_uvs = template.uvs, template.face_uvs
    while len(verts) < min_verts:
        edges = np.sort(faces[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2), axis=1)
        unique, inverse = np.unique(edges, axis=0, return_inverse=True)
        mid = len(verts) + inverse.reshape(-1, 3)
        verts = np.vstack([verts, verts[unique].mean(1)]).astype(np.float32)
        weights = np.vstack([weights, weights[unique].mean(1)]).astype(np.float32)
        uv_edges = face_uvs[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2)
        uv_unique, uv_inverse = np.unique(np.sort(uv_edges, axis=1), axis=0, return_inverse=True)
        uv_mid = len(uvs) + uv_inverse.reshape(-1, 3)
        uvs = np.vstack([uvs, uvs[uv_unique].mean(1)]).astype(np.float32)
        a, b, c = faces.T
        ab, bc, ca = mid.T
        faces = np.concatenate(
            [np.stack(t, 1) for t in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))]
        )
        ta, tb, tc = face_uvs.T
        tab, tbc, tca = uv_mid.T
        face_uvs = np.concatenate(
            [
                np.stack(t, 1)
                for t in ((ta, tab, tca), (tab, tb, tbc), (tca, tbc, tc), (tab, tbc, tca))
            ]
        )
    return HandTemplate(
        verts=verts, faces=faces, uvs=uvs, face_uvs=face_uvs, joint_names=template.joint_names,
        parents=template.parents, dof=template.dof, skinning_weights=weights,
        local_pose=template.local_pose, global_pose=template.global_pose,
        global_pose_inv=template.global_pose_inv,
    )  # fmt: skip


def quadratic_reader(
    directory: Path, joint_names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Obj vertices and faces, then dense weights, growing arrays line by line."""
    verts = np.zeros((0, 3), dtype=np.float32)
    faces = np.zeros((0, 3), dtype=np.int64)
    for line in (directory / "hand.obj").read_text().splitlines():
        words = line.split(" ")
        if words[0] == "v":
            verts = np.concatenate([verts, np.array([[float(w) * 10 for w in words[1:4]]])])
        elif words[0] == "f":
            corner = [int(w.split("/")[0]) - 1 for w in words[1:4]]
            faces = np.concatenate([faces, np.array([corner])])
    weights = np.zeros((len(verts), len(joint_names)), dtype=np.float32)
    for line in (directory / "skinning_weight.txt").read_text().splitlines():
        if line.startswith("#"):
            continue
        words = line.split(" ")[:-1]
        for i in range(1, len(words) - 1, 2):
            weights[int(words[0]), joint_names.index(words[i])] = float(words[i + 1])
    return verts, weights


def dense_laplacian(faces: np.ndarray, num_verts: int) -> torch.Tensor:
    lap = np.zeros((num_verts, num_verts), dtype=np.float32)
    for a, b in ((0, 1), (1, 0), (1, 2), (2, 1), (2, 0), (0, 2)):
        lap[faces[:, a], faces[:, b]] = -1
    lap[np.arange(num_verts), np.arange(num_verts)] = -lap.sum(1)
    lap /= lap.diagonal()[:, None] + 1e-8
    return torch.from_numpy(lap)


def median_time(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verts", type=int, default=12000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    template = subdivide(build_synthetic_template(), args.verts)
    print(f"mesh: {template.num_verts} vertices, {len(template.faces)} faces")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_hand_model(template, directory)

        def ours() -> None:
            verts, *_ = read_hand_obj(directory / "hand.obj")
            read_skinning_weights(
                directory / "skinning_weight.txt", template.joint_names, len(verts)
            )

        times: dict[str, list[float]] = {"ours": [], "quadratic": []}
        for _ in range(args.rounds):
            times["ours"] += median_time(ours, 1)
            times["quadratic"] += median_time(
                lambda: quadratic_reader(directory, template.joint_names), 1
            )
    read_ours, read_quad = statistics.median(times["ours"]), statistics.median(times["quadratic"])
    print(f"read obj + weights    handmesh {read_ours:8.3f} s   line-by-line concatenate "
          f"{read_quad:8.3f} s   ratio {read_quad / read_ours:6.1f}x")  # fmt: skip

    verts = torch.from_numpy(template.verts)[None].repeat(args.batch, 1, 1).requires_grad_()
    build_sparse = median_time(
        lambda: LaplacianLoss(template.faces, template.num_verts), args.rounds
    )
    build_dense = median_time(
        lambda: dense_laplacian(template.faces, template.num_verts), args.rounds
    )
    sparse = LaplacianLoss(template.faces, template.num_verts)
    dense = dense_laplacian(template.faces, template.num_verts)

    def run_sparse() -> None:
        sparse(verts).mean().backward()

    def run_dense() -> None:
        (dense @ verts).square().sum(-1).mean().backward()

    step_sparse = median_time(run_sparse, args.rounds)
    step_dense = median_time(run_dense, args.rounds)
    mib = dense.numel() * 4 / 2**20
    print(f"Laplacian build       sparse {statistics.median(build_sparse):8.3f} s   dense "
          f"{statistics.median(build_dense):8.3f} s   ({mib:.0f} MiB dense buffer)")  # fmt: skip
    ratio = statistics.median(step_dense) / statistics.median(step_sparse)
    print(f"Laplacian fwd+bwd B={args.batch} sparse {statistics.median(step_sparse):8.4f} s   "
          f"dense {statistics.median(step_dense):8.4f} s   ratio {ratio:6.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
