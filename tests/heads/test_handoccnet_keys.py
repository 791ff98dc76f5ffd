"""The HandOccNet model holds exactly the 904 entries of an official snapshot's ``network``.

The expected list is data from the reference study (§1.7, measured on the original at HEAD):
``module.`` (DataParallel) + backbone / FIT / SET / regressor (with the MANO buffers) /
fitting_loss, in the original's registration order, with shapes.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from handmesh.config import config_from_dict
from handmesh.engine import build_model
from tests.backbones.test_fpn import handoccnet_backbone_keys

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
Keys = dict[str, tuple[int, ...]]


def _bn(keys: Keys, prefix: str, c: int) -> None:
    keys.update({f"{prefix}.{n}": () if n == "num_batches_tracked" else (c,) for n in BN})


def _conv(keys: Keys, prefix: str, c_out: int, c_in: int, k: int = 1) -> None:
    keys[f"{prefix}.weight"] = (c_out, c_in, k, k)
    keys[f"{prefix}.bias"] = (c_out,)


def _transformer_keys(name: str, injection: bool) -> Keys:
    keys: Keys = {}
    for i in range(2):
        p = f"{name}.layers.{i}"
        keys[f"{p}.q_embedding"] = keys[f"{p}.k_embedding"] = (1, 256, 32, 32)  # own params first
        for conv in ("value", "query", "key") + (("query2", "key2") if injection else ()):
            _conv(keys, f"{p}.encode_{conv}", 256, 256)
        keys[f"{p}.norm2.weight"] = keys[f"{p}.norm2.bias"] = (256,)
        keys[f"{p}.mlp.fc1.weight"], keys[f"{p}.mlp.fc1.bias"] = (1024, 256), (1024,)
        keys[f"{p}.mlp.fc2.weight"], keys[f"{p}.mlp.fc2.bias"] = (256, 1024), (256,)
    if injection:
        _conv(keys, f"{name}.conv1.0", 256, 512, 3)
        _conv(keys, f"{name}.conv1.2", 256, 256, 3)
        _conv(keys, f"{name}.conv2.0", 256, 512, 1)
    return keys


def _bottleneck(keys: Keys, p: str, names: tuple[str, ...]) -> None:
    """Pre-activation block 256 -> 128 -> 128 -> 256: BN, conv, BN, conv, BN, conv under
    ``names`` (hourglass Bottleneck: bn1 conv1 bn2 conv2 bn3 conv3; encoder Residual: bn conv1
    bn1 conv2 bn2 conv3)."""
    bn_a, conv_a, bn_b, conv_b, bn_c, conv_c = names
    _bn(keys, f"{p}.{bn_a}", 256)
    _conv(keys, f"{p}.{conv_a}", 128, 256)
    _bn(keys, f"{p}.{bn_b}", 128)
    _conv(keys, f"{p}.{conv_b}", 128, 128, 3)
    _bn(keys, f"{p}.{bn_c}", 128)
    _conv(keys, f"{p}.{conv_c}", 256, 128)


def _regressor_keys() -> Keys:
    head = "regressor.hand_regHead"
    keys: Keys = {f"{head}.betas": (21, 1), f"{head}.uu": (32, 32), f"{head}.vv": (32, 32)}
    hg_names = ("bn1", "conv1", "bn2", "conv2", "bn3", "conv3")
    for level in range(4):
        for branch in range(4 if level == 0 else 3):
            _bottleneck(keys, f"{head}.hg.0.hg.{level}.{branch}.0", hg_names)
    _bottleneck(keys, f"{head}.res.0.0", hg_names)
    _conv(keys, f"{head}.fc.0.block.0", 256, 256)
    _bn(keys, f"{head}.fc.0.block.1", 256)
    _conv(keys, f"{head}.score.0", 21, 256)
    enc = "regressor.hand_Encoder"
    _conv(keys, f"{enc}.heatmap_conv", 256, 21)
    _conv(keys, f"{enc}.encoding_conv", 256, 256)
    for i in range(8):
        _bottleneck(keys, f"{enc}.reg.{i}", ("bn", "conv1", "bn1", "conv2", "bn2", "conv3"))
    mano = "regressor.mano_regHead"
    keys[f"{mano}.mano_base_layer.0.weight"], keys[f"{mano}.mano_base_layer.0.bias"] = (
        (1024, 1024),
        (1024,),
    )
    keys[f"{mano}.mano_base_layer.2.weight"], keys[f"{mano}.mano_base_layer.2.bias"] = (
        (512, 1024),
        (512,),
    )
    keys[f"{mano}.pose_reg.weight"], keys[f"{mano}.pose_reg.bias"] = (96, 512), (96,)
    keys[f"{mano}.shape_reg.weight"], keys[f"{mano}.shape_reg.bias"] = (10, 512), (10,)
    layer = f"{mano}.mano_layer"
    keys.update(
        {
            f"{layer}.th_betas": (1, 10),
            f"{layer}.th_shapedirs": (778, 3, 10),
            f"{layer}.th_posedirs": (778, 3, 135),
            f"{layer}.th_v_template": (1, 778, 3),
            f"{layer}.th_J_regressor": (16, 778),
            f"{layer}.th_weights": (778, 16),
            f"{layer}.th_faces": (1538, 3),
            f"{layer}.th_hands_mean": (1, 45),
            f"{layer}.th_selected_comps": (6, 45),
        }
    )
    return keys


def official_snapshot_keys() -> Keys:
    """The 904 ``network`` entries of a HandOccNet HEAD snapshot, in order, with shapes."""
    keys: Keys = {}
    keys.update(handoccnet_backbone_keys())
    keys.update(_transformer_keys("FIT", injection=True))
    keys.update(_transformer_keys("SET", injection=False))
    keys.update(_regressor_keys())
    keys.update(
        {
            "fitting_loss.data_weight": (),
            "fitting_loss.init_joints_idxs": (21,),
            "fitting_loss.depth_loss_weight": (),
        }
    )
    return {f"module.{k}": v for k, v in keys.items()}


PRESET = {
    "IMAGE_SIZE": [256, 256],
    "CENTER_IDX": 0,
    "MANO_ROOT": "/nonexistent",
    "ALLOW_SYNTHETIC_MANO": True,
}
CFG = {
    "DATA_PRESET": PRESET,
    "MODEL": {"TYPE": "HandOccNet", "BACKBONE": {"TYPE": "FPN", "PRETRAINED": False}},
}


@pytest.fixture(scope="module")
def wrapped() -> nn.Module:
    model = build_model(config_from_dict(CFG))
    return nn.DataParallel(model)  # DataParallel on CPU only wraps: keys get "module."


def test_module_tree_has_the_official_keys_in_order(wrapped: nn.Module) -> None:
    expected = official_snapshot_keys()
    assert len(expected) == 904
    got = {k: tuple(v.shape) for k, v in wrapped.state_dict().items()}
    assert list(got) == list(expected)
    assert got == expected
    assert (
        wrapped.state_dict()["module.regressor.mano_regHead.mano_layer.th_faces"].dtype
        == torch.long
    )


def test_official_layout_loads_strictly_and_overwrites_everything(wrapped: nn.Module) -> None:
    torch.manual_seed(5)
    snapshot = {}
    for key, value in wrapped.state_dict().items():
        snapshot[key] = value.clone() if not value.is_floating_point() else torch.randn_like(value)
    wrapped.load_state_dict(snapshot, strict=True)
    for key, value in wrapped.state_dict().items():
        assert torch.equal(value, snapshot[key]), key
    with pytest.raises(RuntimeError, match=r"Missing key\(s\).*module\.FIT\.conv2\.0\.bias"):
        wrapped.load_state_dict(
            {k: v for k, v in snapshot.items() if k != "module.FIT.conv2.0.bias"}
        )
