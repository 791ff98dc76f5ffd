"""Trainer set-up in one CPU process: AMP is ignored with a warning; the experiment layout."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_cli_helpers import tiny_config

from handmesh.config import config_from_dict, load_config
from handmesh.engine import DistContext, Trainer, TrainOptions


def test_amp_is_ignored_on_cpu_and_the_experiment_dir_is_made(tmp_path: Path) -> None:
    cfg = config_from_dict(tiny_config(), ["TRAIN.AMP", "True"])
    options = TrainOptions(
        workers=0,
        exp_id="setup",
        exp_root=str(tmp_path),
        stamp="2024_0101_0000_00",
        evaluate_untrained=False,
        final_test=False,
        eval_interval=-1,
    )
    with pytest.warns(UserWarning, match="TRAIN.AMP is ignored on CPU"):
        trainer = Trainer(cfg, options, DistContext())
    assert trainer.amp is False and trainer.scaler is None
    assert trainer.exp.root == tmp_path / "setup_2024_0101_0000_00"
    assert trainer.batch_size == 4
    # the dumped config loads back to the same values
    assert load_config(trainer.exp.config_path) == cfg
