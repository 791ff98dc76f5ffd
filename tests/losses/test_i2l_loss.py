"""I2L-MeshNet loss: L1 fits, both face-loss variants on a tiny mesh, the whole loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handmesh.errors import ArgumentError
from handmesh.losses.i2l import I2LMeshNetLoss, coord_l1, edge_length_loss, normal_vector_loss
from tests.heads.oakink_reference import sine

FACES = torch.tensor([[0, 1, 2], [0, 2, 3], [1, 3, 4], [2, 4, 5], [0, 5, 1]])
OFFSET = torch.tensor([10.0, 20.0, 30.0], dtype=torch.float64)
VIS = torch.tensor([[1, 1, 0, 1, 1, 1], [1, 1, 1, 1, 0, 1]], dtype=torch.float64)

# OakInk-HMR's NormalVectorLoss / EdgeLengthLoss (.mean()) on _mesh(): with the dataloader-collated
# faces (B, F, 3) as the original trains, and with (F, 3) faces.
ORIGINAL = {
    ("normal", "oakink"): 0.163870143496,
    ("edge", "oakink"): 0.697134654785,
    ("normal", "fixed"): 0.0147826477123,
    ("edge", "fixed"): 1.61158879907,
}
# OakInk-HMR's I2L_MeshNet_Loss (published lambdas) on _loss_inputs(): final loss, then
# joint_fit, mesh_fit, mesh_joint_fit, mesh_normal, mesh_edge.
ORIGINAL_LOSS = (
    50.2528114319,
    12.893794675,
    11.2269124332,
    13.1703310764,
    0.117231457629,
    12.9500514349,
)


def _mesh() -> tuple[torch.Tensor, torch.Tensor]:
    pred = sine(2, 6, 3, freq=0.61, phase=0.2, amp=3.0) + OFFSET
    target = sine(2, 6, 3, freq=0.47, phase=1.1, amp=3.0) + OFFSET
    return pred, target


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def test_coord_l1_counts_invisible_points_in_the_mean() -> None:
    pred, target = _mesh()
    total = 0.0
    for b in range(2):
        for n in range(6):
            for a in range(3):
                total += abs(float(pred[b, n, a] - target[b, n, a])) * float(VIS[b, n])
    assert abs(float(coord_l1(pred, target, VIS)) - total / 36) < 1e-12


def test_fixed_normal_loss_is_the_mean_edge_normal_cosine_over_faces() -> None:
    pred, target = _mesh()
    p, g, vis = pred.numpy(), target.numpy(), VIS.numpy()
    terms = []
    for b in range(2):
        for a, c, d in FACES.tolist():
            normal = _unit(np.cross(_unit(g[b, c] - g[b, a]), _unit(g[b, d] - g[b, a])))
            valid = vis[b, a] * vis[b, c] * vis[b, d]
            for edge in (p[b, c] - p[b, a], p[b, d] - p[b, a], p[b, d] - p[b, c]):
                terms.append(abs(float(_unit(edge) @ normal)) * valid)
    value = normal_vector_loss(pred, target, VIS, FACES, face_indexing="fixed")
    assert abs(float(value) - np.mean(terms)) < 1e-12
    assert abs(float(value) - ORIGINAL[("normal", "fixed")]) < 1e-10


def test_fixed_edge_loss_is_the_mean_edge_length_difference_over_faces() -> None:
    pred, target = _mesh()
    p, g, vis = pred.numpy(), target.numpy(), VIS.numpy()
    terms = []
    for b in range(2):
        for face in FACES.tolist():
            for i, j in ((0, 1), (0, 2), (1, 2)):
                u, v = face[i], face[j]
                diff = np.linalg.norm(p[b, u] - p[b, v]) - np.linalg.norm(g[b, u] - g[b, v])
                terms.append(abs(diff) * vis[b, u] * vis[b, v])
    value = edge_length_loss(pred, target, VIS, FACES, face_indexing="fixed")
    assert abs(float(value) - np.mean(terms)) < 1e-12
    assert abs(float(value) - ORIGINAL[("edge", "fixed")]) < 1e-10


def test_oakink_face_losses_reproduce_the_collated_faces_indexing() -> None:
    """The original indexes collated (B, F, 3) faces as (F, 3): ``faces[:, k]`` is face k's three
    vertex ids, and the reductions meant for xyz run over those three ids, per coordinate."""
    pred, target = _mesh()
    p, g, vis = pred.numpy(), target.numpy(), VIS.numpy()
    rows = FACES[:3].numpy()  # faces 0, 1, 2 act as the "corner" index sets
    normal_terms, edge_terms = [], []
    for b in range(2):
        for c in range(3):  # one coordinate at a time
            corner_p = [p[b, rows[k], c] for k in range(3)]  # each a 3-vector over the ids
            corner_g = [g[b, rows[k], c] for k in range(3)]
            normal = _unit(
                np.cross(_unit(corner_g[1] - corner_g[0]), _unit(corner_g[2] - corner_g[0]))
            )
            edges = (
                corner_p[1] - corner_p[0],
                corner_p[2] - corner_p[0],
                corner_p[2] - corner_p[1],
            )
            cosines = [abs(float(_unit(e) @ normal)) for e in edges]
            for m in range(3):
                valid = vis[b, rows[0][m]] * vis[b, rows[1][m]] * vis[b, rows[2][m]]
                normal_terms += [cos * valid for cos in cosines]
            for i, j in ((0, 1), (0, 2), (1, 2)):
                length = np.linalg.norm(corner_p[i] - corner_p[j])
                target_length = np.linalg.norm(corner_g[i] - corner_g[j])
                for m in range(3):
                    mask = vis[b, rows[i][m]] * vis[b, rows[j][m]]
                    edge_terms.append(abs(length - target_length) * mask)
    normal = normal_vector_loss(pred, target, VIS, FACES)  # "oakink" is the default
    edge = edge_length_loss(pred, target, VIS, FACES)
    assert abs(float(normal) - np.mean(normal_terms)) < 1e-12
    assert abs(float(edge) - np.mean(edge_terms)) < 1e-12
    assert abs(float(normal) - ORIGINAL[("normal", "oakink")]) < 1e-10
    assert abs(float(edge) - ORIGINAL[("edge", "oakink")]) < 1e-10
    # only faces 0..2 matter to the original's losses
    other = FACES.clone()
    other[3:] = torch.tensor([[5, 4, 3], [1, 2, 3]])
    assert float(normal_vector_loss(pred, target, VIS, other)) == float(normal)
    assert float(edge_length_loss(pred, target, VIS, other)) == float(edge)


def test_face_losses_refuse_bad_options() -> None:
    pred, target = _mesh()
    with pytest.raises(ArgumentError, match="face_indexing must be one of"):
        edge_length_loss(pred, target, VIS, FACES, face_indexing="collated")
    with pytest.raises(ArgumentError, match=r"faces must have shape \(F, 3\)"):
        I2LMeshNetLoss(faces=FACES[None])


def _loss_inputs() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    root = torch.tensor([[0.01, -0.02, 0.6], [-0.03, 0.01, 0.7]], dtype=torch.float64)
    intr = torch.tensor(
        [
            [[500.0, 0, 128.0], [0, 480.0, 120.0], [0, 0, 1]],
            [[450.0, 0, 130.0], [0, 470.0, 126.0], [0, 0, 1]],
        ],
        dtype=torch.float64,
    )
    batch = {
        "target_joints_3d": root[:, None] + sine(2, 21, 3, freq=0.29, phase=0.4, amp=0.05),
        "target_verts_3d": root[:, None] + sine(2, 6, 3, freq=0.31, phase=0.8, amp=0.05),
        "target_root_joint": root,
        "target_cam_intr": intr,
        "target_joints_vis": torch.tensor([1.0] * 20 + [0.0], dtype=torch.float64).repeat(2, 1),
        "target_verts_vis": VIS,
    }
    preds = {
        "joint_coord_img": 32 + sine(2, 21, 3, freq=0.37, phase=0.1, amp=20.0),
        "mesh_coord_img": 32 + sine(2, 6, 3, freq=0.43, phase=0.6, amp=20.0),
        "joint_img_from_mesh": 32 + sine(2, 21, 3, freq=0.19, phase=0.2, amp=20.0),
    }
    return preds, batch


def _bins_by_hand(points: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Pinhole projection to crop pixels, /256 * 64 for u, v; (z - z_root) / 0.4 + 0.5, * 64 for d."""
    out = torch.zeros_like(points)
    for b in range(points.shape[0]):
        K, z_root = batch["target_cam_intr"][b], float(batch["target_root_joint"][b, 2])
        for n in range(points.shape[1]):
            x, y, z = (float(v) for v in points[b, n])
            u = (K[0, 0] * x / z + K[0, 2]) / 256 * 64
            v = (K[1, 1] * y / z + K[1, 2]) / 256 * 64
            out[b, n] = torch.tensor([u, v, ((z - z_root) / 0.4 + 0.5) * 64])
    return out


def test_i2l_loss_targets_are_bins_of_the_normalised_uvd() -> None:
    _, batch = _loss_inputs()
    joints = _bins_by_hand(batch["target_joints_3d"], batch)
    verts = _bins_by_hand(batch["target_verts_3d"], batch)
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    exact = {
        "joint_coord_img": joints + shift,
        "mesh_coord_img": verts.clone(),
        "joint_img_from_mesh": joints.clone(),
    }
    loss = I2LMeshNetLoss(faces=FACES, lambda_mesh_normal=0.0, lambda_mesh_edge=0.0)
    total, logged = loss(exact, batch)
    assert sorted(logged) == ["joint_fit_loss", "mesh_fit_loss", "mesh_joint_fit_loss"]
    assert float(logged["joint_fit_loss"]) == pytest.approx(3.5 * 20 / 21 / 3, rel=1e-9)
    assert float(logged["mesh_fit_loss"]) < 1e-9 and float(logged["mesh_joint_fit_loss"]) < 1e-9
    assert float(total) == pytest.approx(float(sum(logged.values())), rel=1e-12)


def test_i2l_loss_matches_the_original_with_the_published_lambdas() -> None:
    preds, batch = _loss_inputs()
    total, logged = I2LMeshNetLoss(faces=FACES)(preds, batch)
    names = ["joint_fit_loss", "mesh_fit_loss", "mesh_joint_fit_loss"]
    names += ["mesh_normal_loss", "mesh_edge_loss"]
    # the original accumulates the total in a float32 tensor; the terms are float64
    assert float(total) == pytest.approx(ORIGINAL_LOSS[0], rel=1e-7)
    for name, expected in zip(names, ORIGINAL_LOSS[1:]):
        assert float(logged[name]) == pytest.approx(expected, rel=1e-10), name
    weights = {"mesh_normal_loss": 0.1}
    by_hand = sum(weights.get(n, 1.0) * float(logged[n]) for n in names)
    assert float(total) == pytest.approx(by_hand, rel=1e-12)
    fixed_total, fixed = I2LMeshNetLoss(faces=FACES, face_indexing="fixed")(preds, batch)
    assert float(fixed["mesh_fit_loss"]) == float(logged["mesh_fit_loss"])
    assert not math.isclose(float(fixed["mesh_edge_loss"]), float(logged["mesh_edge_loss"]))


def test_i2l_loss_names_missing_inputs() -> None:
    preds, batch = _loss_inputs()
    del batch["target_verts_vis"]
    with pytest.raises(KeyError, match=r"batch\['target_verts_vis'\]"):
        I2LMeshNetLoss(faces=FACES)(preds, batch)
