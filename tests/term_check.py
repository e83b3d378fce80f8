"""Every term of a graph, evaluated at the instance's own values, is the value elaboration computed.

`check_terms(graph)` walks the trace of every scope (ir.py) with the values
its variables hold there: a block's parameters (its call's argument terms,
evaluated in the caller), its input's channel count, its `let`s, each loop
iteration's counter and starting channels. Every argument, channel count,
`if` test and assumption must evaluate to what the concrete elaboration
found. A term that generated code computes is then exact at least wherever
archlang itself ran it: the property test of terms.py and term_eval.py.
"""
from __future__ import annotations

from archlang import terms
from archlang.ir import Assumption, Branch, Graph, LetItem, Loop, Node, Scope


def check_terms(graph: Graph) -> int:
    """Checks every term; returns how many it checked. Raises AssertionError on the first wrong one."""
    graph = graph if graph.staged else graph.restage()
    unknown = [s.path for s in graph.scopes() if s.names is not None and s.names.unknown]
    assert not unknown, f"values without a term in {unknown}"
    checker = _Checker(graph)
    env = {name: value for name, value in graph.params.items()}
    checker.items(graph.root.body, env, graph.root)
    return checker.checked


class _Checker:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.checked = 0

    def equal(self, term, value, where: str) -> None:
        got = terms.evaluate(term, self.env)
        same = got == value and (isinstance(got, bool) == isinstance(value, bool)) if not isinstance(value, tuple) \
            else tuple(got) == value
        assert same, f"{where}: the term {terms.python(term)} is {got!r} at {self.env}, elaboration found {value!r}"
        self.checked += 1

    def items(self, items: list, env: dict, scope: Scope) -> None:
        for item in items:
            self.env = env
            if isinstance(item, Node):
                self.node(item)
            elif isinstance(item, Scope):
                self.scope(item, env)
            elif isinstance(item, Loop):
                self.loop(item, env, scope)
            elif isinstance(item, Branch):
                self.equal(item.test, item.taken, f"the test of the `if` at {item.span.line}")
                self.items(item.items, env, scope)
            elif isinstance(item, LetItem):
                env[item.name] = terms.evaluate(item.term, env)
            elif isinstance(item, Assumption):
                self.equal(item.term, True, f"{item.what} at {item.span.line if item.span else '?'}")

    def node(self, node: Node) -> None:
        if not node.known:
            return
        for name, term in node.arg_terms.items():
            value = node.args[name]
            if isinstance(value, float) and terms.kind(term) == "int":
                value = int(value) if value.is_integer() else value
            self.equal(term, value, f"{node.name}'s {name}")
        for term, source in zip(node.in_channels, node.inputs):
            self.equal(term, self.graph.nodes[source].shape[0], f"{node.name}'s input channels")
        self.equal(node.channels, node.shape[0], f"{node.name}'s channels")

    def scope(self, scope: Scope, env: dict) -> None:
        if scope.kind == "group":
            self.items(scope.body, env, scope)
            return
        inner = {p: terms.evaluate(scope.arg_terms[p], env) for p in scope.params}
        for p, value in zip(scope.params, (v for _, v in scope.key[2])):
            assert inner[p] == value, f"{scope.path}'s {p}: {inner[p]!r} from its term, {value!r} bound"
        inner[scope.names.input] = self.graph.nodes[scope.entry].shape[0]
        self.checked += len(inner)
        self.items(scope.body, inner, scope)
        self.env = inner
        if scope.exit is not None and self.graph.nodes[scope.exit].known:
            self.equal(scope.exit_channels, self.graph.nodes[scope.exit].shape[0], f"{scope.path}'s result")

    def loop(self, loop: Loop, env: dict, scope: Scope) -> None:
        self.equal(loop.count, len(loop.iterations), f"the count of the `repeat` at {loop.span.line}")
        carried = terms.evaluate(loop.entry_channels, env)
        for i, (items, step) in enumerate(zip(loop.iterations, loop.exit_channels)):
            inner = {**env, loop.index: i, loop.carried: carried}
            if loop.carried_value is not None:
                self.env = inner
                self.equal(loop.carried_value, carried, f"the channels entering iteration {i} at {loop.span.line}")
            self.items(items, inner, scope)
            carried = terms.evaluate(step, inner)
