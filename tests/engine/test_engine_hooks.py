"""Training hooks: TRAIN.HOOKS nodes and a model's own ``training_hooks()`` run at the documented
points, with the trainer's state, and without any trainer code knowing about them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine_cli_helpers import tiny_config

from handmesh.config import config_from_dict
from handmesh.engine import DistContext, HookBase, Trainer, TrainOptions
from handmesh.models import IntegralPose
from handmesh.registry import MODELS, TRAIN_HOOKS

EVENTS: list[tuple[str, Any]] = []


@TRAIN_HOOKS.register()
class RecordingHook(HookBase):
    CONFIG_KEYS = ("TAG",)

    def __init__(self, tag: str) -> None:
        self.tag = tag

    @classmethod
    def from_config(cls, cfg: Any) -> dict[str, Any]:
        return {"tag": str(cfg["TAG"])}

    def before_train(self) -> None:
        EVENTS.append((self.tag, "before_train"))

    def before_epoch(self) -> None:
        EVENTS.append((self.tag, ("before_epoch", self.trainer.epoch)))

    def after_step(self) -> None:
        losses = self.trainer.last_losses
        EVENTS.append((self.tag, ("after_step", self.trainer.epoch, self.trainer.step)))
        assert "final_loss" in losses and "uvd_loss" in losses
        assert self.trainer.last_preds["uvd"].shape[0] == 4

    def after_epoch(self) -> None:
        EVENTS.append((self.tag, ("after_epoch", self.trainer.epoch)))

    def after_train(self) -> None:
        EVENTS.append((self.tag, "after_train"))


class FreezeHeadHook(HookBase):
    """What a model-specific hook looks like: freeze the head after the first epoch."""

    frozen: Any = None
    backbone: Any = None

    def after_epoch(self) -> None:
        if self.trainer.epoch == 0:
            head = self.trainer.model.pose_head
            head.requires_grad_(False)
            FreezeHeadHook.frozen = head.final_layer.weight.detach().clone()
            FreezeHeadHook.backbone = self.trainer.model.backbone.conv1.weight.detach().clone()


@MODELS.register()
class HookedIntegralPose(IntegralPose):
    def training_hooks(self) -> list[Any]:
        return [RecordingHook("model"), FreezeHeadHook()]


def test_hooks_run_in_order_with_the_trainer_state(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=2, train_samples=8)
    cfg["MODEL"]["TYPE"] = "HookedIntegralPose"
    cfg["TRAIN"]["HOOKS"] = [{"TYPE": "RecordingHook", "TAG": "config"}]
    options = TrainOptions(
        workers=0,
        exp_root=str(tmp_path),
        stamp="2024_0101_0000_00",
        evaluate_untrained=False,
        final_test=False,
        eval_interval=-1,
    )
    EVENTS.clear()
    trainer = Trainer(config_from_dict(cfg), options, DistContext())
    head_before = trainer.model.pose_head.final_layer.weight.detach().clone()
    trainer.fit()
    expected = ["before_train"]
    for epoch in range(2):
        expected += [("before_epoch", epoch), ("after_step", epoch, 0), ("after_step", epoch, 1)]
        expected.append(("after_epoch", epoch))
    expected.append("after_train")
    for tag in ("model", "config"):  # the model's hooks first, then TRAIN.HOOKS
        assert [event for who, event in EVENTS if who == tag] == expected
    assert EVENTS[0] == ("model", "before_train") and EVENTS[1] == ("config", "before_train")
    # the model-specific hook froze the head after epoch 1: epoch 2 changed only the backbone
    head_after = trainer.model.pose_head.final_layer.weight.detach()
    assert not head_before.equal(FreezeHeadHook.frozen)  # epoch 1 trained the head
    assert head_after.equal(FreezeHeadHook.frozen)  # epoch 2 did not
    assert not trainer.model.backbone.conv1.weight.detach().equal(FreezeHeadHook.backbone)
