"""Nothing lost, nothing silent, no orphans (issue 15): one test per fault a user hits.

Every case ends in a working run or one ``error:`` line (exit 2), and nothing on disk is lost or
overwritten by a failing run.
"""

from __future__ import annotations

import json
import math
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from engine_cli_helpers import only_experiment, tiny_config, write_config

from handmesh.config import config_from_dict
from handmesh.engine import DistContext, HookBase, Trainer, TrainOptions
from handmesh.engine.cli import USAGE_ERROR, run_cli
from handmesh.engine.trainer import LossMonitor
from handmesh.errors import ArgumentError, CheckpointError
from handmesh.registry import TRAIN_HOOKS
from train import test_model, train_model

QUICK = ["--workers", "0", "--eval_interval", "-1", "--skip_untrained_eval", "--snapshot", "1"]


def _run(main, argv: list[str], capsys) -> tuple[int, str]:
    code = run_cli(lambda: main(argv))
    return code, capsys.readouterr().err.strip()


def _one_line(code: int, err: str, *culprits: str) -> None:
    """Exit 2 and exactly one ``error:`` line, last (progress bars of what ran before may
    precede it on stderr), no traceback."""
    assert code == USAGE_ERROR, err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), err
    assert sum(line.startswith("error: ") for line in lines) == 1 and "Traceback" not in err, err
    for culprit in culprits:
        assert culprit in lines[-1], err


@pytest.fixture
def trained(tmp_path: Path, capsys) -> Path:
    """A finished 1-epoch tiny run (cosine schedule) whose experiment directory is returned."""
    cfg = tiny_config(epochs=1, train_samples=8)
    cfg["TRAIN"]["SCHEDULER"] = "CosineAnnealingLR"
    path = write_config(tmp_path / "tiny.yml", cfg)
    root = tmp_path / "exp"
    code, err = _run(
        train_model.main, ["--cfg", str(path), "--exp_root", str(root), *QUICK], capsys
    )
    assert code == 0, err
    return only_experiment(root)


# 1. a failed --resume leaves the experiment untouched


def test_failed_resume_leaves_dump_cfg_byte_identical(trained: Path, capsys) -> None:
    before = (trained / "dump_cfg.yaml").read_bytes()
    args = ["--resume", str(trained), *QUICK, "--opts", "MODEL.BACKBONE.TYPE", "resnet34"]
    code, err = _run(train_model.main, args, capsys)
    _one_line(code, err, "does not fit model IntegralPose")
    assert (trained / "dump_cfg.yaml").read_bytes() == before


def test_resume_with_cfg_is_refused(trained: Path, tmp_path: Path, capsys) -> None:
    other = write_config(tmp_path / "other.yml", tiny_config())
    code, err = _run(train_model.main, ["--resume", str(trained), "--cfg", str(other)], capsys)
    _one_line(code, err, "--cfg", "would be ignored", "--opts")


# 2. two runs with the same exp_id in the same second


def test_two_runs_in_the_same_second_get_two_directories(tmp_path: Path) -> None:
    cfg = config_from_dict(tiny_config(epochs=1, train_samples=4))
    options = TrainOptions(
        workers=0, exp_root=str(tmp_path), exp_id="sweep", stamp="2026_1201_0000_00",
        evaluate_untrained=False, final_test=False, eval_interval=-1,
    )  # fmt: skip
    first, second = Trainer(cfg, options, DistContext()), Trainer(cfg, options, DistContext())
    assert first.exp.root.name == "sweep_2026_1201_0000_00"
    assert second.exp.root.name == "sweep_2026_1201_0000_00_1"
    first.fit()
    second.fit()
    for exp in (first.exp, second.exp):
        assert (exp.checkpoint_dir() / "train_param.pth.tar").is_file()


# 3. divergence never overwrites the last good checkpoint


@TRAIN_HOOKS.register()
class PoisonWeights(HookBase):
    """Test hook: sets one weight to inf at a given epoch and step (simulates a blow-up)."""

    CONFIG_KEYS = ("EPOCH", "STEP", "WHEN")

    def __init__(self, epoch: int, step: int, when: str) -> None:
        self.at, self.when = (epoch, step), when

    @classmethod
    def from_config(cls, cfg: Any) -> dict[str, Any]:
        return {"epoch": cfg["EPOCH"], "step": cfg["STEP"], "when": cfg["WHEN"]}

    def _poison(self) -> None:
        if (self.trainer.epoch, self.trainer.step) == self.at:
            value = math.inf if self.when == "after" else math.nan  # nan: a nan loss next
            with torch.no_grad():
                self.trainer.model.pose_head.final_layer.bias.fill_(value)

    def before_step(self) -> None:
        if self.when == "before":
            self._poison()

    def after_step(self) -> None:
        if self.when == "after":
            self._poison()


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("after", "after epoch 2 (step 2 of 2) 1 weight tensor(s) are not finite"),
        ("before", "the loss is nan at epoch 2, step 2 of 2"),
    ],
)
def test_blow_up_keeps_the_last_good_checkpoint(
    tmp_path: Path, capsys, when: str, expected: str
) -> None:
    cfg = tiny_config(epochs=3, train_samples=8)
    cfg["TRAIN"]["HOOKS"] = [{"TYPE": "PoisonWeights", "EPOCH": 1, "STEP": 1, "WHEN": when}]
    path = write_config(tmp_path / "bad.yml", cfg)
    root = tmp_path / "exp"
    code, err = _run(
        train_model.main, ["--cfg", str(path), "--exp_root", str(root), *QUICK], capsys
    )
    _one_line(code, err, expected, "the last good checkpoint", "is kept")
    exp = only_experiment(root)
    latest = exp / "checkpoints" / "checkpoint"
    assert torch.load(latest / "train_param.pth.tar", weights_only=True)["epoch"] == 1
    weights = torch.load(latest / "IntegralPose.pth.tar", weights_only=True)
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())


def test_loss_explosion_warns_once_per_epoch() -> None:
    monitor = LossMonitor(warmup=3, factor=100.0)
    assert [monitor.update(v, 0, i) for i, v in enumerate((1.0, 2.0, 1.5))] == [None] * 3
    assert monitor.update(150.0, 0, 3) is None  # 100x the median 1.5 is 150: not over it
    warning = monitor.update(151.0, 0, 4)
    assert warning is not None and "exploded: 151 at epoch 1, step 5" in warning
    assert monitor.update(1e9, 0, 5) is None  # once per epoch
    assert monitor.update(1e9, 1, 0) is not None


# 4. MANO: HANDMESH_MANO_ROOT honoured and recorded


@pytest.mark.slow
def test_cli_uses_and_records_handmesh_mano_root(tmp_path: Path, monkeypatch, capsys) -> None:
    from handmesh.mano.synthetic import build_synthetic_mano_dict

    mano = tmp_path / "mano_models"
    mano.mkdir()
    with open(mano / "MANO_RIGHT.pkl", "wb") as f:
        pickle.dump(build_synthetic_mano_dict("right"), f, protocol=2)
    monkeypatch.setenv("HANDMESH_MANO_ROOT", str(mano))
    cfg = tiny_config(epochs=1, train_samples=4)
    cfg["DATA_PRESET"]["ALLOW_SYNTHETIC_MANO"] = False  # the file must be found, not replaced
    path = write_config(tmp_path / "cfg.yml", cfg)
    root = tmp_path / "exp"
    args = ["--cfg", str(path), "--exp_root", str(root), "--workers", "0", "--eval_interval", "-1"]
    code, err = _run(train_model.main, args, capsys)
    assert code == 0, err
    exp = only_experiment(root)
    recorded = str((mano / "MANO_RIGHT.pkl").resolve())
    assert f"MANO model: {recorded}" in (exp / "train.log").read_text()
    assert (exp / "dump_cfg.yaml").read_text().startswith(f"# MANO model used: {recorded}\n")
    assert json.loads((exp / "evaluations" / "test_eval.json").read_text())["mano"] == recorded


# 5. --resume with new LR / epochs: applied to the restored optimiser and scheduler


@pytest.mark.slow
def test_resume_with_more_epochs_extends_the_cosine_instead_of_restarting(
    trained: Path, capsys
) -> None:
    args = ["--resume", str(trained), *QUICK, "--opts", "TRAIN.EPOCH", "4"]
    code, err = _run(train_model.main, args, capsys)
    assert code == 0, err
    text = (trained / "evaluations" / "train_eval.txt").read_text()
    lrs = [float(line.split(":")[1].strip(" ,}")) for line in text.splitlines() if "'lr'" in line]
    expected = [0.0]  # after epoch 1 of the original 1-epoch cosine: (1 + cos(pi)) / 2
    expected += [0.001 * (1 + math.cos(math.pi * e / 4)) / 2 for e in (2, 3, 4)]
    assert lrs == pytest.approx(expected, abs=1e-12)
    assert "TRAIN.EPOCH 1 -> 4" in (trained / "train.log").read_text()
    assert "EPOCH: 4" in (trained / "dump_cfg.yaml").read_text()  # the value actually used


def test_resume_with_another_optimizer_is_refused(trained: Path, capsys) -> None:
    before = (trained / "dump_cfg.yaml").read_bytes()
    args = ["--resume", str(trained), *QUICK, "--opts", "TRAIN.OPTIMIZER", "SGD"]
    code, err = _run(train_model.main, args, capsys)
    _one_line(code, err, "TRAIN.OPTIMIZER Adam -> SGD")
    assert (trained / "dump_cfg.yaml").read_bytes() == before


# 7. security messages give the real reason and never teach the unsafe fix


class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("echo pwned > /tmp/handmesh_pwned_marker",))


def test_malicious_checkpoint_and_mano_messages(tmp_path: Path, tiny_cfg: Path, capsys) -> None:
    evil = tmp_path / "IntegralPose.pth.tar"
    torch.save({"w": _Evil()}, evil)
    code, err = _run(test_model.main, ["--cfg", str(tiny_cfg), "--reload", str(evil)], capsys)
    _one_line(code, err, "posix.system")
    assert "weights_only=False" not in err and "safe_globals" not in err
    mano = tmp_path / "mano"
    mano.mkdir()
    (mano / "MANO_RIGHT.pkl").write_bytes(pickle.dumps(_Evil(), protocol=2))
    cfg = tiny_config()
    cfg["DATA_PRESET"]["MANO_ROOT"] = str(mano)
    path = write_config(tmp_path / "mano.yml", cfg)
    code, err = _run(train_model.main, ["--cfg", str(path), "--exp_root", str(tmp_path)], capsys)
    _one_line(code, err, "posix.system", "Nothing from it was executed")
    assert "allowed=" not in err
    assert not Path("/tmp/handmesh_pwned_marker").exists()


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> Path:
    return write_config(tmp_path / "tiny.yml", tiny_config())


# 8. one line instead of a traceback


@pytest.mark.parametrize(
    ("opts", "culprit"),
    [
        (["TRAIN.LR", "nan"], "TRAIN.LR in --opts"),
        (["TRAIN.LR", "inf"], "must be a finite number"),
        (["TRAIN.MANUAL_SEED", str(2**40)], "TRAIN.MANUAL_SEED"),
        (["TRAIN_LR", "5.0"], "TRAIN_LR in --opts"),  # 9: no new top-level section from --opts
        (["DATASET.TRAIN.NUM_SAMPLE", "3"], "DATASET.TRAIN.NUM_SAMPLE"),  # 10: the full path
        (["DATASET.TRAIN.NUM_SAMPLES", "lots"], "DATASET.TRAIN.NUM_SAMPLES in --opts"),
        (["TRAIN.EPOCH", "0"], "TRAIN.EPOCH in --opts"),  # 10: blames --opts, not the file
        (["DATA_PRESET.IMAGE_SIZE", "[32, 32]"], "HEATMAP_3D_SIZE [8, 8, 8]"),
    ],
)
def test_bad_values_are_one_line_before_anything_is_written(
    tmp_path: Path, tiny_cfg: Path, capsys, opts: list[str], culprit: str
) -> None:
    root = tmp_path / "exp"
    args = ["--cfg", str(tiny_cfg), "--exp_root", str(root), "--opts", *opts]
    code, err = _run(train_model.main, args, capsys)
    _one_line(code, err, culprit)
    assert not root.exists()


def test_a_bad_value_in_an_open_node_names_the_key(tmp_path: Path, capsys) -> None:
    cfg = tiny_config()
    cfg["DATASET"]["TRAIN"]["NUM_SAMPLES"] = "lots"  # open node: read by the dataset class
    path = write_config(tmp_path / "bad.yml", cfg)
    code, err = _run(train_model.main, ["--cfg", str(path), "--exp_root", str(tmp_path)], capsys)
    _one_line(
        code, err, "DATASET.TRAIN (SyntheticHands): NUM_SAMPLES must be an integer, got 'lots'"
    )


def test_unusable_exp_root_fails_before_building(
    tmp_path: Path, tiny_cfg: Path, capsys, monkeypatch
) -> None:
    a_file = tmp_path / "not_a_dir"
    a_file.write_text("x")
    code, err = _run(train_model.main, ["--cfg", str(tiny_cfg), "--exp_root", str(a_file)], capsys)
    _one_line(code, err, "is a file, not a directory")
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    real_access = os.access
    # root may write anywhere, so the permission is simulated where the check asks for it
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == read_only else real_access(p, mode)
    )
    args = ["--cfg", str(tiny_cfg), "--exp_root", str(read_only / "exp")]
    code, err = _run(train_model.main, args, capsys)
    _one_line(code, err, "permission denied", str(read_only))
    assert not (read_only / "exp").exists()


@pytest.mark.parametrize(
    ("flags", "culprit"),
    [
        (["--dist_backend", "foo", "--nproc", "2", "--device", "cpu"], "--dist_backend 'foo'"),
        (["--batch_size", "0"], "--batch_size"),
        (["--val_batch_size", "0"], "--val_batch_size"),
        (["--nproc", "0"], "--nproc"),
    ],
)
def test_bad_flags_are_one_line(tmp_path: Path, tiny_cfg: Path, capsys, flags, culprit) -> None:
    args = ["--cfg", str(tiny_cfg), "--exp_root", str(tmp_path / "exp"), *flags]
    try:
        code, err = _run(train_model.main, args, capsys)
    except SystemExit as exit_:  # argparse errors
        code, err = int(exit_.code or 0), capsys.readouterr().err.strip()
    _one_line(code, err, culprit)


# 9. nothing accepted silently


def test_test_model_without_weights_is_refused_unless_asked(
    tmp_path: Path, tiny_cfg: Path, capsys
) -> None:
    root = tmp_path / "exp"
    code, err = _run(test_model.main, ["--cfg", str(tiny_cfg), "--exp_root", str(root)], capsys)
    _one_line(code, err, "No weights to test", "--reload", "--untrained")
    args = ["--cfg", str(tiny_cfg), "--exp_root", str(root), "--untrained", "--workers", "0"]
    code, err = _run(test_model.main, args, capsys)
    assert code == 0, err


def test_non_finite_checkpoint_is_refused(tmp_path: Path) -> None:
    from handmesh.checkpoint import load_weights

    net = torch.nn.Linear(2, 2)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["bias"][0] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"non-finite values .*\[bias\].*diverged"):
        load_weights(net, path)


def test_pca_layer_refuses_a_full_pose() -> None:
    from handmesh.mano import ManoLayer

    layer = ManoLayer(use_pca=True, ncomps=6, allow_synthetic=True, mano_root="/nowhere")
    assert layer(torch.zeros(2, 9))[0].shape == (2, 778, 3)
    with pytest.raises(ArgumentError, match=r"th_pose_coeffs must have shape \(B, 9\).*\(2, 48\)"):
        layer(torch.zeros(2, 48))


# 10. messages


def test_messages_name_what_is_wrong(tmp_path: Path) -> None:
    import handmesh
    from handmesh.mano import load_mano_model

    with pytest.raises(ArgumentError, match=r"cfg_or_path must be a config.*got int 123"):
        handmesh.load_model(123)
    with pytest.raises(Exception, match=r"for side='right'") as info:
        load_mano_model(tmp_path / "MANO_LEFT.pkl", side="right")
    assert "{side" not in str(info.value)
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    with pytest.raises(
        Exception, match=r"MODEL has no TYPE key.*Registered MODELS: .*IntegralPose"
    ):
        handmesh.load_model(empty)


# 11. hygiene


def test_resume_removes_stale_temps_and_does_not_repeat_epochs(trained: Path, capsys) -> None:
    stale = trained / "checkpoints" / ".checkpoint.abc123.tmp"
    stale.mkdir()
    (stale / "IntegralPose.pth.tar").write_bytes(b"half")
    args = ["--resume", str(trained), *QUICK, "--opts", "TRAIN.EPOCH", "2"]
    code, err = _run(train_model.main, args, capsys)
    assert code == 0, err
    assert not stale.exists()
    text = (trained / "evaluations" / "train_eval.txt").read_text()
    assert [line for line in text.splitlines() if line.startswith("Epoch")] == [
        "Epoch 1 evaluator msg:",
        "Epoch 2 evaluator msg:",
    ]


def test_truncate_evaluations_drops_epochs_to_be_retrained(tmp_path: Path) -> None:
    from handmesh.engine.experiment import ExperimentDir

    exp = ExperimentDir.create(tmp_path, "run", "2026_1201_0000_00")
    for epoch in (1, 2, 3):
        exp.append_evaluation("train", epoch, {"loss": float(epoch)})
    exp.truncate_evaluations(after_epoch=1)
    text = (exp.evaluations_dir / "train_eval.txt").read_text()
    assert text == "Epoch 1 evaluator msg:\n {'loss': 1.0}\n\n"


def test_atomic_writes_are_flushed_before_the_rename(tmp_path: Path, monkeypatch) -> None:
    from handmesh.io import atomic

    synced: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        assert any(path.endswith(Path(src).name) for path in synced), "renamed before fsync"
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    atomic.atomic_write_text(tmp_path / "a.txt", "data")
    assert (tmp_path / "a.txt").read_text() == "data"
    assert str(tmp_path) in synced  # the directory entry too


# 12. --checkpoint_interval: fewer checkpoint writes, resume still exact

_CRASHES: list[int] = []


@TRAIN_HOOKS.register()
class CrashOnceBeforeEpoch(HookBase):
    """Test hook: raises once in this process at the start of a given (0-based) epoch."""

    CONFIG_KEYS = ("EPOCH",)

    def __init__(self, epoch: int) -> None:
        self.at = epoch

    @classmethod
    def from_config(cls, cfg: Any) -> dict[str, Any]:
        return {"epoch": cfg["EPOCH"]}

    def before_epoch(self) -> None:
        if self.trainer.epoch == self.at and not _CRASHES:
            _CRASHES.append(self.at)
            raise RuntimeError("simulated crash")


def test_checkpoint_interval_writes_less_and_resumes_exactly(tmp_path: Path, capsys) -> None:
    cfg = tiny_config(epochs=5, train_samples=8)
    cfg["TRAIN"]["HOOKS"] = [{"TYPE": "CrashOnceBeforeEpoch", "EPOCH": 3}]
    path = write_config(tmp_path / "tiny.yml", cfg)
    flags = ["--workers", "0", "--eval_interval", "-1", "--skip_untrained_eval", "--snapshot", "0",
             "--checkpoint_interval", "2"]  # fmt: skip

    crashed_root = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_model.main(["--cfg", str(path), "--exp_root", str(crashed_root), *flags])
    exp = only_experiment(crashed_root)
    latest = exp / "checkpoints" / "checkpoint"
    assert torch.load(latest / "train_param.pth.tar", weights_only=True)["epoch"] == 2  # not 3
    code, err = _run(train_model.main, ["--resume", str(exp), *flags], capsys)
    assert code == 0, err
    resumed = torch.load(latest / "IntegralPose.pth.tar", weights_only=True)
    assert torch.load(latest / "train_param.pth.tar", weights_only=True)["epoch"] == 5  # the last
    text = (exp / "evaluations" / "train_eval.txt").read_text()
    assert [line for line in text.splitlines() if line.startswith("Epoch")] == [
        f"Epoch {n} evaluator msg:" for n in range(1, 6)
    ]  # epoch 3, trained twice, is logged once

    full_root = tmp_path / "full"  # the hook has fired in this process: no crash now
    code, err = _run(train_model.main, ["--cfg", str(path), "--exp_root", str(full_root), *flags],
                     capsys)  # fmt: skip
    assert code == 0, err
    expected = torch.load(
        only_experiment(full_root) / "checkpoints" / "checkpoint" / "IntegralPose.pth.tar",
        weights_only=True,
    )
    for key, value in expected.items():
        assert torch.equal(resumed[key], value), key
    with pytest.raises(ArgumentError, match=r"checkpoint_interval must be >= 1 .* got 0"):
        TrainOptions(checkpoint_interval=0)
