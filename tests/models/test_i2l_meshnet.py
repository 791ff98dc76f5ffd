"""I2L_MeshNet: the original's forward, outputs and units, the loss wiring, the stage and preset
checks, published configs and checkpoint layout."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from handmesh.backbones.resnet import ResNet
from handmesh.checkpoint import load_weights
from handmesh.codecs import UVDCodec
from handmesh.config import load_config
from handmesh.errors import ConfigError
from handmesh.mano.loader import model_from_dict
from handmesh.mano.synthetic import build_synthetic_mano_dict
from handmesh.models.i2l_meshnet import I2L_MeshNet
from handmesh.registry import MODELS, build
from tests.heads.oakink_reference import (
    assert_refuses_other_layout,
    fill_deterministic_,
    layout,
    published_layout,
    reference_image_batch,
    train_then_retest,
)

# OakInk-HMR's I2L_MeshNet (oib/external/i2l_meshnet; two ResNet-50, 64x64 input, HEATMAP_SIZE
# [8, 16, 16], sigma 2.5, manotorch buffers of the synthetic right hand) with fill_deterministic_
# weights, eval mode, float64, on reference_image_batch(): sums and [:, ::37] selections of its
# outputs, and [:, ::5] of batch_persp_project(joints_3d).
ORIGINAL_JOINT_COORD_IMG_SUM = 777.054823433
ORIGINAL_JOINT_COORD_IMG_SEL = [
    7.50018493706,
    7.4994190503,
    3.50232588336,
    7.50018477679,
    7.49941732721,
    3.50234841759,
]
ORIGINAL_MESH_COORD_IMG_SUM = 28778.8826632
ORIGINAL_MESH_COORD_IMG_SEL = [
    7.5000148728,
    7.50056458421,
    3.35420248244,
    7.49994545397,
    7.50108087762,
    3.52260470662,
    7.4999641624,
    7.49985090446,
    3.65280023314,
    7.50004076532,
    7.49886243534,
    3.53234140034,
    7.50005151074,
    7.49971111997,
    3.34364546492,
    7.49997902868,
    7.50102768139,
    3.41559330751,
    7.49994043099,
    7.50068293088,
    3.60025105119,
    7.49999807028,
    7.49923592625,
    3.63401875074,
    7.5000588269,
    7.49902276258,
    3.42906347571,
    7.50002454169,
    7.50038892465,
    3.34405453172,
    7.49995060259,
    7.50112690152,
    3.49850002735,
    7.49995647367,
    7.50004389794,
    3.64779482022,
    7.5000326607,
    7.49889088924,
    3.56015418989,
    7.50005608414,
    7.49952887538,
    3.35461816083,
    7.4999888919,
    7.50092923021,
    3.39515881251,
    7.49993964767,
    7.50082741984,
    3.58047543604,
    7.49998790748,
    7.49938970025,
    3.64526150464,
    7.50005570218,
    7.4989376951,
    3.45711156678,
    7.50003350491,
    7.50020208804,
    3.33798691688,
    7.49995717146,
    7.50114051319,
    3.47432807997,
    7.49995003606,
    7.50023566201,
    3.63875724087,
    7.50002361728,
    7.49895119165,
    3.58551874804,
    7.50001483853,
    7.50056448325,
    3.35420158194,
    7.49994547684,
    7.50107980452,
    3.52260005284,
    7.49996420547,
    7.49985059104,
    3.6527999255,
    7.500040759,
    7.49886338923,
    3.53234450782,
    7.50005146524,
    7.49971179804,
    3.34364593956,
    7.49997901751,
    7.50102698903,
    3.41559050293,
    7.49994047219,
    7.50068198547,
    3.60024711388,
    7.49999809728,
    7.49923625499,
    3.63402125079,
    7.50005879607,
    7.4990238344,
    3.42906530545,
    7.50002450284,
    7.50038900646,
    3.34405403556,
    7.49995061848,
    7.5011258622,
    3.49849557226,
    7.49995651863,
    7.50004341455,
    3.64779358497,
    7.50003266209,
    7.49889174398,
    3.56015747304,
    7.50005603972,
    7.49952968556,
    3.35461886718,
    7.49998887343,
    7.50092868735,
    3.39515658536,
    7.49993968499,
    7.50082640033,
    3.58047106441,
    7.49998794029,
    7.49938985044,
    3.64526336711,
    7.50005567746,
    7.49893877291,
    3.45711379291,
    7.5000334626,
    7.50020235032,
    3.33798675404,
    7.4999571799,
    7.50113953744,
    3.47432396795,
    7.49995008162,
    7.50023502262,
    3.63875511333,
    7.50002362635,
    7.49895192261,
    3.58552205024,
]
ORIGINAL_VERTS_3D_SUM = 938.940869052
ORIGINAL_VERTS_3D_SEL = [
    -0.00887020683199,
    -0.00465812535717,
    0.567710124122,
    -0.00900301697763,
    -0.0047174287025,
    0.576130235331,
    -0.00910440269519,
    -0.00479430499811,
    0.582640011657,
    -0.00900890715721,
    -0.00476349364165,
    0.576617070017,
    -0.00886131002022,
    -0.00466971762972,
    0.567182273246,
    -0.00891880633413,
    -0.004674616339,
    0.570779665376,
    -0.00906377584533,
    -0.00475681018615,
    0.580012552559,
    -0.0090891122278,
    -0.00479834528942,
    0.581700937537,
    -0.00892790531484,
    -0.00471782035769,
    0.571453173786,
    -0.00886210759943,
    -0.00465723955672,
    0.567202726586,
    -0.00898409064029,
    -0.0047066896869,
    0.574925001367,
    -0.0091006318685,
    -0.00478854834029,
    0.582389741011,
    -0.00903078051917,
    -0.00477444085339,
    0.578007709495,
    -0.00886980041622,
    -0.00467763812568,
    0.567730908041,
    -0.00890266560133,
    -0.0046680937126,
    0.569757940625,
    -0.00904833847922,
    -0.00474594892079,
    0.579023771802,
    -0.00909808058264,
    -0.00480003696764,
    0.582263075232,
    -0.00894987124584,
    -0.00473100137732,
    0.572855578339,
    -0.00885720871908,
    -0.00465823266062,
    0.566899345844,
    -0.00896508666992,
    -0.00469653848277,
    0.573716403999,
    -0.00909368771654,
    -0.00478116200211,
    0.581937862043,
    -0.00905075899301,
    -0.0047837675589,
    0.579275937402,
    -0.0173879392878,
    -0.0112661529862,
    0.667710079097,
    -0.017608832178,
    -0.0113964497664,
    0.676130002642,
    -0.0177779316662,
    -0.0115345267119,
    0.682639996275,
    -0.0176192826668,
    -0.0114553264569,
    0.676617225391,
    -0.0173733467374,
    -0.0112764672882,
    0.667182296978,
    -0.0174687055029,
    -0.0113074621406,
    0.670779525146,
    -0.0177100606394,
    -0.0114710276791,
    0.680012355694,
    -0.0177526768746,
    -0.0115328100357,
    0.681701062539,
    -0.0174843913242,
    -0.0113642595343,
    0.671453265273,
    -0.0173745027074,
    -0.011261547457,
    0.667202701778,
    -0.0175773233602,
    -0.0113750850341,
    0.674924778613,
    -0.0177715948151,
    -0.0115258518237,
    0.682389679249,
    -0.0176556861141,
    -0.0114782210519,
    0.678007873652,
    -0.0173875273634,
    -0.011289848486,
    0.667730943359,
    -0.0174418688909,
    -0.01129246348,
    0.669757829268,
    -0.0176843270913,
    -0.0114510348419,
    0.67902355322,
    -0.0177675557,
    -0.0115387792822,
    0.682263168356,
    -0.0175209827894,
    -0.0113899289699,
    0.672855689646,
    -0.0173663953851,
    -0.011260632485,
    0.666899337702,
    -0.0175456943539,
    -0.0113544045394,
    0.673716198397,
    -0.0177599777076,
    -0.0115138042917,
    0.681937755667,
    -0.0176889245857,
    -0.0114983103103,
    0.679276102512,
]
ORIGINAL_JOINTS_3D_SUM = 25.3591849424
ORIGINAL_JOINTS_3D_SEL = [
    -0.00899143386298,
    -0.00474106586806,
    0.575470381956,
    -0.0175899959019,
    -0.0114203012034,
    0.67547043073,
]
ORIGINAL_JOINTS_2D_SEL = [
    30.0000646939,
    29.9981871741,
    29.9999519117,
    29.9992748526,
    30.0000044101,
    29.9995390618,
    29.9999780701,
    30.000509724,
    29.9998350126,
    29.9999336862,
    30.0000647908,
    29.9981897046,
    29.9999521425,
    29.9992736366,
    30.0000045866,
    29.9995396845,
    29.9999782239,
    30.0005101423,
    29.9998351906,
    29.9999319601,
]

SYNTHETIC_RIGHT = model_from_dict(
    build_synthetic_mano_dict("right"), "synthetic", "right", is_synthetic=True
)


def _small_model(depth: int = 50, heatmap_shape: tuple[int, int, int] = (8, 16, 16)) -> I2L_MeshNet:
    return I2L_MeshNet(
        pose_backbone=ResNet(depth=depth),
        mesh_backbone=ResNet(depth=depth),
        mano=SYNTHETIC_RIGHT,
        codec=UVDCodec(image_size=(64, 64), center_idx=0),
        heatmap_shape=heatmap_shape,
    )


@pytest.mark.slow
def test_forward_matches_the_original() -> None:
    model = _small_model().double()
    fill_deterministic_(model)
    model.eval()
    with torch.no_grad():
        preds = model(reference_image_batch())
    for key in ("joint_coord_img", "mesh_coord_img", "verts_3d", "joints_3d"):
        total = globals()[f"ORIGINAL_{key.upper()}_SUM"]
        selection = torch.tensor(globals()[f"ORIGINAL_{key.upper()}_SEL"], dtype=torch.float64)
        assert float(preds[key].sum()) == pytest.approx(total, rel=1e-9), key
        torch.testing.assert_close(preds[key][:, ::37].flatten(), selection, rtol=1e-8, atol=1e-9)
    selection = torch.tensor(ORIGINAL_JOINTS_2D_SEL, dtype=torch.float64)
    torch.testing.assert_close(
        preds["joints_2d"][:, ::5].flatten(), selection, rtol=1e-8, atol=1e-8
    )


def test_outputs_are_bins_decoded_with_the_codec_and_the_regressor() -> None:
    model = _small_model(depth=18).eval()
    batch = {k: v.float() for k, v in reference_image_batch().items()}
    batch["image"] = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        preds = model(batch)
    assert preds["joint_coord_img"].shape == (2, 21, 3)
    assert preds["mesh_coord_img"].shape == (2, 778, 3)
    mesh = preds["mesh_coord_img"]
    assert mesh.min() >= 0 and float(mesh[..., 0].max()) <= 15 and float(mesh[..., 2].max()) <= 7
    regressor = np.asarray(SYNTHETIC_RIGHT.J_regressor)
    tips = {4: 745, 8: 317, 12: 445, 16: 556, 20: 673}  # canonical tip joint -> vertex
    for b in range(2):
        K, z_root = batch["target_cam_intr"][b].double(), float(batch["target_root_joint"][b, 2])
        verts = []
        for x_bin, y_bin, z_bin in mesh[b].double().tolist():
            u, v, z = x_bin / 16 * 64, y_bin / 16 * 64, (z_bin / 8 - 0.5) * 0.4 + z_root
            verts.append([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z])
        verts = np.array(verts, dtype=np.float64)
        np.testing.assert_allclose(preds["verts_3d"][b].numpy(), verts, atol=2e-6)
        np.testing.assert_allclose(
            preds["joints_3d"][b, 0].numpy(), regressor[0] @ verts, atol=2e-6
        )
        for joint, vertex in tips.items():
            np.testing.assert_allclose(
                preds["joints_3d"][b, joint].numpy(), verts[vertex], atol=2e-6
            )
        joints = preds["joints_3d"][b].double().numpy()
        uv = joints @ K.numpy().T
        np.testing.assert_allclose(preds["joints_2d"][b].numpy(), uv[:, :2] / uv[:, 2:], rtol=1e-5)
    torch.testing.assert_close(
        preds["joint_img_from_mesh"], model.joint_regressor @ preds["mesh_coord_img"]
    )


def test_training_step_reaches_both_branches_and_logs_the_published_terms() -> None:
    model = _small_model(depth=18).train()
    batch = {k: v.float() for k, v in reference_image_batch().items()}
    root = batch["target_root_joint"]
    batch.update(
        image=torch.rand(2, 3, 64, 64),
        target_joints_3d=root[:, None] + 0.03 * torch.randn(2, 21, 3),
        target_verts_3d=root[:, None] + 0.03 * torch.randn(2, 778, 3),
        target_joints_vis=torch.ones(2, 21),
        target_verts_vis=torch.ones(2, 778),
    )
    losses = model.compute_loss(model(batch), batch)
    assert sorted(losses) == [
        "final_loss",
        "joint_fit_loss",
        "mesh_edge_loss",
        "mesh_fit_loss",
        "mesh_joint_fit_loss",
        "mesh_normal_loss",
    ]
    losses["final_loss"].backward()
    assert model.pose_net.conv_x[0].weight.grad.abs().sum() > 0
    assert model.mesh_net.conv_z_2[0].weight.grad.abs().sum() > 0
    assert model.pose2feat.conv[0].weight.grad.abs().sum() > 0
    assert model.mesh_backbone.conv1.weight.grad is None  # the mesh branch starts at layer1
    assert model.param_regressor.fc[0].weight.grad is None
    assert torch.equal(model.criterions[0].faces, torch.as_tensor(SYNTHETIC_RIGHT.faces.copy()))


def _write_mano(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "MANO_RIGHT.pkl", "wb") as f:
        pickle.dump(build_synthetic_mano_dict("right"), f, protocol=2)
    return folder


@pytest.mark.parametrize("split", [0, 1, 2])
def test_published_configs_build_the_published_layout(
    split: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDMESH_MANO_ROOT", str(_write_mano(tmp_path / "mano")))
    cfg = load_config(f"config/oii/train_i2l_meshnet_oii_sp{split}.yml")
    with torch.device("meta"):
        model = build(cfg.MODEL, MODELS, data_preset=cfg.DATA_PRESET)
    assert isinstance(model, I2L_MeshNet)
    assert layout(model) == published_layout("I2L_MeshNet")
    assert model.heatmap_shape == (64, 64, 64) and model.codec.image_size == (256, 256)
    assert model.pose2feat.sigma == 2.5 and model.fingertips == "i2l"
    assert model.pose_backbone.pretrained is True and model.mesh_backbone.pretrained is True
    loss = model.criterions[0]
    assert loss.face_indexing == "oakink" and loss.bins == (64, 64, 64)
    assert loss.lambdas["mesh_normal_loss"] == 0.1


def test_stage_preset_and_loss_options_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDMESH_MANO_ROOT", str(_write_mano(tmp_path / "mano")))
    cfg = load_config("config/oii/train_i2l_meshnet_oii_sp0.yml")
    preset = cfg.DATA_PRESET
    with pytest.raises(ConfigError, match="STAGE 'param' is not supported: only the lixel stage"):
        build({**cfg.MODEL, "STAGE": "param"}, MODELS, data_preset=preset)
    with pytest.raises(ConfigError, match=r"HEATMAP_SIZE \[64, 32, 32\] must be \(D, H/4, W/4\)"):
        build(cfg.MODEL, MODELS, data_preset={**preset, "HEATMAP_SIZE": [64, 32, 32]})
    with pytest.raises(ConfigError, match="CENTER_IDX 0"):
        build(cfg.MODEL, MODELS, data_preset={**preset, "CENTER_IDX": 9})
    loss = {**cfg.MODEL.LOSS, "LAMBDA_POSE_PARAM": 1.0}
    with pytest.raises(ConfigError, match=r"MODEL\.LOSS \(I2LMeshNetLoss\): LAMBDA_POSE_PARAM 1.0"):
        build({**cfg.MODEL, "LOSS": loss}, MODELS, data_preset=preset)
    with pytest.raises(ConfigError, match=r"MODEL\.POSE_BACKBONE\.RESNET_DEPTH"):
        build({**cfg.MODEL, "POSE_BACKBONE": {"RESNET_DEPTH": 50}}, MODELS, data_preset=preset)
    small = {**preset, "IMAGE_SIZE": [64, 64], "HEATMAP_SIZE": [8, 16, 16]}
    node = {
        **cfg.MODEL,
        "POSE_BACKBONE": {"RESNET_TYPE": 18, "PRETRAINED": False},
        "MESH_BACKBONE": {"RESNET_TYPE": 18, "PRETRAINED": False},
        "FINGERTIPS": "manopth",
        "LOSS": {**cfg.MODEL.LOSS, "FACE_INDEXING": "fixed"},
    }
    model = build(node, MODELS, data_preset=small)
    assert (
        float(model.joint_regressor[12, 444]) == 1.0 and float(model.joint_regressor[12, 445]) == 0
    )
    assert model.criterions[0].face_indexing == "fixed"
    with pytest.raises(ConfigError, match="FINGERTIPS|fingertips must be one of"):
        build({**node, "FINGERTIPS": "444"}, MODELS, data_preset=small)


def test_missing_mano_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDMESH_MANO_ROOT", str(tmp_path / "nowhere"))
    cfg = load_config("config/oii/train_i2l_meshnet_oii_sp0.yml")
    with pytest.raises(FileNotFoundError, match="MANO model file not found"):
        build(cfg.MODEL, MODELS, data_preset=cfg.DATA_PRESET)


@pytest.mark.slow
def test_published_checkpoint_loads_strictly_and_another_models_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDMESH_MANO_ROOT", str(_write_mano(tmp_path / "mano")))
    cfg = load_config("config/oii/train_i2l_meshnet_oii_sp0.yml")
    model = build(cfg.MODEL, MODELS, data_preset=cfg.DATA_PRESET)
    state = {
        key: torch.randint(0, 778, shape) if dtype == "int64" else torch.full(shape, 0.5)
        for key, shape, dtype in published_layout("I2L_MeshNet")
    }
    state["pose2feat.conv.0.bias"] = torch.arange(64, dtype=torch.float32)
    path = tmp_path / "I2L_MeshNet.pth.tar"
    torch.save(state, path)
    report = load_weights(model, path)
    assert (report.missing, report.unexpected, report.loaded) == ([], [], 731)
    assert torch.equal(model.pose2feat.conv[0].bias, state["pose2feat.conv.0.bias"])
    assert torch.equal(model.human_model_layer.th_faces, state["human_model_layer.th_faces"])
    assert_refuses_other_layout(model, "RegressFlow3D", tmp_path)


def _tiny_i2l_config(epochs: int) -> dict:
    from tests.engine.engine_cli_helpers import memorise_config

    cfg = memorise_config(epochs, samples=2)
    cfg["TRAIN"]["BATCH_SIZE"] = 2
    cfg["DATA_PRESET"].update(CENTER_IDX=0, HEATMAP_SIZE=[16, 16, 16])
    cfg["TRAIN"]["LR"] = 0.003
    backbone = {"RESNET_TYPE": 18, "PRETRAINED": False}
    cfg["MODEL"] = {
        "TYPE": "I2L_MeshNet",
        "PRETRAINED": "",
        "STAGE": "lixel",
        "HEATMAP_SIGMA": 2.5,
        "POSE_BACKBONE": backbone,
        "MESH_BACKBONE": backbone,
        "LOSS": {"TYPE": "I2L_MeshNet_Loss", "FACE_INDEXING": "fixed"},
        "METRIC": ["mpjpe", "mpvpe"],
    }
    return cfg


@pytest.mark.slow
def test_trains_and_tests_from_the_clis_and_reload_reproduces_the_metrics(tmp_path: Path) -> None:
    run = train_then_retest(_tiny_i2l_config(epochs=45), tmp_path)
    assert run.trained["mpjpe"] < 0.5 * run.untrained["mpjpe"], run  # 63 -> 10 mm
    assert run.trained["mpvpe"] < 0.5 * run.untrained["mpvpe"], run
    state = torch.load(run.checkpoint, weights_only=True)
    assert sum(k.startswith("human_model_layer.") for k in state) == 8
    for key in ("mpjpe", "mpvpe", "num_samples"):
        assert run.retested[key] == pytest.approx(run.trained[key], rel=1e-9), key


def test_synthetic_config_builds_the_small_network() -> None:
    cfg = load_config("config/synthetic/train_i2l_meshnet.yml")
    model = build(cfg.MODEL, MODELS, data_preset=cfg.DATA_PRESET)
    assert isinstance(model, I2L_MeshNet) and model.pose_backbone.depth == 18
    assert model.heatmap_shape == (16, 16, 16) and model.codec.image_size == (64, 64)
    assert model.pose_backbone.pretrained is False and model.mesh_backbone.pretrained is False
