"""Terms: a value written in terms of the names it was computed from.

While the elaborator computes every value of a block instance concretely
(`Residual(128, s=2)` gives a conv with 128 output channels), it also
writes each value as a *term* over the block's parameters, its input's
channel count and its loop counters (`c`, `in_channels + i * growth`), so
a code generator can emit one class per block whose constructor computes
what the spec computes, for any arguments (docs/internals.md, "Terms").

A term is one of:

- a constant: the value itself (int, float, bool, str, or a tuple of terms,
  which is an archlang list);
- an int-valued expression: a `shapes.Expr`, the polynomial machinery that
  symbolic input sizes use, over `Symbol`s named after variables, so that
  `in_channels + growth + growth` is `in_channels + 2 * growth` and `2 * c // 2`
  is `c`; a non-polynomial part (`blocks[0]`, `(1 if first else 2)`) sits in
  it as an `Opaque` atom;
- a `Name`: a variable whose value is not an int (a bool, float, string or
  list parameter);
- an `Apply`: any other operation (comparisons, `and`, `if`, indexing, true
  division, float arithmetic).

The constructors below fold constants with archlang's own semantics (the
same results the evaluator computes), so a term over no variable is a
constant; they never fail: the concrete evaluation, done first, has already
reported what is wrong with an expression.
"""
from __future__ import annotations

import functools
import json
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .shapes import Expr, FloorDiv, Mod, Symbol, _as_expr, floordiv, mod

Term = Any


@dataclass(frozen=True)
class Name:
    """A variable that does not hold an int. `kind` is what it holds: "bool", "float", "str",
    "list", "ints" (a list of ints: indexing it gives an int) or "any"."""

    name: str
    kind: str = "any"


@dataclass(frozen=True)
class Apply:
    """An operation on terms that is no polynomial: `op` names it, as Python writes it
    ("==", "and", "not", "neg", "/", "+", "if", "index"); `kind` is what it gives."""

    op: str
    args: tuple
    kind: str = "any"


@dataclass(frozen=True)
class Opaque(Symbol):
    """An int-valued `Apply` as an atom of an `Expr`: its name is its Python text, in
    parentheses unless it is one already (`blocks[0]`, `(1 if first else 2)`)."""

    term: Apply = field(default=None, compare=False, hash=False)

    def evaluate(self, env: Mapping[str, Any]) -> int:
        return evaluate(self.term, env)


# -- making terms ------------------------------------------------------------------------------------

def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def kind_of(value) -> str:
    """The kind of a constant, as `Name.kind` says it."""
    if isinstance(value, bool):
        return "bool"
    if is_int(value) or isinstance(value, Expr):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, tuple):
        return "ints" if value and all(is_int(v) or isinstance(v, Expr) for v in value) else "list"
    return "any"


def var(name: str, value) -> Term:
    """The term of a variable that holds `value` now: an Expr symbol for an int."""
    kind = kind_of(value)
    return symbol(name) if kind == "int" else Name(name, kind)


@functools.lru_cache(maxsize=4096)
def symbol(name: str) -> Expr:
    """The int variable `name` (one object per name: every block instance has its `in_channels`)."""
    return Expr.symbol(name)


def kind(term: Term) -> str:
    if isinstance(term, (Name, Apply)):
        return term.kind
    return kind_of(term)


def is_symbolic(term: Term) -> bool:
    """Does the term depend on a variable?"""
    if isinstance(term, (Expr, Name, Apply)):
        return True
    if isinstance(term, tuple):
        return any(is_symbolic(t) for t in term)
    return False


def _int_term(term: Term) -> Term:
    """An int-valued term as an int or an Expr (an Apply goes into an Opaque atom)."""
    if isinstance(term, Apply):
        return Expr((((Opaque(_atom_text(term), term),), 1),))
    return term


def _as_apply(term: Term) -> Term:
    """The other way: an Expr that is one Opaque atom is that atom's Apply."""
    if isinstance(term, Expr):
        atom = term.atom()
        if isinstance(atom, Opaque):
            return atom.term
    return term


def _result(op: str, args: tuple, kind: str) -> Term:
    made = Apply(op, args, kind)
    return _int_term(made) if kind == "int" else made


# -- archlang's semantics for constants --------------------------------------------------------------

def same_value(a, b) -> bool:
    """archlang's `==`: equal values of the same type, or equal numbers (`1 == 1.0`, not `1 == true`)."""
    if type(a) is type(b):
        return a == b
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    return numbers and a == b


_ARITH: dict[str, Callable] = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
                               "//": operator.floordiv, "%": operator.mod}
_ORDER: dict[str, Callable] = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


# -- operations --------------------------------------------------------------------------------------

def arith(op: str, a: Term, b: Term) -> Term:
    """`a op b` for op in + - * / // %."""
    a, b = _int_term(a), _int_term(b)
    if not is_symbolic(a) and not is_symbolic(b):
        try:
            return _ARITH[op](a, b)
        except (ArithmeticError, TypeError, ValueError):  # only in a branch the concrete run did not take
            return Apply(op, (a, b))
    ints = kind(a) == "int" and kind(b) == "int"
    if ints and op in ("+", "-", "*"):
        return _ARITH[op](a, b)
    if ints and op in ("//", "%") and not (is_int(b) and b == 0):
        return floordiv(a, b) if op == "//" else mod(a, b)
    if op == "+" and isinstance(a, tuple) and isinstance(b, tuple):
        return a + b
    result_kind = "int" if ints else "float" if kind(a) in ("int", "float") and kind(b) in ("int", "float") \
        else kind(a) if kind(a) == kind(b) else "any"
    return _result(op, (_as_apply(a), _as_apply(b)), "float" if op == "/" else result_kind)


def negate(a: Term) -> Term:
    a = _int_term(a)
    if not is_symbolic(a):
        return -a
    if kind(a) == "int":
        return -a
    return _result("neg", (a,), kind(a))


def compare(op: str, a: Term, b: Term) -> Term:
    """`a op b` for op in == != < <= > >=."""
    a, b = _int_term(a), _int_term(b)
    if not is_symbolic(a) and not is_symbolic(b):
        if op == "==":
            return same_value(a, b)
        if op == "!=":
            return not same_value(a, b)
        try:
            return _ORDER[op](a, b)
        except TypeError:  # only in a branch the concrete run did not take
            return Apply(op, (a, b), "bool")
    if kind(a) == "int" and kind(b) == "int":
        diff = a - b
        if is_int(diff):  # the same polynomial up to a constant: decided for every value
            return {"==": diff == 0, "!=": diff != 0}.get(op) if op in ("==", "!=") else _ORDER[op](diff, 0)
    elif op in ("==", "!=") and a == b:
        return op == "=="
    return Apply(op, (_as_apply(a), _as_apply(b)), "bool")


def logical_not(a: Term) -> Term:
    if isinstance(a, bool):
        return not a
    if isinstance(a, Apply) and a.op == "not":
        return a.args[0]
    return Apply("not", (a,), "bool")


def logical(op: str, a: Term, b: Term) -> Term:
    """`a and b`, `a or b` of bool terms."""
    if isinstance(a, bool):
        return b if a is (op == "and") else a
    if isinstance(b, bool):
        return a if b is (op == "and") else b
    return Apply(op, (a, b), "bool")


def cond(test: Term, body: Term, orelse: Term) -> Term:
    """`body if test else orelse`."""
    if isinstance(test, bool):
        return body if test else orelse
    if _same_term(body, orelse):
        return body
    result_kind = kind(body) if kind(body) == kind(orelse) else "any"
    return _result("if", (test, _as_apply(body), _as_apply(orelse)), result_kind)


def index(value: Term, at: Term) -> Term:
    """`value[at]`: folded where the list is known and the index is a constant."""
    at = _int_term(at)
    if isinstance(value, (tuple, str)) and is_int(at) and -len(value) <= at < len(value):
        return value[at]
    if isinstance(value, Apply) and value.op == "if" and is_int(at):  # [a, b][0] of an `if`: index each side
        return cond(value.args[0], index(value.args[1], at), index(value.args[2], at))
    value_kind = kind(value)
    item_kind = "int" if value_kind == "ints" else "str" if value_kind == "str" else "any"
    return _result("index", (value, _as_apply(at)), item_kind)


def _same_term(a: Term, b: Term) -> bool:
    return type(a) is type(b) and a == b


# -- reading terms -----------------------------------------------------------------------------------

def free_vars(term: Term) -> frozenset[str]:
    """The names of the variables a term reads."""
    if isinstance(term, Name):
        return frozenset((term.name,))
    if isinstance(term, Apply):
        return frozenset().union(*(free_vars(a) for a in term.args))
    if isinstance(term, tuple):
        return frozenset().union(*(free_vars(a) for a in term))
    if isinstance(term, Expr):
        out: set[str] = set()
        for mono, _ in term.terms:
            for atom in mono:
                out |= _atom_vars(atom)
        return frozenset(out)
    return frozenset()


def _atom_vars(atom) -> frozenset[str]:
    if isinstance(atom, Opaque):
        return free_vars(atom.term)
    if isinstance(atom, Symbol):
        return frozenset((atom.name,))
    return free_vars(atom.num) | free_vars(atom.den)


def substitute(term: Term, values: Mapping[str, Term]) -> Term:
    """The term with variables replaced by terms (folding what becomes constant)."""
    if isinstance(term, Name):
        return values.get(term.name, term)
    if isinstance(term, tuple):
        return tuple(substitute(t, values) for t in term)
    if isinstance(term, Expr):
        total: Term = 0
        for mono, coef in term.terms:
            value: Term = coef
            for atom in mono:
                value = value * _substitute_atom(atom, values)
            total = total + value
        return total
    if isinstance(term, Apply):
        args = [substitute(a, values) for a in term.args]
        return _REBUILD[term.op](term, args)
    return term


def _substitute_atom(atom, values: Mapping[str, Term]) -> Term:
    if isinstance(atom, Opaque):
        return _int_term(substitute(atom.term, values))
    if isinstance(atom, Symbol):
        return _int_term(values.get(atom.name, Expr.symbol(atom.name)))
    num, den = _int_term(substitute(atom.num, values)), _int_term(substitute(atom.den, values))
    if is_int(den) and den == 0:  # only a value the concrete run never saw: keep it written out
        return Expr((((type(atom)(num, den),), 1),))
    return floordiv(num, den) if isinstance(atom, FloorDiv) else mod(num, den)


_REBUILD: dict[str, Callable[[Apply, list], Term]] = {
    **{op: (lambda t, a: arith(t.op, a[0], a[1])) for op in _ARITH},
    **{op: (lambda t, a: compare(t.op, a[0], a[1])) for op in ("==", "!=", "<", "<=", ">", ">=")},
    "and": lambda t, a: logical("and", a[0], a[1]),
    "or": lambda t, a: logical("or", a[0], a[1]),
    "not": lambda t, a: logical_not(a[0]),
    "neg": lambda t, a: negate(a[0]),
    "if": lambda t, a: cond(a[0], a[1], a[2]),
    "index": lambda t, a: index(a[0], a[1]),
}


def evaluate(term: Term, env: Mapping[str, Any]) -> Any:
    """The value of a term for values of its variables (archlang's semantics)."""
    value = substitute(term, {name: _constant(v) for name, v in env.items()})
    if is_symbolic(value):
        raise KeyError(f"no value for {', '.join(sorted(free_vars(value)))}")
    return value


def _constant(value) -> Term:
    return tuple(_constant(v) for v in value) if isinstance(value, list) else value


# -- Python text -----------------------------------------------------------------------------------

# Python's precedence, loosest first.
_IF, _OR, _AND, _NOT, _COMPARE, _SUM, _TERM, _UNARY, _ATOM = range(9)
_BINARY = {"+": _SUM, "-": _SUM, "*": _TERM, "/": _TERM, "//": _TERM, "%": _TERM, "and": _AND, "or": _OR}


def python(term: Term, names: Mapping[str, str] | None = None) -> str:
    """The term as a Python expression; `names` renames variables (a parameter `pass` is `pass_`)."""
    return _text(term, names or {})[0]


def _text(term: Term, names: Mapping[str, str]) -> tuple[str, int]:
    if isinstance(term, Name):
        return names.get(term.name, term.name), _ATOM
    if isinstance(term, Expr):
        return _expr_text(term, names)
    if isinstance(term, Apply):
        return _apply_text(term, names)
    if isinstance(term, tuple):
        items = [_wrapped(t, names, _IF + 1) for t in term]
        return ("(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"), _ATOM
    return literal(term), (_UNARY if (is_int(term) or isinstance(term, float)) and term < 0 else _ATOM)


def _wrapped(term: Term, names: Mapping[str, str], outer: int) -> str:
    text, prec = _text(term, names)
    return f"({text})" if prec < outer else text


def _expr_text(e: Expr, names: Mapping[str, str]) -> tuple[str, int]:
    atom = e.atom()
    if isinstance(atom, Opaque):   # an int-valued Apply alone: as itself, not in parentheses
        return _apply_text(atom.term, names)
    renamed = e if not names else _rename_expr(e, names)
    text = _sum_text(renamed)
    if len(renamed.terms) > 1:
        return text, _SUM
    (mono, coef), = renamed.terms
    if coef < 0:
        return text, _UNARY
    if coef != 1 or len(mono) > 1 or isinstance(mono[0], (FloorDiv, Mod)):
        return text, _TERM
    return text, _ATOM


def _sum_text(e: Expr) -> str:
    """The polynomial as a person writes a size: positive terms first, lone names before
    products, the constant after them (`in_channels + growth * i`, `3 * growth + 32`,
    `in_channels - 2 * growth`, `5 - in_channels`)."""
    if len(e.terms) == 1:
        return str(e)
    ordered = sorted(e.terms, key=lambda t: (t[1] < 0, not t[0], len(t[0]), tuple(a.key() for a in t[0])))
    text = ""
    for i, (mono, coef) in enumerate(ordered):
        one = str(Expr(((mono, abs(coef)),))) if mono else str(abs(coef))
        text += ("-" if coef < 0 else "") + one if i == 0 else (" - " if coef < 0 else " + ") + one
    return text


def _rename_expr(e: Expr, names: Mapping[str, str]) -> Expr:
    """The same polynomial over renamed symbols (for printing only: the order of terms may move)."""
    def atom(a):
        if isinstance(a, Opaque):
            return Expr((((Opaque(_atom_text(a.term, names), a.term),), 1),))
        if isinstance(a, Symbol):
            return Expr.symbol(names.get(a.name, a.name))
        # a constant numerator (`1 // w`) renames to an int: the atom still needs an Expr there
        num, den = _as_expr(_rename_expr(a.num, names)), den_ if is_int(den_ := a.den) else _rename_expr(a.den, names)
        return Expr((((type(a)(num, den),), 1),))
    total: Term = 0
    for mono, coef in e.terms:
        value: Term = coef
        for a in mono:
            value = value * atom(a)
        total = total + value
    return total


def _atom_text(term: Apply, names: Mapping[str, str] | None = None) -> str:
    text, prec = _apply_text(term, names or {})
    return text if prec == _ATOM else f"({text})"


def _apply_text(term: Apply, names: Mapping[str, str]) -> tuple[str, int]:
    op, args = term.op, term.args
    if op == "index":
        return f"{_wrapped(args[0], names, _ATOM)}[{python(args[1], names)}]", _ATOM
    if op == "if":
        test = _wrapped(args[0], names, _OR)
        return f"{_wrapped(args[1], names, _OR)} if {test} else {_wrapped(args[2], names, _IF)}", _IF
    if op == "not":
        return f"not {_wrapped(args[0], names, _NOT)}", _NOT
    if op == "neg":
        return f"-{_wrapped(args[0], names, _UNARY)}", _UNARY
    if op in ("==", "!=", "<", "<=", ">", ">="):
        return f"{_wrapped(args[0], names, _SUM)} {op} {_wrapped(args[1], names, _SUM)}", _COMPARE
    prec = _BINARY[op]
    return f"{_wrapped(args[0], names, prec)} {op} {_wrapped(args[1], names, prec + 1)}", prec


def literal(value: Any) -> str:
    """A constant as a Python literal in black's style (double quotes; lists as tuples)."""
    if value is None or isinstance(value, bool) or is_int(value) or isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (tuple, list)):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Python literal for {value!r}")
