"""The built-in synthetic hand: official MANO format, a clean surface, and it moves like a hand."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import scipy.sparse
from scipy.spatial.transform import Rotation

from handmesh.mano import synthetic
from handmesh.mano.constants import MANO_PARENTS, TIP_VERTEX_IDS_RIGHT
from handmesh.mano.synthetic import SYNTHETIC_MANO_NOTE, build_synthetic_mano_dict

MANO_KEYS = {
    "v_template", "f", "J_regressor", "kintree_table", "weights", "posedirs", "shapedirs",
    "hands_components", "hands_mean", "bs_type", "bs_style",
}  # fmt: skip
TIP_JOINTS = {745: 15, 317: 3, 444: 6, 556: 12, 673: 9}
"""Fingertip vertex -> native MANO distal joint (thumb3, index3, middle3, ring3, pinky3)."""
FLIP = np.array([-1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def right() -> dict:
    return build_synthetic_mano_dict("right")


@pytest.fixture(scope="module")
def left() -> dict:
    return build_synthetic_mano_dict("left")


def rest_joints(model: dict, betas: np.ndarray | None = None) -> np.ndarray:
    verts = model["v_template"]
    if betas is not None:
        verts = verts + model["shapedirs"] @ betas
    return model["J_regressor"] @ verts


def linear_blend_skinning(model: dict, pose: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Plain MANO forward pass written out joint by joint: (48,) axis-angle -> (778, 3)."""
    shaped = model["v_template"] + model["shapedirs"] @ betas
    joints = model["J_regressor"] @ shaped
    rot = Rotation.from_rotvec(pose.reshape(16, 3)).as_matrix()
    features = np.concatenate([(rot[j] - np.eye(3)).ravel() for j in range(1, 16)])
    posed = shaped + model["posedirs"] @ features
    world = []
    for j in range(16):
        local = np.eye(4)
        local[:3, :3] = rot[j]
        parent = MANO_PARENTS[j]
        local[:3, 3] = joints[j] - (joints[parent] if parent >= 0 else 0.0)
        world.append(local if parent < 0 else world[parent] @ local)
    out = np.zeros_like(posed)
    for j in range(16):
        moved = (posed - joints[j]) @ world[j][:3, :3].T + world[j][:3, 3]
        out += model["weights"][:, j : j + 1] * moved
    return out


def edges_of(faces: np.ndarray) -> np.ndarray:
    """(E, 2) undirected unique edges."""
    both = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(both, axis=1), axis=0)


def bone_end(model: dict, joint: int) -> np.ndarray:
    """Where the bone that starts at ``joint`` ends: its child joint, or the fingertip."""
    children = {p: c for c, p in enumerate(MANO_PARENTS) if p >= 0}
    if joint in children:
        return rest_joints(model)[children[joint]]
    tip = {distal: tip for tip, distal in TIP_JOINTS.items()}[joint]
    return model["v_template"][tip]


def bend(model: dict, joint: int, angle: float) -> np.ndarray:
    """Rotate one joint about the axis across its bone and the back of the hand (+y)."""
    axis = np.cross([0.0, 1.0, 0.0], bone_end(model, joint) - rest_joints(model)[joint])
    pose = np.zeros(48)
    pose[3 * joint : 3 * joint + 3] = angle * axis / np.linalg.norm(axis)
    return linear_blend_skinning(model, pose, np.zeros(10))


def test_note_is_one_line_and_says_synthetic() -> None:
    assert "\n" not in SYNTHETIC_MANO_NOTE
    assert "synthetic" in SYNTHETIC_MANO_NOTE.lower()


def test_keys_shapes_and_dtypes(right: dict) -> None:
    assert set(right) == MANO_KEYS
    expected = {
        "v_template": (778, 3), "f": (1538, 3), "kintree_table": (2, 16), "weights": (778, 16),
        "posedirs": (778, 3, 135), "shapedirs": (778, 3, 10), "hands_components": (45, 45),
        "hands_mean": (45,),
    }  # fmt: skip
    for key, shape in expected.items():
        assert right[key].shape == shape, key
        assert right[key].dtype == (np.int64 if key in ("f", "kintree_table") else np.float64), key
    assert isinstance(right["J_regressor"], scipy.sparse.csc_matrix)
    assert right["J_regressor"].shape == (16, 778)
    assert right["kintree_table"][0, 0] == 4294967295
    assert list(right["kintree_table"][0, 1:]) == list(MANO_PARENTS[1:])
    assert list(right["kintree_table"][1]) == list(range(16))
    assert (right["bs_type"], right["bs_style"]) == ("lrotmin", "lbs")


def test_unknown_side_is_rejected() -> None:
    with pytest.raises(ValueError, match="'up'"):
        build_synthetic_mano_dict("up")


def test_faces_are_valid_and_not_degenerate(right: dict) -> None:
    faces, verts = right["f"], right["v_template"]
    assert faces.min() == 0 and faces.max() == 777
    assert len(np.unique(faces)) == 778  # every vertex is used
    assert all(len(set(face)) == 3 for face in faces.tolist())
    tri = verts[faces]
    areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    assert areas.min() > 1e-7  # > 0.1 mm^2


def test_surface_is_watertight_except_one_16_vertex_wrist_loop(right: dict) -> None:
    faces = right["f"]
    use = Counter(tuple(sorted(e)) for f in faces.tolist() for e in zip(f, f[1:] + f[:1]))
    assert max(use.values()) == 2
    boundary = [edge for edge, count in use.items() if count == 1]
    assert len(boundary) == 16
    # walk the boundary: it must be a single cycle through 16 distinct vertices
    neighbours: dict[int, list[int]] = {}
    for a, b in boundary:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    assert len(neighbours) == 16 and all(len(n) == 2 for n in neighbours.values())
    loop, previous = [boundary[0][0]], None
    while True:
        step = [n for n in neighbours[loop[-1]] if n != previous][0]
        if step == loop[0]:
            break
        previous = loop[-1]
        loop.append(step)
    assert len(loop) == 16
    # the loop is at the wrist: next to the wrist joint, far from the fingers
    wrist = rest_joints(right)[0]
    assert np.linalg.norm(right["v_template"][loop] - wrist, axis=1).max() < 0.04


def wrist_loop_closed_volume(verts: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume of the mesh closed with a fan over its boundary loop (> 0: outward)."""
    directed = {(a, b) for f in faces.tolist() for a, b in zip(f, f[1:] + f[:1])}
    # boundary edges run one way only; the closing fan must run them the other way
    fan_edges = [(b, a) for a, b in directed if (b, a) not in directed]
    centre = verts[[a for a, _ in fan_edges]].mean(axis=0)
    tris = [verts[list(f)] for f in faces.tolist()] + [
        np.stack([verts[a], verts[b], centre]) for a, b in fan_edges
    ]
    return float(sum(np.dot(t[0], np.cross(t[1], t[2])) for t in tris) / 6.0)


@pytest.mark.parametrize("side", ["right", "left"])
def test_faces_are_consistently_oriented_and_outward(side: str, right: dict, left: dict) -> None:
    model = right if side == "right" else left
    directed = Counter((a, b) for f in model["f"].tolist() for a, b in zip(f, f[1:] + f[:1]))
    # every interior edge is walked once in each direction by its two faces
    assert max(directed.values()) == 1
    volume = wrist_loop_closed_volume(model["v_template"], model["f"])
    assert 1.5e-4 < volume < 6e-4  # a few hundred cm^3, as an adult hand up to the wrist


def test_fingertip_vertices_are_the_extreme_of_their_fingers(right: dict) -> None:
    verts, weights, joints = right["v_template"], right["weights"], rest_joints(right)
    owner = weights.argmax(axis=1)
    for tip, distal in TIP_JOINTS.items():
        direction = joints[distal] - joints[distal - 1]
        direction /= np.linalg.norm(direction)
        segment = np.flatnonzero(owner == distal)
        assert tip in segment
        assert segment[np.argmax(verts[segment] @ direction)] == tip
    # manopth's left middle tip (445) is on the middle fingertip too, next to 444
    assert owner[445] == 6
    assert np.linalg.norm(verts[445] - verts[444]) < 0.01
    assert tuple(TIP_JOINTS) == TIP_VERTEX_IDS_RIGHT


def test_weights_regressor_and_pose_basis(right: dict) -> None:
    weights = right["weights"]
    assert weights.min() >= 0.0
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    regressor = right["J_regressor"].toarray()
    assert regressor.min() >= 0.0
    np.testing.assert_allclose(regressor.sum(axis=1), 1.0, atol=1e-12)
    components = right["hands_components"]
    np.testing.assert_allclose(components @ components.T, np.eye(45), atol=1e-10)


def test_first_pose_component_closes_the_hand_and_the_mean_is_a_mild_curl(right: dict) -> None:
    tips = list(TIP_JOINTS)
    rest = right["v_template"][tips]
    for coefficients, most in ((right["hands_components"][0], 0.06), (right["hands_mean"], 0.05)):
        posed = linear_blend_skinning(
            right, np.concatenate([np.zeros(3), coefficients]), np.zeros(10)
        )
        drop = rest[:, 1] - posed[tips, 1]  # toward the palm (-y)
        assert drop.min() > 0.01 and drop.max() < most
    assert np.abs(right["hands_mean"]).max() < 0.6  # radians


def test_joints_lie_inside_the_hand_along_sensible_bones(right: dict) -> None:
    joints = rest_joints(right)
    np.testing.assert_allclose(joints[0], [0.095, 0.005, 0.006], atol=0.01)  # MANO-like wrist
    assert np.linalg.norm(joints[4, [0, 2]]) < 0.01  # middle knuckle near the origin
    for child, parent in enumerate(MANO_PARENTS):
        if parent >= 0:
            assert 0.015 < np.linalg.norm(joints[child] - joints[parent]) < 0.1
    # fingers point to -x; the thumb is on +z (a right hand with its back to +y)
    assert all(joints[j, 0] < joints[j - 1, 0] for j in (2, 3, 5, 6, 8, 9, 11, 12))
    assert joints[13:, 2].min() > joints[1:13, 2].max() - 0.01


def test_proportions_are_adult(right: dict) -> None:
    verts, joints = right["v_template"], rest_joints(right)
    assert 0.175 < np.linalg.norm(verts[444] - joints[0]) < 0.195
    thumb = right["weights"][:, 13:].sum(axis=1) > 0.5
    knuckle_band = (verts[:, 0] > joints[4, 0] + 0.01) & (verts[:, 0] < joints[4, 0] + 0.03)
    palm_z = verts[knuckle_band & ~thumb, 2]
    assert 0.08 < palm_z.max() - palm_z.min() < 0.09


def test_beta0_grows_the_hand_and_two_sigma_stays_a_hand(right: dict) -> None:
    lengths = []
    for beta0 in (-2.0, -1.0, 0.0, 1.0, 2.0):
        betas = np.zeros(10)
        betas[0] = beta0
        verts = right["v_template"] + right["shapedirs"] @ betas
        lengths.append(np.linalg.norm(verts[444] - rest_joints(right, betas)[0]))
    assert np.all(np.diff(lengths) > 0)
    assert 1.05 < lengths[-1] / lengths[2] < 1.2 and 0.8 < lengths[0] / lengths[2] < 0.95
    # every beta moves the mesh visibly but by centimetres at most at 2 sigma
    for k in range(10):
        shift = np.linalg.norm(2.0 * right["shapedirs"][:, :, k], axis=1).max()
        assert 0.001 < shift < 0.03, k


def test_betas_change_finger_length_and_palm_width(right: dict) -> None:
    def measure(betas: np.ndarray) -> tuple[float, float]:
        verts = right["v_template"] + right["shapedirs"] @ betas
        joints = rest_joints(right, betas)
        return np.linalg.norm(verts[444] - joints[4]), np.linalg.norm(joints[1] - joints[7])

    finger0, palm0 = measure(np.zeros(10))
    finger2, palm2 = measure(np.eye(10)[2] * 2)
    finger1, palm1 = measure(np.eye(10)[1] * 2)
    assert finger2 > finger0 * 1.05 and abs(palm2 - palm0) < 1e-3
    assert palm1 > palm0 * 1.05 and abs(finger1 - finger0) < 2e-3


def test_pose_blend_shapes_are_small_local_and_bulge_outward(right: dict) -> None:
    posedirs = right["posedirs"]
    rot = Rotation.from_rotvec([0.0, 0.0, np.pi / 2]).as_matrix()  # index PIP (joint 2) flexed
    features = np.zeros(135)
    features[9:18] = (rot - np.eye(3)).ravel()
    correction = posedirs @ features
    size = np.linalg.norm(correction, axis=1)
    assert 0.001 < size.max() < 0.005
    joints = rest_joints(right)
    far = np.linalg.norm(right["v_template"] - joints[2], axis=1) > 0.03
    assert size[far].max() < 1e-4
    # the biggest correction sits on the back of the finger and moves outward (+y)
    top = np.argmax(size)
    assert right["v_template"][top, 1] > joints[2, 1] and correction[top, 1] > 0


def edge_stretch(rest: np.ndarray, posed: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(E,) posed / rest length of every mesh edge."""
    edges = edges_of(faces)
    posed_len = np.linalg.norm(posed[edges[:, 0]] - posed[edges[:, 1]], axis=1)
    return posed_len / np.linalg.norm(rest[edges[:, 0]] - rest[edges[:, 1]], axis=1)


@pytest.mark.parametrize("joint", range(1, 16))
def test_bending_any_joint_90_degrees_does_not_tear(right: dict, joint: int) -> None:
    stretch = edge_stretch(right["v_template"], bend(right, joint, np.pi / 2), right["f"])
    # webs stretch when one finger bends alone (about 2x at the knuckles), nothing tears or
    # collapses; away from the webs edges keep their length within 50%
    assert stretch.max() < 2.5 and stretch.min() > 0.1
    assert np.mean((stretch > 0.5) & (stretch < 1.5)) > 0.97


@pytest.mark.parametrize("joint, tip", [(1, 317), (2, 317), (4, 444), (11, 556), (8, 673)])
def test_fingertip_swings_a_quarter_circle_toward_the_palm(right: dict, joint: int, tip: int):
    joints = rest_joints(right)
    before = right["v_template"][tip] - joints[joint]
    after = bend(right, joint, np.pi / 2)[tip] - joints[joint]
    assert abs(np.linalg.norm(after) - np.linalg.norm(before)) < 0.002
    cos = before @ after / (np.linalg.norm(before) * np.linalg.norm(after))
    assert abs(np.degrees(np.arccos(cos)) - 90.0) < 5.0
    assert after[1] < -0.8 * np.linalg.norm(before)  # now points into the palm side (-y)


def test_left_is_the_mirror_of_right(right: dict, left: dict) -> None:
    np.testing.assert_array_equal(left["v_template"], right["v_template"] * FLIP)
    np.testing.assert_array_equal(left["f"], right["f"][:, ::-1])
    np.testing.assert_array_equal(left["weights"], right["weights"])
    assert (left["J_regressor"] != right["J_regressor"]).nnz == 0
    np.testing.assert_array_equal(left["shapedirs"], right["shapedirs"] * FLIP[None, :, None])
    yz = np.tile([1.0, -1.0, -1.0], 15)
    np.testing.assert_array_equal(left["hands_mean"], right["hands_mean"] * yz)
    np.testing.assert_array_equal(left["hands_components"], right["hands_components"] * yz)
    # behaviour: the left hand in the mirrored pose is the mirror image of the posed right hand
    rng = np.random.default_rng(0)
    pose, betas = rng.normal(0, 0.4, 48), rng.normal(0, 1.0, 10)
    mirrored_pose = pose * np.tile([1.0, -1.0, -1.0], 16)
    np.testing.assert_allclose(
        linear_blend_skinning(left, mirrored_pose, betas),
        linear_blend_skinning(right, pose, betas) * FLIP,
        atol=1e-12,
    )


def test_build_is_deterministic_and_returns_private_copies(right: dict) -> None:
    first = build_synthetic_mano_dict("right")
    first["v_template"][:] = 0.0
    synthetic._build.cache_clear()
    again = build_synthetic_mano_dict("right")
    for key, value in right.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(again[key], value, err_msg=key)
    assert (again["J_regressor"] != right["J_regressor"]).nnz == 0


def test_mano_layer_bends_the_synthetic_hand_without_tearing() -> None:
    torch = pytest.importorskip("torch")
    layer_module = pytest.importorskip("handmesh.mano.layer")
    from handmesh.mano.loader import model_from_dict

    model = build_synthetic_mano_dict("right")
    data = model_from_dict(model, "synthetic", "right", is_synthetic=True)
    layer = layer_module.MANO(side="right", model=data, flat_hand_mean=True, dtype=torch.float64)
    joints = rest_joints(model)
    axis = np.cross([0.0, 1.0, 0.0], joints[5] - joints[4])  # middle knuckle
    pose = torch.zeros(1, 48, dtype=torch.float64)
    pose[0, 12:15] = torch.from_numpy(np.pi / 2 * axis / np.linalg.norm(axis))
    with torch.no_grad():
        posed = layer(pose).verts[0].numpy()
    np.testing.assert_allclose(posed, bend(model, 4, np.pi / 2), atol=1e-9)
    stretch = edge_stretch(model["v_template"], posed, model["f"])
    assert stretch.min() > 0.1 and stretch.max() < 2.5


def test_left_shapedirs_fix_is_not_applied_to_the_correctly_mirrored_synthetic_hand() -> None:
    import torch

    from handmesh.mano import MANO, load_mano_model

    model = load_mano_model("/nonexistent/mano", side="left", allow_synthetic=True)
    plain = MANO(side="left", model=model, dtype=torch.float64)
    fixed = MANO(side="left", model=model, fix_left_shapedirs=True, dtype=torch.float64)
    assert torch.equal(plain.shapedirs, fixed.shapedirs)
    assert torch.equal(plain.shapedirs, torch.tensor(model.shapedirs))
