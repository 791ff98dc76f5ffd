"""The native MANO layer against a deliberately simple loop implementation (numpy float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from test_mano_loader import random_mano_dict

from handmesh.mano import MANO, ManoModelData
from handmesh.mano.layer import KinematicTree
from handmesh.mano.loader import model_from_dict

NATIVE_NAMES = (
    "wrist", "index1", "index2", "index3", "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3", "ring1", "ring2", "ring3", "thumb1", "thumb2", "thumb3",
)  # fmt: skip
CANONICAL_NAMES = ("wrist",) + tuple(
    f"{finger}{k}" for finger in ("thumb", "index", "middle", "ring", "pinky") for k in (1, 2, 3, 4)
)
TIP_VERTICES = {
    "right": {"thumb4": 745, "index4": 317, "middle4": 444, "ring4": 556, "pinky4": 673},
    "left": {"thumb4": 745, "index4": 317, "middle4": 445, "ring4": 556, "pinky4": 673},
}
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)


def random_model(side: str = "right", seed: int = 0) -> ManoModelData:
    return model_from_dict(random_mano_dict(seed), f"random-{seed}", side)


def rotvecs_to_rotmats(full_pose: np.ndarray) -> np.ndarray:
    """(48,) axis-angle -> (16, 3, 3) rotation matrices."""
    return np.stack(
        [Rotation.from_rotvec(full_pose[3 * j : 3 * j + 3]).as_matrix() for j in range(16)]
    )


def reference_mano(
    model: ManoModelData, rots: np.ndarray, betas: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One hand, plain loops: verts (778, 3), canonical joints (21, 3), transforms (16, 4, 4).

    ``rots`` are the (16, 3, 3) local joint rotations applied (native order), ``betas`` (10,).
    """
    v_shaped = model.v_template + model.shapedirs @ betas
    rest = model.J_regressor @ v_shaped
    feature = np.concatenate([(rots[j] - np.eye(3)).ravel() for j in range(1, 16)])
    v_posed = v_shaped + model.posedirs @ feature
    transforms = [np.eye(4) for _ in range(16)]
    for j in range(16):
        local = np.eye(4)
        local[:3, :3] = rots[j]
        parent = PARENTS[j]
        local[:3, 3] = rest[j] - (rest[parent] if parent >= 0 else 0)
        transforms[j] = local if parent < 0 else transforms[parent] @ local
    skinning = []
    for j in range(16):
        matrix = transforms[j].copy()
        matrix[:3, 3] -= transforms[j][:3, :3] @ rest[j]
        skinning.append(matrix)
    verts = np.zeros((778, 3))
    for v in range(778):
        blended = sum(model.weights[v, j] * skinning[j] for j in range(16))
        verts[v] = (blended @ np.append(v_posed[v], 1.0))[:3]
    by_name = {name: transforms[j][:3, 3] for j, name in enumerate(NATIVE_NAMES)}
    by_name.update({name: verts[v] for name, v in TIP_VERTICES[model.side].items()})
    joints = np.stack([by_name[name] for name in CANONICAL_NAMES])
    return verts, joints, np.stack(transforms)


def reference_full_pose(model, pose, use_pca, ncomps, flat_hand_mean) -> np.ndarray:
    hand = pose[3:] @ model.hands_components[:ncomps] if use_pca else pose[3:]
    return np.concatenate([pose[:3], hand + (0 if flat_hand_mean else model.hands_mean)])


CASES = [  # side, use_pca, ncomps, flat_hand_mean, center_idx, with_transl, dtype
    ("right", False, 45, False, None, False, torch.float64),
    ("left", False, 45, True, 9, True, torch.float64),
    ("right", True, 6, False, 9, False, torch.float64),
    ("left", True, 6, True, None, True, torch.float32),
    ("right", True, 45, True, 9, True, torch.float32),
    ("left", True, 45, False, None, False, torch.float64),
    ("right", False, 45, True, None, True, torch.float32),
]


@pytest.mark.parametrize("side, use_pca, ncomps, flat, center_idx, with_transl, dtype", CASES)
def test_matches_loop_reference(side, use_pca, ncomps, flat, center_idx, with_transl, dtype):
    model = random_model(side)
    layer = MANO(
        side=side, model=model, use_pca=use_pca, num_pca_comps=ncomps,
        flat_hand_mean=flat, center_idx=center_idx, dtype=dtype,
    )  # fmt: skip
    rng = np.random.default_rng(1)
    batch = 2
    pose = rng.normal(0, 0.6, (batch, layer.pose_dim))
    betas = rng.normal(0, 1.0, (batch, 10))
    transl = rng.normal(0, 0.2, (batch, 3)) if with_transl else None
    out = layer(
        torch.tensor(pose, dtype=dtype),
        torch.tensor(betas, dtype=dtype),
        None if transl is None else torch.tensor(transl, dtype=dtype),
    )
    assert out.verts.shape == (batch, 778, 3) and out.joints.shape == (batch, 21, 3)
    assert out.transforms.shape == (batch, 16, 4, 4) and out.full_pose.shape == (batch, 48)
    assert out.verts.dtype == dtype
    tol = 1e-9 if dtype == torch.float64 else 2e-6  # metres; the hand spans ~0.1 m
    for b in range(batch):
        full_pose = reference_full_pose(model, pose[b], use_pca, ncomps, flat)
        verts, joints, transforms = reference_mano(model, rotvecs_to_rotmats(full_pose), betas[b])
        offset = -joints[center_idx] if center_idx is not None else np.zeros(3)
        if transl is not None:
            offset = offset + transl[b]
        transforms[:, :3, 3] += offset
        np.testing.assert_allclose(out.full_pose[b].double().numpy(), full_pose, atol=tol)
        np.testing.assert_allclose(out.verts[b].double().numpy(), verts + offset, atol=tol)
        np.testing.assert_allclose(out.joints[b].double().numpy(), joints + offset, atol=tol)
        np.testing.assert_allclose(out.transforms[b].double().numpy(), transforms, atol=tol)
    if center_idx is not None and transl is None:
        assert out.joints[:, center_idx].abs().max() == 0


def test_zero_pose_flat_mean_mean_shape_is_the_template():
    model = random_model()
    layer = MANO(model=model, flat_hand_mean=True, dtype=torch.float64)
    out = layer(torch.zeros(1, 48, dtype=torch.float64))
    np.testing.assert_allclose(out.verts[0].numpy(), model.v_template, atol=1e-12)
    np.testing.assert_allclose(
        out.joints[0, 0].numpy(), model.J_regressor[0] @ model.v_template, atol=1e-12
    )
    np.testing.assert_array_equal(layer.faces.numpy(), model.faces)
    assert layer.faces.dtype == torch.long and layer.side == "right" and not layer.is_synthetic


def test_gradients_flow_and_match_finite_differences():
    layer = MANO(model=random_model(), dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    pose = (0.5 * torch.randn(1, 48, generator=generator, dtype=torch.float64)).requires_grad_()
    betas = torch.randn(1, 10, generator=generator, dtype=torch.float64).requires_grad_()
    directions = torch.randn(4, 778 * 3, generator=generator, dtype=torch.float64)

    def projected_verts(pose: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        return directions @ layer(pose, betas).verts.reshape(-1)

    assert torch.autograd.gradcheck(projected_verts, (pose, betas), eps=1e-6, atol=1e-6)
    verts = layer(pose, betas).verts
    grad_pose, grad_betas = torch.autograd.grad(verts.square().sum(), (pose, betas))
    assert grad_pose.abs().min() > 0 and grad_betas.abs().min() > 0


def test_left_shapedirs_fix_changes_only_x():
    model = random_model("left")
    betas = torch.randn(2, 10, dtype=torch.float64)
    pose = torch.zeros(2, 48, dtype=torch.float64)
    plain = MANO(side="left", model=model, flat_hand_mean=True, dtype=torch.float64)
    fixed = MANO(
        side="left", model=model, flat_hand_mean=True, fix_left_shapedirs=True, dtype=torch.float64
    )
    torch.testing.assert_close(fixed.shapedirs[:, 0], -plain.shapedirs[:, 0])
    torch.testing.assert_close(fixed.shapedirs[:, 1:], plain.shapedirs[:, 1:])
    shaped_plain, shaped_fixed = plain(pose, betas).verts, fixed(pose, betas).verts
    offsets = torch.einsum("vk,bk->bv", torch.tensor(model.shapedirs[:, 0]), betas)
    torch.testing.assert_close(shaped_fixed[..., 0], shaped_plain[..., 0] - 2 * offsets)
    torch.testing.assert_close(shaped_fixed[..., 1:], shaped_plain[..., 1:])
    assert model.shapedirs[0, 0, 0] == random_mano_dict()["shapedirs"][0, 0, 0]  # cache intact
    right = MANO(model=random_model("right"), fix_left_shapedirs=True, dtype=torch.float64)
    np.testing.assert_array_equal(right.shapedirs.numpy(), random_model("right").shapedirs)


def test_buffers_follow_dtype_and_stay_out_of_state_dict():
    layer = MANO(model=random_model())
    assert layer.v_template.dtype == torch.float32 and layer.state_dict() == {}
    assert layer.double()(torch.zeros(1, 48, dtype=torch.float64)).verts.dtype == torch.float64


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"pose": torch.zeros(2, 45)},
            ValueError,
            r"pose must have shape \(2, 48\), got \(2, 45\)",
        ),
        ({"betas": torch.zeros(2, 9)}, ValueError, r"betas must have shape \(2, 10\)"),
        ({"transl": torch.zeros(3, 3)}, ValueError, r"transl must have shape \(2, 3\)"),
        ({"pose": torch.zeros(2, 48, dtype=torch.float64)}, TypeError, "layer.double"),
    ],
)
def test_bad_inputs_are_named(kwargs, error, match):
    layer = MANO(model=random_model())
    inputs = {"pose": torch.zeros(2, 48), **kwargs}
    with pytest.raises(error, match=match):
        layer(**inputs)


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="center_idx"):
        MANO(model=random_model(), center_idx=21)
    with pytest.raises(ValueError, match="num_pca_comps"):
        MANO(model=random_model(), use_pca=True, num_pca_comps=46)
    with pytest.raises(ValueError, match="'left' model"):
        MANO(side="right", model=random_model("left"))


def test_kinematic_tree_levels_and_bad_trees():
    tree = KinematicTree(PARENTS)
    # manopth's hard-coded levels: roots, then knuckles, middle and distal joints of each finger
    assert tree.levels == [[0], [1, 4, 7, 10, 13], [2, 5, 8, 11, 14], [3, 6, 9, 12, 15]]
    with pytest.raises(ValueError, match="cycle"):
        KinematicTree((-1, 2, 1))
    with pytest.raises(ValueError, match="joint 1 has parent 5"):
        KinematicTree((-1, 5))
