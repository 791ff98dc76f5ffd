"""Registry and builder behaviour: registration, lookup errors, from_config dispatch, key checks."""

from __future__ import annotations

import pytest
from yacs.config import CfgNode

from handmesh.registry import ConfigKeyError, Registry, build, check_keys, closest


def _toy_registry() -> Registry:
    reg = Registry("TOYS")

    @reg.register()
    class IntegralHead:
        def __init__(self, channels: int = 8) -> None:
            self.channels = channels

        @classmethod
        def from_config(cls, cfg, scale: int = 1):  # type: ignore[no-untyped-def]
            check_keys(cfg, {"TYPE", "CHANNELS"}, where="MODEL.HEAD")
            return cls(channels=cfg.CHANNELS * scale)

    @reg.register("lixel")
    class LixelHead:
        pass

    return reg


def test_register_and_get_by_class_name_and_alias() -> None:
    reg = _toy_registry()
    assert reg.names() == ["IntegralHead", "lixel"]
    assert reg.get("IntegralHead").__name__ == "IntegralHead"
    assert reg.get("lixel").__name__ == "LixelHead"
    assert "lixel" in reg and "LixelHead" not in reg
    assert len(reg) == 2


def test_registering_a_different_class_under_a_taken_name_fails() -> None:
    reg = _toy_registry()
    with pytest.raises(KeyError, match="already registered"):

        @reg.register("IntegralHead")
        class Other:
            pass


def test_unknown_type_lists_registered_names_and_suggests_closest() -> None:
    reg = _toy_registry()
    with pytest.raises(ConfigKeyError) as err:
        reg.get("IntegralHaed")
    msg = str(err.value)
    assert "TOYS has no entry 'IntegralHaed'" in msg
    assert "Did you mean 'IntegralHead'?" in msg
    assert "Registered: IntegralHead, lixel." in msg


def test_build_calls_from_config_with_extra_arguments() -> None:
    reg = _toy_registry()
    head = build(CfgNode({"TYPE": "IntegralHead", "CHANNELS": 4}), reg, scale=3)
    assert head.channels == 12


def test_build_without_type_names_the_keys_and_types() -> None:
    reg = _toy_registry()
    with pytest.raises(ConfigKeyError, match=r"no TYPE key \(keys: \['CHANNELS'\]\)"):
        build({"CHANNELS": 4}, reg)


def test_check_keys_rejects_misspelled_key_with_suggestion() -> None:
    reg = _toy_registry()
    with pytest.raises(ConfigKeyError) as err:
        build(CfgNode({"TYPE": "IntegralHead", "CHANELS": 4}), reg)
    msg = str(err.value)
    assert "Unknown config key MODEL.HEAD.CHANELS" in msg
    assert "Did you mean 'CHANNELS'?" in msg


def test_check_keys_reports_missing_required_key() -> None:
    with pytest.raises(ConfigKeyError, match="Missing required config key DATASET.TRAIN.TYPE"):
        check_keys({}, {"TYPE"}, where="DATASET.TRAIN", required=["TYPE"])


def test_closest_is_case_insensitive_and_returns_none_when_far() -> None:
    assert closest("resnet50", ["ResNet50", "HRNet"]) == "ResNet50"
    assert closest("zzzz", ["ResNet50", "HRNet"]) is None


def test_build_from_a_non_node_or_a_non_string_type_is_named() -> None:
    reg = _toy_registry()
    with pytest.raises(TypeError, match="expected a config node with a TYPE key, got 'lixel'"):
        build("lixel", reg)  # type: ignore[arg-type]
    with pytest.raises(
        ConfigKeyError, match=r"TOYS: a TYPE must be a registered name .*\['lixel'\]"
    ):
        build({"TYPE": ["lixel"]}, reg)
    assert ["lixel"] not in reg  # an unhashable name is simply not registered


def test_a_bad_value_in_from_config_becomes_a_named_config_error() -> None:
    from handmesh.registry import ConfigError

    reg = Registry("TOYS")

    @reg.register()
    class Strict:
        @classmethod
        def from_config(cls, cfg):  # type: ignore[no-untyped-def]
            raise ValueError(f"NUM_SAMPLES must be positive, got {cfg['NUM_SAMPLES']}")

    with pytest.raises(
        ConfigError, match=r"^TOYS Strict: NUM_SAMPLES must be positive, got -3$"
    ) as err:
        build({"TYPE": "Strict", "NUM_SAMPLES": -3}, reg)
    assert isinstance(err.value, ValueError)
    assert isinstance(err.value.__cause__, ValueError)
