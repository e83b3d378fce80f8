"""One training run, start to end.

Everything that can fail for a reason the user can fix is checked before the
first step: the settings, a run folder that would write over the spec, the
data source, the data's shape against the spec's input, the class count,
batch norm's batch, the run folder (writable, locked for this run, not
someone else's run), the checkpoint to resume. Then the processes start
(one, or N under torchrun), the model is built, seeded and initialised as the
notes do, and the epochs run.

A checkpoint holds only weights whose loss was checked finite: at the end of
an epoch their loss on the test data, at a stop their loss on a test batch.
Only rank 0 writes files and prints.
"""
from __future__ import annotations

import contextlib
import math
import platform
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..source import shown_name
from . import checkpoint, distributed, model
from .batches import BatchPlan, FolderBatches, TensorBatches, default_workers, fit_folders
from .checkpoint import BEST, FINAL, LAST, Position
from .checks import check_batch_statistics, check_classes, check_numbers, resolve_device
from .config import TrainConfig
from .data import TensorData, load_data, parse_data
from .errors import Diverged, SetupError
from .fit import fit
from .loop import Loop, StopRequests
from .metrics import EpochRecord, History
from .model import ModelSource
from .report import Reporter
from .runfolder import RunFolder, check_out, refuse_to_overwrite, resolve_out


@dataclass
class TrainResult:
    out: Path | None
    history: History = field(default_factory=History)
    status: str = "done"          # done, interrupted, nothing-to-do, export-failed

    @property
    def exit_code(self) -> int:
        return {"interrupted": 130, "export-failed": 1}.get(self.status, 0)


def train(source: ModelSource, config: TrainConfig, reporter: Reporter | None = None) -> TrainResult:
    return Session(source, config, reporter).run()


class Session:
    def __init__(self, source: ModelSource, config: TrainConfig, reporter: Reporter | None = None) -> None:
        self.source, self.config = source, config
        self.world = distributed.from_env()
        self.report = reporter or Reporter(main=self.world.main, quiet=config.quiet)

    # -- before training ---------------------------------------------------------
    def preflight(self) -> Path | None:
        """Every check that needs no other process; returns the run folder (rank 0).

        The run folder is locked from here on (rank 0): `release()` unlocks it.
        """
        cfg, main = self.config, self.world.main
        check_numbers(cfg, self.world)
        self.out = resolve_out(cfg, self.source.name) if main else None
        run_files = list(self.source.run_files())
        if main:   # before any work: a run folder that cannot be written or would write over the spec
            check_out(self.out, run_files, self.source.inputs)
        self.device = resolve_device(cfg.device, self.world)
        self.data = load_data(parse_data(cfg.data), self.source.input_shape, self.source.classes)
        self.fit = fit(self.data, self.source.input_shape, cfg.resize, self.source.name, self.source.where)
        check_classes(self.data, self.source)
        self.plans = self._plans()
        torch.manual_seed(cfg.seed)   # the same initial weights on every process, PyTorch's init or ours
        self.module = self.source.build(self.fit.shape)   # a spec error shows here, before any process waits
        check_batch_statistics(getattr(self.source, "built", None), self.plans[0])
        self.folder = RunFolder.open(self.out, shlex.join(cfg.command), run_files) if main else None
        self._report_folder()
        self.resumed = checkpoint.load_last(self.out) if cfg.resume and main else None
        if main and not cfg.resume:
            refuse_to_overwrite(self.out)
        return self.out

    def release(self) -> None:
        """Unlock the run folder (if this process locked it)."""
        if getattr(self, "folder", None) is not None:
            self.folder.release()

    def _report_folder(self) -> None:
        folder = self.folder
        if folder is None:
            return
        stale = folder.lock.stale if folder.lock is not None else None
        if stale is not None:
            self.report.always(f"note: {shown_name(folder.path)} was locked by a run that is gone "
                               f"({stale.describe()}); taking it over", err=True)
        if folder.removed:
            names = ", ".join(shown_name(p.relative_to(folder.path)) for p in folder.removed)
            self.report.always(f"note: removed {names}, left by a save that was interrupted", err=True)

    def run(self) -> TrainResult:
        try:
            self.preflight()
            distributed.start(self.world, self.device)
            try:
                resumed = distributed.broadcast(self.resumed, self.world) if self.config.resume else None
                return self._train(self.module, resumed)
            finally:
                distributed.stop()
        finally:
            self.release()

    # -- training -----------------------------------------------------------------
    def _train(self, module: nn.Module, resumed: dict | None) -> TrainResult:
        cfg, world = self.config, self.world
        module, trained, optimizer = model.prepare(module, cfg, self.device, world)
        torch.manual_seed(cfg.seed + world.rank)   # dropout: a stream of its own per process
        history, pos = History(), Position()
        self.kept: Position | None = None     # where the weights in last.pt come from
        if resumed is not None:
            history, pos = self._restore(resumed, module, optimizer)
            self.kept = Position(resumed["epoch"], resumed["step"])
        loop = Loop(trained, module, optimizer, self.device, world, amp=cfg.amp)
        if loop.scaler is not None and resumed is not None and resumed.get("scaler"):
            loop.scaler.load_state_dict(resumed["scaler"])
        train_batches, test_batches = self._batches()
        self._announce(train_batches, resumed is not None, pos)
        if pos.epoch >= cfg.epochs:
            self.report.always(f"{shown_name(self.out)} already holds {pos.epoch} epochs; give --epochs above {pos.epoch} "
                               f"to train more")
            return TrainResult(self.out, history, "nothing-to-do")
        self._write_run_files(resumed is not None)
        with StopRequests() as stop, self._on_divergence(history):
            loop.stop = stop
            for epoch in range(pos.epoch, cfg.epochs):
                start, partial = (pos.step, pos.partial) if epoch == pos.epoch else (0, None)
                outcome = self._epoch(loop, train_batches, history, epoch, start, partial)
                if outcome.stopped:
                    problem = loop.weights_problem(test_batches)   # the last step's weights were never used
                    if problem:
                        raise Diverged(f"stopped in epoch {epoch + 1} after step {outcome.steps_done}, but the "
                                       f"weights after that step cannot be kept: {problem}")
                    self._save_last(module, optimizer, loop, history, Position(epoch, outcome.steps_done,
                                                                             outcome.partial()))
                    self._stopped(history, epoch, outcome.steps_done, len(train_batches))
                    return TrainResult(self.out, history, "interrupted")
                self._end_epoch(loop, test_batches, outcome, history, epoch, module, optimizer)
        exported = self._finish(module, history)
        return TrainResult(self.out, history, "done" if exported else "export-failed")

    def _stopped(self, history: History, epoch: int, step: int, steps: int) -> None:
        if self.world.main:
            self._write_metrics(history, final=True)
            self.report.always(f"stopped in epoch {epoch + 1} after step {step} of {steps}; "
                               f"saved {shown_name(self._path(LAST))}; continue with --resume", err=True)

    @contextlib.contextmanager
    def _on_divergence(self, history: History):
        """A loss that is not finite: nothing more is saved, so last.pt keeps the last weights
        whose loss was checked finite; the message says which they are."""
        try:
            yield
        except Diverged as exc:
            if not self.world.main:
                raise
            if history.epochs:
                self._write_metrics(history, final=True)
            advice = lr_advice(model.effective_lr(self.config), self.source.name)
            raise Diverged(f"{exc}; {self._kept_words()}; {advice}") from None

    def _kept_words(self) -> str:
        k = self.kept
        if k is None:
            return "no checkpoint was saved: no weights had a loss checked finite yet"
        at = f"after epoch {k.epoch}" if not k.step else f"of epoch {k.epoch + 1} after step {k.step}"
        return f"{shown_name(self._path(LAST))} holds the weights {at}, whose loss was checked finite"

    def _epoch(self, loop: Loop, batches, history: History, epoch: int, start: int, partial):
        steps = len(batches)
        with self.report.epoch_bar(epoch + 1, self.config.epochs, steps, start) as bar:
            def on_sync(done: int, loss: float, acc: float, curve: bool) -> None:
                bar(done, loss, acc)
                if curve:
                    history.add_point(epoch + done / steps, train_loss=loss, train_acc=acc)

            return loop.train_epoch(batches, epoch, start, partial, on_sync)

    def _end_epoch(self, loop, test_batches, outcome, history, epoch, module, optimizer) -> None:
        # The epoch's losses were those of the weights before each step; the weights after the
        # last step are checked here, on the test data, before anything holds them.
        test_acc, test_loss = loop.evaluate(test_batches)
        problem = f"their loss on the test data is {test_loss}" if not math.isfinite(test_loss) else None
        problem = problem or loop.weights_problem()
        if problem:
            raise Diverged(f"the weights after epoch {epoch + 1} cannot be kept: {problem}")
        best = history.best
        record = EpochRecord(epoch + 1, outcome.loss, outcome.acc, test_acc, outcome.examples,
                             outcome.seconds, optimizer.param_groups[0]["lr"])
        history.epochs.append(record)
        history.add_point(epoch + 1, test_acc=test_acc)
        self.report.epoch(record, self.config.epochs)
        if len(history.epochs) == NOT_LEARNING_AFTER:
            warning = not_learning(history, self.source.classes, model.effective_lr(self.config), self.source.name,
                                   steps=(epoch + 1) * outcome.steps_done)
            if warning is not None:
                self.report.always(warning, err=True)
        self._save_last(module, optimizer, loop, history, Position(epoch + 1, 0, None))
        if self.world.main:
            if best is None or test_acc > best.test_acc:
                checkpoint.save_state_dict(self._path(BEST), module)
            self._write_metrics(history)

    def _finish(self, module: nn.Module, history: History) -> bool:
        """The final files and the summary line; False when a requested export failed."""
        if not self.world.main:
            return True
        checkpoint.save_state_dict(self._path(FINAL), module)
        self._write_metrics(history, final=True)
        self.report.summary(history, self._device_label())
        if self.config.export_onnx:
            ok, message = self.source.export_onnx(module, self._path("model.onnx"))
            self.report.always(message if ok else f"archlang: {message}", err=not ok)
            return ok
        return True

    # -- data, checkpoints ------------------------------------------------------------------
    def _plans(self) -> tuple[BatchPlan, BatchPlan]:
        cfg, world = self.config, self.world
        train_plan = BatchPlan(len(self.data.train), cfg.batch_size, world.rank, world.size, cfg.seed,
                               shuffle=True, drop_small_tail=True)
        test_plan = BatchPlan(len(self.data.test), cfg.batch_size, world.rank, world.size,
                              shuffle=False, drop_small_tail=False)
        if train_plan.steps == 0:
            raise SetupError(f"{self.data.name}: {len(self.data.train)} training examples are too few for "
                             f"{world.size} process(es)")
        return train_plan, test_plan

    def _batches(self):
        cfg, world = self.config, self.world
        train_plan, test_plan = self.plans
        if isinstance(self.data, TensorData):
            return (TensorBatches(self.data.train, self.data.scale, self.fit, train_plan, self.device, cfg.channels_last),
                    TensorBatches(self.data.test, self.data.scale, self.fit, test_plan, self.device, cfg.channels_last))
        fit_folders(self.data, self.fit)
        workers = cfg.workers if cfg.workers is not None else default_workers(world.size)
        return (FolderBatches(self.data.train, train_plan, self.device, workers, cfg.channels_last),
                FolderBatches(self.data.test, test_plan, self.device, workers, cfg.channels_last))

    def _restore(self, state: dict, module: nn.Module, optimizer) -> tuple[History, Position]:
        cfg, world = self.config, self.world
        checkpoint.restore_model(module, state, self._path(LAST) if self.world.main else Path(LAST))
        optimizer.load_state_dict(state["optimizer"])
        if cfg.lr is not None:       # an explicit --lr wins over the checkpoint's
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr
        rngs = state.get("rng") or []
        if len(rngs) == world.size:
            checkpoint.set_rng_state(rngs[world.rank])
        pos = Position(state["epoch"], state["step"], state.get("partial"))
        same_batches = state.get("batch_size") == cfg.batch_size and state.get("world") == world.size
        if pos.step and not same_batches:
            self.report.say(f"note: epoch {pos.epoch + 1} was interrupted with another batch size or process "
                            f"count; it starts over")
            pos = Position(pos.epoch, 0, None)
        if state.get("identity") != self.source.identity:
            self.report.say(f"note: the spec changed since the checkpoint; its weights still fit {self.source.name}")
        return History.from_state(state["history"]), pos

    def _save_last(self, module, optimizer, loop: Loop, history: History, pos: Position) -> None:
        """last.pt, from weights the caller checked (a finite loss on the test data)."""
        rngs = distributed.gather(checkpoint.rng_state(), self.world)   # every process takes part
        if self.world.main:
            checkpoint.save(self._path(LAST), {
                "format": checkpoint.FORMAT, "network": self.source.name, "identity": self.source.identity,
                "model": module.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": loop.scaler.state_dict() if loop.scaler is not None else None,
                "epoch": pos.epoch, "step": pos.step, "partial": pos.partial,
                "batch_size": self.config.batch_size, "world": self.world.size,
                "history": history.state(), "seed": self.config.seed, "rng": rngs,
                "config": self.config.to_json(),
            })
        self.kept = pos

    # -- files and words --------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.folder / name

    def _announce(self, batches, resuming: bool, pos: Position) -> None:
        d = self.data
        at = f"epoch {pos.epoch + 1}" + (f", step {pos.step + 1}" if pos.step else "")
        what = f"resuming {shown_name(self.out)} at {at}" if resuming else f"run folder {shown_name(self.out)}"
        self.report.say(f"training {self.source.name} on {self._device_label()}: {d.name}, "
                        f"{len(d.train)} train / {len(d.test)} test images {list(self.fit.shape)}, "
                        f"{len(batches)} steps of {self.config.batch_size}; {what}")
        for note in self.fit.notes:
            self.report.say(f"note: {note}")

    def _device_label(self) -> str:
        if self.world.parallel:
            return f"{self.world.size} x {self.device.type}"
        return str(self.device)

    def _write_run_files(self, resuming: bool) -> None:
        if self.world.main:
            self.folder.write_start(self.source.run_files(), self.config.command, self._about(), resuming)

    def _about(self) -> dict:
        return {"network": self.source.name, "data": self.data.name, "input": list(self.fit.shape),
                "classes": self.source.classes, "train_examples": len(self.data.train),
                "test_examples": len(self.data.test), "device": self._device_label(),
                "processes": self.world.size, "torch": torch.__version__, "python": platform.python_version(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "lr": model.effective_lr(self.config),
                "settings": self.config.to_json()}

    def _write_metrics(self, history: History, final: bool = False) -> None:
        self.folder.write_metrics(history, dict(network=self.source.name, data=self.data.name,
                                                device=self._device_label()),
                                  self.config.epochs, f"{self.source.name} on {self.data.name}", final)


# Epochs after which a run that does not learn is called out (one epoch at chance is normal for
# the notes' LeNet, sigmoid at lr 0.9; two are not), and the steps it must have taken by then.
NOT_LEARNING_AFTER = 2
NOT_LEARNING_STEPS = 50


def not_learning(history: History, classes: int, lr: float, network: str, steps: int) -> str | None:
    """A warning, with what to try, when the training loss grew since the first epoch (the
    weights blow up) or, after NOT_LEARNING_STEPS steps, accuracy is still at chance with a loss
    of about ln(classes) (what predicting nothing scores); else None."""
    import math

    first, last, chance = history.epochs[0], history.epochs[-1], 1 / max(classes, 1)
    if last.train_loss > 1.5 * first.train_loss:
        what = f"its training loss grew from {first.train_loss:.3f} to {last.train_loss:.4g}"
    elif (classes >= 2 and steps >= NOT_LEARNING_STEPS and last.train_acc <= 1.5 * chance
          and last.train_loss >= 0.97 * math.log(classes)):
        what = (f"it learns nothing: train accuracy {last.train_acc:.3f} (chance is {chance:.3f}), loss "
                f"{last.train_loss:.3f} (ln {classes} = {math.log(classes):.3f})")
    else:
        return None
    return (f"warning: after {len(history.epochs)} epochs of {network} {what}; the weights may be blowing up. "
            f"{lr_advice(lr, network)}")


def lr_advice(lr: float, network: str) -> str:
    """What to try when a run diverges or stalls: a tenth of the learning rate, on the command line
    or in the spec (the notes' 0.9 suits their LeNet, not a deeper network)."""
    lower = f"{lr / 10:g}"
    return (f"lr {lr:g} is likely too high for this network: try --lr {lower}, or state it in the spec, "
            f"network {network}(..., lr = {lower}), so that every run starts from it")
