"""The epoch loop of the notes' `train_ch6`: forward, cross-entropy, backward,
step; then the test accuracy. Nothing else: files, printing and checkpoints
belong to the session, which hears from the loop through `on_sync`.

The loop reads the device only at sync points (every few steps and at the
curve points), so a GPU is never stalled once per batch for a progress bar.
At each sync point the processes agree on two flags: stop (Ctrl-C or SIGTERM
arrived somewhere) and diverged (a loss that is not finite).
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from . import distributed
from .distributed import World
from .errors import Diverged

SYNC_EVERY_MAX = 10   # at most this many steps between reads of the running loss


class StopRequests:
    """Ctrl-C and SIGTERM ask the loop to stop after the current step, so the
    checkpoint it saves holds a whole step. A second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._saved: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()


@dataclass
class EpochOutcome:
    loss_sum: float
    correct: float
    examples: int
    seconds: float
    steps_done: int      # steps of this epoch done so far, including earlier runs'
    stopped: bool        # a stop was requested: the epoch is incomplete

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.examples, 1)

    @property
    def acc(self) -> float:
        return self.correct / max(self.examples, 1)

    def partial(self) -> list[float]:
        return [self.loss_sum, self.correct, float(self.examples), self.seconds]


# on_sync(steps_done, running loss, running acc, is_curve_point)
SyncHook = Callable[[int, float, float, bool], None]


class Loop:
    def __init__(self, model: torch.nn.Module, module: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 device: torch.device, world: World, amp: bool = False, stop: StopRequests | None = None) -> None:
        self.model = model        # what trains: maybe DDP-wrapped, maybe compiled
        self.module = module      # the plain module: evaluated and saved
        self.optimizer = optimizer
        self.device, self.world = device, world
        self.amp = amp
        self.scaler = torch.amp.GradScaler("cuda") if amp and device.type == "cuda" else None
        self.stop = stop or StopRequests()

    def autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        # float16 with loss scaling on GPUs; bfloat16 (no scaling needed) on CPUs
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    # -- training ------------------------------------------------------------
    def train_epoch(self, batches, epoch: int, start: int = 0, partial: list[float] | None = None,
                    on_sync: SyncHook | None = None) -> EpochOutcome:
        steps = len(batches)
        every = max(1, min(SYNC_EVERY_MAX, steps // 5))
        curve_every = max(1, steps // 5)     # the notes' five points per epoch
        prior = partial or [0.0, 0.0, 0.0, 0.0]
        # the sums of an interrupted epoch are global: rank 0 carries them, once
        carried = prior[:3] if self.world.main else [0.0, 0.0, 0.0]
        # loss and correct stay on the device between sync points; the count is known here
        sums = torch.tensor(carried[:2], dtype=torch.float64, device=self.device)
        n = int(carried[2])
        self.model.train()
        began = time.perf_counter()
        done = start
        for done, batch in enumerate(batches.epoch(epoch, start), start + 1):
            loss_sum, correct = self._step(batch)
            sums += torch.stack((loss_sum.double(), correct.double()))
            n += len(batch.y)
            curve = done % curve_every == 0 or done == steps
            # processes must sync at the same steps; one alone syncs as soon as it is asked to stop
            alone_stopping = self.stop.requested and not self.world.parallel
            if curve or done % every == 0 or alone_stopping:
                loss_total, correct_total = sums.tolist()
                stop, bad = distributed.any_true([self.stop.requested, not math.isfinite(loss_total)],
                                                 self.world, self.device)
                if bad:
                    raise Diverged(f"the loss became {loss_total / max(n, 1)} in epoch {epoch + 1} "
                                   f"by step {done} of {steps}")
                if on_sync:
                    on_sync(done, loss_total / max(n, 1), correct_total / max(n, 1), curve)
                if stop and done < steps:
                    break
        self._synchronize()
        seconds = prior[3] + time.perf_counter() - began
        local = torch.cat((sums, torch.tensor([float(n)], dtype=torch.float64, device=self.device)))
        loss_total, correct_total, n_total = distributed.all_sum(local, self.world).tolist()
        return EpochOutcome(loss_total, correct_total, int(n_total), seconds, done, stopped=done < steps)

    def _step(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            out = self.model(batch.x)
        loss_sum = F.cross_entropy(out.float(), batch.y, reduction="sum")
        # world / global batch: DDP averages over processes, so each process's
        # gradient is scaled to make that average the global batch's mean
        loss = loss_sum * (self.world.size / batch.global_n)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        with torch.no_grad():
            correct = (out.argmax(dim=1) == batch.y).sum()
        return loss_sum.detach(), correct

    # -- evaluation ----------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, batches) -> tuple[float, float]:
        """(accuracy, mean loss) on the test data, of the plain module with BatchNorm in eval
        mode; exact across processes. The loss is what says whether these weights are finite
        in use: a checkpoint is written only after it is (session.py)."""
        distributed.sync_buffers(self.module, self.world)
        self.module.eval()
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)   # correct, examples, loss
        for batch in batches.epoch(0):
            if len(batch.y) == 0:
                continue
            with self.autocast():
                out = self.module(batch.x)
            sums[0] += (out.argmax(dim=1) == batch.y).sum()
            sums[1] += len(batch.y)
            sums[2] += F.cross_entropy(out.float(), batch.y, reduction="sum")
        self.module.train()
        correct, n, loss = distributed.all_sum(sums, self.world).tolist()
        return correct / max(n, 1), loss / max(n, 1)

    @torch.no_grad()
    def weights_problem(self, batches=None) -> str | None:
        """Why the module's weights must not be saved, or None: a parameter or buffer that is
        not finite, or (given test batches) a loss on their first batch that is not. Every
        process takes part and all get the same answer."""
        bad = next((name for name, t in self.module.state_dict().items()
                    if t.is_floating_point() and not bool(torch.isfinite(t).all())), None)
        loss = 0.0
        if bad is None and batches is not None:
            self.module.eval()
            for batch in batches.epoch(0):
                if len(batch.y):
                    with self.autocast():
                        out = self.module(batch.x)
                    loss = float(F.cross_entropy(out.float(), batch.y))
                break
            self.module.train()
        (any_bad,) = distributed.any_true([bad is not None or not math.isfinite(loss)], self.world, self.device)
        if not any_bad:
            return None
        return f"{bad} holds values that are not finite" if bad else f"their loss is {loss}"

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
