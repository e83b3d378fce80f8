"""Which of a network's parameters its generated class takes for any value, and which it refuses.

A parameter is *free* where everything it reaches is computed by the
generated constructors (channel and class counts, widths, the counts of
loops kept as loops); it is *fixed* where its value was relied on while
elaborating: it decides an `if`, the count of a `repeat` written out, an
`expect` or the paths of an `add` hold only at its value, it sets a spatial
size the checks ran at. The class refuses another value of a fixed
parameter, saying which of these it is and how to build again
(docs/pytorch.md, "Network parameters").
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Graph
from .pylayout import INDENT, LINE, layout, literal, string, wrap


@dataclass
class NetworkParams:
    fixed: dict[str, str] = field(default_factory=dict)   # parameter -> why its value is built in


def analyse(graph: Graph, plan) -> NetworkParams:
    """Every parameter built in (the free ones come with the analysis of docs/pytorch.md)."""
    return NetworkParams({name: "the class is generated for these values" for name in graph.params})


def refusals(params: NetworkParams, class_name: str, graph: Graph, python: dict[str, str]) -> list[str]:
    """The lines of `__init__` that refuse other values of the fixed parameters, saying how to rebuild;
    `python` names each parameter in Python."""
    fixed = {k: graph.params[k] for k in params.fixed}
    if not fixed:
        return []
    names = list(fixed)
    # A spec's list arrives as a tuple; `tuple(...)` lets callers pass a list too.
    shown = [f"tuple({python[k]})" if isinstance(v, tuple) else python[k] for k, v in fixed.items()]
    if len(fixed) == 1:
        test = layout(literal(fixed[names[0]]), 2, f"if {shown[0]} != ", ":")
    else:
        from .pylayout import Bracket
        values = Bracket("(", ")", [literal(v) for v in fixed.values()])
        test = layout(values, 2, f"if ({', '.join(shown)}) != ", ":")
    built = ", ".join(f"{k}={literal(v)}" for k, v in fixed.items())
    message = f"{class_name} was generated for {built}; build it again with `archlang build --set NAME=VALUE` for other values"
    pieces = wrap(message, LINE - len(INDENT * 4) - 3)  # room for the quotes and a space
    pieces = [p + " " for p in pieces[:-1]] + pieces[-1:]   # the spaces the wrap took
    return [*test, f"{INDENT * 3}raise ValueError(", *(f"{INDENT * 4}{string(p)}" for p in pieces), f"{INDENT * 3})"]
