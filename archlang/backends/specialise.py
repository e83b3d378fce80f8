"""Classes written for one value of a variable whose arithmetic no person would keep.

A constructor computes what the spec computes, for any arguments: usually
`in_channels + growth * i`, but through a few `repeat`s and `//`s a channel
count can become `(blocks[2] * growth + (blocks[1] * growth + (blocks[0] *
growth + init) // 2) // 2) // 2`, which no torchvision file would hold. Where
a class's term is longer than `LONGEST_TERM` characters of Python and every
instance of the class gives the variables behind it one value, the class is
written for that value: the variables become constants (`ClassPlan.constants`)
and the caller no longer passes them. A network parameter that reaches such a
variable is then built in (network_params gives the reason).
"""
from __future__ import annotations

from typing import Any, Iterator

from .. import terms
from ..ir import Graph
from .class_plan import Branch, Call, ClassPlan, Layer, Let, Loop, Plan, walk

LONGEST_TERM = 60   # characters: a constructor argument on its own line still fits black's 88 columns


def long_terms(cls: ClassPlan) -> Iterator[Any]:
    """The terms of a class's constructor longer than LONGEST_TERM when written as Python."""
    for term in _constructor_terms(cls):
        if terms.is_symbolic(term) and len(terms.python(term)) > LONGEST_TERM:
            yield term


def specialise(plan: Plan, graph: Graph) -> None:
    """Write each block class with a long term for the values its instances agree on."""
    for cls in plan.classes:
        if cls.kind != "block":   # a group reads its block's variables; the network's are its parameters
            continue
        values = _agreed_values(cls, graph)
        while True:
            long = next(long_terms(cls), None)
            if long is None:
                break
            names = {v for v in roots(terms.free_vars(long), cls) if v in values and v not in cls.constants}
            if not names:
                break
            fixed = {v: values[v] for v in sorted(names)}   # sorted: the text must not follow hash order
            cls.constants.update(fixed)
            _substitute(cls, fixed)


def roots(names, cls: ClassPlan) -> set[str]:
    """The class's variables behind `names`: a `let` stands for what it is computed from."""
    out: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in cls.lets and name not in out:
            pending.extend(terms.free_vars(cls.lets[name]))
        out.add(name)
    return out


def _constructor_terms(cls: ClassPlan) -> Iterator[Any]:
    for item in walk(cls.items):
        if isinstance(item, Layer):
            yield from item.kwargs.values()
        elif isinstance(item, Call):
            yield from item.args.values()
        elif isinstance(item, Let):
            yield item.term
        elif isinstance(item, Loop):
            yield item.count
        elif isinstance(item, Branch):
            yield item.test


def _agreed_values(cls: ClassPlan, graph: Graph) -> dict[str, Any]:
    """Each parameter (and the input's channels) that every instance gives the same value."""
    seen: dict[str, set] = {}
    for scope in cls.scopes:
        values = dict(scope.key[2])
        values[scope.names.input] = graph.nodes[scope.entry].shape[0]
        for name, value in values.items():
            seen.setdefault(name, set()).add(_hashable(value))
    return {name: _value(next(iter(v))) for name, v in seen.items() if len(v) == 1}


def _hashable(value):
    return ("list", tuple(_hashable(v) for v in value)) if isinstance(value, (list, tuple)) else ("value", value)


def _value(key):
    kind, value = key
    return tuple(_value(v) for v in value) if kind == "list" else value


def _substitute(cls: ClassPlan, values: dict) -> None:
    sub = lambda term: terms.substitute(term, values) if terms.is_symbolic(term) else term  # noqa: E731
    for item in walk(cls.items):
        if isinstance(item, Layer):
            item.kwargs = {k: sub(v) for k, v in item.kwargs.items()}
            item.channels = sub(item.channels)
        elif isinstance(item, Call):
            item.args = {k: sub(v) for k, v in item.args.items()}
            item.channels = sub(item.channels)
        elif isinstance(item, Let):
            item.term = sub(item.term)
        elif isinstance(item, Loop):
            item.count = sub(item.count)
        elif isinstance(item, Branch):
            item.test = sub(item.test)
        elif hasattr(item, "channels"):
            item.channels = sub(item.channels)
    cls.lets = {k: sub(v) for k, v in cls.lets.items()}
