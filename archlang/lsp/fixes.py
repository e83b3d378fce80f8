"""The helps that are mechanical, as edits: what a quick fix applies.

A diagnostic's help is written for people ("did you mean `k`?", "add flatten
before linear", "k=3 keeps 12x12 with p=1"). Where it names an exact change
at the diagnostic's span, this module turns it into an edit; where it is
advice (a projection on a path, raising a limit), there is no fix. The
tests run each kind on a real diagnostic, so a reworded help that stops
matching fails there, not silently in an editor.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .. import syntax as ast
from ..diagnostics import Diagnostic
from ..tokens import lex
from .analysis import Analysis

DID_YOU_MEAN = re.compile(r"did you mean `?([^`?]+?)`?\?")
PADDING = re.compile(r"^k=\S+ (?:keeps|gives) \S+ with p=(\S+)$")
FLATTEN = re.compile(r"^add flatten before linear\b")
GAP_FLATTEN = re.compile(r"gap flatten gives")
LEAVE_OUT = re.compile(r"leave (\w+) out$")
AN_INT = re.compile(r"takes an int: (-?\d+), not ")
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\"[^\"\n]*\"|'[^'\n]*'")
PADDED_OPS = ("conv", "maxpool", "avgpool")


@dataclass(frozen=True)
class Fix:
    title: str
    start: int       # character offsets in the document
    end: int
    text: str


def fixes_for(diag: Diagnostic, analysis: Analysis) -> list[Fix]:
    """The quick fixes of one diagnostic of `analysis`' document (none when its span is elsewhere)."""
    span, help_ = diag.span, diag.help or ""
    if not analysis.owns(span) or not help_:
        return []
    out: list[Fix] = []
    m = DID_YOU_MEAN.search(help_)
    if m and WORD.fullmatch(span.text) and WORD.fullmatch(m[1]):
        out.append(Fix(f"Replace `{span.text}` with `{m[1]}`", span.start, span.end, m[1]))
    if FLATTEN.search(help_):
        out.append(Fix("Add `flatten` before `linear`", span.start, span.start, "flatten "))
        if GAP_FLATTEN.search(help_):
            out.append(Fix("Add `gap flatten` before `linear`", span.start, span.start, "gap flatten "))
    m = PADDING.match(help_)
    if m:
        out.extend(_padding(span, m[1], analysis))
    m = LEAVE_OUT.search(help_)
    if m:
        out.extend(_remove_argument(span, m[1], analysis))
    if "use // for" in help_:
        out.extend(_floor_division(span))
    m = AN_INT.search(help_)
    if m:
        out.append(Fix(f"Replace `{span.text}` with `{m[1]}`", span.start, span.end, m[1]))
    return out


def _call_at(span, analysis: Analysis) -> ast.Call | None:
    for node in reversed(analysis.node_at(span.start)):
        if isinstance(node, ast.Call) and node.span.start == span.start and node.span.end == span.end:
            return node
    return None


def _padding(span, value: str, analysis: Analysis) -> list[Fix]:
    """`conv(64, k=3)` -> `conv(64, k=3, p=1)`; an existing `p=` gets the new value."""
    call = _call_at(span, analysis)
    if call is None or call.callee.name not in PADDED_OPS or not call.parens:
        return []
    for arg in call.args:
        if arg.name is not None and arg.name.name in ("p", "padding"):
            return [Fix(f"Set `p={value}`", arg.value.span.start, arg.value.span.end, value)]
    close = span.end - 1  # the `)`
    return [Fix(f"Add `p={value}`", close, close, f", p={value}" if call.args else f"p={value}")]


def _remove_argument(span, name: str, analysis: Analysis) -> list[Fix]:
    """`conv(16, k=1, in_channels=8)` -> `conv(16, k=1)`: the argument and one comma go."""
    for node in reversed(analysis.node_at(span.start)):
        if not isinstance(node, ast.Call):
            continue
        args = list(node.args)
        for i, arg in enumerate(args):
            if arg.name is not None and arg.name.name == name and arg.name.span.start == span.start:
                if i > 0:
                    start, end = args[i - 1].span.end, arg.span.end
                elif len(args) > 1:
                    start, end = arg.span.start, args[1].span.start
                else:
                    start, end = arg.span.start, arg.span.end
                return [Fix(f"Remove `{name}`", start, end, "")]
    return []


def _floor_division(span) -> list[Fix]:
    """`c / 2` -> `c // 2`: the one `/` of the expression."""
    slashes = [t for t in lex(span.text) if t.text == "/"]
    if len(slashes) != 1:
        return []
    at = span.start + slashes[0].start
    return [Fix("Use `//` (integer division)", at, at + 1, "//")]
