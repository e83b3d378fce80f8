"""Diagnostics: the stable codes, one record per problem, and its renderings.

Errors are collected, never raised through the compiler: each stage appends to
a `Collector` and carries on, so one run reports every independent error. A
`Diagnostic` is rendered in one of three forms: pretty (people), short (one
line, for editors) and JSON (tools). Besides its own span it may point at
related places (`related`: rustc's `span_label`), such as the first
definition of a name defined twice.

Duplicates are dropped in one place, `Collector.add` (see `Diagnostic.keys`);
`unique` applies the same rule to diagnostics gathered by several collectors.
"""
from __future__ import annotations

import difflib
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
    "E309": "a layer's width (and so its weights) depends on a symbolic input size",
    "E310": "invalid layer geometry (kernel, stride, padding or dilation)",
    "E311": "a crop to a size the tensor does not hold, or with no centre",
    # E4xx limits
    "E401": "too many parameters",
    "E402": "too much activation memory",
    "E403": "nesting too deep",
    "E404": "repeat count too large, or too many layers",
    "E405": "file too large",
    "E406": "imports nested too deep",
    # E6xx backends
    "E601": "a layer that cannot be exported to ONNX as asked (an opset without its operator, a symbolic size)",
    # E7xx import
    "E701": "a layer or operation of a PyTorch model or ONNX file that `archlang import` cannot map to the language",
    # W5xx warnings
    "W501": "unused block",
    "W502": "unused parameter",
    "W503": "a layer that does nothing useful (an identity, or dropout of every element)",
    "W504": "unused tensor (a name bound, or a chain's result, that nothing reads)",
    "W505": "an input shape that seems to hold the batch size ([1, 3, 32, 32])",
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
    # Other places that explain this one, each with its label: [(span, "first defined here")].
    related: list[tuple[Span, str]] = field(default_factory=list)

    @property
    def severity(self) -> str:
        return "warning" if self.code.startswith("W") else "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def keys(self) -> list[tuple]:
        """What makes this diagnostic the same problem as another (`Collector.add` drops those).

        One code at one place, reached through the same call site, is one
        problem: a repeat that runs a statement again with other values, or a
        block elaborated twice alike, reports it once. A diagnostic without a
        place is told apart by its message. Inside a block call, a complaint
        about names or arguments (E2xx) with the same message is one mistake,
        wherever the block uses the value: `inception(64, 96, ...)` fails at
        `c2[0]` and at `c2[1]`, but the mistake is the one argument of the call.
        """
        site = _location(self.call_stack[-1].span) if self.call_stack else None
        if self.span is None:
            return [(self.code, None, self.message, site)]
        keys = [(self.code, _location(self.span), site)]
        if site is not None and self.code.startswith("E2"):
            keys.append((self.code, self.message, site))
        return keys

    # -- renderings ----------------------------------------------------------
    def short(self) -> str:
        """One line, `file:line:col: error[E303]: message`, for editors; related places in brackets."""
        where = self.span.location() + ": " if self.span else ""
        related = "".join(f" [{span.location()}: {label}]" for span, label in self.related)
        # one line whatever the message holds: a newline in it is shown as \n
        return _visible(f"{where}{self.severity}[{self.code}]: {self.message}{related}").replace("\n", "\\n")

    def pretty(self, color: bool = False) -> str:
        """The rustc-style form of LANGUAGE.md section 10."""
        paint = _Painter(color)
        head_color = "red" if self.is_error else "yellow"
        message = _visible(self.message)
        out = [paint(f"{self.severity}[{self.code}]", head_color, bold=True) + paint(f": {message}", bold=True)]
        lines = [s.end_line for s in [self.span, *(s for s, _ in self.related)] if s is not None]
        width = len(str(max(lines))) if lines else 1
        pad = " " * width
        if self.span is not None:
            out.extend(_excerpt(self.span, _visible(self.label), paint, head_color, width))
        for span, label in self.related:
            # rustc's secondary labels: `-` under the place, after `:::` below the primary excerpt.
            first = len(out) == 1
            if not first:
                out.append(f"{pad} {paint('|', 'blue', bold=True)}")
            out.extend(_excerpt(span, _visible(label), paint, "blue", width, mark="-", arrow="-->" if first else ":::"))
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
            "related": [{"file": sp.file, "line": sp.line, "col": sp.col, "end_line": sp.end_line,
                         "end_col": sp.end_col, "label": label} for sp, label in self.related],
            "call_stack": [
                {"block": f.block, "call": f.call, "file": f.span.file, "line": f.span.line, "col": f.span.col}
                for f in self.call_stack
            ],
        }


def _location(span: Span) -> tuple:
    return (span.file, span.start)


def _excerpt(span: Span, label: str, paint: "_Painter", color: str, width: int, mark: str = "^",
             arrow: str = "-->") -> list[str]:
    src = span.source
    line, col = span.line, span.col
    end_line, end_col = span.end_line, span.end_col
    bar = paint("|", "blue", bold=True)
    out = [f"{' ' * width}{paint(arrow, 'blue', bold=True)} {_visible(span.location())}", f"{' ' * width} {bar}"]
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
    carets = mark * max(1, end_vis - start_vis)
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
    """Where every stage puts its diagnostics, each problem once. Never raises."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []
        self._seen: set[tuple] = set()

    def add(self, diag: Diagnostic) -> bool:
        """Keep `diag` unless it is the same problem as one kept already (`Diagnostic.keys`); True if kept."""
        keys = diag.keys()
        if any(k in self._seen for k in keys):
            return False
        self._seen.update(keys)
        self.items.append(diag)
        return True

    def error(self, code: str, message: str, span: Span | None = None, **kw) -> Diagnostic | None:
        """Report a problem; the new diagnostic, or None when it was one already reported.

        `help` may be a function: a did-you-mean is looked up only for a
        diagnostic that is kept.
        """
        assert code in CODES, code
        help = kw.pop("help", None)
        diag = Diagnostic(code, message, span, **kw)
        if not self.add(diag):
            return None
        diag.help = help() if callable(help) else help
        return diag

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
    """One of each, in order, by the rule of `Collector.add`: a block elaborated for two
    networks, or a warning found while loading and again with each network, is one."""
    collector = Collector()
    collector.extend(diags)
    return collector.items


def suggest(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """A did-you-mean for an unknown name, or None."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return close[0] if close else None


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
