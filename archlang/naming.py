"""Names in a graph: labels as given, and automatic names.

A node's name is its dotted module path (docs/internals.md). In each scope,
`Names` hands out the parts: a label as written, or an automatic name, the op
or the block's name and a counter (`conv1`, `residual2`). The labels of a
scope's body are reserved before anything is named, so an automatic name
never takes a label's name.
"""
from __future__ import annotations

from . import syntax as ast
from .source import Span

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


def join(path: str, local: str) -> str:
    """A scope's path and a local name: `stage2` + `conv1` -> `stage2.conv1`."""
    return f"{path}.{local}" if path else local


def labels_in(node) -> set[str]:
    """The labels of a scope's body (or chain), through repeat, if and paths but not into block calls."""
    return {n.label.name for n in ast.walk_layers(node) if isinstance(n, ast.Layers) and n.label is not None}


class Names:
    """Local names in one scope: labels as given, the rest a base and a counter."""

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

    def label(self, ident: ast.Ident, report) -> str | None:
        """Take a label; None (after E207) when the scope already has that name."""
        name = ident.name
        if name in self.taken:
            first = self.taken[name]
            if first is not None and first.start == ident.span.start and first.source is ident.span.source:
                report.error("E207", f"label `{name}` is inside a repeat: it would name a layer of every "
                                     f"iteration", ident.span, label="one name for several layers",
                             help="leave the label out (the layers get numbered names), or move it out of the repeat")
            elif first is not None:
                report.error("E207", f"duplicate label `{name}`", ident.span, label="used twice in this scope",
                             related=[(first, f"`{name}` first names a layer here")])
            else:
                report.error("E207", f"duplicate label `{name}`", ident.span, label="used twice in this scope",
                             notes=[f"`{name}` is already the name of a layer or input here"])
            return None
        self.taken[name] = ident.span
        return name
