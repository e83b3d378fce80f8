"""Recovered structure -> spec text, in `archlang fmt`'s layout.

Names that come from the model (module names, block names from classes)
are written only as the language can hold them: a label is an identifier,
a whole number or a quoted string of letters, digits, `_` and `-`; anything
else is an E701 rather than text that would parse as something else.
Values are numbers, booleans, strings without quotes, and lists of them.
Nothing from the model is ever written as code.
"""
from __future__ import annotations

import keyword
import math
import re
from typing import Any

from .. import ops
from ..formatter import format_text
from .blocks import Block, Counted, Param, Recovered, Stmt
from .errors import failure

INDENT = "    "
LABEL_TEXT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
NUMBER_LABEL = re.compile(r"0|[1-9][0-9]*")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def spec_text(rec: Recovered, network: str, shape: tuple[int, ...], header: list[str]) -> str:
    """The spec: a header comment, the blocks (callees first), the network."""
    if not NAME.fullmatch(network) or keyword.iskeyword(network):
        raise failure(f"--network {network!r} is no name a spec can give a network")
    lines = [f"# {_comment(h)}" for h in header] + [""]
    writer = _Writer({b.name: b for b in rec.blocks})
    for block in rec.blocks:
        lines += writer.block(block) + [""]
    lines.append(f"network {network} {{")
    lines.append(f"{INDENT}input [{', '.join(str(d) for d in shape)}]")
    lines += writer.body(rec.body, 1)
    lines.append("}")
    return format_text("\n".join(lines) + "\n", f"<import of {network}>")


def _comment(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


class _Writer:
    """Statements as text; block calls need their block's parameters."""

    def __init__(self, blocks: dict[str, Block]) -> None:
        self.blocks = blocks

    def block(self, block: Block) -> list[str]:
        params = ", ".join(name if default is ops.REQUIRED else f"{name} = {value(default)}"
                           for name, default in block.params)
        head = f"block {block.name}({params}) {{" if block.params else f"block {block.name} {{"
        return [head, *self.body(block.body, 1), "}"]

    def body(self, stmts: list[Stmt], depth: int) -> list[str]:
        out: list[str] = []
        for s in stmts:
            out += self._stmt(s, depth)
        return out

    def _stmt(self, s: Stmt, depth: int) -> list[str]:
        pad = INDENT * depth
        if s.kind == "op" or s.kind == "call":
            return [pad + label(s.label) + self._call(s)]
        if s.kind == "group":
            chain = " ".join(label(x.label) + self._call(x) for x in s.paths[0])
            return [pad + label(s.label) + chain]
        if s.kind == "repeat":
            var = f" as {s.var}" if _uses_var(s.paths[0], s.var) else ""
            return [f"{pad}repeat {value(s.count)}{var} {{", *self.body(s.paths[0], depth + 1), pad + "}"]
        if s.kind == "if":
            return [f"{pad}if {value(s.cond)} {{", *self.body(s.paths[0], depth + 1), pad + "}"]
        if s.kind == "merge":
            return self._merge(s, depth)
        raise ValueError(f"unknown statement kind {s.kind}")

    def _merge(self, s: Stmt, depth: int) -> list[str]:
        pad = INDENT * depth
        paths = s.paths
        if s.name == "add" and len(paths) == 2:
            body, shortcut = (paths[1], paths[0]) if not paths[0] else (paths[0], paths[1])
            out = [f"{pad}residual {{", *self.body(body, depth + 1)]
            if shortcut:
                out += [f"{pad}}} shortcut {{", *self.body(shortcut, depth + 1)]
            return out + [pad + "}"]
        out = [f"{pad}{s.name} {{"]
        for p in paths:                          # `| first statement`, the rest under it, as fmt writes
            body = self.body(p, depth + 1)
            out.append(f"{pad}  | " + (body[0].lstrip() if body else "identity"))
            out += body[1:]
        return out + [pad + "}"]

    def _call(self, s: Stmt) -> str:
        if s.kind == "op":
            spec = ops.OPS[s.name]
            parts = []
            for k, arg in enumerate(spec.args):
                if arg.name not in s.args:
                    continue
                text = value(s.args[arg.name])
                parts.append(text if k == 0 and arg.required else f"{arg.name}={text}")
            return f"{s.name}({', '.join(parts)})" if parts else s.name
        block = self.blocks[s.name]
        parts = []
        for name, default in block.params:
            v = s.args[name]
            if default is ops.REQUIRED:
                parts.append(value(v))
            elif not (isinstance(v, type(default)) and isinstance(default, type(v)) and v == default):
                parts.append(f"{name}={value(v)}")
        return f"{s.name}({', '.join(parts)})" if parts else s.name


def label(v: Any) -> str:
    """A label as the language writes it, followed by `: `; empty for none."""
    if v is None:
        return ""
    if isinstance(v, Param):
        return f'"{{{v.name}}}": '
    if isinstance(v, Counted):
        term = v.var if v.step == 1 else f"{v.step} * {v.var}"
        expr = term if v.start == 0 else f"{term} + {v.start}"
        return f'"{v.prefix}{{{expr}}}{v.suffix}": '
    text = str(v)
    if not LABEL_TEXT.fullmatch(text):
        raise failure(f"the module name {text!r} cannot be a label: a label is made of letters, digits, `_` "
                      f"and `-`", help="rename the module in the model")
    if NUMBER_LABEL.fullmatch(text) or (NAME.fullmatch(text) and not keyword.iskeyword(text)):
        return f"{text}: "
    return f'"{text}": '


def value(v: Any) -> str:
    """A literal or a parameter as an expression of the language."""
    if isinstance(v, Param):
        return v.name
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise failure(f"the value {v} has no literal in the language")
        return repr(v)
    if isinstance(v, str):
        if '"' in v or "\n" in v or "{" in v:
            raise failure(f"the string {v!r} has no literal in the language")
        return f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    raise failure(f"the value {v!r} has no literal in the language")


def _uses_var(stmts: list[Stmt], var: str) -> bool:
    for s in stmts:
        if isinstance(s.label, Counted) and s.label.var == var:
            return True
        if any(_uses_var(p, var) for p in s.paths):
            return True
    return False
