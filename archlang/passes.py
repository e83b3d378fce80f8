"""The passes over a graph: shape inference, counting, validation, solving.

`infer_node` runs as elaboration adds each node, so `cur.*` is known while
the spec is still being elaborated; `check` runs once at the end: `solve`
(the smallest input and the conditions on symbolic sizes), `count`
(parameters and MACs) and `validate` (limits, layers that do nothing).

Diagnostics carry the shapes on both sides and the call stack of the layer.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any, Callable

from .diagnostics import Collector, Diagnostic
from .ir import Constraint, Graph, Node
from .limits import DEFAULT_LIMITS, MAX_INT, Limits
from .ops import OPS, InferContext, ShapeFailure, path_notes
from .shapes import (UNKNOWN, Expr, compare_eq, compile_dims, conv_out, evaluate, evaluate_shape, format_shape,
                     is_concrete, numel)
from .source import Span

# --------------------------------------------------------------------------- constraints


@dataclass
class SizeConstraint(Constraint):
    """A constraint a shape rule recorded: `lhs rel rhs` over the symbols, with its error code."""

    code: str = "E305"
    lhs: Any = 0
    rel: str = ">="
    rhs: Any = 0
    call_stack: tuple = ()


def _constraint(text: str, lhs, rel: str, rhs, code: str, span: Span | None, frames: tuple,
                node: int | None = None) -> SizeConstraint:
    holds = {">=": lambda a, b: a >= b, "==": lambda a, b: a == b}[rel]

    def check(env: dict) -> bool:
        return holds(evaluate(lhs, env), evaluate(rhs, env))

    return SizeConstraint(text, check, span, node, code=code, lhs=lhs, rel=rel, rhs=rhs, call_stack=frames)


# --------------------------------------------------------------------------- inference


def infer_node(graph: Graph, node: Node, collector: Collector, limits: Limits | None = None) -> None:
    """Infer one node's shape from its inputs' (already inferred) shapes.

    A node reading an UNKNOWN input (or marked failed by the caller because
    an input could not be built) is UNKNOWN and failed, silently: the root
    cause has its own error. Only the errors of its arguments alone (groups
    not dividing out, p="same" with a stride, ...) are still reported, since
    they are independent errors. A rule's failure becomes one diagnostic.
    Conditions that depend on symbolic sizes go to `graph.constraints`.
    A tensor of more than 2**63 - 1 elements is E402 at once: a `concat`
    that doubles the channels in a long repeat must stop there, not grow
    numbers of thousands of digits (the bound on all activations, much
    smaller, is checked at the end, in `validate`).
    """
    if node.op == "input":
        _infer_input(graph, node, collector)
        return
    spec = OPS[node.op]
    shapes = [graph[i].shape for i in node.inputs]
    try:
        if node.failed or any(s is UNKNOWN for s in shapes):
            node.shape, node.failed = UNKNOWN, True
            if spec.check_args is not None:  # an error of the arguments alone is independent of the input's
                spec.check_args(node.args)
            return
        _check_parameter_readers(graph, node, spec)
        ctx = InferContext(node.op, tuple(shapes), node.args)
        shape = spec.apply(ctx)
    except ShapeFailure as failure:
        node.shape, node.failed = UNKNOWN, True
        collector.add(_failure_diagnostic(graph, node, failure))
        return
    if _too_large(node, shape, collector):
        return
    node.shape = tuple(shape)
    for req in ctx.requirements:
        span, _ = _blame(graph, node, req.input_index)
        graph.constraints.append(_constraint(req.text, req.lhs, req.rel, req.rhs, req.code, span,
                                             node.scope.frames(), node.id))


def is_parameter(node: Node) -> bool:
    """A learnable tensor a block declares (`parameter`): it has no batch dimension."""
    return node.op != "input" and OPS[node.op].parameter


def _check_parameter_readers(graph: Graph, node: Node, spec) -> None:
    """E218 where a parameter would flow on without a batch: only an op that broadcasts it over
    the batch reads it (mul, add: OpSpec.takes_parameters), beside a tensor that has the batch."""
    held = [k for k, i in enumerate(node.inputs) if is_parameter(graph[i])]
    if not held:
        return
    name = graph[node.inputs[held[0]]].local_name
    if not spec.takes_parameters:
        raise ShapeFailure("E218", f"{node.op} cannot read the parameter `{name}`: a parameter has no batch "
                                   f"dimension", label=f"reads {name}",
                           help=f"multiply or add it to a tensor, as in `mul({name}, x)`; mul and add broadcast "
                                f"it over the batch")
    if len(held) == len(node.inputs):
        raise ShapeFailure("E218", f"{node.op} of parameters alone would have no batch dimension",
                           label=f"reads {name}", help=f"{node.op} a parameter with a tensor of the network")


def _too_large(node: Node, shape, collector: Collector) -> bool:
    """E402 (and the node failed) when one tensor holds more than MAX_INT elements."""
    ones = {name: 1 for d in shape if isinstance(d, Expr) for name in d.symbols()}
    elements = 1
    for d in shape:  # at the smallest input: every symbol 1, every size at least 1
        elements *= max(1, evaluate(d, ones))
    if elements <= MAX_INT:
        return False
    shown = format_shape(shape) if len(shape) <= 8 else f"a rank-{len(shape)} tensor"
    verb = "is" if node.op == "input" else "makes"
    node.shape, node.failed = UNKNOWN, True
    collector.error("E402", f"{node.op} {verb} {shown}: more than 2**63 - 1 elements per sample, more than any "
                            f"tensor can hold", node.span, call_stack=node.scope.frames())
    return True


def _infer_input(graph: Graph, node: Node, collector: Collector) -> None:
    dims = []
    for i, d in enumerate(node.args["shape"]):
        if isinstance(d, str):
            d = Expr.symbol(d)
        if isinstance(d, Expr) and i == 0:
            # Weights are sized by the channels: conv, bn and linear need them as numbers.
            collector.error("E211", f"the first dimension (channels or features) must be a number, got {d}",
                            node.span, help="only sizes may be symbols: input [3, H, W]",
                            call_stack=node.scope.frames())
            node.shape, node.failed = UNKNOWN, True
            return
        if isinstance(d, Expr):
            for name in sorted(d.symbols()):
                if name not in graph.symbols:
                    graph.symbols.append(name)
        elif not isinstance(d, int) or isinstance(d, bool) or d < 1:
            collector.error("E211", f"input sizes must be positive ints or symbols, got {d!r}", node.span,
                            call_stack=node.scope.frames())
            node.shape, node.failed = UNKNOWN, True
            return
        dims.append(d)
    if _too_large(node, dims, collector):
        return
    node.shape = tuple(dims)
    _batch_in_shape(node, collector)


def _batch_in_shape(node: Node, collector: Collector) -> None:
    """W505: [1, 3, 32, 32] is a batch of one image written in, read as [C, D, H, W] (one
    channel of depth 3), which makes every conv after it 3-D. A real volume has more
    than a few slices, so a depth of 1 to 4 after a single channel is taken for channels."""
    shape = node.shape
    if len(shape) != 4 or shape[0] != 1 or not isinstance(shape[1], int) or shape[1] > 4:
        return
    image = format_shape(shape[1:])
    collector.warning("W505", f"input {format_shape(shape)} is read as [C, D, H, W]: one channel of depth "
                              f"{shape[1]}, so every conv after it is 3-D", node.span,
                      label="4 sizes: a volume", help=f"shapes leave out the batch: for images write input {image}",
                      call_stack=node.scope.frames())


def _failure_diagnostic(graph: Graph, node: Node, failure: ShapeFailure) -> Diagnostic:
    if failure.input_index is None:
        return Diagnostic(failure.code, failure.message, node.span, label=failure.label, notes=failure.notes,
                          help=failure.help, call_stack=node.scope.frames())
    index, span, culprit = _blame_path(graph, node, failure.input_index)
    shapes = [graph[i].shape for i in node.inputs]
    if culprit is None:
        label = f"path {index + 1} yields {format_shape(shapes[index])}"
    else:
        label = f"this path yields {format_shape(shapes[index])}"
    # The graph knows more than the rule (which path is an identity): its advice first.
    help = _merge_help(graph, node, index, culprit) or failure.help
    return Diagnostic(failure.code, failure.message, span, label=label, notes=path_notes(shapes, skip=index),
                      help=help, call_stack=node.scope.frames())


def _blame(graph: Graph, node: Node, index: int | None) -> tuple[Span, Node | None]:
    """The span for a problem with the node's `index`-th input (None: the layer itself)."""
    if index is None:
        return node.span, None
    _, span, culprit = _blame_path(graph, node, index)
    return span, culprit


def _blame_path(graph: Graph, node: Node, index: int) -> tuple[int, Span, Node | None]:
    """Which path of a merge to point at, where, and the layer there that made its size.

    A path written inside the merge (`concat { | ... }`) is shown at the layer
    that produced the offending size. An `identity` path, or a named tensor
    bound elsewhere (`add(a, b)`), has no layer of its own there: then another
    disagreeing path written inside is shown, or else the merge itself.
    """
    key = _merge_key(node)
    order = [index] + [j for j in range(len(node.inputs)) if j != index]
    want = key(graph[node.inputs[index]].shape)
    for j in order:
        if j != index and key(graph[node.inputs[j]].shape) == want:
            continue  # agrees with the path at fault: not part of the disagreement
        culprit = _path_culprit(graph, node, j, key)
        if culprit is not None:
            span = _visible_span(culprit, node)
            if _within(span, node.span):
                return j, span, culprit
    return index, node.span, None


def _merge_key(node: Node) -> Callable:
    if node.op == "concat":
        return lambda shape: (len(shape), tuple(shape[1:])) if shape is not UNKNOWN else None
    return lambda shape: tuple(shape) if shape is not UNKNOWN else None


def _path_culprit(graph: Graph, node: Node, index: int, key: Callable) -> Node | None:
    """Walk back from the path's last layer while its size stays the same; None for an identity path."""
    src = graph[node.inputs[index]]
    chain = [src]
    while len(chain[-1].inputs) == 1 and len(chain) < 10_000:
        prev = graph[chain[-1].inputs[0]]
        if prev.op == "input" or key(prev.shape) != key(src.shape):
            break
        chain.append(prev)
    shared = _reachable_back(graph, [i for j, i in enumerate(node.inputs) if j != index],
                             lowest=min(n.id for n in chain))
    if src.id in shared:
        return None
    inside = [n for n in chain if n.id not in shared]
    return inside[-1] if inside else None


def _reachable_back(graph: Graph, starts: list[int], lowest: int) -> set[int]:
    """Nodes with id >= lowest from which one of `starts` can be reached (ids are topological)."""
    seen: set[int] = set()
    stack = [s for s in starts if s >= lowest]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(i for i in graph[n].inputs if i >= lowest)
    return seen


def _within(inner: Span, outer: Span) -> bool:
    return (inner is not None and outer is not None and inner.source is outer.source
            and outer.start <= inner.start and inner.end <= outer.end)


def _visible_span(culprit: Node, node: Node) -> Span:
    """The culprit's span as seen from the merge's scope: a block's call site if it sits inside one."""
    scope = culprit.scope
    while scope is not None and scope.parent is not None and scope is not node.scope and scope.parent is not node.scope:
        scope = scope.parent
    if scope is not None and scope is not node.scope and scope.parent is node.scope and scope.span is not None:
        return scope.span
    return culprit.span


def _merge_help(graph: Graph, node: Node, index: int, culprit: Node | None) -> str | None:
    """A concrete fix: a projection for an identity path of add, or the padding that makes sizes match."""
    shapes = [graph[i].shape for i in node.inputs]
    if culprit is None or not all(is_concrete(s) for s in shapes):
        return None
    shape = shapes[index]
    key = _merge_key(node)
    for j, other in enumerate(shapes):
        if node.op == "add" and other != shape and _path_culprit(graph, node, j, key) is None:
            return _projection_help(j, other, shape)
    others = [s for j, s in enumerate(shapes) if j != index]
    want = max(others, key=others.count)
    if len(want) != len(shape) or (node.op == "add" and want[0] != shape[0]):
        return None
    return _padding_help(graph, culprit, tuple(want[1:]))


def _projection_help(j: int, source: tuple, target: tuple) -> str | None:
    """d2l's use_1x1conv: a 1x1 conv on the identity path that gives the other path's shape."""
    if len(source) != len(target):
        return None
    for s in range(1, 9):
        if all(conv_out(a, 1, s) == b for a, b in zip(source[1:], target[1:])):
            stride = f", s={s}" if s > 1 else ""
            return (f"path {j + 1} passes its input {format_shape(source)} through unchanged; a 1x1 conv there, "
                    f"conv({target[0]}, k=1{stride}), gives {format_shape(target)}")
    return None


def _padding_help(graph: Graph, culprit: Node, target: tuple) -> str | None:
    spec = OPS.get(culprit.op)
    if spec is None or spec.fit_padding is None or len(culprit.inputs) != 1:
        return None
    source = graph[culprit.inputs[0]].shape
    if not is_concrete(source):
        return None
    pads = spec.fit_padding(source, culprit.args, target)
    if pads is None:
        return None
    p = pads[0] if len(set(pads)) == 1 else "[" + ", ".join(map(str, pads)) + "]"
    sizes = "x".join(map(str, target))
    k_text = culprit.args["k"] if isinstance(culprit.args["k"], int) else list(culprit.args["k"])
    verb = "keeps" if tuple(source[1:]) == target else "gives"
    return f"k={k_text} {verb} {sizes} with p={p}"


def check_expect(graph: Graph, node_id: int, expected, span: Span, collector: Collector, frames: tuple = ()) -> bool:
    """`expect [64, _, W]` on the tensor of `node_id`: E307 if it cannot hold, a constraint if it depends.

    `expected` holds ints, symbolic dims (or symbol names) and None or "_" for any size.
    """
    shape = graph[node_id].shape
    if shape is UNKNOWN:
        return True
    want = [Expr.symbol(e) if isinstance(e, str) and e != "_" else e for e in expected]
    shown = "[" + ", ".join("_" if e is None or e == "_" else str(e) for e in want) + "]"
    if len(want) != len(shape):
        collector.error("E307", f"expected a tensor {shown}, got {format_shape(shape)} (rank {len(shape)})", span,
                        label=f"the tensor here is {format_shape(shape)}", call_stack=frames)
        return False
    for i, (have, exp) in enumerate(zip(shape, want)):
        if exp is None or exp == "_":
            continue
        verdict = compare_eq(have, exp)
        if verdict is False:
            collector.error("E307", f"expected a tensor {shown}, got {format_shape(shape)}", span,
                            label=f"the tensor here is {format_shape(shape)}",
                            notes=[f"dimension {i + 1} is {have}, expected {exp}"], call_stack=frames)
            return False
        if verdict is None:
            graph.constraints.append(_constraint(f"{have} == {exp}", have, "==", exp, "E307", span, frames))
    return True


# --------------------------------------------------------------------------- solving

MAX_SIZE = 4096          # the largest size the solver tries for a symbol
_WINDOW = 512            # sizes scanned above the smallest to read conditions off
_RANDOM_POINTS = 2000    # extra points tried when symbols are coupled
_BOX = 12                # with up to 3 symbols, every point up to this size is tried too


class _Checker:
    """Every constraint, compiled, as a predicate on the symbols' values."""

    def __init__(self, names: list[str], constraints: list[Constraint]) -> None:
        self.names = names
        self.constraints = _dedupe(constraints)
        self.tests = [self._compile(c) for c in self.constraints]

    def _compile(self, c: Constraint) -> Callable[[tuple], bool]:
        if isinstance(c, SizeConstraint):
            fn = compile_dims([c.lhs, c.rhs], self.names, c.rel)
        else:
            fn = lambda values: c.holds(dict(zip(self.names, values)))  # noqa: E731
        return _safe(fn)

    def ok(self, values: tuple, upto: int | None = None) -> bool:
        tests = self.tests if upto is None else self.tests[:upto]
        return all(t(values) for t in tests)

    def failing(self, values: tuple) -> list[Constraint]:
        return [c for c, t in zip(self.constraints, self.tests) if not t(values)]


def _safe(fn: Callable[[tuple], bool]) -> Callable[[tuple], bool]:
    def test(values: tuple) -> bool:
        try:
            return bool(fn(values))
        except ZeroDivisionError:
            return False
    return test


def _dedupe(constraints: list[Constraint]) -> list[Constraint]:
    seen, out = set(), []
    for c in constraints:
        if c.text not in seen:
            seen.add(c.text)
            out.append(c)
    return out


def solve(graph: Graph, collector: Collector | None = None) -> None:
    """The smallest valid input and the conditions on the symbols; an error if no size works."""
    names = list(graph.symbols)
    if not names:
        return
    checker = _Checker(names, graph.constraints)
    point = _find_point(checker, len(checker.tests))
    if point is None:
        diag = _impossible(checker)
        (collector.add(diag) if collector is not None else graph.diagnostics.append(diag))
        return
    point = _descend(checker, point)
    graph.smallest_input = _inputs_at(graph, names, point)
    graph.conditions = _conditions(checker, point)
    if graph.training_nodes:   # eval mode does not run the layers only training outputs need (aux heads)
        in_eval = [c for c in graph.constraints if c.node not in graph.training_nodes]
        eval_checker = _Checker(names, in_eval)
        eval_point = _find_point(eval_checker, len(eval_checker.tests))
        if eval_point is not None:
            smallest = _inputs_at(graph, names, _descend(eval_checker, eval_point))
            graph.smallest_eval_input = smallest if smallest != graph.smallest_input else None


def _inputs_at(graph: Graph, names: list[str], point: tuple) -> list[tuple[int, ...]]:
    env = dict(zip(names, point))
    return [evaluate_shape(graph[p.node].shape, env) for p in graph.inputs if graph[p.node].shape is not UNKNOWN]


def smallest_env(graph: Graph) -> dict[str, int] | None:
    """The symbols' values at the smallest input (after `solve`), or None."""
    if not graph.symbols or graph.smallest_input is None:
        return None
    env: dict[str, int] = {}
    shapes = [graph[p.node].shape for p in graph.inputs if graph[p.node].shape is not UNKNOWN]
    for shape, values in zip(shapes, graph.smallest_input):
        for d, v in zip(shape, values):
            if isinstance(d, Expr) and d.atom() is not None:
                env[str(d)] = v
    return env if all(n in env for n in graph.symbols) else None


def _find_point(checker: _Checker, upto: int) -> tuple | None:
    n = len(checker.names)
    for t in range(1, MAX_SIZE + 1):
        if checker.ok((t,) * n, upto):
            return (t,) * n
    if n == 1:
        return None
    if n <= 3:  # sizes pinned to different values (D == 4, H == 5) are off the diagonal
        for values in itertools.product(range(1, _BOX + 1), repeat=n):
            if checker.ok(values, upto):
                return values
    rng = random.Random(0)
    for _ in range(_RANDOM_POINTS):
        values = tuple(int(2 ** rng.uniform(0, 12)) for _ in range(n))
        if checker.ok(values, upto):
            return values
    return None


def _descend(checker: _Checker, point: tuple) -> tuple:
    """Lower each symbol in turn to its smallest valid value, until nothing moves."""
    point = list(point)
    moved = True
    while moved:
        moved = False
        for i in range(len(point)):
            for v in range(1, point[i]):
                trial = tuple(point[:i] + [v] + point[i + 1:])
                if checker.ok(trial):
                    point[i], moved = v, True
                    break
    return tuple(point)


def _impossible(checker: _Checker) -> Diagnostic:
    """Point at the first constraint that no size satisfies together with the ones before it."""
    lo, hi = 0, len(checker.tests)  # feasible with lo constraints, infeasible with hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _find_point(checker, mid) is not None else (lo, mid)
    culprit = checker.constraints[hi - 1]
    needs = _readable(_Checker(checker.names, [culprit])) or [culprit.text]
    before = _readable(_Checker(checker.names, checker.constraints[: hi - 1]))
    notes = [f"the condition here is {culprit.text}"] if needs != [culprit.text] else []
    if before:
        notes.append(f"the layers before it need {', '.join(before)}")
    elif hi == 1:
        notes = [f"{culprit.text} holds for no size up to {MAX_SIZE}"]
    return Diagnostic(getattr(culprit, "code", "E305"), "no input size makes this network valid", culprit.span,
                      label=f"needs {' and '.join(needs)}", notes=notes, call_stack=getattr(culprit, "call_stack", ()))


def _readable(checker: _Checker) -> list[str] | None:
    """The conditions of a set of constraints in words, or None if none of the sizes tried meets them."""
    if not checker.tests:
        return []
    point = _find_point(checker, len(checker.tests))
    if point is None:
        return None
    return _conditions(checker, _descend(checker, point))


# --------------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class _Sizes:
    """The valid sizes of one symbol, the others held at the smallest input.

    Either a finite set (`finite`), or every v >= least with v % period in
    residues, plus a few smaller exceptions.
    """

    least: int = 1
    period: int = 1
    residues: frozenset = frozenset({0})
    exceptions: tuple = ()
    finite: tuple | None = None

    def meets(self, v: int) -> bool:
        if self.finite is not None:
            return v in self.finite
        return v in self.exceptions or (v >= self.least and v % self.period in self.residues)

    def sample(self, rng: random.Random) -> int:
        if self.finite is not None:
            return rng.choice(self.finite)
        v = self.least + rng.randint(0, 64 * self.period)
        while not self.meets(v):  # the next valid size: less than one period away
            v += 1
        return v


def _conditions(checker: _Checker, point: tuple) -> list[str]:
    names = checker.names
    sizes: dict[str, _Sizes] = {}
    for i, name in enumerate(names):
        flags = [False] + [checker.ok(point[:i] + (v,) + point[i + 1:]) for v in range(1, point[i] + _WINDOW + 1)]
        found = _read_sizes(flags)
        if found is not None:
            sizes[name] = found
    _drop_tied(checker, sizes, point)
    return _describe(sizes) + _coupled(checker, sizes, point)


def _drop_tied(checker: _Checker, sizes: dict[str, _Sizes], point: tuple) -> None:
    """Forget what was read for symbols whose valid sizes depend on the others' values.

    Each symbol was scanned with the others at the smallest input; a valid
    input elsewhere that those readings reject (e.g. H = W = 2 under H == W,
    read as "H == 1") shows that a symbol is tied to another.
    """
    n = len(checker.names)
    if n == 1:
        return
    for t in range(1, max(point) + _WINDOW + 1):
        if checker.ok((t,) * n):
            for name in [m for m in sizes if not sizes[m].meets(t)]:
                del sizes[name]


def _read_sizes(flags: list[bool]) -> _Sizes | None:
    """Explain the valid sizes 1..len(flags)-1: a finite set, or a minimum and a period <= 64."""
    top = len(flags) - 1
    tail = range(max(1, top - 256), top + 1)
    if not any(flags[v] for v in tail):
        valid = tuple(v for v in range(1, top + 1) if flags[v])
        contiguous = valid and valid[-1] - valid[0] + 1 == len(valid)
        return _Sizes(finite=valid) if valid and (contiguous or len(valid) <= 8) else None
    for q in range(1, 65):
        if all(flags[v] == flags[v - q] for v in tail if v - q >= 1):
            break
    else:
        return None
    residues = frozenset(v % q for v in range(top - q + 1, top + 1) if flags[v])
    least = top
    while least - 1 >= 1 and flags[least - 1] == ((least - 1) % q in residues):
        least -= 1
    exceptions = tuple(v for v in range(1, least) if flags[v])
    if len(exceptions) > 3:
        return None
    first = next(v for v in range(least, least + q) if v % q in residues)
    return _Sizes(first, q, residues, exceptions)


def _describe(sizes: dict[str, _Sizes]) -> list[str]:
    """Conditions in words, minimums first, symbols with the same condition grouped: "H and W even"."""
    groups: dict[tuple, list[str]] = {}
    for name, sz in sizes.items():
        if sz.finite is not None:
            a, b = sz.finite[0], sz.finite[-1]
            if len(sz.finite) == 1:
                key = ("==", a)
            elif b - a + 1 == len(sz.finite):
                key = ("range", a, b)
            else:
                key = ("in", sz.finite)
            groups.setdefault(key, []).append(name)
            continue
        q, res = sz.period, sz.residues
        if q > 1 and len(res) < q:
            groups.setdefault(("mod", q, tuple(sorted(res))), []).append(name)
        smallest_in_class = next(v for v in range(1, q + 1) if v % q in res)
        if sz.least > smallest_in_class:
            groups.setdefault((">=", sz.least, sz.exceptions), []).append(name)
    order = {">=": 0, "range": 0, "==": 0, "in": 0, "mod": 1}
    return [_condition_text(key, syms) for key, syms in sorted(groups.items(), key=lambda kv: order[kv[0][0]])]


def _condition_text(key: tuple, syms: list[str]) -> str:
    who, many = _join(syms), len(syms) > 1
    kind = key[0]
    if kind == ">=":
        extra = f" (or {' or '.join(f'== {v}' for v in key[2])})" if key[2] else ""
        return f"{who} >= {key[1]}{extra}"
    if kind == "==":
        return ", ".join(f"{s} == {key[1]}" for s in syms)
    if kind == "range":
        return ", ".join(f"{key[1]} <= {s} <= {key[2]}" for s in syms)
    if kind == "in":
        return ", ".join(f"{s} in {{{', '.join(map(str, key[1]))}}}" for s in syms)
    return _modular(who, many, key[1], key[2], syms)


def _modular(who: str, many: bool, q: int, residues: tuple, syms: list[str]) -> str:
    if residues == (0,):
        if q == 2:
            return f"{who} even"
        return f"{who} {'multiples' if many else 'a multiple'} of {q}"
    if q == 2 and residues == (1,):
        return f"{who} odd"
    rhs = str(residues[0]) if len(residues) == 1 else "(" + ", ".join(map(str, residues)) + ")"
    rel = "==" if len(residues) == 1 else "in"
    return ", ".join(f"{s} % {q} {rel} {rhs}" for s in syms)


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _coupled(checker: _Checker, sizes: dict[str, _Sizes], point: tuple) -> list[str]:
    """Constraints the per-symbol conditions miss (e.g. H == W), found by trying sizes that meet those."""
    names = checker.names
    if len(names) == 1 and sizes:
        return []  # one symbol, fully described
    rng = random.Random(1)
    missed: list[str] = []
    for _ in range(200):
        values = tuple(sizes[n].sample(rng) if n in sizes else rng.randint(1, point[i] + _WINDOW)
                       for i, n in enumerate(names))
        for c in checker.failing(values):
            if c.text not in missed:
                missed.append(c.text)
    return missed[:6]


# --------------------------------------------------------------------------- counting and validation


def count(graph: Graph, env: dict[str, int] | None = None) -> None:
    """Parameters, trainable parameters, MACs and FLOPs of every node.

    MACs and FLOPs need concrete sizes: for symbolic inputs they are counted at the
    smallest valid input (`solve` finds it); without one, 0.
    """
    env = env if env is not None else smallest_env(graph)
    for node in graph.nodes:
        node.params = node.trainable_params = node.macs = node.flops = 0
        if node.op == "input" or node.shape is UNKNOWN:
            continue
        ins = [graph[i].shape for i in node.inputs]
        sizes = _concrete(ins + [node.shape], env)
        if sizes is None:  # no valid size known: parameters do not depend on it, MACs do
            sizes = _concrete(ins + [node.shape], {s: 1 for s in graph.symbols}, clamp=True)
            params, trainable, _ = OPS[node.op].count(sizes[:-1], sizes[-1], node.args)
            node.params, node.trainable_params = params, trainable
            continue
        spec = OPS[node.op]
        node.params, node.trainable_params, node.macs = spec.count(sizes[:-1], sizes[-1], node.args)
        node.flops = spec.flops(sizes[:-1], sizes[-1], node.args)


def _concrete(shapes: list, env: dict | None, clamp: bool = False) -> list | None:
    out = []
    for shape in shapes:
        if is_concrete(shape):
            out.append(shape)
        elif env is None:
            return None
        else:
            values = evaluate_shape(shape, env)
            out.append(tuple(max(1, v) for v in values) if clamp else values)
    return out


def activations(graph: Graph, env: dict[str, int] | None = None) -> int:
    """Output elements per sample over every layer (at the smallest input for symbolic ones)."""
    env = env if env is not None else smallest_env(graph)
    total = 0
    for node in graph.layers():
        if node.shape is UNKNOWN or is_parameter(node):  # a parameter is no activation
            continue
        if is_concrete(node.shape):
            total += numel(node.shape)
        elif env is not None:
            total += numel(evaluate_shape(node.shape, env))
    return total


def validate(graph: Graph, collector: Collector, limits: Limits | None = None) -> None:
    """E401/E402 against the limits; W503 for layers that do nothing."""
    limits = limits or DEFAULT_LIMITS
    params = graph.params_total
    where = graph.span or (graph.nodes[0].span if graph.nodes else None)
    if params > limits.max_params:
        collector.error("E401", f"{graph.name} has {params:,} parameters, more than the limit of "
                                f"{limits.max_params:,}", where, help="raise the bound with --max-params")
    elements = activations(graph)
    one_too_large = any(d.code == "E402" for d in collector.items)  # already said, at the layer
    if elements > limits.max_activations and not one_too_large:
        collector.error("E402", f"{graph.name} produces {elements:,} activation elements per sample, more than "
                                f"the limit of {limits.max_activations:,}", where,
                        help="raise the bound with --max-activations, or use a smaller input")
    for port in graph.outputs:
        if is_parameter(graph[port.node]):
            collector.error("E218", f"output {port.name} is the parameter `{graph[port.node].local_name}`, which "
                                    f"has no batch dimension", graph[port.node].span,
                            help="a network returns tensors of its input's batch: multiply or add the parameter "
                                 "to one", call_stack=graph[port.node].scope.frames())
    for node in graph.layers():
        why = _does_nothing(graph, node)
        if why:
            collector.warning("W503", f"{why}: this layer does nothing useful", node.span,
                              help="remove it", call_stack=node.scope.frames())


def _does_nothing(graph: Graph, node: Node) -> str | None:
    why = OPS[node.op].does_nothing
    return why([graph[i].shape for i in node.inputs], node.args) if why is not None else None


def check(graph: Graph, collector: Collector, limits: Limits | None = None) -> None:
    """Everything after elaboration: solve (needed by the counts of symbolic graphs), count, validate."""
    solve(graph, collector)
    count(graph)
    validate(graph, collector, limits)
