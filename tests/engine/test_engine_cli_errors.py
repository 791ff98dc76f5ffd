"""Bad input to the CLIs: one line on stderr naming the culprit, exit code 2, nothing created."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from engine_cli_helpers import run_module, tiny_config, write_config

from handmesh.engine.cli import USAGE_ERROR, run_cli
from train import test_model, train_model


@pytest.fixture
def tiny_cfg_file(tmp_path: Path) -> Path:
    return write_config(tmp_path / "tiny.yml", tiny_config())


def _run(main, argv: list[str], capsys) -> tuple[int, str]:
    code = run_cli(lambda: main(argv))
    err = capsys.readouterr().err.strip()
    return code, err


def _assert_one_line(code: int, err: str, *culprits: str) -> None:
    assert code == USAGE_ERROR
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    for culprit in culprits:
        assert culprit in err, err


def test_missing_config_file(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.yml"
    code, err = _run(train_model.main, ["--cfg", str(missing), "--exp_root", str(tmp_path)], capsys)
    _assert_one_line(code, err, str(missing))


def test_unknown_config_key(tmp_path: Path, capsys) -> None:
    cfg = tiny_config()
    cfg["TRAIN"]["LEARNING_RATE"] = 0.1
    path = write_config(tmp_path / "bad.yml", cfg)
    code, err = _run(train_model.main, ["--cfg", str(path), "--exp_root", str(tmp_path)], capsys)
    _assert_one_line(code, err, "TRAIN.LEARNING_RATE")


def test_unknown_model_type_lists_registered_models(tmp_path: Path, capsys) -> None:
    exp_root = tmp_path / "exp"
    cfg = tiny_config()
    cfg["MODEL"]["TYPE"] = "IntegralPoze"
    path = write_config(tmp_path / "bad.yml", cfg)
    code, err = _run(train_model.main, ["--cfg", str(path), "--exp_root", str(exp_root)], capsys)
    _assert_one_line(code, err, "'IntegralPoze'", "IntegralPose")
    assert not exp_root.exists()  # no experiment directory for a run that never started


def test_missing_checkpoint(tmp_path: Path, tiny_cfg_file: Path, capsys) -> None:
    missing = tmp_path / "IntegralPose.pth.tar"
    args = ["--cfg", str(tiny_cfg_file), "--reload", str(missing), "--exp_root", str(tmp_path)]
    code, err = _run(test_model.main, args, capsys)
    _assert_one_line(code, err, str(missing))
    code, err = _run(train_model.main, args, capsys)
    _assert_one_line(code, err, str(missing))


def test_checkpoint_of_another_model(tmp_path: Path, tiny_cfg_file: Path, capsys) -> None:
    other = tmp_path / "RegressFlow3D.pth.tar"
    torch.save(
        {"preact.conv1.weight": torch.zeros(64, 3, 7, 7), "flow3d.loc": torch.zeros(3)}, other
    )
    exp_root = tmp_path / "exp"
    args = ["--cfg", str(tiny_cfg_file), "--reload", str(other), "--exp_root", str(exp_root)]
    code, err = _run(test_model.main, args, capsys)
    _assert_one_line(
        code, err, str(other), "IntegralPose", "preact.conv1.weight", "different model"
    )
    assert not exp_root.exists()


def test_backbone_weights_that_do_not_fit(tmp_path: Path, capsys) -> None:
    weights = tmp_path / "not_a_resnet.pth"
    torch.save({"head.weight": torch.zeros(1)}, weights)
    cfg = tiny_config()
    cfg["MODEL"]["BACKBONE"]["PRETRAINED"] = str(weights)
    path = write_config(tmp_path / "bad.yml", cfg)
    code, err = _run(train_model.main, ["--cfg", str(path), "--exp_root", str(tmp_path)], capsys)
    _assert_one_line(code, err, str(weights), "missing keys", "head.weight")


def test_backbone_depth_out_of_range(tmp_path: Path, capsys) -> None:
    cfg = tiny_config()
    cfg["MODEL"]["BACKBONE"] = {"TYPE": "ResNet", "DEPTH": 42, "PRETRAINED": False}
    path = write_config(tmp_path / "bad.yml", cfg)
    code, err = _run(train_model.main, ["--cfg", str(path), "--exp_root", str(tmp_path)], capsys)
    _assert_one_line(code, err, "depth must be one of", "42")


@pytest.mark.parametrize(
    ("samples", "nproc", "per_process"),
    [(3, "1", 4), (1, "2", 2)],  # 2 processes: checked in the parent, before spawning
)
def test_training_set_smaller_than_one_batch(
    tmp_path: Path, capsys, samples: int, nproc: str, per_process: int
) -> None:
    exp_root = tmp_path / "exp"
    path = write_config(tmp_path / "small.yml", tiny_config(train_samples=samples))  # batch 4
    args = ["--cfg", str(path), "--exp_root", str(exp_root), "--device", "cpu", "--nproc", nproc]
    code, err = _run(train_model.main, args, capsys)
    _assert_one_line(code, err, f"DATASET.TRAIN has {samples} samples", f"batch of {per_process}")
    assert not exp_root.exists()


def test_bad_master_port(tmp_path: Path, tiny_cfg_file: Path, capsys) -> None:
    args = ["--cfg", str(tiny_cfg_file), "--exp_root", str(tmp_path), "--nproc", "2"]
    code, err = _run(
        train_model.main, [*args, "--device", "cpu", "--dist_master_port", "x"], capsys
    )
    _assert_one_line(code, err, "--dist_master_port 'x'")


def test_resume_without_checkpoint(tmp_path: Path, capsys) -> None:
    code, err = _run(train_model.main, ["--resume", str(tmp_path / "exp" / "run_x")], capsys)
    _assert_one_line(code, err, "run_x")


@pytest.mark.slow
def test_python_m_exit_code(tmp_path: Path) -> None:
    result = run_module("train.train_model", "--cfg", str(tmp_path / "missing.yml"))
    assert result.returncode == USAGE_ERROR
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path / "missing.yml") in lines[0], result.stderr


def test_bogus_metric_fails_before_anything_is_written(tmp_path: Path, capsys) -> None:
    exp_root = tmp_path / "exp"
    cfg = tiny_config()
    cfg["MODEL"]["METRIC"] = [{"TYPE": "MeanEPE", "PRED_KEY": "joints_3d"}, {"TYPE": "MeanEPX"}]
    path = write_config(tmp_path / "bad.yml", cfg)
    for main, extra in ((train_model.main, []), (test_model.main, ["--untrained"])):
        args = ["--cfg", str(path), "--exp_root", str(exp_root), *extra]
        code, err = _run(main, args, capsys)
        _assert_one_line(code, err, "MODEL.METRIC[1].TYPE", "'MeanEPX'")
    assert not exp_root.exists()


def test_corrupt_mano_file_is_one_line(tmp_path: Path, capsys) -> None:
    mano = tmp_path / "mano"
    mano.mkdir()
    (mano / "MANO_RIGHT.pkl").write_bytes(b"\x80\x02}q\x00(X\x01\x00\x00\x00")  # truncated
    cfg = tiny_config()
    cfg["DATA_PRESET"]["MANO_ROOT"] = str(mano)
    path = write_config(tmp_path / "bad.yml", cfg)
    code, err = _run(train_model.main, ["--cfg", str(path), "--exp_root", str(tmp_path)], capsys)
    _assert_one_line(code, err, "MANO_RIGHT.pkl", "not a readable pickle")


def test_a_bug_keeps_its_traceback() -> None:
    def buggy() -> None:
        raise ValueError("a bug, not bad input")

    with pytest.raises(ValueError, match="a bug"):
        run_cli(buggy)


@pytest.fixture
def offline(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the network / torch hub was touched")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", forbidden)
    monkeypatch.setattr(torch.hub, "get_dir", forbidden)


def test_reload_with_imagenet_backbone_setting_needs_no_network(
    tmp_path: Path, capsys, offline
) -> None:
    """BACKBONE.PRETRAINED: True and no weights anywhere: --reload's checkpoint is the only
    source read (the hub cache is not even looked at)."""
    from handmesh.config import config_from_dict
    from handmesh.engine.build import build_model

    cfg = tiny_config()
    cfg["MODEL"]["BACKBONE"]["PRETRAINED"] = True
    path = write_config(tmp_path / "cfg.yml", cfg)
    model = build_model(config_from_dict(cfg), initialize=False)
    checkpoint = tmp_path / "IntegralPose.pth.tar"
    torch.save(model.state_dict(), checkpoint)
    exp_root = tmp_path / "exp"
    args = ["--cfg", str(path), "--reload", str(checkpoint), "--exp_root", str(exp_root)]
    code, err = _run(test_model.main, [*args, "--device", "cpu", "--workers", "0"], capsys)
    assert code == 0, err
    (result,) = exp_root.glob("*/evaluations/test_eval.json")
    assert '"mpjpe"' in result.read_text()
