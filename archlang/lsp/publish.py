"""archlang diagnostics as LSP diagnostics.

Each keeps its code, severity and span; the label, notes and help follow
the message, as `archlang check` prints them. Its secondary labelled spans
("first defined here") and the block calls that led to an error become
related locations (`in: Residual(128, s=2)`), so an editor can
jump from the failing layer to each call. A problem located in another file
(an imported block, the prelude) is shown at the outermost call in this
document that reaches it, or at its import, with the real place as a
related location. Quick fixes travel in `data`, for the code action request.
"""
from __future__ import annotations

from lsprotocol import types

from .. import syntax as ast
from ..diagnostics import Diagnostic
from ..source import Span
from .analysis import Analysis
from .fixes import fixes_for
from .positions import position, span_range

SOURCE = "archlang"
UNNECESSARY = frozenset({"W501", "W502", "W504"})   # unused: editors grey these out
ORIGIN = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))


def lsp_diagnostics(analysis: Analysis, uri_of) -> list[types.Diagnostic]:
    """The document's diagnostics; `uri_of(path)` gives the URI of another file."""
    out = [convert(d, analysis, uri_of) for d in analysis.diagnostics]
    if analysis.crashed:
        out.append(types.Diagnostic(range=ORIGIN, message=f"archlang could not check this file: {analysis.crashed}",
                                    severity=types.DiagnosticSeverity.Error, source=SOURCE))
    return out


def convert(d: Diagnostic, analysis: Analysis, uri_of) -> types.Diagnostic:
    related = [types.DiagnosticRelatedInformation(location=_location(span, uri_of), message=text)
               for span, text in d.related if span is not None]          # "first defined here"...
    related += [types.DiagnosticRelatedInformation(location=_location(f.span, uri_of), message=f"in: {f.call}")
                for f in d.call_stack if f.span is not None]
    here = _place(d, analysis)
    if d.span is not None and here is not d.span:
        related.insert(0, types.DiagnosticRelatedInformation(location=_location(d.span, uri_of),
                                                             message=d.label or d.message))
    fixes = fixes_for(d, analysis)
    return types.Diagnostic(
        range=span_range(here) if here is not None else ORIGIN,
        message=_message(d),
        severity=types.DiagnosticSeverity.Warning if d.code.startswith("W") else types.DiagnosticSeverity.Error,
        code=d.code,
        source=SOURCE,
        related_information=related or None,
        tags=[types.DiagnosticTag.Unnecessary] if d.code in UNNECESSARY else None,
        data={"fixes": [_fix_data(f, analysis) for f in fixes]} if fixes else None,
    )


def _fix_data(fix, analysis: Analysis) -> dict:
    """A quick fix as JSON: what the code action request gets back from the client."""
    start, end = position(analysis.source, fix.start), position(analysis.source, fix.end)
    return {"title": fix.title, "text": fix.text,
            "range": {"start": {"line": start.line, "character": start.character},
                      "end": {"line": end.line, "character": end.character}}}


def _message(d: Diagnostic) -> str:
    lines = [d.message]
    if d.label and d.label not in d.message:
        lines.append(d.label)
    lines += [f"note: {n}" for n in d.notes]
    if d.help:
        lines.append(f"help: {d.help}")
    return "\n".join(lines)


def _place(d: Diagnostic, analysis: Analysis) -> Span | None:
    """Where in this document to show `d`."""
    if d.span is None or analysis.owns(d.span):
        return d.span
    for frame in d.call_stack:               # outermost first
        if analysis.owns(frame.span):
            return frame.span
    tree = analysis.tree
    if tree is not None:
        for item in tree.items:
            if isinstance(item, ast.Import):
                return item.span
    return None


def _location(span: Span, uri_of) -> types.Location:
    return types.Location(uri=uri_of(span.file), range=span_range(span))
