"""ManoLayer (manopth drop-in): millimetres, manopth's modes and rules, buffers and state dicts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from test_mano_layer import reference_full_pose, reference_mano, rotvecs_to_rotmats
from test_mano_loader import random_mano_dict, write_chumpy_pickle

from handmesh.checkpoint import load_state_dict
from handmesh.errors import CheckpointError
from handmesh.mano import ManoLayer, ManoModelData, load_mano_model
from handmesh.mano.manopth_layer import project_to_rotation

F64 = torch.float64
MM_TOL = 1e-6  # millimetres, float64


@pytest.fixture(scope="module")
def mano_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mano_models")
    write_chumpy_pickle(root / "MANO_RIGHT.pkl", random_mano_dict(seed=11))
    write_chumpy_pickle(root / "MANO_LEFT.pkl", random_mano_dict(seed=12, side="left"))
    return root


def float32_model(mano_root: Path, side: str = "right") -> ManoModelData:
    """The model as ManoLayer holds it: float32 buffers (manopth uses torch.Tensor) in float64."""
    model = load_mano_model(mano_root, side)
    names = ("v_template", "J_regressor", "weights", "posedirs", "shapedirs")
    names += ("hands_components", "hands_mean")
    rounded = {name: getattr(model, name).astype(np.float32).astype(np.float64) for name in names}
    return dataclasses.replace(model, **rounded)


def gram_schmidt(six: np.ndarray) -> np.ndarray:
    x = six[:3] / np.linalg.norm(six[:3])
    z = np.cross(x, six[3:])
    z /= np.linalg.norm(z)
    return np.stack([x, np.cross(z, x), z], 1)


def robust_six_d(six: np.ndarray) -> np.ndarray:
    a, b = six[:3] / np.linalg.norm(six[:3]), six[3:] / np.linalg.norm(six[3:])
    bisector, difference = (a + b) / np.linalg.norm(a + b), (a - b) / np.linalg.norm(a - b)
    x = (bisector + difference) / np.linalg.norm(bisector + difference)
    y = (bisector - difference) / np.linalg.norm(bisector - difference)
    return np.stack([x, y, np.cross(x, y)], 1)


def svd_projection(matrix: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(matrix)
    rot = u @ vt
    if np.linalg.det(rot) < 0:
        rot[:, 2] *= -1
    return rot


AXISANG_CASES = [  # side, use_pca, ncomps, flat_hand_mean, center_idx, with_trans
    ("right", True, 6, True, None, False),
    ("left", True, 6, False, 9, False),
    ("right", True, 45, False, 9, True),
    ("left", False, 6, True, None, True),
    ("right", False, 6, False, 0, False),
]


@pytest.mark.parametrize("side, use_pca, ncomps, flat, center_idx, with_trans", AXISANG_CASES)
def test_axisang_matches_reference_in_mm(
    mano_root, side, use_pca, ncomps, flat, center_idx, with_trans
):
    layer = ManoLayer(
        center_idx=center_idx, flat_hand_mean=flat, ncomps=ncomps, side=side,
        mano_root=mano_root, use_pca=use_pca,
    ).double()  # fmt: skip
    model = float32_model(mano_root, side)
    rng = np.random.default_rng(2)
    width = 3 + (ncomps if use_pca else 45)
    pose, betas = rng.normal(0, 0.6, (3, width)), rng.normal(0, 1, (3, 10))
    trans = rng.normal(0, 0.2, (3, 3)) if with_trans else np.zeros((3, 3))
    verts, joints = layer(torch.tensor(pose), torch.tensor(betas), torch.tensor(trans))
    assert verts.shape == (3, 778, 3) and joints.shape == (3, 21, 3)
    for b in range(3):
        full_pose = reference_full_pose(model, pose[b], use_pca, ncomps, flat)
        ref_verts, ref_joints, _ = reference_mano(model, rotvecs_to_rotmats(full_pose), betas[b])
        offset = trans[b] if with_trans else 0
        if center_idx is not None and not with_trans:
            offset = -ref_joints[center_idx]
        np.testing.assert_allclose(verts[b].numpy(), 1000 * (ref_verts + offset), atol=MM_TOL)
        np.testing.assert_allclose(joints[b].numpy(), 1000 * (ref_joints + offset), atol=MM_TOL)


def test_float32_default_layer_in_mm(mano_root):
    layer = ManoLayer(mano_root=mano_root, use_pca=False, flat_hand_mean=True)
    model = float32_model(mano_root)
    pose = np.random.default_rng(3).normal(0, 0.5, (2, 48))
    verts, joints = layer(torch.tensor(pose, dtype=torch.float32))
    assert verts.dtype == torch.float32
    for b in range(2):
        ref_verts, ref_joints, _ = reference_mano(model, rotvecs_to_rotmats(pose[b]), np.zeros(10))
        np.testing.assert_allclose(verts[b].double().numpy(), 1000 * ref_verts, atol=2e-3)
        np.testing.assert_allclose(joints[b].double().numpy(), 1000 * ref_joints, atol=2e-3)


@pytest.mark.parametrize("robust", [False, True])
def test_rot6d_root(mano_root, robust):
    layer = ManoLayer(
        mano_root=mano_root, use_pca=True, ncomps=6, root_rot_mode="rot6d", robust_rot=robust
    ).double()
    model = float32_model(mano_root)
    rng = np.random.default_rng(4)
    pose, betas = rng.normal(0, 0.7, (2, 12)), rng.normal(0, 1, (2, 10))
    verts, joints = layer(torch.tensor(pose), torch.tensor(betas))
    to_rotation = robust_six_d if robust else gram_schmidt
    for b in range(2):
        hand = pose[b, 6:] @ model.hands_components[:6]
        rots = rotvecs_to_rotmats(np.concatenate([np.zeros(3), hand]))
        rots[0] = to_rotation(pose[b, :6])
        ref_verts, ref_joints, _ = reference_mano(model, rots, betas[b])
        np.testing.assert_allclose(verts[b].numpy(), 1000 * ref_verts, atol=MM_TOL)
        np.testing.assert_allclose(joints[b].numpy(), 1000 * ref_joints, atol=MM_TOL)


def test_rotmat_joint_mode_projects_and_ignores_hands_mean(mano_root):
    layer = ManoLayer(
        mano_root=mano_root, use_pca=False, joint_rot_mode="rotmat", flat_hand_mean=False
    ).double()
    assert "th_hands_mean_rotmat" in dict(layer.named_buffers())
    assert "th_hands_mean" not in dict(layer.named_buffers())
    model = float32_model(mano_root)
    rng = np.random.default_rng(5)
    rots = np.stack([rotvecs_to_rotmats(rng.normal(0, 0.6, 48)) for _ in range(2)])
    noisy = rots + rng.normal(0, 0.05, rots.shape)
    betas = rng.normal(0, 1, (2, 10))
    verts, joints = layer(torch.tensor(noisy), torch.tensor(betas))
    for b in range(2):
        projected = np.stack([svd_projection(m) for m in noisy[b]])
        ref_verts, ref_joints, _ = reference_mano(model, projected, betas[b])
        np.testing.assert_allclose(verts[b].numpy(), 1000 * ref_verts, atol=MM_TOL)
        np.testing.assert_allclose(joints[b].numpy(), 1000 * ref_joints, atol=MM_TOL)
    with pytest.raises(ValueError, match=r"\(B, 16, 3, 3\)"):
        layer(torch.zeros(2, 48, dtype=F64))


def test_svd_projection_reflection_rule():
    rng = np.random.default_rng(6)
    matrices = rng.normal(size=(4, 3, 3))
    matrices[0] = np.diag([1.0, 1.0, -1.0]) + 0.01 * rng.normal(size=(3, 3))  # a reflection
    projected = project_to_rotation(torch.tensor(matrices)).numpy()
    for matrix, result in zip(matrices, projected):
        np.testing.assert_allclose(result, svd_projection(matrix), atol=1e-12)
        assert np.linalg.det(result) == pytest.approx(1.0)


def test_betas_trans_palm_and_sharing_rules(mano_root):
    layer = ManoLayer(mano_root=mano_root, use_pca=False, center_idx=9).double()
    model = float32_model(mano_root)
    rng = np.random.default_rng(7)
    pose, betas = rng.normal(0, 0.5, (2, 48)), rng.normal(0, 1, (2, 10))
    references = [reference_mano(model, rotvecs_to_rotmats(p), betas.mean(0)) for p in pose]
    mean_shape = [reference_mano(model, rotvecs_to_rotmats(p), np.zeros(10)) for p in pose]
    th_pose = torch.tensor(pose)

    verts, joints = layer(th_pose, torch.zeros(1, dtype=F64))  # single element: mean shape
    for b, (ref_verts, ref_joints, _) in enumerate(mean_shape):
        centre = ref_joints[9]
        np.testing.assert_allclose(joints[b].numpy(), 1000 * (ref_joints - centre), atol=MM_TOL)
        np.testing.assert_allclose(verts[b].numpy(), 1000 * (ref_verts - centre), atol=MM_TOL)
    assert joints[:, 9].abs().max() == 0

    trans = torch.tensor([[0.1, -0.2, 0.5], [0.0, 0.0, 0.3]], dtype=F64)
    verts, joints = layer(th_pose, torch.tensor(betas), trans, root_palm=torch.Tensor([1]),
                          share_betas=torch.Tensor([1]))  # fmt: skip
    for b, (ref_verts, ref_joints, _) in enumerate(references):
        expected = ref_joints + trans[b].numpy()  # a non-zero translation disables centring
        expected[0] = (ref_verts[95] + ref_verts[22]) / 2 + trans[b].numpy()
        np.testing.assert_allclose(joints[b].numpy(), 1000 * expected, atol=MM_TOL)
        expected_verts = 1000 * (ref_verts + trans[b].numpy())
        np.testing.assert_allclose(verts[b].numpy(), expected_verts, atol=MM_TOL)


def test_transforms_output_in_metres(mano_root):
    layer = ManoLayer(mano_root=mano_root, use_pca=False, return_transforms=True).double()
    model = float32_model(mano_root)
    pose = np.random.default_rng(8).normal(0, 0.5, (1, 48))
    outputs = layer(torch.tensor(pose))
    assert len(outputs) == 3
    transforms = outputs[2]
    # flat_hand_mean=True (the default): the pose is applied as given
    _, _, ref_transforms = reference_mano(model, rotvecs_to_rotmats(pose[0]), np.zeros(10))
    np.testing.assert_allclose(transforms[0].numpy(), ref_transforms, atol=1e-9)


EXPECTED_BUFFERS = {
    "th_betas": (1, 10),
    "th_shapedirs": (778, 3, 10),
    "th_posedirs": (778, 3, 135),
    "th_v_template": (1, 778, 3),
    "th_J_regressor": (16, 778),
    "th_weights": (778, 16),
    "th_faces": (1538, 3),
    "th_hands_mean": (1, 45),
    "th_comps": (45, 45),
    "th_selected_comps": (6, 45),
}


def test_buffers_match_manopth_names_and_handoccnet_state_dicts_load(mano_root):
    layer = ManoLayer(mano_root=mano_root, use_pca=False, flat_hand_mean=False)
    state = layer.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == EXPECTED_BUFFERS
    assert state["th_faces"].dtype == torch.long and state["th_weights"].dtype == torch.float32
    model = float32_model(mano_root)
    np.testing.assert_allclose(state["th_hands_mean"][0].numpy(), model.hands_mean, rtol=1e-6)

    # HandOccNet's vendored manopth has no th_comps; its checkpoints embed the other buffers
    wrapper = torch.nn.Module()
    wrapper.mano_layer = ManoLayer(mano_root=mano_root, use_pca=False, flat_hand_mean=False)
    checkpoint = {f"mano_layer.{k}": v.clone() for k, v in state.items() if k != "th_comps"}
    checkpoint["mano_layer.th_v_template"] += 0.01
    load_state_dict(wrapper, checkpoint)  # strict; the layer's adapter keeps its own th_comps
    shifted, _ = wrapper.mano_layer(torch.zeros(1, 48))
    original, _ = layer(torch.zeros(1, 48))
    torch.testing.assert_close(shifted, original + 10.0, atol=1e-3, rtol=0)
    with pytest.raises(CheckpointError, match="th_weights"):
        del checkpoint["mano_layer.th_weights"]
        load_state_dict(wrapper, checkpoint)


def test_missing_mano_root_and_bad_inputs(mano_root, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere/MANO_RIGHT\.pkl.*mano\.is\.tue"):
        ManoLayer(mano_root=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="root_rot_mode"):
        ManoLayer(mano_root=mano_root, root_rot_mode="quat")
    with pytest.raises(ValueError, match=r"th_pose_coeffs must have shape \(B, 9\)"):
        ManoLayer(mano_root=mano_root)(torch.zeros(2, 8))


def test_bad_settings_and_inputs_are_named(mano_root):
    with pytest.raises(ValueError, match="center_idx must be a joint index 0..20"):
        ManoLayer(mano_root=mano_root, center_idx=21)
    layer = ManoLayer(mano_root=mano_root)  # PCA, 6 components: (B, 9) pose
    pose = torch.zeros(2, 9)
    with pytest.raises(TypeError, match="th_pose_coeffs must be a torch.Tensor, got list"):
        layer([[0.0] * 9] * 2)
    with pytest.raises(TypeError, match=r"th_pose_coeffs is torch.float64.*layer.double"):
        layer(pose.double())
    with pytest.raises(ValueError, match=r"th_betas must have shape \(2, 10\), got \(2, 4\)"):
        layer(pose, torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"th_trans must have shape \(2, 3\) metres"):
        layer(pose, None, torch.ones(2, 4))
    # manopth's single-element defaults still mean "mean shape" and "no translation"
    verts, _ = layer(pose, torch.zeros(1), torch.zeros(1))
    assert verts.shape == (2, 778, 3)
