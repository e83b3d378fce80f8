"""The AST: what the parser builds and the elaborator reads.

Frozen dataclasses, one per construct of LANGUAGE.md, each with a `span` into
its Source. Spans are left out of equality (`compare=False`), so two trees
parsed from differently laid-out text compare equal when they mean the same;
the property tests rely on that. `unparse` prints a tree back as archlang
text that parses to an equal tree.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterator, Union

from .source import Span


def _span():
    # Keyword-only and optional so that tests can write trees by hand; the
    # parser always sets it.
    return field(default=None, kw_only=True, compare=False, repr=False)


@dataclass(frozen=True)
class Ident:
    """A name with its own span: labels, bindings, parameters, outputs."""

    name: str
    span: Span = _span()


# -- expressions ---------------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    value: int | float
    span: Span = _span()


@dataclass(frozen=True)
class Str:
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span = _span()


@dataclass(frozen=True)
class Name:
    """A constant, parameter, loop variable, symbol, `in` or `cur`."""

    id: str
    span: Span = _span()


@dataclass(frozen=True)
class List:
    items: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Attr:
    """`in.c`, `cur.shape`."""

    value: "Expr"
    attr: str
    span: Span = _span()


@dataclass(frozen=True)
class Index:
    value: "Expr"
    index: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Slice:
    """`widths[1:3]`, `convs[:i]`: Python's slice of a list or string, without a step."""

    value: "Expr"
    lower: "Expr | None"
    upper: "Expr | None"
    span: Span = _span()


@dataclass(frozen=True)
class Function:
    """A call of a built-in function in an expression: `max(8, c)`, `round(w * 0.75)`."""

    name: Ident
    args: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Unary:
    op: str  # "-", "+", "not"
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Binary:
    op: str  # "+", "-", "*", "/", "//", "%", "and", "or"
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Compare:
    """`a < b <= c`: comparisons chain as in Python."""

    ops: tuple[str, ...]
    operands: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Cond:
    """`body if test else orelse`."""

    body: "Expr"
    test: "Expr"
    orelse: "Expr"
    span: Span = _span()


Expr = Union[Num, Str, Bool, Name, List, Attr, Index, Slice, Function, Unary, Binary, Compare, Cond]


@dataclass(frozen=True)
class Template:
    """A computed label, `"denseblock{i + 1}":`: literal text (`Str`) and `{expr}` parts, in order."""

    parts: tuple["Str | Expr", ...]
    span: Span = _span()


# A label: a name or a whole number as written (`conv1:`, `0:`), or a Template.
Label = Union[Ident, Template]


# -- layers and chains -------------------------------------------------------------------
@dataclass(frozen=True)
class Arg:
    """One argument of a call: positional (`name` is None) or `name=value`."""

    name: Ident | None
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    """A layer or block call: `relu`, `conv(64, k=3)`, `Residual(128, s=2)`.

    `parens` tells `x` from `x()`: only a bare name at the head of a chain
    may name a tensor.
    """

    callee: Ident
    args: tuple[Arg, ...] = ()
    parens: bool = False
    label: "Label | None" = None     # `fc1: conv(...)` further along a chain
    span: Span = _span()


@dataclass(frozen=True)
class Merge:
    """`cat(a, b)` / `add(a, b -> conv(8, k=1))`: the head of a chain."""

    op: str  # "cat", "add" or "mul"
    inputs: tuple["Chain", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Paths:
    """`concat { | ... | ... }`, `add { | ... }`, `mul { | ... }`: parallel paths, each a body."""

    op: str  # "concat", "add" or "mul"
    paths: tuple["Body", ...]
    label: "Label | None" = None
    span: Span = _span()


@dataclass(frozen=True)
class Residual:
    """`residual { body }` with an optional `shortcut { body }`."""

    body: "Body"
    shortcut: "Body | None" = None
    label: "Label | None" = None
    span: Span = _span()


Layer = Union[Call, Merge, Paths, Residual]


@dataclass(frozen=True)
class Chain:
    """Layers applied in order; a Merge may only come first."""

    items: tuple[Layer, ...]
    span: Span = _span()


# -- statements ------------------------------------------------------------------------
@dataclass(frozen=True)
class Body:
    stmts: tuple["Stmt", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Input:
    name: Ident | None
    shape: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Output:
    """`output out: y, aux: a if training`: the tensors, and for each its key (a dict's, or
    None) and its `training` word (an output only in training, or None)."""

    names: tuple[Ident, ...]
    keys: tuple[Ident | None, ...] = ()
    training: tuple[Ident | None, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Repeat:
    count: Expr
    var: Ident | None
    body: Body
    span: Span = _span()


@dataclass(frozen=True)
class If:
    test: Expr
    then: Body
    orelse: "Body | If | None" = None
    span: Span = _span()


@dataclass(frozen=True)
class Let:
    """`let x = expr`; with `params`, a function: `let make_divisible(v, d = 8) = ...`."""

    name: Ident
    value: Expr
    params: "tuple[Param, ...] | None" = None
    span: Span = _span()


@dataclass(frozen=True)
class Expect:
    shape: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Layers:
    """A chain statement, optionally labelled: `stem: conv(64, k=7) bn relu`."""

    chain: Chain
    label: Label | None = None
    span: Span = _span()


@dataclass(frozen=True)
class Bind:
    """`y = x -> conv(16, k=3) relu`; `s = head: conv(8, k=1) relu` labels the chain;
    `a, b = x -> chunk(2)` binds the parts of a chunk (`more` holds the names after the first)."""

    target: Ident
    chain: Chain
    label: Label | None = None
    more: tuple[Ident, ...] = ()
    span: Span = _span()

    @property
    def targets(self) -> tuple[Ident, ...]:
        return (self.target, *self.more)


Stmt = Union[Input, Output, Repeat, If, Let, Expect, Layers, Bind]


# -- files -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Import:
    path: Str
    span: Span = _span()


@dataclass(frozen=True)
class Param:
    name: Ident
    default: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True)
class BlockDef:
    name: Ident
    params: tuple[Param, ...]
    body: Body
    span: Span = _span()


@dataclass(frozen=True)
class NetworkDef:
    name: Ident
    params: tuple[Param, ...]
    body: Body
    span: Span = _span()


Item = Union[Import, Let, BlockDef, NetworkDef]


@dataclass(frozen=True)
class File:
    items: tuple[Item, ...]
    span: Span = _span()


# -- walking ---------------------------------------------------------------------------
# The fields of each node that hold nodes (or tuples of nodes), in source order.
_CHILDREN: dict[type, tuple[str, ...]] = {
    Ident: (), Num: (), Str: (), Bool: (), Name: (), List: ("items",), Attr: ("value",),
    Index: ("value", "index"), Slice: ("value", "lower", "upper"), Function: ("name", "args"), Unary: ("operand",), Binary: ("left", "right"), Compare: ("operands",),
    Cond: ("body", "test", "orelse"), Template: ("parts",), Arg: ("name", "value"), Call: ("label", "callee", "args"),
    Merge: ("inputs",), Paths: ("label", "paths"), Residual: ("label", "body", "shortcut"), Chain: ("items",),
    Body: ("stmts",),
    Input: ("name", "shape"), Output: ("names",), Repeat: ("count", "var", "body"),
    If: ("test", "then", "orelse"), Let: ("name", "params", "value"), Expect: ("shape",), Layers: ("label", "chain"),
    Bind: ("target", "more", "label", "chain"), Import: ("path",), Param: ("name", "default"),
    BlockDef: ("name", "params", "body"), NetworkDef: ("name", "params", "body"), File: ("items",),
}
# Only the fields that lead to statements and layers: no expressions, no names.
_STRUCTURE: dict[type, tuple[str, ...]] = {
    File: ("items",), BlockDef: ("body",), NetworkDef: ("body",), Body: ("stmts",), Repeat: ("body",),
    If: ("then", "orelse"), Layers: ("chain",), Bind: ("chain",), Chain: ("items",), Merge: ("inputs",),
    Paths: ("paths",), Residual: ("body", "shortcut"),
}


def walk(node) -> Iterator:
    """`node` and every AST node inside it, parents before children, in source order."""
    return _walk(node, _CHILDREN)


def walk_layers(node) -> Iterator:
    """Like `walk`, but only statements, chains and layers: it skips expressions, so it is cheap."""
    return _walk(node, _STRUCTURE)


def _walk(node, table: dict) -> Iterator:
    stack = [node]
    pop, push = stack.pop, stack.append
    while stack:
        n = pop()
        yield n
        names = table.get(type(n), ())
        for name in reversed(names):
            value = getattr(n, name)
            if value is None:
                continue
            if type(value) is tuple:
                stack.extend(reversed(value))
            else:
                push(value)


# -- printing --------------------------------------------------------------------------
# Precedence of expression forms, loosest first, as the grammar fixes it.
_COND, _OR, _AND, _NOT, _CMP, _SUM, _TERM, _UNARY, _ATOM = range(9)
BINARY_PRECEDENCE = {"or": _OR, "and": _AND, "+": _SUM, "-": _SUM, "*": _TERM, "/": _TERM, "//": _TERM, "%": _TERM}
COMPARE_PRECEDENCE = _CMP
NOT_PRECEDENCE = _NOT
UNARY_PRECEDENCE = _UNARY
INDENT = "    "


def unparse(node) -> str:
    """Archlang text for any AST node; it parses back to an equal tree."""
    if isinstance(node, File):
        return "\n\n".join(_item(item) for item in node.items) + "\n"
    if isinstance(node, (Import, Let, BlockDef, NetworkDef)):
        return _item(node)
    if isinstance(node, Body):
        return _body(node, 0)
    if isinstance(node, (Input, Output, Repeat, If, Expect, Layers, Bind)):
        return _stmt(node, 0)
    if isinstance(node, Template):
        return _label(node)[:-2]
    if isinstance(node, Chain):
        return _chain(node, 0)
    if isinstance(node, (Call, Merge, Paths, Residual)):
        return _layer(node, 0)
    return expr_text(node)


def _item(item, level: int = 0) -> str:
    if isinstance(item, Import):
        return f"import {expr_text(item.path)}"
    if isinstance(item, Let):
        params = "" if item.params is None else f"({_params(item.params)})"
        return f"let {item.name.name}{params} = {expr_text(item.value)}"
    keyword = "block" if isinstance(item, BlockDef) else "network"
    return f"{keyword} {item.name.name}({_params(item.params)}) {_body(item.body, level)}"


def _params(params) -> str:
    return ", ".join(p.name.name if p.default is None else f"{p.name.name} = {expr_text(p.default)}" for p in params)


def _body(body: Body, level: int) -> str:
    if not body.stmts:
        return "{ }"
    inner = INDENT * (level + 1)
    lines = "".join(f"{inner}{_stmt(s, level + 1)}\n" for s in body.stmts)
    return "{\n" + lines + INDENT * level + "}"


def _stmt(stmt, level: int) -> str:
    if isinstance(stmt, Layers):
        return _label(stmt.label) + _chain(stmt.chain, level)
    if isinstance(stmt, Bind):
        names = ", ".join(t.name for t in stmt.targets)
        return f"{names} = {_label(stmt.label)}{_chain(stmt.chain, level)}"
    if isinstance(stmt, Input):
        name = f"{stmt.name.name}: " if stmt.name else ""
        return f"input {name}{expr_text(stmt.shape)}"
    if isinstance(stmt, Output):
        keys = stmt.keys or (None,) * len(stmt.names)
        training = stmt.training or (None,) * len(stmt.names)
        return "output " + ", ".join((f"{k.name}: " if k else "") + n.name + (f" if {t.name}" if t else "")
                                     for n, k, t in zip(stmt.names, keys, training))
    if isinstance(stmt, Repeat):
        var = f" as {stmt.var.name}" if stmt.var else ""
        return f"repeat {expr_text(stmt.count)}{var} {_body(stmt.body, level)}"
    if isinstance(stmt, If):
        text = f"if {expr_text(stmt.test)} {_body(stmt.then, level)}"
        if isinstance(stmt.orelse, If):
            text += " else " + _stmt(stmt.orelse, level)
        elif stmt.orelse is not None:
            text += " else " + _body(stmt.orelse, level)
        return text
    if isinstance(stmt, Let):
        return _item(stmt)
    if isinstance(stmt, Expect):
        return f"expect {expr_text(stmt.shape)}"
    raise TypeError(f"not a statement: {stmt!r}")


def _chain(chain: Chain, level: int) -> str:
    return " ".join(_layer(layer, level) for layer in chain.items)


def _label(label) -> str:
    """`conv1: `, `0: `, `"block{i + 1}": `, or "" for no label."""
    if label is None:
        return ""
    if isinstance(label, Ident):
        return f"{label.name}: "
    text = "".join(p.value if isinstance(p, Str) else "{" + expr_text(p) + "}" for p in label.parts)
    quote = "'" if '"' in text else '"'
    return f"{quote}{text}{quote}: "


def _layer(layer, level: int) -> str:
    if not isinstance(layer, Merge) and layer.label is not None:
        return _label(layer.label) + _layer(dataclasses.replace(layer, label=None), level)
    if isinstance(layer, Call):
        if not layer.parens:
            return layer.callee.name
        args = ", ".join(expr_text(a.value) if a.name is None else f"{a.name.name}={expr_text(a.value)}"
                         for a in layer.args)
        return f"{layer.callee.name}({args})"
    if isinstance(layer, Merge):
        return f"{layer.op}(" + ", ".join(_chain(c, level) for c in layer.inputs) + ")"
    if isinstance(layer, Paths):
        inner = INDENT * (level + 1)
        lines = []
        for path in layer.paths:
            stmts = [_stmt(s, level + 1) for s in path.stmts]
            lines.append(f"{inner}|" + "".join(
                (" " if i == 0 else f"\n{inner}  ") + s for i, s in enumerate(stmts)))
        return f"{layer.op} {{\n" + "\n".join(lines) + "\n" + INDENT * level + "}"
    if isinstance(layer, Residual):
        text = "residual " + _body(layer.body, level)
        if layer.shortcut is not None:
            text += " shortcut " + _body(layer.shortcut, level)
        return text
    raise TypeError(f"not a layer: {layer!r}")


def expr_text(e, outer: int = _COND) -> str:
    """An expression as archlang text, parenthesised where `outer` binds tighter."""
    text, prec = _expr(e)
    return f"({text})" if prec < outer else text


def _expr(e) -> tuple[str, int]:
    if isinstance(e, Num):
        return (repr(e.value) if isinstance(e.value, float) else str(e.value)), _ATOM
    if isinstance(e, Str):
        quote = "'" if '"' in e.value else '"'
        return f"{quote}{e.value}{quote}", _ATOM
    if isinstance(e, Bool):
        return ("true" if e.value else "false"), _ATOM
    if isinstance(e, Name):
        return e.id, _ATOM
    if isinstance(e, List):
        return "[" + ", ".join(expr_text(i) for i in e.items) + "]", _ATOM
    if isinstance(e, Attr):
        value = expr_text(e.value, _ATOM)
        if isinstance(e.value, Num):
            value = f"({value})"  # `1.c` would read as one (bad) number
        return f"{value}.{e.attr}", _ATOM
    if isinstance(e, Index):
        return f"{expr_text(e.value, _ATOM)}[{expr_text(e.index)}]", _ATOM
    if isinstance(e, Slice):
        lower = expr_text(e.lower) if e.lower is not None else ""
        upper = expr_text(e.upper) if e.upper is not None else ""
        return f"{expr_text(e.value, _ATOM)}[{lower}:{upper}]", _ATOM
    if isinstance(e, Function):
        return f"{e.name.name}(" + ", ".join(expr_text(a) for a in e.args) + ")", _ATOM
    if isinstance(e, Unary):
        if e.op == "not":
            return f"not {expr_text(e.operand, _NOT)}", _NOT
        return f"{e.op}{expr_text(e.operand, _UNARY)}", _UNARY
    if isinstance(e, Binary):
        prec = BINARY_PRECEDENCE[e.op]
        return f"{expr_text(e.left, prec)} {e.op} {expr_text(e.right, prec + 1)}", prec
    if isinstance(e, Compare):
        parts = [expr_text(e.operands[0], _SUM)]
        for op, operand in zip(e.ops, e.operands[1:]):
            parts.append(f"{op} {expr_text(operand, _SUM)}")
        return " ".join(parts), _CMP
    if isinstance(e, Cond):
        return f"{expr_text(e.body, _OR)} if {expr_text(e.test, _OR)} else {expr_text(e.orelse)}", _COND
    raise TypeError(f"not an expression: {e!r}")
