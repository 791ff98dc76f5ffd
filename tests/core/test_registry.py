"""Registry and builder behaviour: registration, lookup errors, from_config dispatch, key checks."""

from __future__ import annotations

import pytest
from yacs.config import CfgNode

from handmesh.errors import ArgumentError
from handmesh.registry import ConfigError, ConfigKeyError, Registry, build, check_keys, closest


def _toy_registry() -> Registry:
    reg = Registry("TOYS")

    @reg.register()
    class IntegralHead:
        CONFIG_KEYS = ("CHANNELS",)
        REQUIRED_KEYS = ("CHANNELS",)

        def __init__(self, channels: int = 8) -> None:
            if channels <= 0:
                raise ArgumentError(f"channels must be positive, got {channels}")
            self.channels = channels

        @classmethod
        def from_config(cls, cfg, *, scale: int = 1):  # type: ignore[no-untyped-def]
            return {"channels": cfg["CHANNELS"] * scale}

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


def test_build_calls_from_config_with_context_then_the_constructor() -> None:
    reg = _toy_registry()
    head = build(CfgNode({"TYPE": "IntegralHead", "CHANNELS": 4}), reg, "MODEL.HEAD", scale=3)
    assert head.channels == 12


def test_build_without_type_names_the_keys_and_types() -> None:
    reg = _toy_registry()
    with pytest.raises(
        ConfigKeyError, match=r"MODEL.HEAD has no TYPE key \(keys: \['CHANNELS'\]\)"
    ):
        build({"CHANNELS": 4}, reg, where="MODEL.HEAD")


def test_unknown_type_names_the_key_path() -> None:
    reg = _toy_registry()
    with pytest.raises(ConfigKeyError, match=r"^MODEL\.HEAD\.TYPE: TOYS has no entry 'NoSuchHead'"):
        build({"TYPE": "NoSuchHead"}, reg, where="MODEL.HEAD")


def test_check_keys_rejects_misspelled_key_with_suggestion() -> None:
    reg = _toy_registry()
    with pytest.raises(ConfigKeyError) as err:
        build(CfgNode({"TYPE": "IntegralHead", "CHANNELS": 1, "CHANELS": 4}), reg, "MODEL.HEAD")
    msg = str(err.value)
    assert "Unknown config key MODEL.HEAD.CHANELS" in msg
    assert "Did you mean 'CHANNELS'?" in msg
    with pytest.raises(ConfigKeyError, match="Missing required config key MODEL.HEAD.CHANNELS"):
        build({"TYPE": "IntegralHead"}, reg, "MODEL.HEAD")


def test_a_misspelled_builder_argument_is_named() -> None:
    reg = _toy_registry()
    with pytest.raises(TypeError, match=r"IntegralHead\.from_config got unknown .*\['scal'\]"):
        build({"TYPE": "IntegralHead", "CHANNELS": 1}, reg, scal=3)


def test_check_keys_reports_missing_required_key() -> None:
    with pytest.raises(ConfigKeyError, match="Missing required config key DATASET.TRAIN.TYPE"):
        check_keys({}, {"TYPE"}, where="DATASET.TRAIN", required=["TYPE"])


def test_closest_is_case_insensitive_and_returns_none_when_far() -> None:
    assert closest("resnet50", ["ResNet50", "HRNet"]) == "ResNet50"
    assert closest("zzzz", ["ResNet50", "HRNet"]) is None


def test_build_from_a_non_node_or_a_non_string_type_is_named() -> None:
    reg = _toy_registry()
    with pytest.raises(ConfigError, match="expected a config node with a TYPE key.*got 'lixel'"):
        build("lixel", reg)  # type: ignore[arg-type]
    with pytest.raises(
        ConfigKeyError, match=r"TOYS: a TYPE must be a registered name .*\['lixel'\]"
    ):
        build({"TYPE": ["lixel"]}, reg)
    assert ["lixel"] not in reg  # an unhashable name is simply not registered


def test_an_argument_error_becomes_a_config_error_naming_the_path_and_class() -> None:
    reg = _toy_registry()
    with pytest.raises(
        ConfigError, match=r"^MODEL\.HEAD \(IntegralHead\): channels must be positive, got -3$"
    ) as err:
        build({"TYPE": "IntegralHead", "CHANNELS": -3}, reg, "MODEL.HEAD")
    assert isinstance(err.value, ValueError)
    assert isinstance(err.value.__cause__, ArgumentError)


def test_a_bug_inside_from_config_keeps_its_own_exception() -> None:
    reg = Registry("TOYS")

    @reg.register()
    class Buggy:
        CONFIG_KEYS = ()

        @classmethod
        def from_config(cls, cfg):  # type: ignore[no-untyped-def]
            return {"x": int("not a number")}  # a plain ValueError: a bug, not a config error

    with pytest.raises(ValueError) as err:
        build({"TYPE": "Buggy"}, reg)
    assert not isinstance(err.value, ConfigError)
    assert "invalid literal" in str(err.value)


def test_from_config_must_return_constructor_arguments() -> None:
    reg = Registry("TOYS")

    @reg.register()
    class Old:
        CONFIG_KEYS = ()

        @classmethod
        def from_config(cls, cfg):  # type: ignore[no-untyped-def]
            return {"unknown": 1}

    with pytest.raises(TypeError, match=r"Old got unknown constructor keyword .*\['unknown'\]"):
        build({"TYPE": "Old"}, reg)
