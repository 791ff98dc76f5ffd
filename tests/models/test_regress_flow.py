"""RegressFlow3D: the original's forward and loss, test-time re-centring, decoding, published
configs and checkpoint layout."""

from __future__ import annotations

import pytest
import torch

from handmesh.backbones.resnet import ResNet
from handmesh.checkpoint import load_weights
from handmesh.codecs import UVDCodec
from handmesh.config import load_config
from handmesh.errors import ConfigError
from handmesh.models.regress_flow import RegressFlow3D
from handmesh.registry import MODELS, build
from tests.heads.oakink_reference import (
    assert_refuses_other_layout,
    fill_deterministic_,
    layout,
    published_layout,
    reference_image_batch,
    sine,
    train_then_retest,
)

# OakInk-HMR's RegressFlow3D (oib/models/regression_flow.py; ResNet-50, FREEZE_BATCHNORM, 64x64
# input, CENTER_IDX 0) with fill_deterministic_ weights, float64, on _reference_batch(): eval
# mode (uvd re-centred, sigma, joints_3d by batch_uvd2xyz) as sums and [:, ::5] selections, then
# train mode (uvd, log_phi, RLE_Loss with SIZE_AVERAGE).
ORIGINAL_EVAL_UVD_SUM = 22.9862718328
ORIGINAL_EVAL_UVD_SEL = [
    0.0478093414471,
    -0.075139087067,
    0.5,
    0.114110368775,
    0.00128881731271,
    0.559534278912,
    0.14678907111,
    0.0617087527586,
    0.621364610586,
    0.127932943958,
    0.0776839317851,
    0.650630241076,
    0.0657824261065,
    0.0437944600115,
    0.629253010025,
    0.0478140409251,
    -0.0751375037203,
    0.5,
    0.114113974882,
    0.00129157106956,
    0.559533489381,
    0.146791533881,
    0.0617126387697,
    0.621363142874,
    0.127934229268,
    0.0776888962061,
    0.650628215928,
    0.0657825161461,
    0.0438004340557,
    0.629250555913,
]
ORIGINAL_EVAL_SIGMA_SUM = 63.1417154078
ORIGINAL_EVAL_SIGMA_SEL = [
    0.785222117666,
    0.115170873098,
    0.910933649577,
    0.81499171201,
    0.105270455227,
    0.905243187779,
    0.834542629132,
    0.0949965189051,
    0.891695889634,
    0.85005439109,
    0.0869560788437,
    0.869836849934,
    0.865773695892,
    0.0835747197482,
    0.841319452391,
    0.785249018617,
    0.115182696737,
    0.910905560148,
    0.815008310323,
    0.105286018353,
    0.905210939781,
    0.834550793926,
    0.0950147583775,
    0.891657214357,
    0.850055328838,
    0.0869764149608,
    0.869789360133,
    0.86576852224,
    0.0835974344468,
    0.841261699437,
]
ORIGINAL_EVAL_JOINTS_3D_SUM = 13.0978654455
ORIGINAL_EVAL_JOINTS_3D_SEL = [
    -0.135657197566,
    -0.176688659074,
    0.6,
    -0.120361621555,
    -0.158608307699,
    0.623813711565,
    -0.114536740035,
    -0.144272862182,
    0.648545844234,
    -0.122829026882,
    -0.141325594941,
    0.66025209643,
    -0.141490057854,
    -0.151119404407,
    0.65170120401,
    -0.181926484085,
    -0.217619596002,
    0.7,
    -0.161455032513,
    -0.195119914289,
    0.723813395752,
    -0.15338252319,
    -0.177339419199,
    0.748545257149,
    -0.163745781757,
    -0.17354732968,
    0.760251286371,
    -0.187859275079,
    -0.185365035223,
    0.751700222365,
]
ORIGINAL_TRAIN_UVD_SEL = [
    0.014591741785,
    -0.0578154575908,
    -0.0593008874435,
    0.0829812441777,
    0.0146785893609,
    0.00447352401578,
    0.118179744794,
    0.0709791395299,
    0.0704111336317,
    0.102239824969,
    0.0827064833766,
    0.103594277271,
    0.043361516703,
    0.0444995842607,
    0.0858905137579,
    0.0140007340022,
    -0.0541806670584,
    -0.0645573623046,
    0.0817694532398,
    0.0187495750691,
    -0.00086389828437,
    0.116363961201,
    0.0754299130891,
    0.065066718884,
    0.0998452081052,
    0.087475375145,
    0.0983169219541,
    0.0404212462311,
    0.0495205167705,
    0.0807533405793,
]
ORIGINAL_TRAIN_LOG_PHI = [
    -18.730996695,
    -28.7411149537,
    -9.5501355512,
    -4.79945511147,
    -17.7984388198,
    -17.4089944333,
    -8.68762233382,
    -8.58625740242,
    -16.3739340732,
    -16.6865933838,
    -4.89876478065,
    -5.94552195906,
    -23.8631711235,
    -15.7392550188,
    -5.67294385864,
    -6.77375641527,
    -16.4335770649,
    -20.6625247587,
    -6.14821366612,
    -9.82414760015,
    -25.2816462633,
    -20.2982851369,
    -8.94331504772,
    -11.741882906,
    -16.1249683573,
    -12.8809710284,
    -5.37762321197,
    -9.31632166803,
    -37.9907375569,
    -12.7127612042,
    -3.98406147719,
    -10.577168896,
    -21.0547172403,
    -26.8783861554,
    -5.77099136799,
    -10.5645052296,
    -29.746823521,
    -12.5881783719,
    -6.38938203173,
    -12.3828374559,
    -24.0058256047,
    -16.5574470279,
]
ORIGINAL_TRAIN_LOSS = 921.645298931


def _reference_batch() -> dict[str, torch.Tensor]:
    return {
        **reference_image_batch(),
        "target_joints_uvd": sine(2, 21, 3, freq=0.53, phase=0.3, amp=0.3) + 0.5,
        "target_joints_vis": torch.ones(2, 21, dtype=torch.float64),
    }


def _reference_model() -> RegressFlow3D:
    model = RegressFlow3D(
        preact=ResNet(depth=50, frozen_bn="oakink"),
        codec=UVDCodec(image_size=(64, 64), center_idx=0),
    ).double()
    fill_deterministic_(model)
    return model


def _close(got: torch.Tensor, expected: list[float] | float) -> None:
    torch.testing.assert_close(
        got.detach().flatten(),
        torch.tensor(expected, dtype=torch.float64).flatten(),
        rtol=1e-8,
        atol=1e-9,
    )


def test_forward_and_loss_match_the_original() -> None:
    model, batch = _reference_model(), _reference_batch()
    model.eval()
    with torch.no_grad():
        preds = model(batch)
    for name, key in (("uvd", "UVD"), ("sigma", "SIGMA"), ("joints_3d", "JOINTS_3D")):
        _close(preds[name].sum(), globals()[f"ORIGINAL_EVAL_{key}_SUM"])
        _close(preds[name][:, ::5], globals()[f"ORIGINAL_EVAL_{key}_SEL"])
    assert preds["log_phi"] is None
    model.train()
    preds = model(batch)
    _close(preds["uvd"][:, ::5], ORIGINAL_TRAIN_UVD_SEL)
    _close(preds["log_phi"], ORIGINAL_TRAIN_LOG_PHI)
    losses = model.compute_loss(preds, batch)
    _close(losses["final_loss"], ORIGINAL_TRAIN_LOSS)
    losses["final_loss"].backward()
    assert model.flow3d.s[0][0].weight.grad is not None
    assert model.preact.conv1.weight.grad is not None


def test_eval_recentres_depth_on_the_root_and_decodes_with_the_codec() -> None:
    torch.manual_seed(0)
    codec = UVDCodec(image_size=(64, 48), center_idx=0)
    model = RegressFlow3D(preact=ResNet(depth=18, frozen_bn="all"), in_channels=512, codec=codec)
    with torch.no_grad():
        model.fc_coord.linear.weight.normal_(0.0, 1.0)  # spread the depths
    batch = _reference_batch()
    batch = {k: v.float() for k, v in batch.items()}
    batch["image"] = torch.rand(2, 3, 48, 64)
    raw = model.train()(batch)["uvd"].detach()  # all BN frozen: train and eval differ only here
    model.eval()
    with torch.no_grad():
        preds = model(batch)
    uvd = preds["uvd"]
    assert torch.equal(uvd[..., :2], raw[..., :2])
    torch.testing.assert_close(uvd[..., 2], raw[..., 2] - raw[:, :1, 2] + 0.5)
    assert torch.all(uvd[:, 0, 2] == 0.5)
    for b in range(2):
        K, z_root = batch["target_cam_intr"][b], float(batch["target_root_joint"][b, 2])
        for j in (0, 7, 20):
            u, v = float(uvd[b, j, 0]) * 64, float(uvd[b, j, 1]) * 48
            z = (float(uvd[b, j, 2]) - 0.5) * 0.4 + z_root
            x, y = (
                (u - float(K[0, 2])) / float(K[0, 0]) * z,
                (v - float(K[1, 2])) / float(K[1, 1]) * z,
            )
            assert preds["joints_3d"][b, j].tolist() == pytest.approx([x, y, z], abs=1e-5)
            assert preds["joints_2d"][b, j].tolist() == pytest.approx([u, v], abs=1e-4)
    assert preds["sigma"].shape == (2, 21, 3) and preds["maxvals"].shape == (2, 21, 1)


def test_training_forward_needs_the_uvd_targets() -> None:
    model = RegressFlow3D(preact=ResNet(depth=18), in_channels=512)
    with pytest.raises(KeyError, match="target_joints_uvd"):
        model.train()({"image": torch.zeros(2, 3, 64, 64)})


@pytest.mark.parametrize("split", [0, 1, 2])
def test_published_configs_build_the_published_layout(split: int) -> None:
    cfg = load_config(f"config/oii/train_res_loglike_oii_sp{split}.yml")
    with torch.device("meta"):
        model = build(cfg.MODEL, MODELS, data_preset=cfg.DATA_PRESET)
    assert isinstance(model, RegressFlow3D)
    assert layout(model) == published_layout("RegressFlow3D")
    assert model.codec.center_idx == 0 and model.codec.image_size == (224, 224)
    assert model.preact.pretrained is True  # ImageNet, loaded in the initialise phase only
    assert [type(loss).__name__ for loss in model.criterions] == ["RLELoss"]
    assert model.criterions[0].size_average is True
    assert model.flow3d.variant == "oakink"


def test_config_options_and_errors() -> None:
    cfg = load_config("config/oii/train_res_loglike_oii_sp0.yml")
    node = {**cfg.MODEL, "BACKBONE": {"TYPE": "resnet18", "PRETRAINED": False}}
    model = build({**node, "FLOW_VARIANT": "rle"}, MODELS, data_preset=cfg.DATA_PRESET)
    assert model.flow3d.variant == "rle" and model.fc_coord.linear.in_features == 512
    with pytest.raises(ConfigError, match=r"MODEL \(RegressFlow3D\): flow_variant must be one of"):
        build({**node, "FLOW_VARIANT": "swapped"}, MODELS, data_preset=cfg.DATA_PRESET)
    with pytest.raises(ConfigError, match="MODE 'UVD_ortho'"):
        build({**node, "MODE": "UVD_ortho"}, MODELS, data_preset=cfg.DATA_PRESET)
    hidden = build({**node, "NUM_FC_FILTERS": [32]}, MODELS, data_preset=cfg.DATA_PRESET)
    assert hidden.fc_coord.linear.in_features == 32


def test_published_checkpoint_loads_strictly_and_another_models_is_refused(tmp_path) -> None:
    cfg = load_config("config/oii/train_res_loglike_oii_sp0.yml")
    model = build(cfg.MODEL, MODELS, data_preset=cfg.DATA_PRESET)
    generator = torch.Generator().manual_seed(1)
    state = {
        key: torch.randint(0, 9, shape)
        if dtype == "int64"
        else torch.rand(shape, generator=generator)
        for key, shape, dtype in published_layout("RegressFlow3D")
    }
    path = tmp_path / "RegressFlow3D.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    report = load_weights(model, path)
    assert (report.missing, report.unexpected, report.loaded) == ([], [], 380)
    assert torch.equal(model.flow3d.t[5][4].bias, state["flow3d.t.5.4.bias"])
    assert torch.equal(
        model.preact.layer4[2].bn3.running_var, state["preact.layer4.2.bn3.running_var"]
    )
    assert_refuses_other_layout(model, "I2L_MeshNet", tmp_path)


def _tiny_rle_config(epochs: int) -> dict:
    from tests.engine.engine_cli_helpers import memorise_config

    cfg = memorise_config(epochs)
    cfg["DATA_PRESET"]["CENTER_IDX"] = 0
    cfg["TRAIN"]["LR"] = 0.003  # 0.01 makes the scales (sigma) and the loss oscillate
    cfg["MODEL"] = {
        "TYPE": "RegressFlow3D",
        "PRETRAINED": "",
        "MODE": "3D",
        "BACKBONE": {"TYPE": "resnet18", "PRETRAINED": False, "FREEZE_BATCHNORM": False},
        "NUM_FC_FILTERS": [-1],
        "LOSS": {"TYPE": "RLE_Loss", "SIZE_AVERAGE": True},
        "METRIC": ["mpjpe", "pa_mpjpe"],
    }
    return cfg


@pytest.mark.slow
def test_trains_and_tests_from_the_clis_and_reload_reproduces_the_metrics(tmp_path) -> None:
    run = train_then_retest(_tiny_rle_config(epochs=40), tmp_path)
    assert run.trained["mpjpe"] < 0.4 * run.untrained["mpjpe"], run  # 193 -> 39 mm
    assert "trained MPJPE" in run.log
    # ResNet-18 with plain BN (6 stem + 8 blocks x 12 + 3 downsamples x 6), fc_coord and fc_sigma
    # (2 + 2), the flow (loc, cov, mask + 12 nets x 3 linears x 2)
    assert len(torch.load(run.checkpoint, weights_only=True)) == 6 + 96 + 18 + 4 + 3 + 72
    for key in ("mpjpe", "pa_mpjpe", "num_samples"):
        assert run.retested[key] == pytest.approx(run.trained[key], rel=1e-9), key


def test_synthetic_config_builds_the_small_network() -> None:
    cfg = load_config("config/synthetic/train_res_loglike.yml")
    model = build(cfg.MODEL, MODELS, data_preset=cfg.DATA_PRESET)
    assert isinstance(model, RegressFlow3D) and model.preact.depth == 18
    assert model.codec.image_size == (64, 64) and model.codec.center_idx == 0
