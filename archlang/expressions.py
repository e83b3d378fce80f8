"""The expression evaluator: archlang expressions to values, at compile time.

`Evaluator()(expr, ctx)` gives the value of an expression (see `values`), or
`FAIL` after reporting why it has none (E209 unknown name, E212 cannot be
evaluated, E213 a shape attribute the tensor does not have, E404 a list too
long). `EvalContext` says what the expression can see: names, `cur` and
`in`, and which unknown names are symbolic sizes.
"""
from __future__ import annotations

import dataclasses
import math
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Collection, Mapping

from . import syntax as ast
from .limits import MAX_INT, MAX_SEQUENCE, MAX_SYMBOLIC_TERMS
from .diagnostics import suggest
from .ops import OPS, RANK_FORMS
from .shapes import UNKNOWN, Expr, compare_eq, format_shape
from .source import Span
from .values import FAIL, Env, FunctionValue, TensorRef, is_int, is_number, show, type_name

if TYPE_CHECKING:  # pragma: no cover
    from .reporter import Reporter

# Shape attributes by rank: [F], [C, L], [C, H, W], [C, D, H, W].
ATTRIBUTES = {1: ("f",), 2: ("c", "l"), 3: ("c", "h", "w"), 4: ("c", "d", "h", "w")}

_ARITH: dict[str, Callable] = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
                               "//": operator.floordiv, "%": operator.mod}
_ORDER: dict[str, Callable] = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class Evaluator:
    """Evaluates expressions at compile time; errors become E209, E212, E213.

    `env` holds the names; `tensors` gives `cur` and `in` (None where there
    is no tensor, as in a top-level `let`). `symbols` says which otherwise
    unknown names are symbolic sizes (`shapes.Expr`), so that `H // 2` is a
    size like any other: the input's symbols in a network body, any name
    that starts with an upper-case letter in an input declaration.
    """

    def __init__(self) -> None:
        self.depth = 0   # calls of defined functions in progress
        self._by_type: dict[type, Callable] = {
            ast.Num: lambda e, c: e.value, ast.Str: lambda e, c: e.value, ast.Bool: lambda e, c: e.value,
            ast.Name: self._name, ast.List: self._list, ast.Attr: self._attr, ast.Index: self._index,
            ast.Slice: self._slice, ast.Function: self._function,
            ast.Unary: self._unary, ast.Binary: self._binary, ast.Compare: self._compare, ast.Cond: self._cond,
        }

    def __call__(self, expr, ctx: "EvalContext"):
        return self._by_type[type(expr)](expr, ctx)

    def condition(self, expr, ctx: "EvalContext"):
        """A value that must be true or false (if, `and`, `or`, `not`)."""
        value = self(expr, ctx)
        if value is FAIL or isinstance(value, bool):
            return value
        help_ = "compare it, as in `n != 0`" if is_number(value) else None
        return self._fail(ctx, "E212", f"expected true or false, got {show(value)} ({type_name(value)})", expr.span,
                          help=help_)

    @staticmethod
    def _fail(ctx: "EvalContext", code: str, message: str, span: Span, **kw):
        ctx.report.error(code, message, span, **kw)
        return FAIL

    # -- names and attributes ----------------------------------------------------------------
    def _name(self, e: ast.Name, ctx: "EvalContext"):
        if e.id in ("cur", "in"):
            ref = ctx.tensor(e.id)
            if ref is not None:
                return ref
            where = "in a network or block body" if e.id == "cur" else "in a block, path, repeat or if body"
            return self._fail(ctx, "E212", f"`{e.id}` has no tensor here: it exists {where}", e.span)
        try:
            return ctx.env.lookup(e.id)
        except KeyError:
            pass
        if ctx.is_symbol(e.id):
            return ctx.symbol(e.id)
        ref = ctx.tensor(e.id)   # a bound tensor: `u4.h`, `crop(like=u4)`
        if ref is not None:
            return ref
        if e.id in ctx.hidden_symbols:
            return self._fail(ctx, "E209", f"`{e.id}` is a symbol of the network's input, which a block does not "
                                      f"see", e.span, label="not defined in this block",
                              help="use the sizes of the tensor the block receives, such as `in.h` or `cur.w`")
        if e.id in ("True", "False"):  # Python's spelling
            return self._fail(ctx, "E209", f"unknown name `{e.id}`", e.span, label="not defined here",
                              help=f"did you mean `{e.id.lower()}`? archlang writes true and false in lower case")
        known = ctx.known_symbols()
        message = f"unknown name `{e.id}`"
        if e.id[:1].isupper() and ctx.symbols is not False:  # meant as a size, most likely
            message += f": not a symbol of the input (its symbols: {', '.join(known) or 'none'})"
        close = ctx.report.hint(e.id, lambda: ctx.env.names() | ({"cur", "in"} if ctx.tensors else set()) | set(known))
        return self._fail(ctx, "E209", message, e.span, label="not defined here",
                          help=lambda: f"did you mean `{close()}`?" if close() else None)

    def _attr(self, e: ast.Attr, ctx: "EvalContext"):
        value = self(e.value, ctx)
        if value is FAIL:
            return FAIL
        if not isinstance(value, TensorRef):
            return self._fail(ctx, "E212", f"`.{e.attr}` needs a tensor (`in` or `cur`), got {type_name(value)}", e.span)
        shape = value.shape
        if shape is UNKNOWN:
            return FAIL  # the layer that made it reported why
        if e.attr == "shape":
            return tuple(shape)
        if e.attr == "rank":
            return len(shape)
        have = ATTRIBUTES.get(len(shape), ())
        if e.attr in have:
            return shape[have.index(e.attr)]
        known = ", ".join(f"`.{a}`" for a in have + ("shape", "rank"))
        form = RANK_FORMS.get(len(shape), f"rank {len(shape)}")
        return self._fail(ctx, "E213", f"`{value.name}` is {format_shape(shape)}, which has no `.{e.attr}`", e.span,
                          label=f"a {form} tensor", notes=[f"it has {known}"])

    # -- containers ---------------------------------------------------------------------------
    def _list(self, e: ast.List, ctx: "EvalContext"):
        items = tuple(self(i, ctx) for i in e.items)
        return FAIL if any(i is FAIL for i in items) else items

    def _index(self, e: ast.Index, ctx: "EvalContext"):
        value, index = self(e.value, ctx), self(e.index, ctx)
        if value is FAIL or index is FAIL:
            return FAIL
        if not isinstance(value, (tuple, str)):
            return self._fail(ctx, "E212", f"cannot index {type_name(value)} ({show(value)})", e.span)
        if not is_int(index):
            return self._fail(ctx, "E212", f"an index must be an int, got {show(index)}", e.index.span)
        if not -len(value) <= index < len(value):
            return self._fail(ctx, "E212", f"index {index} is out of range for {show(value)} "
                                      f"({len(value)} item{'s' if len(value) != 1 else ''})", e.span,
                              label=f"valid indices are 0 to {len(value) - 1}" if value else "it is empty")
        return value[index]

    def _slice(self, e: ast.Slice, ctx: "EvalContext"):
        value = self(e.value, ctx)
        bounds = [None if b is None else self(b, ctx) for b in (e.lower, e.upper)]
        if value is FAIL or FAIL in bounds:
            return FAIL
        if not isinstance(value, (tuple, str)):
            return self._fail(ctx, "E212", f"cannot slice {type_name(value)} ({show(value)})", e.span)
        for bound, written in zip(bounds, (e.lower, e.upper)):
            if bound is not None and not is_int(bound):
                return self._fail(ctx, "E212", f"a slice's bounds must be ints, got {show(bound)}", written.span)
        return value[bounds[0]:bounds[1]]

    # -- built-in functions ------------------------------------------------------------------------
    def _function(self, e: ast.Function, ctx: "EvalContext"):
        name = e.name.name
        try:
            defined = ctx.env.lookup(name)
        except KeyError:
            defined = None
        if defined is not None:
            return self._call_defined(e, defined, ctx)
        builtin = BUILTINS.get(name)
        if builtin is None:
            close = suggest(name, BUILTINS)
            help_ = f"did you mean `{close}`?" if close else f"the functions are {', '.join(BUILTINS)}"
            if name in OPS:
                help_ = f"{name} is a layer: layers go in chains, not in expressions"
            return self._fail(ctx, "E209", f"unknown function `{name}`", e.name.span, label="not a function",
                              help=help_)
        values = [self(a, ctx) for a in e.args]
        if FAIL in values:
            return FAIL
        low, high = builtin.arity
        if not low <= len(values) <= high:
            takes = (f"{low} argument{'s' if low != 1 else ''}" if low == high else f"{low} or {high} arguments"
                     if high == low + 1 else f"at least {low} argument{'s' if low != 1 else ''}")
            return self._fail(ctx, "E212", f"{name}() takes {takes}, got {len(values)}", e.span)
        try:
            value = builtin.apply(values)
        except _Refused as refused:
            return self._fail(ctx, "E212", f"{name}({', '.join(show(v) for v in values)}): {refused}", e.span,
                              help=refused.help)
        if is_int(value) and not -MAX_INT <= value <= MAX_INT:
            return self._fail(ctx, "E212", f"`{ast.expr_text(e)}` is too large", e.span,
                              help=f"integers are at most {MAX_INT:,} (2**63 - 1)")
        return value

    MAX_CALL_DEPTH = 100   # functions that call functions (or themselves) this deep are an error

    def _call_defined(self, e: ast.Function, fn, ctx: "EvalContext"):
        """A call of a function the spec defines: arguments by position, then defaults."""
        if fn is FAIL:
            return FAIL
        if not isinstance(fn, FunctionValue):
            return self._fail(ctx, "E212", f"`{e.name.name}` is {type_name(fn)} ({show(fn)}), not a function",
                              e.name.span)
        values = [self(a, ctx) for a in e.args]
        if FAIL in values:
            return FAIL
        params = fn.params
        if len(values) > len(params):
            return self._fail(ctx, "E214", f"{fn.name}() takes {len(params)} argument{'s' if len(params) != 1 else ''}"
                                           f", got {len(values)}", e.span)
        if self.depth >= self.MAX_CALL_DEPTH:
            return self._fail(ctx, "E212", f"function calls nested more than {self.MAX_CALL_DEPTH} deep", e.span,
                              help="a function that calls itself needs a condition that stops it")
        scope = Env(fn.env)
        inner = dataclasses.replace(ctx, env=scope)
        self.depth += 1
        try:
            for param, value in zip(params, values + [None] * (len(params) - len(values))):
                if value is None:
                    if param.default is None:
                        return self._fail(ctx, "E202", f"{fn.name}() is missing its argument {param.name.name}",
                                          e.span)
                    value = self(param.default, inner)
                    if value is FAIL:
                        return FAIL
                scope.vars[param.name.name] = value
            return self(fn.body, inner)
        finally:
            self.depth -= 1

    # -- operators -------------------------------------------------------------------------------
    def _unary(self, e: ast.Unary, ctx: "EvalContext"):
        if e.op == "not":
            value = self.condition(e.operand, ctx)
            return FAIL if value is FAIL else not value
        value = self(e.operand, ctx)
        if value is FAIL:
            return FAIL
        if not (is_number(value) or isinstance(value, Expr)):
            return self._fail(ctx, "E212", f"cannot apply `{e.op}` to {type_name(value)} ({show(value)})", e.span)
        return -value if e.op == "-" else +value

    def _binary(self, e: ast.Binary, ctx: "EvalContext"):
        if e.op in ("and", "or"):
            left = self.condition(e.left, ctx)
            if left is FAIL or left is (e.op == "or"):
                return left
            return self.condition(e.right, ctx)
        left, right = self(e.left, ctx), self(e.right, ctx)
        if left is FAIL or right is FAIL:
            return FAIL
        return self._arith(e, left, right, ctx)

    def _arith(self, e: ast.Binary, a, b, ctx: "EvalContext"):
        op = e.op
        if (op == "+" and type(a) is type(b) and isinstance(a, (str, tuple))) or \
                (op == "*" and isinstance(a, (str, tuple)) and is_int(b)):
            length = len(a) + len(b) if op == "+" else len(a) * b
            if length > MAX_SEQUENCE:  # `[1] * 1000000000` would allocate it all
                what = "string of {:,} characters" if isinstance(a, str) else "list of {:,} items"
                return self._fail(ctx, "E404", f"`{ast.expr_text(e)}` makes a {what.format(length)}, more than "
                                               f"{MAX_SEQUENCE:,}", e.span)
            return _ARITH[op](a, b)
        numeric = (is_number(a) or isinstance(a, Expr)) and (is_number(b) or isinstance(b, Expr))
        if not numeric:
            return self._fail(ctx, "E212", f"cannot {_VERBS[op]} {type_name(a)} ({show(a)}) and {type_name(b)} "
                                      f"({show(b)})", e.span)
        symbolic = isinstance(a, Expr) or isinstance(b, Expr)
        if symbolic and (isinstance(a, float) or isinstance(b, float) or op == "/"):
            return self._fail(ctx, "E212", f"`{ast.expr_text(e)}` mixes a symbolic size with {'/' if op == '/' else 'a float'}",
                              e.span, help="sizes are ints: use // for division" if op == "/" else None)
        if op in ("/", "//", "%") and not isinstance(b, Expr) and b == 0:
            return self._fail(ctx, "E212", f"division by zero in `{ast.expr_text(e)}`", e.span,
                              label=f"{ast.expr_text(e.right)} is 0")
        if op == "*" and isinstance(a, Expr) and isinstance(b, Expr) and \
                len(a.terms) * len(b.terms) > MAX_SYMBOLIC_TERMS ** 2:
            return self._too_complex(e, ctx)  # squaring (H + 1) twenty times: a million terms
        try:
            value = _ARITH[op](a, b)
        except (ZeroDivisionError, TypeError, ValueError, OverflowError) as exc:
            return self._fail(ctx, "E212", f"cannot evaluate `{ast.expr_text(e)}`: {exc}", e.span)
        # Values stay int64 and finite, like the literals: no 10**10000 to print, no inf in generated code.
        if (isinstance(value, int) and not -MAX_INT <= value <= MAX_INT) or \
                (isinstance(value, float) and not math.isfinite(value)):
            return self._fail(ctx, "E212", f"`{ast.expr_text(e)}` is too large", e.span,
                              help=f"integers are at most {MAX_INT:,} (2**63 - 1); other numbers about 1.8e308")
        if isinstance(value, Expr) and (len(value.terms) > MAX_SYMBOLIC_TERMS or
                                        any(not -MAX_INT <= c <= MAX_INT for _, c in value.terms)):
            return self._too_complex(e, ctx)
        return value

    def _too_complex(self, e: ast.Binary, ctx: "EvalContext"):
        return self._fail(ctx, "E212", f"`{ast.expr_text(e)}` makes a symbolic size too complex to work with", e.span,
                          help=f"sizes are kept as polynomials of the input's symbols, of at most "
                               f"{MAX_SYMBOLIC_TERMS} terms with int64 coefficients; give the input fixed sizes")

    def _compare(self, e: ast.Compare, ctx: "EvalContext"):
        left = self(e.operands[0], ctx)
        if left is FAIL:
            return FAIL
        for op, operand in zip(e.ops, e.operands[1:]):
            right = self(operand, ctx)
            if right is FAIL:
                return FAIL
            verdict = self._compare_two(e, op, left, right, ctx)
            if verdict is not True:
                return verdict  # False, or FAIL
            left = right
        return True

    def _compare_two(self, e: ast.Compare, op: str, a, b, ctx: "EvalContext"):
        if isinstance(a, Expr) or isinstance(b, Expr):
            if op in ("==", "!=") and (is_int(a) or isinstance(a, Expr)) and (is_int(b) or isinstance(b, Expr)):
                equal = compare_eq(a, b)
                if equal is not None:
                    return equal if op == "==" else not equal
            elif op in _ORDER and (is_int(a) or isinstance(a, Expr)) and (is_int(b) or isinstance(b, Expr)):
                diff = a - b
                if is_int(diff):
                    return _ORDER[op](diff, 0)
            return self._fail(ctx, "E212", f"`{ast.expr_text(e)}` depends on the input size", e.span,
                              help="a condition must be decided at compile time; give the input a fixed size")
        if op == "==":
            return type(a) is type(b) and a == b or (is_number(a) and is_number(b) and a == b)
        if op == "!=":
            return not (type(a) is type(b) and a == b or (is_number(a) and is_number(b) and a == b))
        if (is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
            return _ORDER[op](a, b)
        return self._fail(ctx, "E212", f"cannot compare {type_name(a)} ({show(a)}) with {type_name(b)} ({show(b)})",
                          e.span)

    def _cond(self, e: ast.Cond, ctx: "EvalContext"):
        test = self.condition(e.test, ctx)
        if test is FAIL:
            return FAIL
        return self(e.body if test else e.orelse, ctx)


class _Refused(Exception):
    """A built-in function's arguments are of the wrong kind; the message says which."""

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.help = help


@dataclass(frozen=True)
class Builtin:
    """A function of expressions: Python's built-in of the same name, on archlang values."""

    arity: tuple[int, float]          # the fewest and the most arguments
    apply: Callable[[list], Any]      # raises _Refused
    doc: str


def _number(v, what: str):
    """A number (or a symbolic size, which is an int) for a function that takes one."""
    if is_number(v) or isinstance(v, Expr):
        return v
    raise _Refused(f"{what} takes a number, got {type_name(v)}")


def _to_int(v, convert: Callable[[float], int], what: str):
    v = _number(v, what)
    return v if isinstance(v, Expr) else convert(v)   # a symbolic size is already whole


def _greater(a, b) -> bool:
    """a > b, for numbers and, where the input size cannot change the answer, symbolic sizes."""
    if isinstance(a, Expr) or isinstance(b, Expr):
        diff = a - b
        if not is_int(diff):
            raise _Refused("which is larger depends on the input size",
                           help="give the input fixed sizes, or compare sizes that differ by a constant")
        return diff > 0
    return a > b


def _extreme(values: list, larger: bool):
    """min / max: of several arguments, or of one list; the first of equal ones, as Python's."""
    if len(values) == 1 and not isinstance(values[0], tuple):  # as Python's: max(3) is an error
        raise _Refused("with one argument, min() and max() take a list")
    items = values[0] if len(values) == 1 else tuple(values)
    if not items:
        raise _Refused("an empty list has no smallest or largest item")
    strings = all(isinstance(v, str) for v in items)
    if not strings:
        for v in items:
            _number(v, "min() or max()")
    best = items[0]
    for v in items[1:]:
        if (_greater(v, best) if larger else _greater(best, v)):
            best = v
    return best


def _round(values: list):
    x = _number(values[0], "round()")
    if len(values) == 1:
        return x if isinstance(x, Expr) else round(x)
    if not is_int(values[1]) or isinstance(x, Expr):
        raise _Refused("round(x, n) takes a number and an int")
    return round(x, values[1])


def _length(values: list):
    if not isinstance(values[0], (tuple, str)):
        raise _Refused(f"len() takes a list or a string, got {type_name(values[0])}")
    return len(values[0])


def _sum(values: list):
    if not isinstance(values[0], tuple):
        raise _Refused(f"sum() takes a list, got {type_name(values[0])}")
    total = 0
    for v in values[0]:
        total = total + _number(v, "sum()")
    if isinstance(total, float) and not math.isfinite(total):
        raise _Refused("the sum is too large")
    return total


def _real(v, what: str) -> float:
    """A number that is no symbolic size: log and pow of a size have no size for a result."""
    v = _number(v, what)
    if isinstance(v, Expr):
        raise _Refused(f"{what} takes a number, and this one depends on the input size")
    return v


def _log(values: list):
    """math.log(x[, base]), refused where Python raises (x <= 0, a base <= 0 or of 1)."""
    x = _real(values[0], "log()")
    base = _real(values[1], "log()") if len(values) == 2 else math.e
    if x <= 0 or base <= 0 or base == 1:
        raise _Refused("a logarithm takes a positive number, and a positive base other than 1")
    return math.log(x, base) if len(values) == 2 else math.log(x)


def _pow(values: list):
    """Python's pow(x, y): an int for ints and y >= 0, a float otherwise; refused where Python raises
    or gives a complex number, and before an int too large to keep is computed."""
    x, y = _real(values[0], "pow()"), _real(values[1], "pow()")
    if x == 0 and y < 0:
        raise _Refused("0 has no negative power")
    if x < 0 and not float(y).is_integer():
        raise _Refused("a negative number has no fractional power")
    if is_int(x) and is_int(y) and y > 0 and abs(x) > 1 and y * math.log2(abs(x)) > 64:
        raise _Refused("the result is too large", help=f"integers are at most {MAX_INT:,} (2**63 - 1)")
    try:
        return pow(x, y)
    except OverflowError:
        raise _Refused("the result is too large") from None


def _abs(values: list):
    x = _number(values[0], "abs()")
    if isinstance(x, Expr):
        raise _Refused("a symbolic size is positive already")
    return abs(x)


# The functions expressions may call: Python's, for widths computed as torchvision
# computes them (`_make_divisible`: max(d, int(v + d / 2) // d * d); RegNet's
# widths, quantised in log space with log and pow).
BUILTINS: dict[str, Builtin] = {
    "min": Builtin((1, math.inf), lambda v: _extreme(v, False), "the smallest argument, or item of one list"),
    "max": Builtin((1, math.inf), lambda v: _extreme(v, True), "the largest argument, or item of one list"),
    "round": Builtin((1, 2), _round, "round(x): the nearest int, halves to even (Python's); round(x, n): n digits"),
    "int": Builtin((1, 1), lambda v: _to_int(v[0], int, "int()"), "a number truncated toward zero"),
    "floor": Builtin((1, 1), lambda v: _to_int(v[0], math.floor, "floor()"), "the largest int <= x"),
    "ceil": Builtin((1, 1), lambda v: _to_int(v[0], math.ceil, "ceil()"), "the smallest int >= x"),
    "abs": Builtin((1, 1), _abs, "the absolute value"),
    "len": Builtin((1, 1), _length, "the number of items of a list, or characters of a string"),
    "sum": Builtin((1, 1), _sum, "the sum of a list of numbers"),
    "log": Builtin((1, 2), _log, "log(x): the natural logarithm (math.log); log(x, base)"),
    "pow": Builtin((2, 2), _pow, "pow(x, y): x to the power y (Python's)"),
}


def let_value(let: ast.Let, env: Env, evaluate: Evaluator, ctx: "EvalContext"):
    """What `let` binds: the value of its expression, or the function it defines."""
    if let.params is None:
        return evaluate(let.value, ctx)
    return FunctionValue(let.name.name, let.params, let.value, env)


_VERBS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "//": "divide", "%": "take the remainder of"}


@dataclass
class EvalContext:
    """What an expression can see: names, and (in bodies) `cur` and `in`."""

    env: Env
    report: "Reporter"
    # "cur", "in" or a tensor's name -> its TensorRef, or None when there is none of that name
    tensors: "Callable[[str], TensorRef | None] | None" = None
    # Names that are symbolic sizes: a mapping (a network body: its input's
    # symbols, each to its value: itself, or the size `--input` gave it), True
    # (an input declaration: any upper-case name) or False (none).
    symbols: "bool | Mapping[str, Any]" = False
    hidden_symbols: Collection[str] = ()  # the network's symbols, seen from a block (for the error)

    def tensor(self, name: str):
        return self.tensors(name) if self.tensors is not None else None

    def is_symbol(self, name: str) -> bool:
        if self.symbols is True:
            return name[:1].isupper()
        return self.symbols is not False and name in self.symbols

    def symbol(self, name: str):
        """A symbol's value: the size the input was given, or the symbol itself."""
        value = self.symbols.get(name) if isinstance(self.symbols, Mapping) else None
        return Expr.symbol(name) if value is None else value

    def known_symbols(self) -> list[str]:
        return [] if isinstance(self.symbols, bool) else list(self.symbols)
