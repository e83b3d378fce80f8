"""Expressions to terms: what an expression computes, written over the names it reads.

`term_of(expr, ctx)` walks an expression the concrete evaluator
(`expressions.Evaluator`) has already evaluated without error, and gives its
term (`terms`): a parameter is its variable, `in.c` and `cur.c` are the
tensors' channel terms, a constant is its value. Nothing is decided that
depends on a variable: `1 if first else 2` stays a conditional, `blocks[0]`
an index. A spatial size (`in.h`, `cur.shape`) is its current value: code
generators check elsewhere that the sizes a network sees do not depend on
what they let vary. No diagnostics: errors are the evaluator's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import syntax as ast, terms
from .expressions import ATTRIBUTES
from .shapes import UNKNOWN, Expr
from .values import Env


@dataclass
class TermContext:
    """What an expression's term can see: names with their terms, `cur` and `in`."""

    env: Env
    # "cur"/"in" -> (shape, channel term), or None where there is no such tensor
    tensors: Callable[[str], "tuple[Any, Any] | None"] | None = None
    is_symbol: Callable[[str], bool] = lambda name: False


def term_of(expr, ctx: TermContext) -> Any:
    return _BY_TYPE[type(expr)](expr, ctx)


def _name(e: ast.Name, ctx: TermContext):
    if e.id in ("cur", "in"):
        return _TensorTerm(e.id, ctx)
    found, term = ctx.env.lookup_term(e.id)
    if found:
        return term
    if ctx.is_symbol(e.id):  # an input size symbol: a size, as it is
        return Expr.symbol(e.id)
    raise KeyError(e.id)  # the evaluator reported E209 first; never reached on a checked spec


@dataclass(frozen=True)
class _TensorTerm:
    """`cur` or `in` while its attribute is read."""

    which: str
    ctx: TermContext

    def attribute(self, attr: str):
        shape, channels = self.ctx.tensors(self.which)
        if shape is UNKNOWN:
            raise KeyError(self.which)
        if attr == "rank":
            return len(shape)
        channel_attr = ATTRIBUTES[len(shape)][0]
        if attr == "shape":
            return (channels, *shape[1:])
        if attr == channel_attr:
            return channels
        return shape[ATTRIBUTES[len(shape)].index(attr)]


def _attr(e: ast.Attr, ctx: TermContext):
    value = term_of(e.value, ctx)
    return value.attribute(e.attr)


def _list(e: ast.List, ctx: TermContext):
    return tuple(term_of(i, ctx) for i in e.items)


def _index(e: ast.Index, ctx: TermContext):
    return terms.index(term_of(e.value, ctx), term_of(e.index, ctx))


def _unary(e: ast.Unary, ctx: TermContext):
    operand = term_of(e.operand, ctx)
    if e.op == "not":
        return terms.logical_not(operand)
    return terms.negate(operand) if e.op == "-" else operand


def _binary(e: ast.Binary, ctx: TermContext):
    left = term_of(e.left, ctx)
    if e.op in ("and", "or"):
        # Short-circuit as the evaluator does: the right side of `false and x` is never read.
        if isinstance(left, bool) and left is (e.op == "or"):
            return left
        return terms.logical(e.op, left, term_of(e.right, ctx))
    return terms.arith(e.op, left, term_of(e.right, ctx))


def _compare(e: ast.Compare, ctx: TermContext):
    operands = [term_of(o, ctx) for o in e.operands]
    result: Any = True
    for op, a, b in zip(e.ops, operands, operands[1:]):
        result = terms.logical("and", result, terms.compare(op, a, b))
        if result is False:
            return False
    return result


def _cond(e: ast.Cond, ctx: TermContext):
    test = term_of(e.test, ctx)
    if isinstance(test, bool):  # the branch not taken may not even evaluate (an index out of range)
        return term_of(e.body if test else e.orelse, ctx)
    return terms.cond(test, term_of(e.body, ctx), term_of(e.orelse, ctx))


_BY_TYPE: dict[type, Callable] = {
    ast.Num: lambda e, c: e.value, ast.Str: lambda e, c: e.value, ast.Bool: lambda e, c: e.value,
    ast.Name: _name, ast.List: _list, ast.Attr: _attr, ast.Index: _index, ast.Unary: _unary,
    ast.Binary: _binary, ast.Compare: _compare, ast.Cond: _cond,
}
