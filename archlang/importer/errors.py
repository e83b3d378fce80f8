"""What an import cannot do, as located diagnostics (E701).

An import reads someone's model: whatever it cannot map is reported where
the model's code made it (the Python line of the forward that called the
layer or function, when the tracer knows it), naming the module path and
the torch op, with what archlang would need. Every problem of a model is
reported in one run; nothing is written when there is one.
"""
from __future__ import annotations

from ..diagnostics import Diagnostic, render_pretty
from ..source import Source, SourceError
from .graph import Origin


class ImportFailure(Exception):
    """The source cannot become a spec: `diagnostics` say why (exit 1)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__(render_pretty(self.diagnostics))


def cannot_import(origin: Origin, reason: str, needed: str | None = None, notes: list[str] | None = None) -> Diagnostic:
    """E701 for one call of the model: the module path and the op, the reason, what would be needed."""
    span = _line_span(origin.file, origin.line)
    notes = list(notes or [])
    if span is None and origin.file:
        notes.insert(0, f"at {origin.file}" + (f":{origin.line}" if origin.line else ""))
    return Diagnostic("E701", f"cannot import {origin.where()}: {reason}", span,
                      label=f"module {origin.module}" if origin.module else "here",
                      notes=notes, help=f"archlang would need {needed}" if needed else None)


def failure(message: str, origin: Origin | None = None, help: str | None = None) -> ImportFailure:
    """An ImportFailure of one diagnostic about the whole source (a trace that failed, a bad file)."""
    span = _line_span(origin.file, origin.line) if origin else None
    return ImportFailure([Diagnostic("E701", message, span, label="here" if span else "", help=help)])


def _line_span(file: str | None, line: int | None):
    """The span of a line of a Python file (its text without the indentation), or None."""
    if not file or not line:
        return None
    try:
        source = Source.from_path(file)
    except SourceError:
        return None
    text = source.line_text(line)
    if not text.strip():
        return None
    start = source.offset(line, 1) + len(text) - len(text.lstrip())
    return source.span(start, source.offset(line, 1) + len(text.rstrip()))
