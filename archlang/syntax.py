"""The AST: what the parser builds and the elaborator reads.

Frozen dataclasses, one per construct of LANGUAGE.md, each with a `span` into
its Source. Spans are left out of equality (`compare=False`), so two trees
parsed from differently laid-out text compare equal when they mean the same;
the property tests rely on that. `unparse` prints a tree back as archlang
text that parses to an equal tree.
"""
from __future__ import annotations

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


Expr = Union[Num, Str, Bool, Name, List, Attr, Index, Unary, Binary, Compare, Cond]


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
    span: Span = _span()


@dataclass(frozen=True)
class Merge:
    """`cat(a, b)` / `add(a, b -> conv(8, k=1))`: the head of a chain."""

    op: str  # "cat" or "add"
    inputs: tuple["Chain", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Paths:
    """`concat { | ... | ... }` and `add { | ... }`: parallel paths, each a body."""

    op: str  # "concat" or "add"
    paths: tuple["Body", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Residual:
    """`residual { body }` with an optional `shortcut { body }`."""

    body: "Body"
    shortcut: "Body | None" = None
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
    names: tuple[Ident, ...]
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
    name: Ident
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Expect:
    shape: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Layers:
    """A chain statement, optionally labelled: `stem: conv(64, k=7) bn relu`."""

    chain: Chain
    label: Ident | None = None
    span: Span = _span()


@dataclass(frozen=True)
class Bind:
    """`y = x -> conv(16, k=3) relu`."""

    target: Ident
    chain: Chain
    span: Span = _span()


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
    Index: ("value", "index"), Unary: ("operand",), Binary: ("left", "right"), Compare: ("operands",),
    Cond: ("body", "test", "orelse"), Arg: ("name", "value"), Call: ("callee", "args"), Merge: ("inputs",),
    Paths: ("paths",), Residual: ("body", "shortcut"), Chain: ("items",), Body: ("stmts",),
    Input: ("name", "shape"), Output: ("names",), Repeat: ("count", "var", "body"),
    If: ("test", "then", "orelse"), Let: ("name", "value"), Expect: ("shape",), Layers: ("label", "chain"),
    Bind: ("target", "chain"), Import: ("path",), Param: ("name", "default"),
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
    if isinstance(node, Chain):
        return _chain(node, 0)
    if isinstance(node, (Call, Merge, Paths, Residual)):
        return _layer(node, 0)
    return expr_text(node)


def _item(item, level: int = 0) -> str:
    if isinstance(item, Import):
        return f"import {expr_text(item.path)}"
    if isinstance(item, Let):
        return f"let {item.name.name} = {expr_text(item.value)}"
    keyword = "block" if isinstance(item, BlockDef) else "network"
    params = ", ".join(p.name.name if p.default is None else f"{p.name.name} = {expr_text(p.default)}"
                       for p in item.params)
    return f"{keyword} {item.name.name}({params}) {_body(item.body, level)}"


def _body(body: Body, level: int) -> str:
    if not body.stmts:
        return "{ }"
    inner = INDENT * (level + 1)
    lines = "".join(f"{inner}{_stmt(s, level + 1)}\n" for s in body.stmts)
    return "{\n" + lines + INDENT * level + "}"


def _stmt(stmt, level: int) -> str:
    if isinstance(stmt, Layers):
        label = f"{stmt.label.name}: " if stmt.label else ""
        return label + _chain(stmt.chain, level)
    if isinstance(stmt, Bind):
        return f"{stmt.target.name} = {_chain(stmt.chain, level)}"
    if isinstance(stmt, Input):
        name = f"{stmt.name.name}: " if stmt.name else ""
        return f"input {name}{expr_text(stmt.shape)}"
    if isinstance(stmt, Output):
        return "output " + ", ".join(n.name for n in stmt.names)
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


def _layer(layer, level: int) -> str:
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
