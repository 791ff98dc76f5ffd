"""The training loop (one code path for every process layout; see ``handmesh.engine.launch``).

Per epoch: shuffled ``DistributedSampler`` (``set_epoch``), forward, ``compute_loss``, backward,
optional gradient clipping (``TRAIN.GRAD_CLIP.MODE`` global / per_tensor) and AMP (CUDA only),
optimiser step; then the scheduler steps, validation runs on ``DATASET.TEST`` every
``eval_interval`` epochs, and rank 0 writes the checkpoint (model, ``train_param.pth.tar``, every
rank's RNG state) every ``checkpoint_interval`` epochs (default 1; always after the last epoch
and at every snapshot) and, every ``snapshot`` epochs, ``checkpoint_{N}``.

Weights are initialised from exactly one source before anything is written: the latest checkpoint
with ``--resume``, else ``MODEL.PRETRAINED``, else the parts' own pretrained weights
(``handmesh.checkpoint.initialize_model``). What is logged on the training batches is
``TRAIN.METRIC`` (else the model's ``TRAIN_METRICS``); tests use the config's test metrics and
``TEST.POSTPROCESS``. Model-specific behaviour comes in through hooks
(``handmesh.engine.hooks``: the model's ``training_hooks()`` and ``TRAIN.HOOKS``).

``--resume EXP_DIR`` continues in the same experiment directory with the config of its
``dump_cfg.yaml`` (re-dumped with any overrides, e.g. more epochs), from the latest complete
checkpoint: model, optimiser, scheduler, scaler and every rank's RNG states are restored, and the
data order depends only on (seed, epoch), so a resumed CPU run equals the uninterrupted one bit for
bit (same number of processes). Under DDP, BatchNorm buffers are copied from rank 0 to all ranks
after each epoch, so evaluation and checkpoints see one model.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from collections import defaultdict
from collections.abc import Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from handmesh.checkpoint import initialize_model, read_checkpoint
from handmesh.engine.build import (
    build_dataset,
    build_evaluator,
    build_loader,
    build_model,
    per_process_batch,
    reseed_loader,
    to_device,
    train_batches_per_process,
)
from handmesh.engine.checkpoint import model_file_name, save_model
from handmesh.engine.dist import (
    DistContext,
    broadcast_buffers,
    parameters_identical_across_ranks,
)
from handmesh.engine.evaluation import evaluate, write_test_summary
from handmesh.engine.experiment import (
    RANDOM_STATE_FILE,
    TRAIN_PARAM_FILE,
    ExperimentDir,
    check_writable,
    git_commit,
    timestamp,
)
from handmesh.engine.hooks import HookBase, build_hooks
from handmesh.engine.log import setup_logging
from handmesh.engine.optim import build_optimizer, build_scheduler, clip_gradients
from handmesh.engine.resume import restore_optimisation
from handmesh.engine.seeding import capture_rng_state, restore_rng_state, seed_everything
from handmesh.errors import ArgumentError, DivergenceError
from handmesh.io.atomic import atomic_torch_save, new_temp_dir, replace_dir
from handmesh.mano.loader import describe_mano_source
from handmesh.models.base import HandModel
from handmesh.postprocess import build_postprocess

UNTRAINED_EVAL_FILE = "untrained_eval.json"
AMP_NONFINITE_PATIENCE = 50  # consecutive non-finite losses the AMP scaler may skip


@dataclass(frozen=True)
class TrainOptions:
    """Run options that are not part of the config (the CLI flags)."""

    exp_id: str = "default"
    exp_root: str = "exp"
    resume: str | None = None  # experiment directory to continue in
    workers: int = 8  # DataLoader workers in total (split over the processes of a node)
    val_batch_size: int | None = None  # per process; default: the per-process train batch
    snapshot: int = 10  # copy checkpoint/ to checkpoint_{N} every N epochs (<= 0: never)
    checkpoint_interval: int = 1  # write checkpoint/ every N epochs (and after the last one)
    eval_interval: int = 5  # validate every N epochs (-1: never)
    evaluate_untrained: bool = True  # test the freshly built model before training
    final_test: bool = True  # test the trained model on DATASET.TEST at the end
    stamp: str = ""  # experiment timestamp, shared by all ranks
    command: str = ""  # the command line, for the log

    def __post_init__(self) -> None:
        if self.checkpoint_interval < 1:
            raise ArgumentError(
                f"TrainOptions.checkpoint_interval must be >= 1 (write checkpoint/ every N "
                f"epochs), got {self.checkpoint_interval}"
            )


class Trainer:
    """Train ``cfg.MODEL`` on ``cfg.DATASET.TRAIN`` in this process; see the module docstring."""

    def __init__(self, cfg: Any, options: TrainOptions, ctx: DistContext) -> None:
        self.cfg, self.options, self.ctx = cfg, options, ctx
        self.train_cfg = cfg["TRAIN"]
        self.seed = int(self.train_cfg["MANUAL_SEED"])
        self.log = setup_logging(ctx.rank)
        seed_everything(self.seed + ctx.rank, bool(self.train_cfg.get("CONV_REPEATABLE", True)))
        self.batch_size = per_process_batch(int(self.train_cfg["BATCH_SIZE"]), ctx.world_size)
        self.workers = math.ceil(options.workers / ctx.world_size) if options.workers > 0 else 0
        # Everything that can fail on bad input comes before anything is written: the output
        # folder, the model and its weights, the resumed optimiser state, the data, the metrics.
        resumed = ExperimentDir.open_existing(options.resume) if options.resume else None
        if resumed is None:
            check_writable(options.exp_root)
        latest = resumed.latest_checkpoint_dir() if resumed is not None else None
        self.model = build_model(cfg, initialize=False)
        self.weights_source = initialize_model(
            self.model,
            latest / model_file_name(self.model) if latest is not None else None,
            cfg["MODEL"],
        )
        self.model.to(ctx.device)
        self.amp = self._amp_enabled()
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None
        self.optimizer = build_optimizer(self.model.parameters(), self.train_cfg)
        self.scheduler = build_scheduler(self.optimizer, self.train_cfg)
        self.start_epoch = 0
        self.resume_note = ""
        if resumed is not None and latest is not None:
            self._restore_training_state(resumed, latest)
        train_set = build_dataset(cfg, "TRAIN")
        train_batches_per_process(len(cast(Sized, train_set)), self.batch_size, ctx.world_size)
        self.train_loader = build_loader(
            train_set, ctx, self.batch_size, True, self.workers, self.seed
        )
        self.train_evaluator = build_evaluator(cfg, self.model, train=True)
        self._test_loader: DataLoader | None = None
        self._test_evaluator: Any = None
        self.postprocess = [
            step.to(ctx.device)
            for step in build_postprocess(cfg["TEST"].get("POSTPROCESS"), cfg.get("DATA_PRESET"))
        ]
        if options.final_test or options.evaluate_untrained or options.eval_interval > 0:
            self._test_loader = self.test_loader
        self.hooks: list[HookBase] = [
            *cast(HandModel, self.model).training_hooks(),
            *build_hooks(self.train_cfg.get("HOOKS")),
        ]
        for hook in self.hooks:
            hook.trainer = self
        self.mano = describe_mano_source(cfg.get("DATA_PRESET"))
        self.epoch = self.step = 0
        self.last_losses: dict[str, float] = {}
        self.last_preds: dict[str, Any] = {}
        self.last_batch: dict[str, Any] = {}
        self.loss_monitor = LossMonitor()
        self.nonfinite_streak = 0
        self.exp = self._experiment_dir()
        setup_logging(ctx.rank, self.exp.log_path)
        self.net = self._wrap(self.model)
        self.writer = self._summary_writer()
        self.untrained: dict[str, Any] | None = None
        self.last_test: tuple[int, dict[str, Any]] | None = None

    # ----- setup -----

    def _restore_training_state(self, resumed: ExperimentDir, latest: Path) -> None:
        """Optimiser, scheduler and scaler of the latest checkpoint, with the config's overrides
        of LR / epochs applied (``handmesh.engine.resume``); nothing is written yet."""
        from handmesh.config import load_config

        train_param = read_checkpoint(latest / TRAIN_PARAM_FILE)
        saved_train = load_config(resumed.config_path)["TRAIN"]
        self.scheduler, self.resume_note = restore_optimisation(
            self.optimizer, self.scheduler, train_param, saved_train, self.train_cfg
        )
        if self.scaler is not None and "scaler" in train_param:
            self.scaler.load_state_dict(train_param["scaler"])
        self.start_epoch = int(train_param["epoch"])

    def _experiment_dir(self) -> ExperimentDir:
        if self.options.resume:
            exp = ExperimentDir.open_existing(self.options.resume)
            if self.ctx.is_main:  # records the values used (overrides given on resume included)
                _dump(self.cfg, exp.config_path, self.mano)
                exp.truncate_evaluations(self.start_epoch)  # later epochs are trained again
        elif self.ctx.is_main:
            stamp = self.options.stamp or timestamp()
            exp = ExperimentDir.create(self.options.exp_root, self.options.exp_id, stamp)
            _dump(self.cfg, exp.config_path, self.mano)
        else:
            exp = None
        return ExperimentDir(self.ctx.broadcast_object(str(exp.root) if exp else None))

    def _wrap(self, model: nn.Module) -> nn.Module:
        if not self.ctx.is_distributed:
            return model
        device_ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
        return DistributedDataParallel(
            model,
            device_ids=device_ids,
            find_unused_parameters=bool(self.train_cfg.get("FIND_UNUSED_PARAMETERS", False)),
        )

    def _amp_enabled(self) -> bool:
        if not self.train_cfg.get("AMP", False):
            return False
        if self.ctx.device.type != "cuda":
            warnings.warn("TRAIN.AMP is ignored on CPU (mixed precision needs CUDA)", stacklevel=2)
            self.log.warning("TRAIN.AMP is ignored on CPU")
            return False
        return True

    def _summary_writer(self) -> Any:
        if not self.ctx.is_main:
            return None
        from tensorboardX import SummaryWriter

        # on resume, events of the epochs that are trained again are dropped (one step axis)
        purge = self.start_epoch * len(self.train_loader) if self.options.resume else None
        return SummaryWriter(str(self.exp.runs_dir), purge_step=purge)

    @property
    def test_loader(self) -> DataLoader:
        if self._test_loader is None:
            batch = self.options.val_batch_size or self.batch_size
            dataset = build_dataset(self.cfg, "TEST")
            self._test_evaluator = build_evaluator(self.cfg, self.model, dataset)
            self._test_loader = build_loader(
                dataset, self.ctx, batch, False, self.workers, self.seed
            )
        return self._test_loader

    # ----- checkpoints -----

    def _checkpoint_due(self, epochs_done: int, epochs: int) -> bool:
        """Whether to write ``checkpoint/`` after ``epochs_done`` epochs: every
        ``checkpoint_interval`` epochs, at every snapshot epoch and after the last epoch (a
        resumed run continues from the latest one written, re-running the epochs after it)."""
        snapshot = self.options.snapshot
        return (
            epochs_done == epochs
            or epochs_done % self.options.checkpoint_interval == 0
            or (snapshot > 0 and epochs_done % snapshot == 0)
        )

    def save_checkpoint(self, epochs_done: int) -> None:
        """Write ``checkpoints/checkpoint`` (all ranks join: RNG states are gathered). Non-finite
        weights are never written: training stops with a DivergenceError instead, and the last
        good checkpoint stays."""
        self._check_finite_weights(epochs_done)
        rng_states = self.ctx.all_gather_object(capture_rng_state())
        if self.ctx.is_main:
            target = self.exp.checkpoint_dir()
            tmp = new_temp_dir(target)
            save_model(self.model, tmp)
            train_param = {
                "epoch": epochs_done,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
            }
            if self.scaler is not None:
                train_param["scaler"] = self.scaler.state_dict()
            atomic_torch_save(train_param, tmp / TRAIN_PARAM_FILE)
            atomic_torch_save(
                {"world_size": self.ctx.world_size, "ranks": rng_states}, tmp / RANDOM_STATE_FILE
            )
            replace_dir(tmp, target)
            snapshot = self.options.snapshot
            if snapshot > 0 and epochs_done % snapshot == 0:
                self.exp.snapshot(epochs_done)
        self.ctx.barrier()

    def _check_finite_weights(self, epochs_done: int) -> None:
        bad = [
            name
            for name, tensor in self.model.state_dict().items()
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
        ]
        if bad:
            raise DivergenceError(
                f"Training diverged: after epoch {epochs_done} (step {self.step + 1} of "
                f"{len(self.train_loader)}) {len(bad)} weight tensor(s) are not finite (e.g. "
                f"{bad[0]}); {self._last_good()} Lower TRAIN.LR or enable "
                "TRAIN.GRAD_CLIP_ENABLED."
            )

    def _last_good(self) -> str:
        latest = self.exp.checkpoint_dir()
        if (latest / TRAIN_PARAM_FILE).is_file():
            return f"the last good checkpoint {latest} is kept (--resume {self.exp.root})."
        return "no checkpoint was written."

    def resume(self) -> None:
        """Restore the RNG states of the latest checkpoint (weights, optimiser and scheduler were
        restored before anything was written)."""
        latest = self.exp.latest_checkpoint_dir()
        rng = read_checkpoint(latest / RANDOM_STATE_FILE)
        if rng["world_size"] == self.ctx.world_size:
            restore_rng_state(rng["ranks"][self.ctx.rank])
        else:
            self.log.warning(
                f"Resuming with {self.ctx.world_size} processes instead of {rng['world_size']}: "
                "RNG states are re-seeded, so the run will not match an uninterrupted one"
            )
            seed_everything(self.seed + self.ctx.rank + self.start_epoch)
        untrained = self.exp.evaluations_dir / UNTRAINED_EVAL_FILE
        if untrained.is_file():
            self.untrained = json.loads(untrained.read_text())
        self.log.info(f"Resumed from {latest} after epoch {self.start_epoch}")

    # ----- loop -----

    def train_one_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over this rank's share of the training set; mean loss terms over all ranks
        and the training metrics (``TRAIN.METRIC``) as ``train_<name>``."""
        self.net.train()
        reseed_loader(self.train_loader, self.seed, self.ctx.rank, epoch)
        sums: dict[str, float] = defaultdict(float)
        steps = 0
        evaluator = self.train_evaluator
        evaluator.reset()
        clip = bool(self.train_cfg.get("GRAD_CLIP_ENABLED", False))
        clip_cfg = self.train_cfg.get("GRAD_CLIP", {})
        log_interval = max(1, int(self.train_cfg.get("LOG_INTERVAL", 50)))
        bar = tqdm(
            self.train_loader,
            desc=f"epoch {epoch + 1}/{self.train_cfg['EPOCH']}",
            disable=not self.ctx.is_main,
            leave=False,
            dynamic_ncols=True,
        )
        for step, batch in enumerate(bar):
            batch = to_device(batch, self.ctx.device)
            self.step = step
            for hook in self.hooks:
                hook.before_step()
            with torch.autocast(self.ctx.device.type, enabled=self.amp):
                preds = self.net(batch)
                losses = cast(HandModel, self.model).compute_loss(preds, batch)
            loss = losses["final_loss"]
            finite = bool(torch.isfinite(loss))
            self.nonfinite_streak = 0 if finite else self.nonfinite_streak + 1
            # with AMP the scaler skips steps with inf/NaN gradients and lowers its scale; only a
            # long streak of non-finite losses means the run diverged
            if self.nonfinite_streak > (AMP_NONFINITE_PATIENCE if self.scaler else 0):
                raise DivergenceError(
                    f"Training diverged: the loss is {loss.item()} at epoch {epoch + 1}, step "
                    f"{step + 1} of {len(self.train_loader)}; {self._last_good()} Lower "
                    "TRAIN.LR or enable TRAIN.GRAD_CLIP_ENABLED."
                )
            warning = (
                self.loss_monitor.update(float(loss.detach()), epoch, step) if finite else None
            )
            if warning and self.ctx.is_main:
                self.log.warning(warning)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
            else:
                loss.backward()
            if clip:
                clip_gradients(
                    self.model.parameters(),
                    float(clip_cfg.get("NORM", 0.001)),
                    float(clip_cfg.get("TYPE", 2)),
                    str(clip_cfg.get("MODE", "per_tensor")),
                )
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            values = {
                k: float(v.detach())
                for k, v in losses.items()
                if torch.is_tensor(v) and v.numel() == 1
            }
            for key, value in values.items():
                sums[key] += value
            steps += 1
            detached = {
                k: v.detach().float() if torch.is_tensor(v) and v.is_floating_point() else v
                for k, v in preds.items()
            }
            evaluator.update(detached, batch)
            self.last_losses, self.last_preds, self.last_batch = values, detached, batch
            for hook in self.hooks:
                hook.after_step()
            bar.set_postfix(loss=f"{values['final_loss']:.4f}")
            global_step = epoch * len(self.train_loader) + step
            if self.writer is not None and step % log_interval == 0:
                for key, value in values.items():
                    self.writer.add_scalar(f"train/{key}", value, global_step)
        self.step = max(steps - 1, 0)
        means = self.ctx.all_reduce_mean({k: v / max(steps, 1) for k, v in sums.items()})
        if all(self.ctx.all_gather_object(steps > 0)):
            means.update({f"train_{k}": v for k, v in evaluator.compute().items()})
        return means

    def test(self, epoch: int, split: str) -> dict[str, Any]:
        """Evaluate on DATASET.TEST; log it and append it to ``evaluations/{split}_eval.txt``."""
        loader = self.test_loader
        results = evaluate(
            self.net, loader, self.ctx, self._test_evaluator, self.postprocess, desc=split
        )
        self.last_test = (epoch, results)
        if self.ctx.is_main:
            self.exp.append_evaluation(split, epoch, results)
            for key, value in results.items():  # on the training steps' axis
                self.writer.add_scalar(f"{split}/{key}", value, epoch * len(self.train_loader))
            self.log.info(f"{split} after epoch {epoch}: " + _format(results))
        return results

    def fit(self) -> dict[str, Any]:
        """Train to ``TRAIN.EPOCH`` epochs; returns the final test results (or {})."""
        self._log_start()
        if self.options.resume:
            self.resume()
        elif self.options.evaluate_untrained:
            self.untrained = self.test(0, "test")
            if self.ctx.is_main:
                self.exp.write_json(UNTRAINED_EVAL_FILE, self.untrained)
        epochs = int(self.train_cfg["EPOCH"])
        for hook in self.hooks:
            hook.before_train()
        for epoch in range(self.start_epoch, epochs):
            self.epoch = epoch
            for hook in self.hooks:
                hook.before_epoch()
            means = self.train_one_epoch(epoch)
            broadcast_buffers(self.model, self.ctx)
            self.scheduler.step()
            for hook in self.hooks:
                hook.after_epoch()
            done = epoch + 1
            if self.ctx.is_main:
                lr = self.optimizer.param_groups[0]["lr"]
                self.exp.append_evaluation("train", done, {**means, "lr": lr})
                self.writer.add_scalar("train/lr", lr, done * len(self.train_loader))
                self.log.info(f"epoch {done}/{epochs}: " + _format(means))
            interval = self.options.eval_interval
            if interval > 0 and done % interval == 0:
                self.test(done, "val")
            if self._checkpoint_due(done, epochs):
                self.save_checkpoint(done)
        for hook in self.hooks:
            hook.after_train()
        return self.finish(epochs)

    def finish(self, epochs: int) -> dict[str, Any]:
        identical = parameters_identical_across_ranks(self.model, self.ctx)
        if self.ctx.is_distributed:
            state = "identical" if identical else "DIFFERENT"
            message = f"replica check: parameters {state} on all {self.ctx.world_size} ranks"
            (self.log.info if identical else self.log.error)(message)
        results: dict[str, Any] = {}
        if self.options.final_test:
            if self.last_test is not None and self.last_test[0] == epochs:
                results = self.last_test[1]
                if self.ctx.is_main:
                    self.exp.append_evaluation("test", epochs, results)
            else:
                results = self.test(epochs, "test")
        if self.ctx.is_main:
            self._write_results(epochs, results)
            if self.writer is not None:
                self.writer.close()
        self.ctx.barrier()
        return results

    # ----- reporting -----

    def _log_start(self) -> None:
        if not self.ctx.is_main:
            return
        self.log.info(f"command: {self.options.command or ' '.join(sys.argv)}")
        commit = git_commit()
        if commit:
            self.log.info(f"git commit: {commit}")
        self.log.info(
            f"experiment {self.exp.root}: {self.ctx.world_size} process(es) on "
            f"{self.ctx.device.type}, batch {self.batch_size} per process"
        )
        self.log.info(f"{type(self.model).__name__} weights: {self.weights_source}")
        self.log.info(f"MANO model: {self.mano}")
        if self.resume_note:
            self.log.warning(self.resume_note)

    def _write_results(self, epochs: int, results: dict[str, Any]) -> None:
        checkpoint = self.exp.checkpoint_dir() / model_file_name(self.model)
        summary_path = None
        if results:
            summary = {
                "model_type": type(self.model).__name__,
                "mano": self.mano,
                "epoch": epochs,
                "checkpoint": str(checkpoint),
                "metrics": results,
            }
            if self.untrained is not None:
                summary["untrained_metrics"] = self.untrained
            summary_path = write_test_summary(self.exp, self._test_evaluator, summary, self.log)
        lines = [f"Results in {self.exp.root}", f"  checkpoint: {checkpoint}"]
        if self.untrained is not None and "mpjpe" in self.untrained:
            lines.append(f"  untrained MPJPE: {self.untrained['mpjpe']:.2f} mm")
        if "mpjpe" in results:
            lines.append(f"  trained MPJPE:   {results['mpjpe']:.2f} mm (after {epochs} epochs)")
        if summary_path is not None:
            lines.append(f"  evaluation: {summary_path}")
        for line in lines:
            self.log.info(line)


def _format(values: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(values.items())
    )


def _dump(cfg: Any, path: Path, mano: str) -> None:
    from handmesh.config import dump_config

    dump_config(cfg, path, header=f"MANO model used: {mano}")


class LossMonitor:
    """Warns (once per epoch) when the loss explodes: above ``factor`` x the median of the run's
    first ``warmup`` steps."""

    def __init__(self, warmup: int = 20, factor: float = 100.0) -> None:
        self.warmup, self.factor = warmup, factor
        self.first: list[float] = []
        self.warned_epoch = -1

    def update(self, loss: float, epoch: int, step: int) -> str | None:
        if len(self.first) < self.warmup:
            self.first.append(loss)
            return None
        reference = sorted(self.first)[len(self.first) // 2]
        if loss > self.factor * max(reference, 1e-12) and epoch != self.warned_epoch:
            self.warned_epoch = epoch
            return (
                f"The loss exploded: {loss:.4g} at epoch {epoch + 1}, step {step + 1}, over "
                f"{self.factor:g}x its median at the start of the run ({reference:.4g}); "
                "training may be diverging (TRAIN.LR too high?)"
            )
        return None


def train_worker(ctx: DistContext, cfg: Any, options: TrainOptions) -> None:
    """Process entry point for ``handmesh.engine.launch``."""
    Trainer(cfg, options, ctx).fit()


__all__ = ["TrainOptions", "Trainer", "train_worker"]
