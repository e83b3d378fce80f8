"""Reporting during elaboration: the block call stack on every diagnostic, and did-you-mean.

A `Reporter` is a view of the network's `Collector` from inside a block call:
what it reports carries the call stack of that call. The collector decides
what is a duplicate (`Diagnostic.keys`), so a statement that a repeat runs
again reports its problem once.
"""
from __future__ import annotations

from typing import Callable, Iterable

from .diagnostics import Collector, Diagnostic, Frame, suggest
from .source import Span


class Reporter:
    HINTS = 100   # did-you-mean searches in one run: each scans every name in scope

    def __init__(self, collector: Collector, frames: tuple[Frame, ...] = (), hints: list[int] | None = None) -> None:
        self.collector = collector
        self.frames = frames
        self.hints = hints if hints is not None else [self.HINTS]   # shared by the run's reporters

    def inside(self, frames: tuple[Frame, ...]) -> "Reporter":
        """The reporter of a block call whose call stack is `frames`."""
        return Reporter(self.collector, frames, self.hints)

    def hint(self, name: str, candidates: Callable[[], Iterable[str]]) -> Callable[[], str | None]:
        """A did-you-mean for `name`, found only when asked (once), while the run's budget lasts.

        A typo inside `repeat 10000` is reported once, but was looked up ten
        thousand times among every name in scope; a file of thousands of
        unknown names made that quadratic. Now: at most HINTS lookups a run.
        """
        found: list = []

        def close() -> str | None:
            if not found:
                found.append(None)
                if self.hints[0] > 0:
                    self.hints[0] -= 1
                    found[0] = suggest(name, candidates())
            return found[0]

        return close

    def error(self, code: str, message: str, span: Span | None = None, **kw) -> Diagnostic | None:
        kw.setdefault("call_stack", self.frames)
        return self.collector.error(code, message, span, **kw)
