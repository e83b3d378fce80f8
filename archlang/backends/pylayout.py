"""Python text laid out as black lays it out, for the few shapes of code archlang writes.

`layout(value, depth, prefix, suffix)` splits a call or a literal collection
the way black does (one line if it fits in 88 columns; else the arguments on
one indented line; else one per line with a trailing comma); `statement`
adds a trailing comment where it fits and above the line where it does not.
`literal` writes constants in black's style; `inert` makes spec text safe
inside comments and docstrings.
"""
from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from typing import Any

LINE = 88          # black's default line length
INDENT = "    "


@dataclass(frozen=True)
class Bracket:
    """Items between brackets: `[a, b]`, `{k: v}`, `f(a, b=1)`; laid out like a call's arguments."""

    open: str
    close: str
    args: list          # each a str (an atom, `name=value`, `k: v`) or a nested bracket
    func: str = ""

    def flat(self) -> str:
        return f"{self.func}{self.open}{', '.join(flat(a) for a in self.args)}{self.close}"


def call(func: str, args: list) -> Bracket:
    return Bracket("(", ")", args, func)


def list_of(items: list) -> Bracket:
    return Bracket("[", "]", items)


def flat(value) -> str:
    return value if isinstance(value, str) else value.flat()


def layout(value, depth: int, prefix: str, suffix: str) -> list[str]:
    """Lines for `prefix + value + suffix` at `depth` indents, split as black splits."""
    pad = INDENT * depth
    one = pad + prefix + flat(value) + suffix
    if len(one) <= LINE or isinstance(value, str) or not value.args:
        return [one]
    head = pad + prefix + value.func + value.open
    body = ", ".join(flat(a) for a in value.args)
    # A call's arguments may share a line; a literal collection that is split
    # is split one item per line (black's "magic trailing comma").
    if value.func and len(pad + INDENT + body) <= LINE:
        middle = [pad + INDENT + body]
    else:
        middle = [line for a in value.args for line in layout(a, depth + 1, "", ",")]
    return [head, *middle, pad + value.close + suffix]


def statement(value, target: str, comment: str, depth: int = 2) -> list[str]:
    """A line with its comment: trailing if it fits, else on the line above."""
    lines = layout(value, depth, target, "")
    if not comment:
        return lines
    if len(lines) == 1 and len(lines[0]) + 2 + len(comment) <= LINE:
        return [f"{lines[0]}  {comment}"]
    return [INDENT * depth + comment, *lines]


def docstring(forms: list[str], depth: int, body: list[str] = ()) -> list[str]:
    """`forms[0]` on one line if it fits (and there is no body); else `forms[1]` as the summary,
    the rest of `forms` and `body` below it."""
    pad = INDENT * depth
    one = f'{pad}"""{quoted(forms[0])}"""'
    if not body and (len(forms) == 1 or len(one) <= LINE):
        return [one]
    summary = forms[1] if len(forms) > 1 and len(one) > LINE else forms[0]
    rest = [*(forms[2:] if summary is not forms[0] else []), *body]
    return [f'{pad}"""{quoted(summary)}', "", *(pad + quoted(f) if f else "" for f in rest), f'{pad}"""']


def literal(value: Any) -> str:
    """A Python literal in black's style (double quotes)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Python literal for {value!r}")


def string(text: str) -> str:
    """A string literal as black writes it: in double quotes, unless single quotes need fewer
    escapes (a text with more `"` than `'`, such as a refusal quoting `arch="large"`)."""
    double = json.dumps(text)
    if text.count('"') <= text.count("'"):
        return double
    return "'" + double[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"


def quoted(text: str) -> str:
    """Text that stays inside a triple-quoted string."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` where possible; paths and commands are never split."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def inert(text: str) -> str:
    """Spec text (a call as written, a file name) made safe for a comment or a docstring:
    control characters such as a newline become escapes, so they cannot end the comment."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
