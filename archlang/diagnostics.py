"""Diagnostics: the stable codes, one record per problem, and its renderings.

Errors are collected, never raised through the compiler: each stage appends to
a `Collector` and carries on, so one run reports every independent error. A
`Diagnostic` is rendered in one of three forms: pretty (people), short (one
line, for editors) and JSON (tools).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable

from .source import Span

# Every code the compiler emits, with the one-line meaning shown in docs.
# Codes are stable: tests and tools rely on them. Add, never renumber.
CODES: dict[str, str] = {
    # E1xx syntax
    "E101": "unexpected token",
    "E102": "unclosed brace, bracket or parenthesis, or unexpected end of file",
    "E103": "bad number or string literal",
    "E104": "unexpected character",
    # E2xx names and arguments
    "E201": "unknown layer or block",
    "E202": "missing argument",
    "E203": "unknown argument",
    "E204": "wrong argument type",
    "E205": "import not found",
    "E206": "import cycle",
    "E207": "duplicate name",
    "E208": "recursion among blocks",
    "E209": "unknown name in an expression",
    "E210": "argument given twice",
    "E211": "invalid argument value",
    "E212": "expression cannot be evaluated (division by zero, bad index, wrong operand types)",
    "E213": "a shape attribute the tensor does not have",
    "E214": "too many positional arguments",
    "E215": "network has no input, or an input outside a network",
    "E216": "unknown network",
    "E217": "unknown tensor name",
    "E218": "a statement that is not allowed here",
    # E3xx shapes
    "E301": "channel mismatch",
    "E302": "rank mismatch: the layer does not accept a tensor of this rank",
    "E303": "concat of unequal sizes",
    "E304": "add of unequal shapes",
    "E305": "spatial size below 1",
    "E306": "linear on a tensor that is not rank 1",
    "E307": "failed expect",
    "E308": "groups do not divide the channels",
    "E309": "linear width depends on a symbolic input size",
    "E310": "invalid layer geometry (kernel, stride, padding or dilation)",
    # E4xx limits
    "E401": "too many parameters",
    "E402": "too much activation memory",
    "E403": "nesting too deep",
    "E404": "repeat count too large, or too many layers",
    "E405": "file too large",
    "E406": "imports nested too deep",
    # W5xx warnings
    "W501": "unused block",
    "W502": "unused parameter",
    "W503": "a layer that does nothing",
    "W504": "unused tensor (a name bound, or a chain's result, that nothing reads)",
}


@dataclass(frozen=True)
class Frame:
    """One block call on the call stack: which block, called how, where."""

    block: str
    call: str  # the call as written, e.g. "inception(64, [96, 128], [16, 32], 32)"
    span: Span


@dataclass
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    label: str = ""  # text under the caret, e.g. "this path yields [128, 26, 26]"
    notes: list[str] = field(default_factory=list)
    help: str | None = None
    call_stack: tuple[Frame, ...] = ()  # innermost call last

    @property
    def severity(self) -> str:
        return "warning" if self.code.startswith("W") else "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    # -- renderings ----------------------------------------------------------
    def short(self) -> str:
        """One line, `file:line:col: error[E303]: message`, for editors."""
        where = self.span.location() + ": " if self.span else ""
        return _visible(f"{where}{self.severity}[{self.code}]: {self.message}")

    def pretty(self, color: bool = False) -> str:
        """The rustc-style form of LANGUAGE.md section 10."""
        paint = _Painter(color)
        head_color = "red" if self.is_error else "yellow"
        message = _visible(self.message)
        out = [paint(f"{self.severity}[{self.code}]", head_color, bold=True) + paint(f": {message}", bold=True)]
        if self.span is not None:
            out.extend(_excerpt(self.span, _visible(self.label), paint, head_color))
        pad = " " * (len(str(self.span.end_line)) if self.span else 1)
        for note in self.notes:
            out.append(f"{pad} {paint('=', 'blue', bold=True)} note: {_visible(note)}")
        if self.help:
            out.append(f"{pad} {paint('=', 'blue', bold=True)} help: {_visible(self.help)}")
        for frame in reversed(self.call_stack):
            out.append(f"{pad} {paint('=', 'blue', bold=True)} in: {_visible(frame.call)} at "
                       f"{_visible(frame.span.location())}")
        return "\n".join(out)

    def to_json(self) -> dict:
        s = self.span
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": s.file if s else None,
            "line": s.line if s else None,
            "col": s.col if s else None,
            "end_line": s.end_line if s else None,
            "end_col": s.end_col if s else None,
            "label": self.label,
            "notes": list(self.notes),
            "help": self.help,
            "call_stack": [
                {"block": f.block, "call": f.call, "file": f.span.file, "line": f.span.line, "col": f.span.col}
                for f in self.call_stack
            ],
        }


def _excerpt(span: Span, label: str, paint: "_Painter", color: str) -> list[str]:
    src = span.source
    line, col = span.line, span.col
    end_line, end_col = span.end_line, span.end_col
    width = len(str(end_line))
    bar = paint("|", "blue", bold=True)
    out = [f"{' ' * width}{paint('-->', 'blue', bold=True)} {_visible(span.location())}", f"{' ' * width} {bar}"]
    text = src.line_text(line)
    shown = text.expandtabs(4)
    # Columns shift when tabs expand; measure the caret on the expanded text.
    start_vis = len(text[: col - 1].expandtabs(4))
    if end_line == line:
        end_vis = len(text[: max(end_col - 1, col)].expandtabs(4))
    else:
        end_vis = len(shown.rstrip())
    shown, start_vis, end_vis = _window(shown, start_vis, end_vis)
    if not shown.isprintable():
        # A control character (an escape sequence in a string, a NUL) must not reach
        # the terminal; one mark for one character keeps the carets in place.
        shown = "".join(c if c.isprintable() else "\ufffd" for c in shown)
    carets = "^" * max(1, end_vis - start_vis)
    out.append(f"{paint(str(line).rjust(width), 'blue', bold=True)} {bar} {shown}")
    out.append(f"{' ' * width} {bar} {' ' * start_vis}{paint(carets + (' ' + label if label else ''), color, bold=True)}")
    return out


EXCERPT_WIDTH = 120   # a longer line is shown as a window around the span


def _window(shown: str, start: int, end: int) -> tuple[str, int, int]:
    """The part of a long line around [start, end), marked with `...`, and the span's place in it."""
    if len(shown) <= EXCERPT_WIDTH:
        return shown, start, end
    left = max(0, min(start - 20, len(shown) - EXCERPT_WIDTH))
    right = min(len(shown), left + EXCERPT_WIDTH)
    head = "..." if left > 0 else ""
    tail = "..." if right < len(shown) else ""
    shift = len(head) - left
    return head + shown[left:right] + tail, start + shift, min(end, right) + shift


def _visible(text: str) -> str:
    """Spec text for a terminal: control characters as escapes (no ANSI sequences from a spec)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" else c.encode("unicode_escape").decode("ascii") for c in text)


class _Painter:
    CODES = {"red": "31", "yellow": "33", "blue": "34", "green": "32"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, color: str | None = None, bold: bool = False) -> str:
        if not self.enabled:
            return text
        parts = (["1"] if bold else []) + ([self.CODES[color]] if color else [])
        return f"\x1b[{';'.join(parts)}m{text}\x1b[0m" if parts else text


class Collector:
    """Where every stage puts its diagnostics. Never raises."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []
        self._seen: set[tuple] = set()

    def add(self, diag: Diagnostic) -> Diagnostic:
        # The same problem reached twice (a block elaborated twice alike) is one error.
        key = (diag.code, diag.message, diag.span.file if diag.span else None,
               diag.span.start if diag.span else None, diag.call_stack and diag.call_stack[-1].span.start)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(diag)
        return diag

    def error(self, code: str, message: str, span: Span | None = None, **kw) -> Diagnostic:
        assert code in CODES, code
        return self.add(Diagnostic(code, message, span, **kw))

    warning = error  # the code's letter decides the severity

    def extend(self, diags: Iterable[Diagnostic]) -> None:
        for d in diags:
            self.add(d)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.is_error]

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        def key(d: Diagnostic):
            return (d.span.file if d.span else "", d.span.start if d.span else -1)
        return sorted(self.items, key=key)


class SpecError(Exception):
    """A spec with errors. Its text is the pretty diagnostics; `.diagnostics` holds them as data."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__(render_pretty(self.diagnostics))


class UsageError(Exception):
    """Bad usage (a flag, a missing --network): exit 2 with one short line."""


def unique(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """One of each, in order: a block elaborated for two networks, or a warning
    found while loading and again with each network, reports the same thing twice."""
    seen: set[tuple] = set()
    out = []
    for d in diags:
        key = (d.code, d.message, d.span.location() if d.span else None,
               tuple(f.span.location() for f in d.call_stack))
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def summary_line(diags: list[Diagnostic]) -> str:
    n_err = sum(d.is_error for d in diags)
    n_warn = len(diags) - n_err
    parts = []
    if n_err:
        parts.append(f"{n_err} error{'s' if n_err != 1 else ''}")
    if n_warn:
        parts.append(f"{n_warn} warning{'s' if n_warn != 1 else ''}")
    return ", ".join(parts)


def render_pretty(diags: list[Diagnostic], color: bool = False) -> str:
    if not diags:
        return ""
    body = "\n\n".join(d.pretty(color) for d in diags)
    return f"{body}\n\n{summary_line(diags)}"


def render_short(diags: list[Diagnostic]) -> str:
    return "\n".join(d.short() for d in diags)


def render_json(diags: list[Diagnostic]) -> str:
    ok = not any(d.is_error for d in diags)
    return json.dumps({"ok": ok, "diagnostics": [d.to_json() for d in diags]}, indent=2)
