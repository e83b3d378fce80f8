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
(`conv1`, `residual2`), counted through the paths of `concat`/`add`/
`residual` as through the rest of the scope (`conv1` in the first path,
`conv3` in the second: names read as a person numbers them). A labelled
statement of several layers becomes a group scope of that name
(`stem: conv(...) bn relu` gives `stem.conv1`, `stem.bn1`, `stem.relu1`).
Bindings (`y = ...`) name tensors, not modules.

The parts it leans on: `values` (what expressions evaluate to), `expressions`
(the evaluator), `calls` and `binder` (a call's arguments bound to the
callee's parameters), `naming` (labels and automatic names), `reporter`
(the call stack on each diagnostic).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

from . import calls, passes, syntax as ast, terms
from .diagnostics import Collector
from .expressions import EvalContext, Evaluator, let_value
from .ir import Assumption, Branch, Entry, Graph, LetItem, Loop, Part, Port, Scope, TermNames
from .limits import DEFAULT_LIMITS, Limits
from .naming import Names, automatic_base, bad_label_text, hides_tensor_word, join, label_part, labels_in
from .ops import OPS, bind_actuals, broadcast_channels, same_channels
from .reporter import Reporter
from .shapes import UNKNOWN, Expr
from .source import Source, Span
from .term_eval import TermContext, term_of
from .values import FAIL, Env, TensorRef, is_int, show


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
    channels: Any = 0          # its channel count as a term of the body's variables (`terms.py`)
    origin: Any = None         # what made it, as node sources say (ir.py): a Node, Scope, Loop, Branch or Entry

    def fail(self) -> "Flow":
        return Flow(self.node, True, self.channels, self.origin)

    def made(self, channels, origin) -> "Flow":
        """The same tensor, seen with other terms: as a loop's or a call's result, or inside a block."""
        return Flow(self.node, self.failed, channels, origin)


@dataclass(frozen=True)
class _Result:
    """What a statement made: a bound tensor (`name`) or a chain's result (None)."""

    name: str | None
    span: Span


class _Stop(Exception):
    """A limit was hit (E403, E404): stop elaborating this network."""


@dataclass
class _Body:
    """Where statements run: one body (network, block, path, repeat iteration, if branch)."""

    env: Env
    tensors: dict[str, Flow]          # named tensors bound in this body
    outer: "_Body | None"              # the body around it: tensor names are looked up outwards
    scope: Scope
    names: Names
    entry: Flow | None                 # `in`
    kind: str                          # "network", "network if" (its if branches), "block" or "nested"
    depth: int
    report: Reporter
    trace: list                        # where what runs is recorded (ir.py's trace)
    variables: TermNames               # the variables of the terms here: the block instance's
    given: list = field(default_factory=list)   # a block body's `output`s: (name, Flow), in order

    def child(self, entry: Flow | None, trace: list | None = None) -> "_Body":
        return _Body(Env(self.env), {}, self, self.scope, self.names, entry, "nested", self.depth + 1, self.report,
                     self.trace if trace is None else trace, self.variables)

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
    """What program.py hands over: the blocks each file can name, the constants' values."""

    constants: dict[str, Any] = field(default_factory=dict)
    # Per file (its Source): the blocks a call written there can name (program.py's linker).
    visible: dict[Source, dict[str, ast.BlockDef]] = field(default_factory=dict)
    main: Source | None = None

    @property
    def blocks(self) -> dict[str, ast.BlockDef]:
        """The blocks the main file can call: its own, its imports', the prelude's."""
        return self.visible.get(self.main, {}) if self.main is not None else {}

    def blocks_at(self, where: Span | None) -> dict[str, ast.BlockDef]:
        """The blocks a call at `where` can name: those of the file it is written in."""
        return self.visible.get(where.source, {}) if where is not None else {}

    def block(self, name: str, where: Span | None) -> ast.BlockDef | None:
        return self.blocks_at(where).get(name)


def elaborate_network(defs: Definitions, net: ast.NetworkDef, params: dict[str, Any] | None = None,
                      input: list | None = None, limits: Limits | None = None, staged: bool = False) -> Graph:
    """The graph of `net`, checked; its diagnostics are in `graph.diagnostics`. Never raises.

    `staged` also writes the terms and traces code generators read (docs/internals.md,
    "Terms and traces"); they cost a third more time, which `check` and `shapes` need
    not pay. `graph.restage()` elaborates the same network again, staged.
    """
    limits = limits or DEFAULT_LIMITS
    collector = Collector()
    elaborator = Elaborator(defs, limits, collector, staged)
    graph = elaborator.network(net, params or {}, input)
    graph.diagnostics = collector.sorted()
    if not staged:
        graph.restage = lambda: elaborate_network(defs, net, params, input, limits, staged=True)
    return graph


class Elaborator:
    def __init__(self, defs: Definitions, limits: Limits, collector: Collector, staged: bool = False) -> None:
        self.staged = staged   # write terms and traces (`elaborate_network`)
        self.defs = defs
        self.limits = limits
        self.collector = collector
        self.graph: Graph | None = None
        self.evaluate = Evaluator()
        self.active_blocks: list[ast.BlockDef] = []   # the blocks being elaborated, outermost call first
        # For W504: the tensor each statement made, by node. An outer statement ends after
        # the inner ones it holds (a block call after the block's last line), so it has
        # the last word on a node they share.
        self.results: dict[int, _Result] = {}
        self.input_override: list | None = None
        # The inputs' symbols so far, in order, each to its value: the symbol itself, or
        # the size that `--input` (or the API's `input=`) gave its place in the shape.
        self.symbols: dict[str, Any] = {}
        self.block_labels: dict[int, set[str]] = {}  # id of a block -> the labels in its body
        # A binding of several names that ends in a block call (`low, high = Backbone()`): id of
        # that call -> how many tensors the names take; every other call wants one. The call
        # leaves the tensors it gave in `parts` for the binding.
        self.wanted: dict[int, int] = {}
        self.parts: list[Flow] | None = None

    # -- the network ------------------------------------------------------------------------------
    def network(self, net: ast.NetworkDef, overrides: dict[str, Any], input_shape: list | None) -> Graph:
        report = Reporter(self.collector)
        header = net.name.span.source.span(net.span.start, net.name.span.end)
        env = calls.bind_network(net, overrides, header, self.defs.constants, report, self.evaluate)
        graph = self.graph = Graph(net.name.name, {k: v for k, v in env.vars.items()}, header)
        names = Names(labels_in(net.body))
        root = graph.root
        root.kind, root.params = "network", tuple(p.name.name for p in net.params)
        root.labels = frozenset(names.reserved)
        root.names = TermNames(taken=set(root.params))
        graph.staged = self.staged
        if self.staged:  # each parameter a variable: the generated class takes it as an argument
            for name in root.params:
                if env.vars.get(name, FAIL) is not FAIL:
                    env.set_term(name, terms.var(name, env.vars[name]))
        body = _Body(env, {}, None, root, names, None, "network", 0, report, root.body, root.names)
        if self.staged:  # a default that reads another parameter follows it, in a generated class too
            for param in net.params:
                if param.default is not None:
                    with contextlib.suppress(Exception):
                        root.defaults[param.name.name] = term_of(param.default, self._term_context(body, None))
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
        graph.mark_training_nodes()
        passes.check(graph, self.collector, self.limits)
        return graph

    def _default_output(self, flow: Flow | None) -> None:
        """Without an `output` statement, the network's output is its last tensor."""
        graph = self.graph
        if not graph.outputs and flow is not None and flow.node is not None:
            graph.outputs.append(Port("y", flow.node, None))
            graph.output_origins.append(flow.origin)

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
        # Without a call stack: an unread tensor is a fact about the text, so a block's
        # line is one warning however many calls reach it.
        for node, result in self.results.items():
            if node in outputs or graph.users(node):
                continue
            if result.name is not None:
                self.collector.warning("W504", f"tensor `{result.name}` is never used", result.span,
                                       label="bound here, read nowhere", help="use it, output it, or remove the binding")
            else:
                self.collector.warning("W504", "the result of this chain is never used", result.span,
                                       label="computed here, read nowhere",
                                       help="bind it (`a = ...`) to read it later, output it, or remove it")

    def _made(self, start: Flow, result: Flow, span: Span, body: _Body, name: str | None = None) -> None:
        """Remember the tensor a statement made, for W504."""
        if not result.failed and result.node is not None and (name is not None or result.node != start.node):
            self.results[result.node] = _Result(name, span)

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
        declared = self.evaluate(stmt.shape, EvalContext(body.env, body.report, symbols=True))
        value = written = declared
        if self.input_override is not None:  # sizes from --input or the API: symbols by name
            value = written = tuple(Expr.symbol(d) if isinstance(d, str) else d for d in self.input_override)
        value = self._input_shape(value, stmt, body)
        if value and not self._bind_symbols(declared, value, stmt, body):
            value = ()
        if self.staged and value and self.input_override is None:  # as written: a term of the network's parameters
            written = self._term(stmt.shape, body, None, symbols=True)
            written = written if isinstance(written, tuple) else tuple(terms.index(written, i) for i in range(len(value)))
        name = stmt.name.name if stmt.name else ""
        if stmt.name is not None:
            if body.names.label(stmt.name, body.report, module=False) is None or self._bound_twice(stmt.name, body):
                name = ""
        local = name or f"input{len(self.graph.inputs) + 1}"
        node = self._add("input", {"shape": value}, (), stmt.span, local, body, label=None,
                         arg_terms={"shape": written if value else ()})
        if not value:
            node.shape, node.failed = UNKNOWN, True
        new = self._flow_of(node)
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
        if not value:  # a per-sample scalar: no layer takes one, and () below means "after an error"
            body.report.error("E211", "an input shape needs at least one size", stmt.shape.span,
                              label="no sizes", help="an input is [F], [C, L], [C, H, W] or [C, D, H, W], "
                                                     "without the batch: input [3, 224, 224]")
            return ()
        for d in value:
            if isinstance(d, Expr) and d.atom() is None or not (is_int(d) or isinstance(d, Expr)):
                body.report.error("E211", f"an input size is an int or a symbol, got {show(d)}", stmt.shape.span,
                                  help="name each size by itself, as in input [3, H, W]; relations between "
                                       "sizes belong in expect, as in expect [3, H, 2 * H]")
                return ()
        return value

    def _bind_symbols(self, declared, value: tuple, stmt: ast.Input, body: _Body) -> bool:
        """The declared shape's symbols, each to the size it has in `value` (the sizes given
        with `--input` hold for the body too); False after an error."""
        if not isinstance(declared, tuple) or len(declared) != len(value):
            declared = value   # the given sizes replace a shape they cannot be matched with
        for d, v in zip(declared, value):
            if not isinstance(d, Expr) or d.atom() is None:
                continue
            name = str(d)
            known = self.symbols.setdefault(name, v)
            if known != v:
                body.report.error("E211", f"the input sizes give symbol {name} two values, {show(known)} and "
                                          f"{show(v)}", stmt.shape.span, label=f"{name} here",
                                  help=f"give every place of {name} the same size")
                return False
        return True

    def _output(self, stmt: ast.Output, body: _Body, flow: Flow | None) -> Flow | None:
        if body.kind == "block":
            return self._block_output(stmt, body, flow)
        if body.kind not in ("network", "network if"):
            body.report.error("E218", "`output` belongs to a network body, its `if`, or a block's own body" +
                              (", not inside a repeat, path or `if` of a block" if self.active_blocks else
                               ", not inside a repeat or path"), stmt.span,
                              help="bind the tensor (`a = ...`) and name it in an `output` outside")
            return flow
        seen = {p.name for p in self.graph.outputs}
        keys = stmt.keys or (None,) * len(stmt.names)
        conditions = stmt.training or (None,) * len(stmt.names)
        if not self._outputs_agree(stmt, keys, conditions, body):
            return flow
        taken_keys = {p.key for p in self.graph.outputs}
        for ident, key, condition in zip(stmt.names, keys, conditions):
            target = self._tensor(ident, body, flow)
            if target is None:
                continue
            if ident.name in seen:
                body.report.error("E207", f"`{ident.name}` is output twice", ident.span)
                continue
            if key is not None and key.name in taken_keys:
                body.report.error("E207", f"the output key `{key.name}` is given twice", key.span)
                continue
            seen.add(ident.name)
            taken_keys.add(key.name if key else None)
            if target.node is not None:
                self.graph.outputs.append(Port(ident.name, target.node, ident.span, key.name if key else None,
                                               condition is not None))
                self.graph.output_origins.append(target.origin)
        return flow

    def _block_output(self, stmt: ast.Output, body: _Body, flow: Flow | None) -> Flow | None:
        """`output low, high` in a block: the tensors the block gives, in order (its caller binds
        them: `low, high = Backbone()`). Keys and `if training` are a network's."""
        extra = next((k for k in stmt.keys if k is not None), None) or \
            next((c for c in stmt.training if c is not None), None)
        if extra is not None:
            what = "a key" if extra in stmt.keys else "`if training`"
            body.report.error("E218", f"a block's output takes no {what.removeprefix('a ')}: keys and `if training` "
                                      f"belong to a network's outputs", extra.span,
                              help="a block gives its tensors in order (`output low, high`); the network's "
                                   "`output` names keys and training-only outputs")
            return flow
        for ident in stmt.names:
            target = self._tensor(ident, body, flow)
            if target is None:
                continue
            if any(name == ident.name for name, _ in body.given):
                body.report.error("E207", f"`{ident.name}` is output twice", ident.span)
                continue
            body.given.append((ident.name, target))
        return flow

    def _outputs_agree(self, stmt: ast.Output, keys: tuple, conditions: tuple, body: _Body) -> bool:
        """E218 unless every output has a key or none has (a dict or a tuple), the only condition
        is `training`, and some output exists in eval mode too."""
        for condition in conditions:
            if condition is not None and condition.name != "training":
                body.report.error("E218", f"an output's condition is `training`, not `{condition.name}`",
                                  condition.span, help="`output y, aux if training`: the only condition known when "
                                                       "the network runs; decide others with `if` at build time")
                return False
        earlier = [p.key is not None for p in self.graph.outputs]
        if len({k is not None for k in keys} | set(earlier)) > 1:
            body.report.error("E218", "some outputs have a key and some have none", stmt.span,
                              help="give every output a key (`output out: y, aux: a`, a dict) or none (a tuple)")
            return False
        if all(c is not None for c in conditions) and all(p.training for p in self.graph.outputs):
            body.report.error("E218", "every output exists only in training: in eval mode the network would "
                                      "return nothing", stmt.span, help="output the main result without `if training`")
            return False
        return True

    def _let(self, stmt: ast.Let, body: _Body, flow: Flow | None) -> Flow | None:
        if hides_tensor_word(stmt.name, "constant", body.report):
            return flow
        if stmt.name.name in body.env.vars:
            body.report.error("E207", f"`{stmt.name.name}` is defined twice in this body", stmt.name.span,
                              label="already defined")
            return flow
        value = let_value(stmt, body.env, self.evaluate, self._ctx(body, flow))
        # A function (`let f(a) = ...`) has no term: its calls are terms of what they compute.
        term = self._term(stmt.value, body, flow) if self.staged and value is not FAIL and stmt.params is None \
            else None
        body.env.vars[stmt.name.name] = value   # after the term: the value may read an outer `let` of its name
        if term is not None:
            if terms.is_symbolic(term):  # a variable of its own, so generated code can name it
                variable = body.variables.of_let(stmt, stmt.name.name)
                body.variables.lets[variable] = term
                body.env.set_term(stmt.name.name, terms.var(variable, value))
                body.trace.append(LetItem(variable, term, stmt.span))
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
        bad = [v for v in expected if v is not None and not (is_int(v) or isinstance(v, Expr))]
        if bad:
            body.report.error("E211", f"expect takes sizes (ints, symbols or _), got {show(bad[0])}",
                              stmt.shape.span)
            return flow
        passes.check_expect(self.graph, flow.node, expected, stmt.span, self.collector, body.report.frames)
        if self.staged and expected and expected[0] is not None:  # the channels it checked, as a term
            first = stmt.shape.items[0] if isinstance(stmt.shape, ast.List) else None
            wanted = self._term(first, body, flow) if first is not None else \
                terms.index(self._term(stmt.shape, body, flow), 0)
            self._assume(terms.compare("==", flow.channels, wanted), f"`expect {ast.expr_text(stmt.shape)}`",
                         stmt.span, body)
        return flow

    def _repeat(self, stmt: ast.Repeat, body: _Body, flow: Flow | None) -> Flow | None:
        count = self.evaluate(stmt.count, self._ctx(body, flow))
        if count is FAIL:
            return flow
        if not is_int(count) or count < 0:
            body.report.error("E212", f"repeat needs a count that is an int >= 0, got {show(count)}",
                              stmt.count.span)
            return flow
        if count > self.limits.max_repeat:
            body.report.error("E404", f"repeat {count} is more than the limit of {self.limits.max_repeat:,}",
                              stmt.count.span, help="raise the bound with --max-repeat")
            return flow
        loop = self._loop(stmt, body, flow, count) if self.staged else None
        for i in range(count):
            inner = self._nested(body, flow, stmt.span, loop.iterations[i] if loop else None)
            if loop is not None and flow is not None:
                flow = inner.entry = flow.made(terms.symbol(loop.carried), Entry(loop))
            if stmt.var is not None:
                inner.env.vars[stmt.var.name] = i
                if loop is not None:
                    inner.env.set_term(stmt.var.name, terms.symbol(loop.index))
            flow = self.run(stmt.body.stmts, inner, flow)
            if loop is not None and flow is not None:
                loop.exit_channels.append(body.variables.expand(flow.channels))
                loop.exit_origins.append(flow.origin)
        if loop is None or flow is None:
            return flow
        return flow.made(self._after_loop(loop, count, flow, body), loop)

    def _loop(self, stmt: ast.Repeat, body: _Body, flow: Flow | None, count: int) -> Loop:
        """The trace of a `repeat`: each iteration starts from the variable `carried` for its
        channels and counts with the variable `index`, so that iterations alike have equal terms."""
        variables = body.variables
        index = variables.fresh(stmt.var.name) if stmt.var is not None else variables.fresh(".i")
        loop = Loop(self._term(stmt.count, body, flow), index, variables.fresh(".carried"), stmt.var is not None,
                    stmt.span, flow.channels if flow is not None else 0, flow.origin if flow is not None else None)
        loop.iterations = [[] for _ in range(count)]
        body.trace.append(loop)
        return loop

    def _after_loop(self, loop: Loop, count: int, end: Flow, body: _Body):
        """The channels after a loop as a term of the count; `loop.carried_value` likewise for an
        iteration's start (where the iterations change the channels alike: by a constant step, or to
        the same value), else the current value and an assumption that the count stays."""
        entry = loop.entry_channels
        if not terms.is_symbolic(loop.count) or count == 0:
            value = entry
            for i, step in enumerate(loop.exit_channels):  # one iteration after the other
                value = terms.substitute(step, {loop.carried: value, loop.index: i})
            if count == 0 and terms.is_symbolic(loop.count):
                self._assume(terms.compare("==", loop.count, 0), "the channels after a `repeat` of no "
                             "iteration", loop.span, body)
            return value
        first = loop.exit_channels[0]
        uniform = all(type(x) is type(first) and x == first for x in loop.exit_channels)
        carried, index = terms.symbol(loop.carried), terms.symbol(loop.index)
        if uniform and terms.kind(first) == "int":
            step = terms.arith("-", first, carried)
            if not ({loop.carried, loop.index} & terms.free_vars(step)):
                loop.carried_value = terms.arith("+", entry, terms.arith("*", index, step))
                return terms.arith("+", entry, terms.arith("*", loop.count, step))
            if not ({loop.carried, loop.index} & terms.free_vars(first)):
                loop.carried_value = terms.cond(terms.compare("==", index, 0), entry, first)
                return terms.cond(terms.compare("==", loop.count, 0), entry, first)
        self._assume(terms.compare("==", loop.count, count), "the channels after a `repeat` follow its count in "
                     "no form a constructor can compute", loop.span, body)
        known = end.node is not None and self.graph.nodes[end.node].known
        return self.graph.nodes[end.node].shape[0] if known else 0

    def _if(self, stmt: ast.If, body: _Body, flow: Flow | None) -> Flow | None:
        test = self.evaluate.condition(stmt.test, self._ctx(body, flow))
        if test is FAIL:
            return flow
        branch = None
        if self.staged:
            branch = Branch(self._term(stmt.test, body, flow), bool(test), stmt.span, has_else=stmt.orelse is not None)
            body.trace.append(branch)
        items = branch.items if branch is not None else None
        result = flow
        if test:
            result = self.run(stmt.then.stmts, self._branch(body, flow, stmt.span, items), flow)
        elif isinstance(stmt.orelse, ast.If):
            result = self._if(stmt.orelse, replace(body, trace=items) if branch is not None else body, flow)
        elif stmt.orelse is not None:
            result = self.run(stmt.orelse.stmts, self._branch(body, flow, stmt.span, items), flow)
        if result is None or branch is None:
            return result
        branch.entry_origin = flow.origin if flow is not None else None
        branch.exit_origin = result.origin
        return result.made(body.variables.expand(result.channels), branch)

    def _branch(self, body: _Body, flow: Flow | None, span: Span, trace: list | None) -> _Body:
        """An if branch; in the network's own body (not a block's, path's or repeat's) it may say what
        the network outputs (`if aux_loss { output out: y, aux: a } else { output out: y }`)."""
        nested = self._nested(body, flow, span, trace)
        if body.kind in ("network", "network if"):
            nested.kind = "network if"
        return nested

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
        parts = None
        split = items[-1] if items else None
        gives = stmt.more and isinstance(split, ast.Call) and self.defs.block(split.callee.name, split.span) is not None
        if gives:  # `low, high = Backbone()`: the block gives the tensors
            self.wanted[id(split)] = len(stmt.targets)
            self.parts = None
        elif stmt.more:  # `a, b = x -> chunk(2)`: the last layer makes the tensors
            if not (isinstance(split, ast.Call) and split.callee.name == "chunk"):
                body.report.error("E218", f"{len(stmt.targets)} names are bound, but the chain makes one tensor",
                                  stmt.span, help=f"end the chain in chunk({len(stmt.targets)}), which splits the "
                                                  f"channels into {len(stmt.targets)} tensors, or in a block "
                                                  f"whose body says `output` with {len(stmt.targets)} tensors")
                return flow
            items = items[:-1]
        declares = stmt.label is None and not stmt.more and self._declares_parameter(items)
        if declares:
            # `layer_scale = parameter(...)`: the binding's name is the parameter's, its state_dict key
            name = body.names.label(stmt.targets[0], body.report)
            result = self._chain_items(items, body, start, name) if name is not None else start.fail()
        elif stmt.label is None:
            result = self._chain_items(items, body, start)
        else:
            result = self._labelled(stmt.label, items, body, start, stmt.chain)
        if gives:
            self.wanted.pop(id(split), None)   # a call that never ran (an earlier layer failed) took nothing
            parts = self.parts or [result.fail()] * len(stmt.targets)
            self.parts = None
        elif stmt.more:
            parts = self._chunks(split, body, result, len(stmt.targets))
        for target, part in zip(stmt.targets, parts or [result]):
            if not self._bound_twice(target, body):
                body.tensors[target.name] = part
                if self.staged and part.origin is not None:   # generated code names the tensor so
                    self.graph.tensor_names.setdefault(part.origin, target.name)
                self._made(start, part, target.span, body, target.name)
        if declares:   # a declaration is no step of the flow: `cur` stays the tensor it was
            return flow
        return parts[-1] if parts else result

    def _declares_parameter(self, items: tuple) -> bool:
        """A chain of one unlabelled `parameter(...)` call (the op, not a block of that name)."""
        if len(items) != 1 or not isinstance(items[0], ast.Call) or items[0].label is not None:
            return False
        name = items[0].callee.name
        return name not in self.defs.blocks and name in OPS and OPS[name].parameter

    def _chunks(self, call: ast.Call, body: _Body, flow: Flow, count: int) -> list[Flow]:
        """The parts of `chunk(n)` for a binding of `count` names: a node each (`index` 0, 1, ...)."""
        actuals, ok = calls.evaluate_arguments(call, lambda: self._ctx(body, flow), self.evaluate, body.report)
        args = bind_actuals("chunk", actuals, call.span, body.report) if ok else None
        if args is not None and args["index"] is not None:
            body.report.error("E218", "chunk(n, index) takes one part, but several names are bound", call.span,
                              help="leave index out: each name takes a part, in order")
            args = None
        if args is not None and args["chunks"] != count:
            body.report.error("E218", f"chunk({args['chunks']}) makes {args['chunks']} tensors, but {count} names "
                                      f"are bound", call.span)
            args = None
        if call.label is not None:
            body.report.error("E218", "chunk makes no module: there is nothing for a label to name", call.label.span)
        if args is None:
            return [flow.fail()] * count
        made = [self._add("chunk", {**args, "index": i}, (flow,), call.span, body.names.auto("chunk"),
                          body, None) for i in range(count)]
        return [self._flow_of(node) for node in made]

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
            own = label
            if item.label is not None:  # `x -> fc1: conv(...)`: this layer's own name
                own = self._take_label(item.label, body, flow)
                if own is None:
                    return flow.fail()
            flow = self._LAYERS[type(item)](self, item, body, flow, own)
        return flow

    def _take_label(self, label: ast.Label, body: _Body, flow: Flow | None) -> str | None:
        """The name a label gives in this scope; None after an error (E207, E211, or its expression's)."""
        if type(label) is ast.Ident:
            return body.names.label(label, body.report)
        texts = []
        for part in label.parts:
            if type(part) is ast.Str:
                texts.append(part.value)
                continue
            value = self.evaluate(part, self._ctx(body, flow))
            if value is FAIL:
                return None
            text = label_part(value)
            if text is None:
                body.report.error("E211", f"a label's `{{...}}` part must be an int or a string, got {show(value)}",
                                  part.span)
                return None
            texts.append(text)
        text = "".join(texts)
        why = bad_label_text(text)
        if why is not None:
            body.report.error("E211", f"label \"{text}\" cannot name a module: {why}", label.span)
            return None
        return body.names.label(ast.Ident(text, span=label.span), body.report, computed=True)

    def _labelled(self, written: ast.Label, items: tuple, body: _Body, flow: Flow, chain: ast.Chain) -> Flow:
        """A labelled statement: one layer takes the name; several become a group scope."""
        label = self._take_label(written, body, flow)
        if label is None:
            return self._chain_items(items, body, flow)
        if len(items) == 1 and items[0].label is None:
            return self._chain_items(items, body, flow, label)
        if not items:
            body.report.error("E218", f"label `{label}` names no layer", written.span)
            return flow
        # A group's terms are its block's: it shares the block's variables.
        reserved = labels_in(chain)
        scope = Scope(path=join(body.scope.path, label), block=label, call=label, span=None,
                      parent=body.scope, entry=flow.node, kind="group", names=body.variables,
                      in_channels=flow.channels, entry_origin=flow.origin, label=label, labels=frozenset(reserved))
        body.scope.children.append(scope)
        if self.staged:
            body.trace.append(scope)
        inner = _Body(body.env, body.tensors, body.outer, scope, Names(reserved), body.entry,
                      body.kind, body.depth, body.report, scope.body, body.variables)
        first = len(self.graph.nodes)
        result = self._chain_items(items, inner, flow)
        scope.exit = result.node
        scope.exit_channels, scope.exit_origin = result.channels, result.origin
        made = self.graph.nodes[first:]  # every node made since is inside the group
        scope.key = (label, tuple((n.op, _hashable(n.args)) for n in made), self._shape(flow))
        return result.made(result.channels, scope)

    # -- layers -----------------------------------------------------------------------------------
    def _call(self, call: ast.Call, body: _Body, flow: Flow, label: str | None) -> Flow:
        name = call.callee.name
        block = self.defs.block(name, call.span)
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
            paths, tensors = ("concat", "cat") if name in ("cat", "concat") else (name, name)
            body.report.error("E218", f"`{name}` is not a layer: merge paths with `{paths} {{ | ... | ... }}`, or "
                                      f"named tensors with `{tensors}(a, b)` at the start of a chain", call.span)
            return
        if body.find_tensor(name) is not None or name in ("in", "cur"):
            body.report.error("E218", f"`{name}` is a tensor: a chain can start from a tensor, not pass through "
                                      f"one", call.callee.span, help=f"start a new statement: `{name} -> ...`")
            return
        blocks = self.defs.blocks_at(call.span)
        guess = body.report.hint(name, lambda: list(OPS) + list(blocks) + ["identity"])

        def did_you_mean() -> str | None:
            lower = name.lower()
            known = lower in OPS or lower in blocks or lower == "identity"
            close = (lower if known else None) or calls.habit_name(name) or guess()
            return f"did you mean `{close}`?" if close else None

        body.report.error("E201", f"unknown layer or block `{name}`", call.callee.span, label="not a layer or block",
                          help=did_you_mean)

    def _call_op(self, op: str, call: ast.Call, body: _Body, flow: Flow, label: str | None) -> Flow:
        actuals, ok = calls.evaluate_arguments(call, lambda: self._ctx(body, flow), self.evaluate, body.report,
                                               self._term_of(body, flow))
        arg_terms: dict[str, Any] | None = {} if self.staged else None
        args = bind_actuals(op, actuals, call.span, body.report, arg_terms) if ok else None
        if args is None:
            return flow.fail()
        # An argument that is a tensor (`crop(like=u4)`) is an input of the node; its args keep the name.
        refs = [args[a.name] for a in OPS[op].args if a.kind == "tensor"]
        for a in OPS[op].args:
            if a.kind == "tensor":
                args[a.name] = args[a.name].name
                if arg_terms is not None:
                    arg_terms[a.name] = args[a.name]
        local = label or body.names.auto(op)
        # A parameter reads no tensor: the chain's tensor only says where it is declared.
        inputs = () if OPS[op].parameter else (flow, *(ref.flow for ref in refs))
        node = self._add(op, args, inputs, call.span, local, body, label, arg_terms)
        return self._flow_of(node)

    def _call_block(self, block: ast.BlockDef, call: ast.Call, body: _Body, flow: Flow, label: str | None) -> Flow:
        name = block.name.name
        wanted = self.wanted.pop(id(call), 1)
        if any(active is block for active in self.active_blocks):
            names = [b.name.name for b in self.active_blocks]
            first = next(i for i, b in enumerate(self.active_blocks) if b is block)
            chain = " -> ".join(names[first:] + [name])
            body.report.error("E208", f"block {name} calls itself ({chain})", call.span)
            return flow.fail()
        actuals, ok = calls.evaluate_arguments(call, lambda: self._ctx(body, flow), self.evaluate, body.report,
                                               self._term_of(body, flow))
        values: dict[str, Any] = {}
        caller = Env(Env(None, self.defs.constants), values)  # the parameters as the caller gives them
        defaults = EvalContext(caller, body.report, tensors=lambda which: TensorRef(which, self._shape(flow), flow)
                               if which in ("cur", "in") else None)
        # A default sees the tensor the block is called on as both `in` and `cur`, as the evaluator does.
        default_term = (lambda expr, env: self._term(expr, body, flow, env=env, entry=flow)) if self.staged else None
        if calls.bind_block(block, actuals, call.span, body.report, defaults, self.evaluate, default_term) is None \
                or not ok:
            return flow.fail()
        self._check_depth(body, call.span)
        local = label or body.names.auto(automatic_base(name))
        where = (block.span.file, block.span.start) if block.span is not None else None
        params = tuple(p.name.name for p in block.params)
        scope = Scope(path=join(body.scope.path, local), block=name, call=f"{name}({calls.shown(actuals)})",
                      span=call.span, parent=body.scope, key=(name, where, tuple(values.items()), self._shape(flow)),
                      entry=flow.node, kind="block", definition=(name, *(where or ())), params=params, label=label,
                      labels=frozenset(self._labels(block)))
        body.scope.children.append(scope)
        env = Env(Env(None, self.defs.constants), values)
        start = flow
        if self.staged:  # inside, each parameter is a variable, and so is the input's channel count
            body.trace.append(scope)
            scope.arg_terms = {p: caller.term(p, values[p]) for p in params}
            scope.in_channels, scope.entry_origin = flow.channels, flow.origin
            scope.names = TermNames(taken=set(params))
            env.terms = {p: terms.var(p, values[p]) for p in params}
            scope.names.input = scope.names.fresh("in_channels")
            start = flow.made(terms.symbol(scope.names.input), Entry(scope))
        inner = _Body(env, {}, None, scope, Names(self._labels(block)), start, "block", body.depth + 1,
                      body.report.inside(scope.frames()), scope.body, scope.names)
        if self.staged:
            scope.defaults = self._defaults(block, inner, start)
        self.active_blocks.append(block)
        try:
            result = self.run(block.body.stmts, inner, start)
        finally:
            self.active_blocks.pop()
        given = [f for _, f in inner.given]
        if len(given) == 1:   # `output x`: the block gives x
            result = given[0]
        if len(given) > 1:
            return self._results(block, call, inner, flow, given, wanted, body)
        if wanted != 1:
            body.report.error("E218", f"{wanted} names are bound, but block {name} gives one tensor", call.span,
                              help=f"say which {wanted} tensors it gives with `output` in its body, or bind one name")
            self.parts = [result.fail()] * wanted
            return result.fail()
        scope.exit = result.node
        if not self.staged:
            return result
        scope.exit_channels, scope.exit_origin = result.channels, result.origin
        outside = {**scope.arg_terms, scope.names.input: flow.channels}
        return result.made(terms.substitute(scope.names.expand(result.channels), outside), scope)

    def _results(self, block: ast.BlockDef, call: ast.Call, inner: _Body, flow: Flow, given: list[Flow],
                 wanted: int, body: _Body) -> Flow:
        """A call of a block that gives several tensors: they go to the binding that asked for as
        many (`self.parts`); anywhere else one tensor is expected, which is E218."""
        name, scope, count = block.name.name, inner.scope, len(given)
        shown = ", ".join(n for n, _ in inner.given)
        if wanted != count:
            if wanted == 1:
                body.report.error("E218", f"block {name} gives {count} tensors ({shown}), but one is expected here",
                                  call.span, label=f"gives {count} tensors",
                                  help=f"bind them, as in `{shown} = {name}(...)`, and use each by name")
            else:
                body.report.error("E218", f"{wanted} names are bound, but block {name} gives {count} tensors "
                                          f"({shown})", call.span, help=f"bind {count} names: `{shown} = ...`")
            self.parts = [f.fail() for f in given[:wanted]] + [given[-1].fail()] * max(0, wanted - count)
            return given[-1].fail()
        scope.results = tuple(f.node for f in given)
        scope.result_names = tuple(n for n, _ in inner.given)
        if self.staged:
            scope.result_channels = tuple(f.channels for f in given)
            scope.result_origins = tuple(f.origin for f in given)
            outside = {**scope.arg_terms, scope.names.input: flow.channels}
            given = [f.made(terms.substitute(scope.names.expand(f.channels), outside), Part(scope, k))
                     for k, f in enumerate(given)]
        self.parts = given
        return given[-1]

    def _paths(self, paths: ast.Paths, body: _Body, flow: Flow, label: str | None) -> Flow:
        op = paths.op
        local = label or body.names.auto(op)
        results = [self._path(p, body, flow, paths.span) for p in paths.paths]
        return self._merge_node(op, results, paths.span, local, body, label)

    def _residual(self, res: ast.Residual, body: _Body, flow: Flow, label: str | None) -> Flow:
        local = label or body.names.auto("residual")
        main = self._path(res.body, body, flow, res.span)
        shortcut = self._path(res.shortcut, body, flow, res.span) if res.shortcut is not None else flow
        return self._merge_node("add", [main, shortcut], res.span, local, body, label)

    def _path(self, path: ast.Body, body: _Body, flow: Flow, span: Span) -> Flow:
        inner = self._nested(body, flow, span)
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
        op = "concat" if merge.op == "cat" else merge.op
        return self._merge_node(op, results, merge.span, body.names.auto(op), body, None)

    def _merge_node(self, op: str, inputs: list[Flow], span: Span, local: str, body: _Body, label: str | None) -> Flow:
        node = self._add(op, {}, tuple(inputs), span, local, body, label)
        if self.staged and OPS[op].channels is same_channels and node.known:  # the paths agree in channels: say on what terms
            for other in node.in_channels[1:]:
                self._assume(terms.compare("==", other, node.in_channels[0]),
                             f"the paths of `{op}` agree in channels", span, body)
        elif self.staged and OPS[op].channels is broadcast_channels and node.known:  # each path broadcasts or agrees
            for shape, term in zip((self.graph.nodes[i].shape for i in node.inputs), node.in_channels):
                wanted = 1 if shape and shape[0] == 1 else node.channels
                self._assume(terms.compare("==", term, wanted), f"the paths of `{op}` broadcast as here", span, body)
        return self._flow_of(node)

    _LAYERS: dict[type, Callable] = {}

    def _labels(self, block: ast.BlockDef) -> set[str]:
        labels = self.block_labels.get(id(block))
        if labels is None:
            labels = self.block_labels[id(block)] = labels_in(block.body)
        return labels

    # -- nodes, scopes and limits ------------------------------------------------------------------
    def _add(self, op: str, args: dict, inputs: tuple, span: Span, local: str, body: _Body, label: str | None,
             arg_terms: dict | None = None):
        graph = self.graph
        if len(graph.nodes) >= self.limits.max_layers:
            body.report.error("E404", f"network {graph.name} has more than {self.limits.max_layers:,} layers",
                              span, help="raise the bound with --max-layers")
            raise _Stop
        flows = [f for f in inputs if f.node is not None]
        node = graph.add_node(op, args, tuple(f.node for f in flows), span, join(body.scope.path, local),
                              body.scope, label)
        # infer_node stays silent about a failed input, but still reports the
        # errors of the node's own arguments (groups, p="same" with a stride...).
        node.failed = any(f.failed for f in inputs)
        passes.infer_node(graph, node, self.collector, self.limits)
        if self.staged:
            self._stage(node, flows, args, arg_terms, body)
        return node

    def _stage(self, node, flows: list[Flow], args: dict, arg_terms: dict | None, body: _Body) -> None:
        """A node's terms and sources, and its place in the trace."""
        graph = self.graph
        # Most arguments are constants: then the terms are the values themselves (one dict, not two).
        node.arg_terms = arg_terms if arg_terms and any(map(terms.is_symbolic, arg_terms.values())) else args
        node.in_channels = tuple(f.channels for f in flows)
        # What made each input; left empty where that is the input node itself (most layers).
        if any(f.origin is not graph.nodes[f.node] for f in flows):
            node.sources = tuple(f.origin for f in flows)
        node.channels = self._channels(node)
        body.trace.append(node)

    def _channels(self, node):
        """The node's output channels as a term (its op's `channels` rule); 0 where its shape is unknown."""
        if node.op == "input":
            shape = node.arg_terms.get("shape", ())
            return terms.index(shape, 0) if shape else 0
        shapes = [self.graph.nodes[i].shape for i in node.inputs]
        if not node.known or any(s is UNKNOWN for s in shapes):
            return 0
        return OPS[node.op].channels(shapes, list(node.in_channels), node.arg_terms)

    def _flow_of(self, node) -> Flow:
        return Flow(node.id, node.failed, node.channels, node)

    def _assume(self, term, what: str, span: Span, body: _Body) -> None:
        """Record a condition the elaboration relied on, unless it holds for every value."""
        if term is not True:
            body.trace.append(Assumption(term, what, span))

    def _defaults(self, block: ast.BlockDef, inner: _Body, start: Flow) -> dict[str, Any]:
        """The block's defaults as terms of its parameters (for a generated signature), where this
        instance can write them: a default the call did not use may not even evaluate here."""
        out = {}
        for param in block.params:
            if param.default is not None:
                with contextlib.suppress(Exception):
                    out[param.name.name] = term_of(param.default, self._term_context(inner, start))
        return out

    def _term_of(self, body: _Body, flow: Flow | None) -> Callable | None:
        """What writes a call's arguments as terms, when staging."""
        return (lambda expr: self._term(expr, body, flow)) if self.staged else None

    def _term(self, expr, body: _Body, flow: Flow | None, symbols: bool = False, env: Env | None = None,
              entry: Flow | None = None):
        """The term of an expression the evaluator has evaluated (`term_eval`)."""
        try:
            return term_of(expr, self._term_context(body, flow, symbols, env, entry))
        except Exception:  # noqa: BLE001 - no term for it (a function call): its value, so the class is exact for it
            if symbols:
                ctx = EvalContext(body.env, body.report, symbols=True)
            elif env is not None:
                ctx = EvalContext(env, body.report, tensors=lambda which: TensorRef(which, self._shape(flow), flow)
                                  if which in ("cur", "in") else None)
            else:
                ctx = self._ctx(body, flow)
            value = self.evaluate(expr, ctx)
            if value is FAIL or isinstance(value, TensorRef):
                body.variables.unknown = True
                return terms.Name(body.variables.fresh(".unknown"))
            return _constant_term(value)

    def _term_context(self, body: _Body, flow: Flow | None, symbols: bool = False, env: Env | None = None,
                      entry: Flow | None = None) -> TermContext:
        def tensor(which: str):
            target = flow if which == "cur" else entry or body.entry
            return None if target is None else (self._shape(target), target.channels)

        if symbols:
            is_symbol = lambda name: name[:1].isupper()  # noqa: E731 - an input declaration
        elif self.active_blocks:
            is_symbol = lambda name: False  # noqa: E731
        else:
            is_symbol = self.symbols.__contains__
        return TermContext(env or body.env, tensor, is_symbol)

    def _nested(self, body: _Body, flow: Flow | None, span: Span, trace: list | None = None) -> _Body:
        self._check_depth(body, span)
        return body.child(flow, trace)

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

        def tensor(which: str) -> TensorRef | None:
            target = flow if which == "cur" else body.entry if which == "in" else body.find_tensor(which)
            return None if target is None else TensorRef(which, self._shape(target), target)

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
def _hashable(args: dict) -> tuple:
    return tuple(sorted(args.items()))


def _constant_term(value):
    """A value as a constant term: lists are tuples."""
    return tuple(_constant_term(v) for v in value) if isinstance(value, (list, tuple)) else value
