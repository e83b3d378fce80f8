"""What the user sees: a progress bar per epoch on stderr, then the notes' lines.

    epoch 3/10: loss 0.243, train acc 0.911, test acc 0.885, 24795.7 examples/sec, 2.4 s
    loss 0.243, train acc 0.911, test acc 0.885, 24795.7 examples/sec on cuda:0

The bar is drawn only on a terminal, never with --quiet, and only by rank 0;
--quiet also drops the per-epoch lines and keeps the summary. Processes other
than rank 0 print nothing.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Iterator

from .metrics import EpochRecord, History


def metrics_text(loss: float, train_acc: float, test_acc: float) -> str:
    return f"loss {loss:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}"


class Reporter:
    def __init__(self, main: bool = True, quiet: bool = False, out=None, err=None) -> None:
        self.main, self.quiet = main, quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    @property
    def bars(self) -> bool:
        return self.main and not self.quiet and hasattr(self.err, "isatty") and self.err.isatty()

    def say(self, text: str) -> None:
        """Set-up facts and notes; dropped with --quiet."""
        if self.main and not self.quiet:
            print(text, file=self.out, flush=True)

    def always(self, text: str, err: bool = False) -> None:
        if self.main:
            print(text, file=self.err if err else self.out, flush=True)

    def epoch(self, record: EpochRecord, epochs: int) -> None:
        self.say(f"epoch {record.epoch}/{epochs}: "
                 f"{metrics_text(record.train_loss, record.train_acc, record.test_acc)}, "
                 f"{record.examples_per_sec:.1f} examples/sec, {record.seconds:.2f} s")

    def summary(self, history: History, device: str) -> None:
        last = history.last
        if last is None:
            return
        self.always(f"{metrics_text(last.train_loss, last.train_acc, last.test_acc)}, "
                    f"{history.examples_per_sec():.1f} examples/sec on {device}")

    @contextlib.contextmanager
    def epoch_bar(self, epoch: int, epochs: int, steps: int, start: int = 0) -> Iterator:
        """Yields update(done, loss, acc); a no-op where no bar is drawn."""
        if not self.bars:
            yield lambda done, loss, acc: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[stats]}"), TimeRemainingColumn(),
                            console=Console(file=self.err), transient=True)
        with progress:
            task = progress.add_task("train", total=steps, completed=start, stats="")

            def update(done: int, loss: float, acc: float) -> None:
                progress.update(task, completed=done, stats=f"loss {loss:.3f}, train acc {acc:.3f}")

            yield update
