"""AST to graph: names, blocks, repeat, if, let, expressions, `cur` and `in`.

`elaborate_network` turns one network of a loaded program into an
`ir.Graph`. Statements run in order against a current tensor (a `Flow`);
every layer becomes a node whose shape `passes.infer_node` works out at once,
so `cur.c` is known while the spec is still being read; `passes.check` runs at
the end. Errors are reported and elaboration goes on: a layer whose arguments
are wrong makes the flow *failed*, and the layers after it are kept with an
unknown shape and no further error (one root cause, one error). Only the
limits (E403, E404) stop a network early.

Naming (docs/internals.md): a node's name is its dotted module path. Parts
come from labels, else from the op or block name and a counter per scope
(`conv1`, `residual2`); layers inside a path of `concat`/`add`/`residual`
are prefixed with the merge and the path (`concat1_p2_conv1`). A labelled
statement of several layers becomes a group scope of that name
(`stem: conv(...) bn relu` gives `stem.conv1`, `stem.bn1`, `stem.relu1`).
Bindings (`y = ...`) name tensors, not modules.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable, Collection, Iterable

from . import passes, syntax as ast
from .diagnostics import Collector, Frame
from .ir import Graph, Port, Scope
from .limits import DEFAULT_LIMITS, MAX_INT, MAX_SEQUENCE, MAX_SYMBOLIC_TERMS, Limits
from .ops import OPS, bind, suggest
from .shapes import UNKNOWN, Expr, compare_eq, format_shape
from .source import Span


# -- values ----------------------------------------------------------------------------------
class _Fail:
    """An expression that could not be evaluated; its error is already reported."""

    def __repr__(self) -> str:
        return "FAIL"


FAIL: Any = _Fail()


@dataclass(frozen=True)
class TensorRef:
    """The value of `cur` or `in`: only its shape attributes can be used."""

    name: str
    shape: Any  # a shape tuple, or UNKNOWN


# Shape attributes by rank: [F], [C, L], [C, H, W], [C, D, H, W].
ATTRIBUTES = {1: ("f",), 2: ("c", "l"), 3: ("c", "h", "w"), 4: ("c", "d", "h", "w")}
RANK_FORMS = {1: "[F]", 2: "[C, L]", 3: "[C, H, W]", 4: "[C, D, H, W]"}


def show(value) -> str:
    """A value as archlang text: `[96, 128]`, `true`, `"same"`, `1e-05`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, TensorRef):
        return value.name
    return str(value)


def type_name(value) -> str:
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, tuple):
        return "a list"
    if isinstance(value, Expr):
        return "a symbolic size"
    if isinstance(value, TensorRef):
        return "a tensor"
    return type(value).__name__


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def from_python(value) -> Any:
    """A value given from Python (`--set`, `Program.network(**params)`) as an archlang value."""
    if isinstance(value, list):
        return tuple(from_python(v) for v in value)
    return value


def out_of_range(value) -> str | None:
    """Why a value is no archlang value (a huge int, inf, a dict...), or None.

    The parser and the evaluator never make one; values from Python (`--set`,
    keyword arguments of the API) are checked with this.
    """
    if isinstance(value, bool) or isinstance(value, str):
        return None
    if isinstance(value, int):
        return None if -MAX_INT <= value <= MAX_INT else f"{value} is out of range (integers are at most 2**63 - 1)"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a finite number"
    if isinstance(value, tuple):
        if len(value) > MAX_SEQUENCE:
            return f"a list of {len(value):,} items is longer than {MAX_SEQUENCE:,}"
        return next((why for why in map(out_of_range, value) if why), None)
    return f"{value!r} is not an archlang value (numbers, true/false, strings and lists of them)"


# -- environments --------------------------------------------------------------------------
class Env:
    """Names and their values: constants, parameters, `let`s, loop variables.

    Each body has its own (a `let` in a repeat is local to that iteration);
    lookups go outwards.
    """

    __slots__ = ("vars", "parent")

    def __init__(self, parent: "Env | None" = None, values: dict | None = None) -> None:
        self.vars: dict[str, Any] = values if values is not None else {}
        self.parent = parent

    def lookup(self, name: str):
        env = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        raise KeyError(name)

    def names(self) -> set[str]:
        out: set[str] = set()
        env = self
        while env is not None:
            out.update(env.vars)
            env = env.parent
        return out


# -- expressions ---------------------------------------------------------------------------
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
        self._by_type: dict[type, Callable] = {
            ast.Num: lambda e, c: e.value, ast.Str: lambda e, c: e.value, ast.Bool: lambda e, c: e.value,
            ast.Name: self._name, ast.List: self._list, ast.Attr: self._attr, ast.Index: self._index,
            ast.Unary: self._unary, ast.Binary: self._binary, ast.Compare: self._compare, ast.Cond: self._cond,
        }

    def __call__(self, expr, ctx: "EvalContext"):
        return self._by_type[type(expr)](expr, ctx)

    def condition(self, expr, ctx: "EvalContext"):
        """A value that must be true or false (if, `and`, `or`, `not`)."""
        value = self(expr, ctx)
        if value is FAIL or isinstance(value, bool):
            return value
        help_ = "compare it, as in `n != 0`" if _is_number(value) else None
        return self._fail(ctx, "E212", f"expected true or false, got {show(value)} ({type_name(value)})", expr.span,
                          help=help_)

    @staticmethod
    def _fail(ctx: "EvalContext", code: str, message: str, span: Span, **kw):
        ctx.report.error(code, message, span, **kw)
        return FAIL

    # -- names and attributes ----------------------------------------------------------------
    def _name(self, e: ast.Name, ctx: "EvalContext"):
        if e.id in ("cur", "in"):
            shape = ctx.tensor(e.id)
            if shape is not None:
                return TensorRef(e.id, shape)
            where = "in a network or block body" if e.id == "cur" else "in a block, path, repeat or if body"
            return self._fail(ctx, "E212", f"`{e.id}` has no tensor here: it exists {where}", e.span)
        try:
            return ctx.env.lookup(e.id)
        except KeyError:
            pass
        if ctx.is_symbol(e.id):
            return Expr.symbol(e.id)
        if e.id in ctx.hidden_symbols:
            return self._fail(ctx, "E209", f"`{e.id}` is a symbol of the network's input, which a block does not "
                                      f"see", e.span, label="not defined in this block",
                              help="use the sizes of the tensor the block receives, such as `in.h` or `cur.w`")
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
        if not _is_int(index):
            return self._fail(ctx, "E212", f"an index must be an int, got {show(index)}", e.index.span)
        if not -len(value) <= index < len(value):
            return self._fail(ctx, "E212", f"index {index} is out of range for {show(value)} "
                                      f"({len(value)} item{'s' if len(value) != 1 else ''})", e.span,
                              label=f"valid indices are 0 to {len(value) - 1}" if value else "it is empty")
        return value[index]

    # -- operators -------------------------------------------------------------------------------
    def _unary(self, e: ast.Unary, ctx: "EvalContext"):
        if e.op == "not":
            value = self.condition(e.operand, ctx)
            return FAIL if value is FAIL else not value
        value = self(e.operand, ctx)
        if value is FAIL:
            return FAIL
        if not (_is_number(value) or isinstance(value, Expr)):
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
                (op == "*" and isinstance(a, (str, tuple)) and _is_int(b)):
            length = len(a) + len(b) if op == "+" else len(a) * b
            if length > MAX_SEQUENCE:  # `[1] * 1000000000` would allocate it all
                what = "string of {:,} characters" if isinstance(a, str) else "list of {:,} items"
                return self._fail(ctx, "E404", f"`{syntax_text(e)}` makes a {what.format(length)}, more than "
                                               f"{MAX_SEQUENCE:,}", e.span)
            return _ARITH[op](a, b)
        numeric = (_is_number(a) or isinstance(a, Expr)) and (_is_number(b) or isinstance(b, Expr))
        if not numeric:
            return self._fail(ctx, "E212", f"cannot {_VERBS[op]} {type_name(a)} ({show(a)}) and {type_name(b)} "
                                      f"({show(b)})", e.span)
        symbolic = isinstance(a, Expr) or isinstance(b, Expr)
        if symbolic and (isinstance(a, float) or isinstance(b, float) or op == "/"):
            return self._fail(ctx, "E212", f"`{syntax_text(e)}` mixes a symbolic size with {'/' if op == '/' else 'a float'}",
                              e.span, help="sizes are ints: use // for division" if op == "/" else None)
        if op in ("/", "//", "%") and not isinstance(b, Expr) and b == 0:
            return self._fail(ctx, "E212", f"division by zero in `{syntax_text(e)}`", e.span,
                              label=f"{syntax_text(e.right)} is 0")
        if op == "*" and isinstance(a, Expr) and isinstance(b, Expr) and \
                len(a.terms) * len(b.terms) > MAX_SYMBOLIC_TERMS ** 2:
            return self._too_complex(e, ctx)  # squaring (H + 1) twenty times: a million terms
        try:
            value = _ARITH[op](a, b)
        except (ZeroDivisionError, TypeError, ValueError, OverflowError) as exc:
            return self._fail(ctx, "E212", f"cannot evaluate `{syntax_text(e)}`: {exc}", e.span)
        # Values stay int64 and finite, like the literals: no 10**10000 to print, no inf in generated code.
        if (isinstance(value, int) and not -MAX_INT <= value <= MAX_INT) or \
                (isinstance(value, float) and not math.isfinite(value)):
            return self._fail(ctx, "E212", f"`{syntax_text(e)}` is too large", e.span,
                              help=f"integers are at most {MAX_INT:,} (2**63 - 1); other numbers about 1.8e308")
        if isinstance(value, Expr) and (len(value.terms) > MAX_SYMBOLIC_TERMS or
                                        any(not -MAX_INT <= c <= MAX_INT for _, c in value.terms)):
            return self._too_complex(e, ctx)
        return value

    def _too_complex(self, e: ast.Binary, ctx: "EvalContext"):
        return self._fail(ctx, "E212", f"`{syntax_text(e)}` makes a symbolic size too complex to work with", e.span,
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
            if op in ("==", "!=") and (_is_int(a) or isinstance(a, Expr)) and (_is_int(b) or isinstance(b, Expr)):
                equal = compare_eq(a, b)
                if equal is not None:
                    return equal if op == "==" else not equal
            elif op in _ORDER and (_is_int(a) or isinstance(a, Expr)) and (_is_int(b) or isinstance(b, Expr)):
                diff = a - b
                if _is_int(diff):
                    return _ORDER[op](diff, 0)
            return self._fail(ctx, "E212", f"`{syntax_text(e)}` depends on the input size", e.span,
                              help="a condition must be decided at compile time; give the input a fixed size")
        if op == "==":
            return type(a) is type(b) and a == b or (_is_number(a) and _is_number(b) and a == b)
        if op == "!=":
            return not (type(a) is type(b) and a == b or (_is_number(a) and _is_number(b) and a == b))
        if (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
            return _ORDER[op](a, b)
        return self._fail(ctx, "E212", f"cannot compare {type_name(a)} ({show(a)}) with {type_name(b)} ({show(b)})",
                          e.span)

    def _cond(self, e: ast.Cond, ctx: "EvalContext"):
        test = self.condition(e.test, ctx)
        if test is FAIL:
            return FAIL
        return self(e.body if test else e.orelse, ctx)


_VERBS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "//": "divide", "%": "take the remainder of"}


def syntax_text(e) -> str:
    return ast.expr_text(e)


@dataclass
class EvalContext:
    """What an expression can see: names, and (in bodies) `cur` and `in`."""

    env: Env
    report: "_Reporter"
    tensors: "Callable[[str], Any] | None" = None  # "cur"/"in" -> shape, or None when absent
    # Names that are symbolic sizes: a collection (a network body: its input's
    # symbols), True (an input declaration: any upper-case name) or False (none).
    symbols: "bool | Collection[str]" = False
    hidden_symbols: Collection[str] = ()  # the network's symbols, seen from a block (for the error)

    def tensor(self, name: str):
        return self.tensors(name) if self.tensors is not None else None

    def is_symbol(self, name: str) -> bool:
        if self.symbols is True:
            return name[:1].isupper()
        return self.symbols is not False and name in self.symbols

    def known_symbols(self) -> list[str]:
        return [] if isinstance(self.symbols, bool) else list(self.symbols)


# `cur` and `in` always mean these tensors: a constant, parameter or tensor of
# either name could never be read, so defining one is an error.
TENSOR_WORDS = {"cur": "the tensor the layer being called receives", "in": "the tensor that entered the body"}


def hides_tensor_word(ident: ast.Ident, what: str, report) -> bool:
    """E207 (and True) when `ident` would name a `what` `cur` or `in`."""
    meaning = TENSOR_WORDS.get(ident.name)
    if meaning is None:
        return False
    report.error("E207", f"`{ident.name}` cannot name a {what}: it always means {meaning}", ident.span,
                 label="a name the language keeps", help="choose another name")
    return True


# -- reporting with the call stack ----------------------------------------------------------------
class _Reporter:
    """A collector that stamps the current block call stack on each diagnostic.

    One problem at one place is reported once, even when a repeat runs the
    statement again with other values (`if i` is not true or false, twice).
    Inside a block call, one complaint about one value is reported once,
    wherever the block uses it: `inception(64, 96, ...)` fails at `c2[0]` and
    at `c2[1]`, but the mistake is the one argument of the call.
    """

    HINTS = 100   # did-you-mean searches in one run: each scans every name in scope

    def __init__(self, collector: Collector, frames: tuple[Frame, ...] = (), seen: set | None = None,
                 hints: list[int] | None = None) -> None:
        self.collector = collector
        self.frames = frames
        self.seen = seen if seen is not None else set()
        self.hints = hints if hints is not None else [self.HINTS]   # shared by the run's reporters

    def hint(self, name: str, candidates: Callable[[], Iterable[str]]) -> Callable[[], str | None]:
        """A did-you-mean for `name`, found only when asked (once), while the run's budget lasts.

        A typo inside `repeat 10000` is reported once, but was looked up ten
        thousand times among every name in scope; a file of thousands of
        unknown names made that quadratic. Now: at most HINTS lookups a run.
        """
        found: list = []

        def close() -> str | None:
            if not found:
                found.append(None)
                if self.hints[0] > 0:
                    self.hints[0] -= 1
                    found[0] = suggest(name, candidates())
            return found[0]

        return close

    def error(self, code: str, message: str, span: Span | None = None, **kw):
        kw.setdefault("call_stack", self.frames)
        stack = tuple(f.span.start for f in kw["call_stack"])
        keys = [(code, span.source.name if span else None, span.start if span else None, stack)]
        if stack:
            keys.append((code, message, stack))
        if any(k in self.seen for k in keys):
            return None
        self.seen.update(keys)
        if callable(kw.get("help")):  # made only for a diagnostic that is new
            kw["help"] = kw["help"]()
        return self.collector.error(code, message, span, **kw)

    warning = error

    def add(self, diag):
        if not diag.call_stack and self.frames:
            diag.call_stack = self.frames
        return self.collector.add(diag)


# -- the flow of tensors ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Flow:
    """A tensor: the node that makes it; `failed` once a layer on the way could not be built.

    A failed flow keeps the last node that was built (None if there is none,
    as after a merge of an unknown tensor): layers after it become nodes of
    unknown shape, and report nothing more.
    """

    node: int | None
    failed: bool = False

    def fail(self) -> "Flow":
        return Flow(self.node, True)


@dataclass(frozen=True)
class _Result:
    """What a statement made: a bound tensor (`name`) or a chain's result (None)."""

    name: str | None
    span: Span
    frames: tuple


class _Stop(Exception):
    """A limit was hit (E403, E404): stop elaborating this network."""


class _Names:
    """Local names in one scope: labels as given, the rest `op` + counter.

    The labels of the scope's body are reserved before anything is named, so
    an automatic `conv1` never takes a name a later label wants.
    """

    def __init__(self, reserved: set[str]) -> None:
        self.reserved = reserved
        self.taken: dict[str, Span | None] = {}
        self.counters: dict[str, int] = {}

    def auto(self, base: str) -> str:
        n = self.counters.get(base, 0)
        while True:
            n += 1
            name = f"{base}{n}"
            if name not in self.taken and name not in self.reserved:
                break
        self.counters[base] = n
        self.taken[name] = None
        return name

    def label(self, ident: ast.Ident, report: _Reporter) -> str | None:
        """Take a label; None (after E207) when the scope already has that name."""
        name = ident.name
        if name in self.taken:
            first = self.taken[name]
            if first is not None and first.start == ident.span.start and first.source is ident.span.source:
                report.error("E207", f"label `{name}` is inside a repeat: it would name a layer of every "
                                     f"iteration", ident.span, label="one name for several layers",
                             help="leave the label out (the layers get numbered names), or move it out of the repeat")
            else:
                notes = [f"`{name}` first names a layer at {first.location()}"] if first is not None else \
                    [f"`{name}` is already the name of a layer or input here"]
                report.error("E207", f"duplicate label `{name}`", ident.span, label="used twice in this scope",
                             notes=notes)
            return None
        self.taken[name] = ident.span
        return name


@dataclass
class _Body:
    """Where statements run: one body (network, block, path, repeat iteration, if branch)."""

    env: Env
    tensors: dict[str, Flow]          # named tensors bound in this body
    outer: "_Body | None"              # the body around it: tensor names are looked up outwards
    scope: Scope
    names: _Names
    prefix: str                        # "concat1_p2_" inside paths
    entry: Flow | None                 # `in`
    kind: str                          # "network", "block" or "nested"
    depth: int
    report: _Reporter

    def child(self, entry: Flow | None, prefix: str | None = None) -> "_Body":
        return _Body(Env(self.env), {}, self, self.scope, self.names, self.prefix if prefix is None else prefix,
                     entry, "nested", self.depth + 1, self.report)

    def find_tensor(self, name: str) -> Flow | None:
        body: _Body | None = self
        while body is not None:
            if name in body.tensors:
                return body.tensors[name]
            body = body.outer
        return None

    def tensor_names(self) -> set[str]:
        out: set[str] = set()
        body: _Body | None = self
        while body is not None:
            out.update(body.tensors)
            body = body.outer
        return out


# -- definitions a network sees ----------------------------------------------------------------
@dataclass
class Definitions:
    """What program.py hands over: blocks by name, the constants' values."""

    blocks: dict[str, ast.BlockDef]
    constants: dict[str, Any]


def elaborate_network(defs: Definitions, net: ast.NetworkDef, params: dict[str, Any] | None = None,
                      input: list | None = None, limits: Limits | None = None) -> Graph:
    """The graph of `net`, checked; its diagnostics are in `graph.diagnostics`. Never raises."""
    limits = limits or DEFAULT_LIMITS
    collector = Collector()
    elaborator = Elaborator(defs, limits, collector)
    graph = elaborator.network(net, params or {}, input)
    graph.diagnostics = collector.sorted()
    return graph


class Elaborator:
    def __init__(self, defs: Definitions, limits: Limits, collector: Collector) -> None:
        self.defs = defs
        self.limits = limits
        self.collector = collector
        self.graph: Graph | None = None
        self.evaluate = Evaluator()
        self.active_blocks: list[str] = []     # the block calls being elaborated, outermost first
        # For W504: the tensor each statement made, by node. An outer statement ends after
        # the inner ones it holds (a block call after the block's last line), so it has
        # the last word on a node they share.
        self.results: dict[int, _Result] = {}
        self.input_override: list | None = None
        self.symbols: dict[str, None] = {}  # the inputs' symbols so far, in order (a set that keeps it)
        self.block_labels: dict[str, set[str]] = {}  # block name -> the labels in its body

    # -- the network ------------------------------------------------------------------------------
    def network(self, net: ast.NetworkDef, overrides: dict[str, Any], input_shape: list | None) -> Graph:
        report = _Reporter(self.collector)
        header = net.name.span.source.span(net.span.start, net.name.span.end)
        env = self._bind_network_params(net, overrides, header, report)
        graph = self.graph = Graph(net.name.name, {k: v for k, v in env.vars.items()}, header)
        names = _Names(_labels_in(net.body))
        body = _Body(env, {}, None, graph.root, names, "", None, "network", 0, report)
        inputs = [s for s in net.body.stmts if isinstance(s, ast.Input)]
        if not inputs:
            report.error("E215", f"network {net.name.name} has no input", header, label="no `input` in its body",
                         help="start the body with `input [C, H, W]` (batch size left out)")
        elif input_shape is not None and len(inputs) != 1:
            report.error("E211", f"an input shape was given, but network {net.name.name} has {len(inputs)} inputs",
                         header)
            input_shape = None
        self.input_override = input_shape
        try:
            if inputs:
                flow = self.run(net.body.stmts, body, None)
                self._default_output(flow)
        except _Stop:  # a limit: the graph is partial, so the whole-graph checks would mislead
            self._name_ports(graph)
            return graph
        self._unused_tensors()
        self._name_ports(graph)
        passes.check(graph, self.collector, self.limits)
        return graph

    def _bind_network_params(self, net: ast.NetworkDef, overrides: dict[str, Any], header: Span,
                             report: _Reporter) -> Env:
        env = Env(Env(None, self.defs.constants))
        declared = [p.name.name for p in net.params]
        for name in overrides:
            if name not in declared:
                close = suggest(name, declared)
                takes = f"its parameters are {', '.join(declared)}" if declared else "it takes no parameters"
                report.error("E203", f"network {net.name.name} has no parameter {name}", header,
                             notes=[takes], help=f"did you mean `{close}`?" if close else None)
        for param in net.params:
            if param.name.name in overrides:
                value = from_python(overrides[param.name.name])
                why = out_of_range(value)
                if why:
                    report.error("E211", f"network {net.name.name}'s parameter {param.name.name}: {why}", header)
                    value = FAIL
                env.vars[param.name.name] = value
            elif param.default is not None:
                env.vars[param.name.name] = self.evaluate(param.default, EvalContext(env, report))
            else:
                report.error("E202", f"network {net.name.name} needs a value for its parameter {param.name.name}",
                             param.name.span, help=f"give one: --set {param.name.name}=... or "
                                                   f"network(..., {param.name.name}=...)")
                env.vars[param.name.name] = FAIL
        return env

    def _default_output(self, flow: Flow | None) -> None:
        """Without an `output` statement, the network's output is its last tensor."""
        graph = self.graph
        if not graph.outputs and flow is not None and flow.node is not None:
            graph.outputs.append(Port("y", flow.node, None))

    def _name_ports(self, graph: Graph) -> None:
        unnamed = [i for i, p in enumerate(graph.inputs) if not p.name]
        taken = {n.name for n in graph.nodes}
        for n, i in enumerate(unnamed, start=1):
            name = "x" if len(graph.inputs) == 1 else f"x{n}"
            while name in taken:
                name += "_"
            taken.add(name)
            port = graph.inputs[i]
            graph.inputs[i] = Port(name, port.node, port.span)
            node = graph[port.node]
            node.name = name

    def _unused_tensors(self) -> None:
        """W504: a bound tensor, or the result of a chain, that nothing reads and that is no output."""
        if self.collector.has_errors:
            return  # an error upstream is the likelier reason a tensor goes unread
        graph = self.graph
        outputs = {p.node for p in graph.outputs}
        warned: set[tuple[str, int]] = set()  # a block's line once, however many calls reach it
        for node, result in self.results.items():
            where = (result.span.file, result.span.start)
            if node in outputs or graph.users(node) or where in warned:
                continue
            warned.add(where)
            if result.name is not None:
                self.collector.warning("W504", f"tensor `{result.name}` is never used", result.span,
                                       label="bound here, read nowhere", help="use it, output it, or remove the binding",
                                       call_stack=result.frames)
            else:
                self.collector.warning("W504", "the result of this chain is never used", result.span,
                                       label="computed here, read nowhere", call_stack=result.frames,
                                       help="bind it (`a = ...`) to read it later, output it, or remove it")

    def _made(self, start: Flow, result: Flow, span: Span, body: _Body, name: str | None = None) -> None:
        """Remember the tensor a statement made, for W504."""
        if not result.failed and result.node is not None and (name is not None or result.node != start.node):
            self.results[result.node] = _Result(name, span, body.report.frames)

    # -- statements -------------------------------------------------------------------------------
    def run(self, stmts: Iterable, body: _Body, flow: Flow | None) -> Flow | None:
        for stmt in stmts:
            flow = self._STATEMENTS[type(stmt)](self, stmt, body, flow)
        return flow

    def _input(self, stmt: ast.Input, body: _Body, flow: Flow | None) -> Flow | None:
        if body.kind != "network":
            if self.active_blocks:
                body.report.error("E215", "a block has no input of its own: it starts from the tensor it is "
                                          "called on", stmt.span, label="not allowed in a block",
                                  help="remove it; use `in` for the tensor the block receives")
            else:
                body.report.error("E218", "`input` belongs at the top of a network body, not inside a "
                                          "repeat, if or path", stmt.span)
            return flow
        value = self.evaluate(stmt.shape, EvalContext(body.env, body.report, symbols=True))
        if self.input_override is not None:  # sizes from --input or the API: symbols by name
            value = tuple(Expr.symbol(d) if isinstance(d, str) else d for d in self.input_override)
        value = self._input_shape(value, stmt, body)
        name = stmt.name.name if stmt.name else ""
        if stmt.name is not None:
            if body.names.label(stmt.name, body.report) is None or self._bound_twice(stmt.name, body):
                name = ""
        local = name or f"input{len(self.graph.inputs) + 1}"
        node = self._add("input", {"shape": value}, (), stmt.span, local, body, label=None)
        if not value:
            node.shape, node.failed = UNKNOWN, True
        new = Flow(node.id, node.failed)
        self.graph.inputs.append(Port(name, node.id, stmt.span))
        if name:
            body.tensors[name] = new
        return new

    def _input_shape(self, value, stmt: ast.Input, body: _Body) -> tuple:
        """The declared shape, its symbols now known to the body; () after an error."""
        if value is FAIL:
            return ()
        if not isinstance(value, tuple):
            body.report.error("E211", f"an input shape is a list like [3, 224, 224], got {show(value)}",
                              stmt.shape.span)
            return ()
        for d in value:
            if isinstance(d, Expr) and d.atom() is None or not (_is_int(d) or isinstance(d, Expr)):
                body.report.error("E211", f"an input size is an int or a symbol, got {show(d)}", stmt.shape.span,
                                  help="name each size by itself, as in input [3, H, W]; relations between "
                                       "sizes belong in expect, as in expect [3, H, 2 * H]")
                return ()
        for d in value:
            if isinstance(d, Expr):
                self.symbols.setdefault(str(d), None)
        return value

    def _output(self, stmt: ast.Output, body: _Body, flow: Flow | None) -> Flow | None:
        if body.kind != "network":
            body.report.error("E218", "`output` belongs to a network body" +
                              (", not to a block: a block yields its last tensor" if self.active_blocks else
                               ", not inside a repeat, if or path"), stmt.span)
            return flow
        seen = {p.name for p in self.graph.outputs}
        for ident in stmt.names:
            target = self._tensor(ident, body, flow)
            if target is None:
                continue
            if ident.name in seen:
                body.report.error("E207", f"`{ident.name}` is output twice", ident.span)
                continue
            seen.add(ident.name)
            if target.node is not None:
                self.graph.outputs.append(Port(ident.name, target.node, ident.span))
        return flow

    def _let(self, stmt: ast.Let, body: _Body, flow: Flow | None) -> Flow | None:
        if hides_tensor_word(stmt.name, "constant", body.report):
            return flow
        if stmt.name.name in body.env.vars:
            body.report.error("E207", f"`{stmt.name.name}` is defined twice in this body", stmt.name.span,
                              label="already defined")
            return flow
        body.env.vars[stmt.name.name] = self.evaluate(stmt.value, self._ctx(body, flow))
        return flow

    def _expect(self, stmt: ast.Expect, body: _Body, flow: Flow | None) -> Flow | None:
        if flow is None:
            return self._no_input(stmt, body)
        ctx = self._ctx(body, flow)
        if isinstance(stmt.shape, ast.List):  # written out: `_` is allowed among the sizes
            expected = [None if isinstance(i, ast.Name) and i.id == "_" else self.evaluate(i, ctx)
                        for i in stmt.shape.items]
        else:  # a list-valued expression: `expect s` after `let s = [64, 56, 56]`
            value = self.evaluate(stmt.shape, ctx)
            if value is FAIL:
                return flow
            if not isinstance(value, tuple):
                body.report.error("E211", f"expect takes a shape, like expect [64, _, _], got {show(value)}",
                                  stmt.shape.span)
                return flow
            expected = list(value)
        if flow.failed or any(v is FAIL for v in expected):
            return flow
        bad = [v for v in expected if v is not None and not (_is_int(v) or isinstance(v, Expr))]
        if bad:
            body.report.error("E211", f"expect takes sizes (ints, symbols or _), got {show(bad[0])}",
                              stmt.shape.span)
            return flow
        passes.check_expect(self.graph, flow.node, expected, stmt.span, self.collector, body.report.frames)
        return flow

    def _repeat(self, stmt: ast.Repeat, body: _Body, flow: Flow | None) -> Flow | None:
        count = self.evaluate(stmt.count, self._ctx(body, flow))
        if count is FAIL:
            return flow
        if not _is_int(count) or count < 0:
            body.report.error("E212", f"repeat needs a count that is an int >= 0, got {show(count)}",
                              stmt.count.span)
            return flow
        if count > self.limits.max_repeat:
            body.report.error("E404", f"repeat {count} is more than the limit of {self.limits.max_repeat:,}",
                              stmt.count.span, help="raise the bound with --max-repeat")
            return flow
        for i in range(count):
            inner = self._nested(body, flow, stmt.span)
            if stmt.var is not None:
                inner.env.vars[stmt.var.name] = i
            flow = self.run(stmt.body.stmts, inner, flow)
        return flow

    def _if(self, stmt: ast.If, body: _Body, flow: Flow | None) -> Flow | None:
        test = self.evaluate.condition(stmt.test, self._ctx(body, flow))
        if test is FAIL:
            return flow
        if test:
            return self.run(stmt.then.stmts, self._nested(body, flow, stmt.span), flow)
        if isinstance(stmt.orelse, ast.If):
            return self._if(stmt.orelse, body, flow)
        if stmt.orelse is not None:
            return self.run(stmt.orelse.stmts, self._nested(body, flow, stmt.span), flow)
        return flow

    def _layers(self, stmt: ast.Layers, body: _Body, flow: Flow | None) -> Flow | None:
        start, items = self._head(stmt.chain, body, flow)
        if start is None:
            return self._no_input(stmt, body)
        if stmt.label is None:
            result = self._chain_items(items, body, start)
        else:
            result = self._labelled(stmt.label, items, body, start, stmt.chain)
        self._made(start, result, stmt.span, body)
        return result

    def _bind(self, stmt: ast.Bind, body: _Body, flow: Flow | None) -> Flow | None:
        start, items = self._head(stmt.chain, body, flow)
        if start is None:
            return self._no_input(stmt, body)
        result = self._chain_items(items, body, start)
        if not self._bound_twice(stmt.target, body):
            body.tensors[stmt.target.name] = result
            self._made(start, result, stmt.target.span, body, stmt.target.name)
        return result

    _STATEMENTS: dict[type, Callable] = {}

    def _bound_twice(self, ident: ast.Ident, body: _Body) -> bool:
        """E207 (and True) for a tensor name already bound in this body, or `cur`/`in`."""
        if hides_tensor_word(ident, "tensor", body.report):
            return True
        if ident.name not in body.tensors:  # a nested body may shadow an outer name
            return False
        body.report.error("E207", f"tensor `{ident.name}` is bound twice", ident.span,
                          label="bound again here", help="give the second tensor a name of its own")
        return True

    def _no_input(self, stmt, body: _Body) -> None:
        if not self.active_blocks:
            body.report.error("E215", "a layer before the network's input", stmt.span,
                              help="the first statement of a network is its `input`")
        return None

    # -- chains -----------------------------------------------------------------------------------
    def _head(self, chain: ast.Chain, body: _Body, flow: Flow | None) -> tuple[Flow | None, tuple]:
        """Where a chain starts: a named tensor, a merge, or the current tensor (None if
        there is none yet); and the chain's layers after that start."""
        first = chain.items[0]
        if isinstance(first, ast.Merge):
            return self._merge(first, body, flow), chain.items[1:]
        if isinstance(first, ast.Call) and not first.parens:
            name = first.callee.name
            tensor = self._named_tensor(name, body, flow)
            if tensor is not None:
                return tensor, chain.items[1:]
        return flow, chain.items

    def _named_tensor(self, name: str, body: _Body, flow: Flow | None) -> Flow | None:
        if name == "cur":
            return flow
        if name == "in":
            return body.entry
        return body.find_tensor(name)

    def _tensor(self, ident: ast.Ident, body: _Body, flow: Flow | None) -> Flow | None:
        """A tensor named in a merge or an output; E217 when there is none of that name."""
        found = self._named_tensor(ident.name, body, flow)
        if found is not None:
            return found
        if ident.name in ("in", "cur"):
            body.report.error("E217", f"`{ident.name}` names no tensor here" +
                              (": a network body has no `in`; name its input, as in `input x: [3, H, W]`"
                               if ident.name == "in" else ""), ident.span)
            return None
        close = body.report.hint(ident.name, lambda: body.tensor_names() | {"in", "cur"})
        body.report.error("E217", f"no tensor named `{ident.name}`", ident.span, label="unknown tensor",
                          help=lambda: f"did you mean `{close()}`?" if close() else
                          "name a tensor with a binding first: `a = x -> conv(16, k=3)`")
        return None

    def _chain_items(self, items: Iterable, body: _Body, flow: Flow, label: str | None = None) -> Flow:
        for item in items:
            flow = self._LAYERS[type(item)](self, item, body, flow, label)
        return flow

    def _labelled(self, ident: ast.Ident, items: tuple, body: _Body, flow: Flow, chain: ast.Chain) -> Flow:
        """A labelled statement: one layer takes the name; several become a group scope."""
        label = body.names.label(ident, body.report)
        if label is None:
            return self._chain_items(items, body, flow)
        if len(items) == 1:
            return self._chain_items(items, body, flow, label)
        if not items:
            body.report.error("E218", f"label `{label}` names no layer", ident.span)
            return flow
        scope = Scope(path=_join(body.scope.path, label), block=label, call=label, span=None,
                      parent=body.scope, entry=flow.node)
        body.scope.children.append(scope)
        inner = _Body(body.env, body.tensors, body.outer, scope, _Names(_labels_in(chain)), "", body.entry,
                      body.kind, body.depth, body.report)
        first = len(self.graph.nodes)
        result = self._chain_items(items, inner, flow)
        scope.exit = result.node
        made = self.graph.nodes[first:]  # every node made since is inside the group
        scope.key = (label, tuple((n.op, _hashable(n.args)) for n in made), self._shape(flow))
        return result

    # -- layers -----------------------------------------------------------------------------------
    def _call(self, call: ast.Call, body: _Body, flow: Flow, label: str | None) -> Flow:
        name = call.callee.name
        block = self.defs.blocks.get(name)
        if block is not None:
            return self._call_block(block, call, body, flow, label)
        spec = OPS.get(name)
        if spec is not None and not spec.merge:
            return self._call_op(name, call, body, flow, label)
        if name == "identity":
            if call.args:
                body.report.error("E214", "identity takes no arguments", call.args[0].span)
            return flow
        self._unknown_layer(call, body, spec is not None)
        return flow.fail()

    def _unknown_layer(self, call: ast.Call, body: _Body, is_merge: bool) -> None:
        name = call.callee.name
        if is_merge or name == "cat":
            body.report.error("E218", f"`{name}` is not a layer: merge paths with `{name if name != 'cat' else 'concat'}"
                                      f" {{ | ... | ... }}`, or named tensors with `cat(a, b)` / `add(a, b)` at "
                                      f"the start of a chain", call.span)
            return
        if body.find_tensor(name) is not None or name in ("in", "cur"):
            body.report.error("E218", f"`{name}` is a tensor: a chain can start from a tensor, not pass through "
                                      f"one", call.callee.span, help=f"start a new statement: `{name} -> ...`")
            return
        guess = body.report.hint(name, lambda: list(OPS) + list(self.defs.blocks) + ["identity"])

        def did_you_mean() -> str | None:
            lower = name.lower()
            known = lower in OPS or lower in self.defs.blocks or lower == "identity"
            close = (lower if known else None) or _torch_name(name) or guess()
            return f"did you mean `{close}`?" if close else None

        body.report.error("E201", f"unknown layer or block `{name}`", call.callee.span, label="not a layer or block",
                          help=did_you_mean)

    def _call_op(self, op: str, call: ast.Call, body: _Body, flow: Flow, label: str | None) -> Flow:
        positional, keywords, ok = self._arguments(call, body, flow)
        args = bind(op, positional, keywords, call.span, body.report) if ok else None
        if args is None:
            return flow.fail()
        local = label or body.names.auto(body.prefix + op)
        node = self._add(op, args, (flow,), call.span, local, body, label)
        return Flow(node.id, node.failed)

    def _arguments(self, call: ast.Call, body: _Body, flow: Flow):
        positional, keywords, ok = [], [], True
        ctx = None
        for arg in call.args:
            if type(arg.value) in _LITERALS:  # most arguments: no context needed
                value = arg.value.value
            else:
                ctx = ctx or self._ctx(body, flow)
                value = self.evaluate(arg.value, ctx)
            ok = ok and value is not FAIL
            if isinstance(value, TensorRef):
                body.report.error("E204", f"`{value.name}` is a tensor, not an argument value",
                                           arg.value.span, help=f"use one of its sizes, like {value.name}.c")
                ok = False
            if arg.name is None:
                positional.append((value, arg.value.span))
            else:
                keywords.append((arg.name.name, value, arg.name.span, arg.value.span))
        return positional, keywords, ok

    def _call_block(self, block: ast.BlockDef, call: ast.Call, body: _Body, flow: Flow, label: str | None) -> Flow:
        name = block.name.name
        if name in self.active_blocks:
            chain = " -> ".join(self.active_blocks[self.active_blocks.index(name):] + [name])
            body.report.error("E208", f"block {name} calls itself ({chain})", call.span)
            return flow.fail()
        bound = self._bind_block(block, call, body, flow)
        if bound is None:
            return flow.fail()
        values, shown = bound
        self._check_depth(body, call.span)
        local = label or body.names.auto(body.prefix + name.lower())
        scope = Scope(path=_join(body.scope.path, local), block=name, call=f"{name}({shown})", span=call.span,
                      parent=body.scope, key=(name, tuple(values.items()), self._shape(flow)),
                      entry=flow.node)
        body.scope.children.append(scope)
        report = _Reporter(self.collector, scope.frames(), body.report.seen, body.report.hints)
        env = Env(Env(None, self.defs.constants), values)
        inner = _Body(env, {}, None, scope, _Names(self._labels(block)), "", flow, "block", body.depth + 1, report)
        self.active_blocks.append(name)
        try:
            result = self.run(block.body.stmts, inner, flow)
        finally:
            self.active_blocks.pop()
        scope.exit = result.node
        return result

    def _bind_block(self, block: ast.BlockDef, call: ast.Call, body: _Body, flow: Flow):
        """A block call's arguments bound to its parameters, and the call's text; None after errors."""
        name = block.name.name
        ctx = self._ctx(body, flow)
        params = [p.name.name for p in block.params]
        given: dict[str, Any] = {}
        ok = True
        shown = []
        positional = [a for a in call.args if a.name is None]
        if len(positional) > len(params):
            body.report.error("E214", f"{name} takes {len(params)} argument{'s' if len(params) != 1 else ''} "
                                      f"({', '.join(params) or 'none'}), got {len(positional)}",
                              positional[len(params)].span, label="too many")
            ok = False
        for arg in call.args:
            value = self.evaluate(arg.value, ctx)
            ok = ok and value is not FAIL
            if arg.name is None:
                index = positional.index(arg)
                if index < len(params):
                    given[params[index]] = value
                shown.append(show(value))
                continue
            key = arg.name.name
            if key not in params:
                close = suggest(key, params)
                body.report.error("E203", f"{name} has no parameter {key}", arg.name.span, label="unknown parameter",
                                  notes=[f"it takes {_signature(block)}"],
                                  help=f"did you mean `{close}`?" if close else None)
                ok = False
            elif key in given:
                body.report.error("E210", f"parameter {key} of {name} given twice", arg.name.span,
                                  label="given again here")
                ok = False
            else:
                given[key] = value
            shown.append(f"{key}={show(value)}")
        values: dict[str, Any] = {}
        defaults = EvalContext(Env(Env(None, self.defs.constants), values), body.report,
                               tensors=lambda which: self._shape(flow))
        for param in block.params:
            if param.name.name in given:
                values[param.name.name] = given[param.name.name]
            elif param.default is not None:
                values[param.name.name] = self.evaluate(param.default, defaults)
                ok = ok and values[param.name.name] is not FAIL
            else:
                body.report.error("E202", f"{name} needs argument {param.name.name}", call.span,
                                  help=f"{name}({_signature(block)})")
                ok = False
        return (values, ", ".join(shown)) if ok else None

    def _paths(self, paths: ast.Paths, body: _Body, flow: Flow, label: str | None) -> Flow:
        op = paths.op
        local = label or body.names.auto(body.prefix + op)
        results = [self._path(p, i, local, body, flow, paths.span) for i, p in enumerate(paths.paths, start=1)]
        return self._merge_node(op, results, paths.span, local, body, label)

    def _residual(self, res: ast.Residual, body: _Body, flow: Flow, label: str | None) -> Flow:
        local = label or body.names.auto(body.prefix + "residual")
        main = self._path(res.body, 1, local, body, flow, res.span)
        shortcut = self._path(res.shortcut, 2, local, body, flow, res.span) if res.shortcut is not None else flow
        return self._merge_node("add", [main, shortcut], res.span, local, body, label)

    def _path(self, path: ast.Body, index: int, merge_name: str, body: _Body, flow: Flow, span: Span) -> Flow:
        inner = self._nested(body, flow, span, prefix=f"{merge_name}_p{index}_")
        return self.run(path.stmts, inner, flow)

    def _merge(self, merge: ast.Merge, body: _Body, flow: Flow | None) -> Flow:
        """`cat(a, b -> upsample(2))`: a failed flow (and no merge node) if an input is unknown."""
        results: list[Flow] = []
        missing = False
        for chain in merge.inputs:
            first = chain.items[0]
            if not (isinstance(first, ast.Call) and not first.parens):
                body.report.error("E218", f"{merge.op}() takes named tensors, as in {merge.op}(a, b -> upsample(2))",
                                  first.span)
                missing = True
                continue
            start = self._tensor(first.callee, body, flow)
            if start is None:
                missing = True
                continue
            results.append(self._chain_items(chain.items[1:], body, start))
        if missing:
            return Flow(None, True)
        op = "concat" if merge.op == "cat" else "add"
        return self._merge_node(op, results, merge.span, body.names.auto(body.prefix + op), body, None)

    def _merge_node(self, op: str, inputs: list[Flow], span: Span, local: str, body: _Body, label: str | None) -> Flow:
        node = self._add(op, {}, tuple(inputs), span, local, body, label)
        return Flow(node.id, node.failed)

    _LAYERS: dict[type, Callable] = {}

    def _labels(self, block: ast.BlockDef) -> set[str]:
        labels = self.block_labels.get(block.name.name)
        if labels is None:
            labels = self.block_labels[block.name.name] = _labels_in(block.body)
        return labels

    # -- nodes, scopes and limits ------------------------------------------------------------------
    def _add(self, op: str, args: dict, inputs: tuple, span: Span, local: str, body: _Body, label: str | None):
        graph = self.graph
        if len(graph.nodes) >= self.limits.max_layers:
            body.report.error("E404", f"network {graph.name} has more than {self.limits.max_layers:,} layers",
                              span, help="raise the bound with --max-layers")
            raise _Stop
        flows = [f for f in inputs]
        node = graph.add_node(op, args, tuple(f.node for f in flows if f.node is not None), span,
                              _join(body.scope.path, local),
                              body.scope, label)
        # infer_node stays silent about a failed input, but still reports the
        # errors of the node's own arguments (groups, p="same" with a stride...).
        node.failed = any(f.failed for f in flows)
        passes.infer_node(graph, node, self.collector, self.limits)
        return node

    def _nested(self, body: _Body, flow: Flow | None, span: Span, prefix: str | None = None) -> _Body:
        self._check_depth(body, span)
        return body.child(flow, prefix)

    def _check_depth(self, body: _Body, span: Span) -> None:
        if body.depth + 1 > self.limits.max_depth:
            body.report.error("E403", f"nesting deeper than the limit of {self.limits.max_depth}", span,
                              help="raise the bound with --max-depth")
            raise _Stop

    def _shape(self, flow: Flow):
        return UNKNOWN if flow.failed or flow.node is None else self.graph[flow.node].shape

    def _ctx(self, body: _Body, flow: Flow | None) -> EvalContext:
        """What an expression in `body` sees. A block's body does not see the network's
        symbols: a block is written for any network, and takes sizes from `in`."""

        def tensor(which: str):
            target = flow if which == "cur" else body.entry
            return None if target is None else self._shape(target)

        if self.active_blocks:
            return EvalContext(body.env, body.report, tensor, (), self.symbols)
        return EvalContext(body.env, body.report, tensor, self.symbols)


Elaborator._STATEMENTS = {
    ast.Input: Elaborator._input, ast.Output: Elaborator._output, ast.Let: Elaborator._let,
    ast.Expect: Elaborator._expect, ast.Repeat: Elaborator._repeat, ast.If: Elaborator._if,
    ast.Layers: Elaborator._layers, ast.Bind: Elaborator._bind,
}
Elaborator._LAYERS = {
    ast.Call: Elaborator._call, ast.Paths: Elaborator._paths, ast.Residual: Elaborator._residual,
}


# -- helpers ------------------------------------------------------------------------------------
_LITERALS = frozenset({ast.Num, ast.Str, ast.Bool})


def _join(path: str, local: str) -> str:
    return f"{path}.{local}" if path else local


def _hashable(args: dict) -> tuple:
    return tuple(sorted(args.items()))


def _signature(block: ast.BlockDef) -> str:
    return ", ".join(p.name.name if p.default is None else f"{p.name.name}={ast.expr_text(p.default)}"
                     for p in block.params)


def _labels_in(node) -> set[str]:
    """The labels of a scope's body (or chain), through repeat, if and paths but not into block calls."""
    return {n.label.name for n in ast.walk_layers(node) if isinstance(n, ast.Layers) and n.label is not None}


# PyTorch class names users type from habit, and archlang's names for them.
_TORCH_NAMES = {
    "conv1d": "conv", "conv2d": "conv", "conv3d": "conv", "batchnorm": "bn", "batchnorm1d": "bn",
    "batchnorm2d": "bn", "batchnorm3d": "bn", "maxpool2d": "maxpool", "avgpool2d": "avgpool",
    "adaptiveavgpool2d": "adaptive_avgpool", "fc": "linear", "leakyrelu": "leaky_relu",
    "globalavgpool": "gap", "upsampling": "upsample", "localresponsenorm": "lrn",
}


def _torch_name(name: str) -> str | None:
    return _TORCH_NAMES.get(name.lower().replace("_", ""))
