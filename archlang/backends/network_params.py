"""Which of a network's parameters its generated class takes for any value, and which it refuses.

A parameter is *free* where everything it reaches is computed by the
generated constructors (channel and class counts, widths, the counts of
loops kept as loops, dropout rates); it is *fixed* where its value was
relied on while elaborating:

- it sets a spatial size (the input's, or a kernel, stride, padding...):
  the classes carry spatial sizes as the numbers the checks ran at;
- it decides an `if` of which only one side was ever taken;
- it is the count of a `repeat` that had to be written out;
- an `expect`, or the paths of an `add` agreeing, held only at its value
  (an `Assumption` of the trace).

A block class's variables are analysed alike, and a network parameter that
reaches a fixed variable of a class it calls is fixed too. The network's
class refuses another value of a fixed parameter, saying which of these it
is and the `--set` that builds it (docs/pytorch.md, "Network parameters").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import terms
from ..ir import Assumption, Branch as IRBranch, Graph, Loop as IRLoop
from . import class_plan, specialise
from .class_plan import Branch, Call, ClassPlan, Layer, walk
from .pylayout import INDENT, LINE, layout, literal, string, wrap

# Constructor arguments that set a spatial size (or how one is computed): the classes hold spatial
# sizes as numbers, so a variable reaching one is built in.
GEOMETRY = frozenset({"kernel_size", "stride", "padding", "dilation", "output_padding", "output_size",
                      "scale_factor", "ceil_mode"})


@dataclass
class NetworkParams:
    fixed: dict[str, str] = field(default_factory=dict)   # parameter -> why its value is built in

    def free(self, graph: Graph) -> list[str]:
        return [name for name in graph.params if name not in self.fixed]


def analyse(graph: Graph, plan: class_plan.Plan) -> NetworkParams:
    """The parameters of the network (a staged graph) its class cannot take for another value, and why."""
    reasons = _Reasons(graph, plan)
    fixed = dict(reasons.of(plan.network))
    for port in graph.inputs:   # the input's spatial sizes: every shape after it follows from them
        node = graph.nodes[port.node]
        where = _at(node.span)
        for size in tuple(node.arg_terms.get("shape", ()))[1:]:
            for var in sorted(terms.free_vars(size)):
                fixed.setdefault(var, f"it sets the size of the input `{port.name}`{where}")
    return NetworkParams({k: fixed[k] for k in graph.params if k in fixed})


class _Reasons:
    """Per class: its variables whose value the class relies on -> why (the first reason found)."""

    def __init__(self, graph: Graph, plan: class_plan.Plan) -> None:
        self.graph = graph
        self.unrolled = {id(loop) for loop in plan.unrolled}
        self.done: dict[int, dict[str, str]] = {}

    def of(self, cls: ClassPlan) -> dict[str, str]:
        if id(cls) not in self.done:
            self.done[id(cls)] = {}   # a class never calls itself; this only guards the walk
            self.done[id(cls)] = self._analyse(cls)
        return self.done[id(cls)]

    def _analyse(self, cls: ClassPlan) -> dict[str, str]:
        found: dict[str, str] = {}

        def note(term, why: str) -> None:
            for var in sorted(self._roots(terms.free_vars(term), cls)):
                found.setdefault(var, why)

        for item in walk(cls.items):
            if isinstance(item, Layer):
                for name, value in item.kwargs.items():
                    if name in GEOMETRY:
                        note(value, f"it sets `{name}` of `{_attr(item)}`{_at(item.nodes[0].span)}")
            elif isinstance(item, Branch) and (item.then is None or item.orelse is None):
                note(item.test, f"it decides the `if`{_at(item.branches[0].span)}, and only one side was built")
            elif isinstance(item, Call):
                callee = self.of(item.cls)
                for var, why in callee.items():
                    if item.cls.kind == "group":   # a group reads its block's variables as they are
                        found.setdefault(var, why)
                    elif var in item.args:
                        note(item.args[var], why)
        for scope in cls.scopes:
            self._trace(scope.body, {}, note)
        for var, value in cls.constants.items():
            found.setdefault(var, f"`{cls.block}` is written for {var}={arch_literal(value)}, as the arithmetic "
                                  f"it feeds is too long to keep")
        if cls.kind == "network":
            for term in specialise.long_terms(cls):
                note(term, f"the arithmetic it feeds ({terms.python(term)[:40]}...) is too long to keep")
        return found

    def _trace(self, items: list, subst: dict, note) -> None:
        """Assumptions and written-out loops in one instance's trace (as class_plan reads it)."""
        for entry in items:
            if isinstance(entry, Assumption):
                note(_sub(entry.term, subst), f"{entry.what}{_at(entry.span)} holds only at this value")
            elif isinstance(entry, IRBranch):
                self._trace(entry.items, subst, note)
            elif isinstance(entry, IRLoop):
                count = _sub(entry.count, subst)
                if id(entry) in self.unrolled:
                    note(count, f"it counts the `repeat`{_at(entry.span)}, which is written out")
                carried = _sub(entry.entry_channels, subst)
                for i, iteration in enumerate(entry.iterations):
                    inner = {**subst, entry.index: i, entry.carried: carried}
                    self._trace(iteration, inner, note)
                    carried = _sub(entry.exit_channels[i], inner)

    @staticmethod
    def _roots(names: frozenset, cls: ClassPlan) -> set[str]:
        return specialise.roots(names, cls)


def _sub(term, subst: dict):
    return terms.substitute(term, subst) if subst and terms.is_symbolic(term) else term


def _attr(item: Layer) -> str:
    return item.attr if isinstance(item.attr, str) else item.attr.base


def _at(span) -> str:
    return f" at {span.file}:{span.line}" if span is not None else ""


# -- the refusal in __init__ ---------------------------------------------------------------------------

def refusals(params: NetworkParams, graph: Graph, python: dict[str, str], command: str) -> list[str]:
    """The lines of `__init__` that refuse another value of each fixed parameter, with the reason
    and the command that builds the class for it; `python` names each parameter in Python."""
    lines: list[str] = []
    for name, why in params.fixed.items():
        value = graph.params[name]
        # A spec's list arrives as a tuple; `tuple(...)` lets callers pass a list too.
        shown = f"tuple({python[name]})" if isinstance(value, tuple) else python[name]
        lines += layout(literal(value), 2, f"if {shown} != ", ":")
        message = f"{name}={arch_literal(value)} is built into this class: {why}; for another value, " \
                  f"build it again with `{command} --set {name}=VALUE`"
        pieces = wrap(message, LINE - len(INDENT * 4) - 3)   # room for the quotes and a space
        pieces = [p + " " for p in pieces[:-1]] + pieces[-1:]   # the spaces the wrap took
        lines += [f"{INDENT * 3}raise ValueError(", *(f"{INDENT * 4}{string(p)}" for p in pieces), f"{INDENT * 3})"]
    return lines


def arch_literal(value: Any) -> str:
    """A value as `--set` reads it (archlang's literals)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(arch_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return string(value)
    return repr(value)
