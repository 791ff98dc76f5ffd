"""The encoder-decoder against a loop re-implementation of the original, and the official keys."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from dhm_fixtures import PARENTS, euler_zyx, fk_recursive, kabsch, lbs_loop

import handmesh
from handmesh.backbones.resnet import ResNet
from handmesh.config import load_config
from handmesh.deephandmesh.synthetic_model import build_synthetic_template, write_hand_model
from handmesh.errors import CheckpointError
from handmesh.models import DeepHandMesh

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "config/deephandmesh/train_deephandmesh.yml"

ALIGN = [8, 12, 16, 20, 21]


def _mlp(x: np.ndarray, seq: torch.nn.Sequential) -> np.ndarray:
    """Linear, ReLU, Linear in float64 from the module's weights."""
    w0, b0 = seq[0].weight.double().detach().numpy(), seq[0].bias.double().detach().numpy()
    w2, b2 = seq[2].weight.double().detach().numpy(), seq[2].bias.double().detach().numpy()
    return np.maximum(x @ w0.T + b0, 0.0) @ w2.T + b2


def reference_decode(net: DeepHandMesh, euler: np.ndarray, target: np.ndarray | None = None):
    """The original ``Model.decode`` / train-mode decoder, one sample and one joint at a time."""
    tpl = build_synthetic_template()
    id_code = net.id_code.double().numpy()
    corrective = _mlp(id_code, net.skeleton_refine_net.fc_skeleton).reshape(22, 3)
    local = tpl.local_pose.astype(np.float64).copy()
    local[:, :3, 3] += corrective
    rest = fk_recursive(PARENTS, local, tpl.global_pose[21].astype(np.float64))
    joints, verts = [], []
    for b in range(len(euler)):
        if target is None:
            root = np.eye(4)
        else:
            rot, trans = kabsch(rest[ALIGN, :3, 3], target[b, ALIGN])
            mat = np.eye(4)
            mat[:3, :3], mat[:3, 3] = rot, trans
            root = mat @ rest[21]
        posed = local.copy()
        for j in range(22):
            rot4 = np.eye(4)
            rot4[:3, :3] = euler_zyx(tuple(euler[b, j]))
            posed[j] = local[j] @ rot4
        glob = fk_recursive(PARENTS, posed, root)
        transforms = glob @ tpl.global_pose_inv.astype(np.float64)
        pose_corr = _mlp(euler[b].reshape(-1), net.skin_refine_net.fc_pose).reshape(-1, 3)
        id_corr = _mlp(id_code, net.skin_refine_net.fc_id).reshape(-1, 3)
        rest_verts = tpl.verts.astype(np.float64) + pose_corr + id_corr
        joints.append(glob[:, :3, 3])
        verts.append(lbs_loop(rest_verts, tpl.skinning_weights.astype(np.float64), transforms))
    return np.stack(joints), np.stack(verts)


@pytest.fixture(scope="module")
def net() -> DeepHandMesh:
    torch.manual_seed(0)
    model = DeepHandMesh(template=build_synthetic_template(), backbone=ResNet(depth=18))
    with torch.no_grad():  # correctives of a few mm, so that they show in the comparison
        for head in (model.skeleton_refine_net, model.skin_refine_net):
            for layer in head.modules():
                if isinstance(layer, torch.nn.Linear):
                    layer.weight.normal_(0.0, 0.3)
                    layer.bias.normal_(0.0, 0.3)
    return model.eval()


def _demo_pose() -> np.ndarray:
    euler = np.zeros((1, 22, 3))
    euler[0, [8, 12, 16, 20], 2] = math.pi / 2
    return euler


@pytest.mark.parametrize("case", ["zero", "demo", "random", "train_root"])
def test_decode_matches_the_original_algorithm(net: DeepHandMesh, case: str) -> None:
    rng = np.random.default_rng(7)
    dof = build_synthetic_template().dof
    euler = {
        "zero": np.zeros((1, 22, 3)),
        "demo": _demo_pose(),
        "random": rng.uniform(-1.5, 1.5, size=(2, 22, 3)) * dof,
        "train_root": rng.uniform(-1.0, 1.0, size=(2, 22, 3)) * dof,
    }[case]
    target = None
    if case == "train_root":
        target = rng.normal(size=(2, 22, 3)) * 60.0 + 300.0
    with torch.no_grad():
        out = net.pose_mm(torch.from_numpy(euler).float())
        if target is not None:  # the training root: the wrist-frame output, placed
            place = net.placement(out["joints"], torch.from_numpy(target).float())
            for key in ("joints", "verts"):
                out[key] = out[key] @ place[:, :3, :3].transpose(1, 2) + place[:, None, :3, 3]
    joints, verts = reference_decode(net, euler, target)
    np.testing.assert_allclose(out["joints"].numpy(), joints, atol=2e-3)
    np.testing.assert_allclose(out["verts"].numpy(), verts, atol=2e-3)
    if case == "zero":  # identity root: the wrist at the origin
        np.testing.assert_allclose(out["joints"][0, 21].numpy(), 0.0, atol=1e-5)
    # the model's decode: the same in metres
    with torch.no_grad():
        preds = net.decode(torch.from_numpy(euler).float())
    if target is None:
        np.testing.assert_allclose(preds["joints_3d"].numpy() * 1000, joints, atol=2e-3)
        np.testing.assert_allclose(preds["verts_3d"].numpy() * 1000, verts, atol=2e-3)


def test_rest_outputs_for_the_penetration_loss(net: DeepHandMesh) -> None:
    euler = torch.from_numpy(np.random.default_rng(8).uniform(-1, 1, (2, 22, 3))).float()
    with torch.no_grad():
        out = net.pose_mm(euler, with_rest=True)
        zero_pose = net.corrected_template(euler)
        _, rest_pose = net.refined_rest_skeleton()
    tpl = build_synthetic_template()
    torch.testing.assert_close(out["rest_joints"], rest_pose[:, :3, 3])
    # the corrected template (with this pose's corrective) skinned by the refined rest skeleton
    transforms = rest_pose.double().numpy() @ tpl.global_pose_inv.astype(np.float64)
    for b in range(2):
        expected = lbs_loop(
            zero_pose[b].double().numpy(), tpl.skinning_weights.astype(np.float64), transforms
        )
        np.testing.assert_allclose(out["rest_verts"][b].numpy(), expected, atol=2e-3)


def test_encoder_is_resnet_mean_fc_relu_then_pose_net(net: DeepHandMesh) -> None:
    image = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        pooled = net.backbone_net.resnet(image)["res_layer4"].mean(dim=(2, 3))
        feat = torch.relu(pooled @ net.backbone_net.fc[0].weight.T + net.backbone_net.fc[0].bias)
        out = net({"image": image})
    torch.testing.assert_close(out["joint_euler"], net.pose_net(feat))
    torch.testing.assert_close(out["joints_3d"], net.decode(out["joint_euler"])["joints_3d"])


def test_pose_corrective_sees_detached_angles(net: DeepHandMesh) -> None:
    euler = torch.zeros(1, 22, 3, requires_grad=True)
    net.corrected_template(euler).sum().backward()
    net.zero_grad(set_to_none=True)
    assert euler.grad is None  # no gradient reaches the angles through the correctives


# ----------------------------------------------------------------- the official key layout


def _official_resnet50_keys() -> dict[str, tuple[int, ...]]:
    """``module.backbone_net.resnet.*`` of the official snapshot (torchvision ResNet-50, no fc)."""
    keys: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, channels: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{prefix}.{name}"] = (channels,)
        keys[f"{prefix}.num_batches_tracked"] = ()

    base = "module.backbone_net.resnet"
    keys[f"{base}.conv1.weight"] = (64, 3, 7, 7)
    bn(f"{base}.bn1", 64)
    inplanes = 64
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3)), start=1):
        for block in range(blocks):
            p = f"{base}.layer{stage}.{block}"
            keys[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
            bn(f"{p}.bn1", planes)
            keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            bn(f"{p}.bn2", planes)
            keys[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
            bn(f"{p}.bn3", planes * 4)
            if block == 0:
                keys[f"{p}.downsample.0.weight"] = (planes * 4, inplanes, 1, 1)
                bn(f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    return keys


def official_keys(num_verts: int) -> dict[str, tuple[int, ...]]:
    """The official snapshot's ``network`` keys and shapes (reference notes, section 2.2)."""
    v3 = 3 * num_verts
    return {
        "module.id_code": (32,),
        **_official_resnet50_keys(),
        "module.backbone_net.fc.0.weight": (512, 2048),
        "module.backbone_net.fc.0.bias": (512,),
        "module.pose_net.DoF": (22, 3),
        "module.pose_net.fc.0.weight": (512, 512),
        "module.pose_net.fc.0.bias": (512,),
        "module.pose_net.fc.2.weight": (28, 512),
        "module.pose_net.fc.2.bias": (28,),
        "module.skeleton_refine_net.fc_skeleton.0.weight": (64, 32),
        "module.skeleton_refine_net.fc_skeleton.0.bias": (64,),
        "module.skeleton_refine_net.fc_skeleton.2.weight": (66, 64),
        "module.skeleton_refine_net.fc_skeleton.2.bias": (66,),
        "module.skin_refine_net.fc_pose.0.weight": (256, 66),
        "module.skin_refine_net.fc_pose.0.bias": (256,),
        "module.skin_refine_net.fc_pose.2.weight": (v3, 256),
        "module.skin_refine_net.fc_pose.2.bias": (v3,),
        "module.skin_refine_net.fc_id.0.weight": (256, 32),
        "module.skin_refine_net.fc_id.0.bias": (256,),
        "module.skin_refine_net.fc_id.2.weight": (v3, 256),
        "module.skin_refine_net.fc_id.2.bias": (v3,),
        "module.penet_loss.segmentation": (num_verts,),
        "module.lap_loss.laplacian": (num_verts, num_verts),
    }


def _official_snapshot(path: Path) -> Path:
    tpl = build_synthetic_template()
    generator = torch.Generator().manual_seed(1)
    network = {}
    for key, shape in official_keys(tpl.num_verts).items():
        if key.endswith("num_batches_tracked"):
            network[key] = torch.tensor(7)
        else:
            network[key] = torch.randn(shape, generator=generator)
    network["module.pose_net.DoF"] = torch.from_numpy(tpl.dof)
    network["module.penet_loss.segmentation"] = torch.from_numpy(tpl.segmentation).float()
    torch.save(
        {"epoch": 34, "network": network, "optimizer": {"state": {}, "param_groups": []}}, path
    )
    return path


@pytest.fixture(scope="module")
def official_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _official_snapshot(tmp_path_factory.mktemp("dhm") / "snapshot_34.pth.tar")


@pytest.fixture(scope="module")
def hand_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("hand_model")
    write_hand_model(build_synthetic_template(), directory)
    return directory


def _load(hand_dir: Path, snapshot: Path) -> DeepHandMesh:
    cfg = load_config(PUBLISHED, opts=["MODEL.HAND_MODEL_DIR", str(hand_dir)])
    return handmesh.load_model(cfg, checkpoint=snapshot)


def _edited(official_file: Path, tmp_path: Path, edit) -> Path:
    snapshot = torch.load(official_file, weights_only=True)
    edit(snapshot["network"])
    path = tmp_path / "edited.pth.tar"
    torch.save(snapshot, path)
    return path


def test_official_snapshot_loads_strictly(official_file: Path, hand_dir: Path) -> None:
    network = torch.load(official_file, weights_only=True)["network"]
    model = _load(hand_dir, official_file)
    assert isinstance(model, DeepHandMesh) and not model.training
    assert torch.equal(model.id_code, network["module.id_code"])
    assert torch.equal(
        model.skin_refine_net.fc_id[2].bias, network["module.skin_refine_net.fc_id.2.bias"]
    )
    assert torch.equal(
        model.backbone_net.resnet.layer3[5].bn2.running_var,
        network["module.backbone_net.resnet.layer3.5.bn2.running_var"],
    )
    # handmesh's own state dict: no hand-model-derived buffers (no dense Laplacian), and it
    # loads back strictly
    own = model.state_dict()
    assert set(own) == {k.removeprefix("module.") for k in official_keys(778)} - {
        "pose_net.DoF", "penet_loss.segmentation", "lap_loss.laplacian"
    }  # fmt: skip
    ours = official_file.parent / "DeepHandMesh.pth.tar"
    torch.save(own, ours)
    again = _load(hand_dir, ours)
    assert torch.equal(
        again.skeleton_refine_net.fc_skeleton[0].weight,
        model.skeleton_refine_net.fc_skeleton[0].weight,
    )


def test_a_missing_id_code_is_refused(official_file: Path, hand_dir: Path, tmp_path: Path) -> None:
    path = _edited(official_file, tmp_path, lambda net: net.pop("module.id_code"))
    with pytest.raises(CheckpointError, match="no id_code.*refusing to load"):
        _load(hand_dir, path)


def test_a_snapshot_of_another_hand_model_is_refused(
    official_file: Path, hand_dir: Path, tmp_path: Path
) -> None:
    def relabel(net: dict) -> None:
        seg = net["module.penet_loss.segmentation"]
        seg[0] = 5.0 if seg[0] != 5 else 6.0

    with pytest.raises(CheckpointError, match="penet_loss.segmentation.*different hand model"):
        _load(hand_dir, _edited(official_file, tmp_path, relabel))

    def fewer_verts(net: dict) -> None:
        net["module.lap_loss.laplacian"] = torch.zeros(10, 10)

    with pytest.raises(CheckpointError, match="Laplacian is \\(10, 10\\), the mesh has 778"):
        _load(hand_dir, _edited(official_file, tmp_path, fewer_verts))


def test_unexpected_and_misshapen_keys_are_listed(
    official_file: Path, hand_dir: Path, tmp_path: Path
) -> None:
    def damage(net: dict) -> None:
        net["module.renderer.extra"] = torch.zeros(1)
        net["module.pose_net.fc.2.bias"] = torch.zeros(27)

    with pytest.raises(
        CheckpointError, match=r"unexpected keys 1: \[renderer.extra\].*pose_net.fc.2.bias \(27,\)"
    ):
        _load(hand_dir, _edited(official_file, tmp_path, damage))
