"""The sizes an ONNX export is verified at.

The batch dimension is dynamic (named `batch`) unless fixed; a symbolic size
of the spec (`input x: [3, H, W]`) stays symbolic in the file, named after
its symbol. Verification needs numbers: `probes` gives runs in which every
dynamic dimension takes two values: batch 1 and 3, and, for symbols, the
smallest valid input (`shapes` reports it) and a round size that meets the
network's conditions, with the first symbol differing from the others where
the conditions allow, so that a height/width mix-up cannot pass.

Torch-free: plain shapes.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph

VERIFY_BATCHES = (1, 3)
ROUND_SIZES = (64, 96, 128, 224, 48, 32)   # tried in order for the symbols: small ones keep checks quick


@dataclass(frozen=True)
class Probe:
    """One verification run: the full shape of each input, batch first."""

    shapes: tuple[tuple[int, ...], ...]

    @property
    def batch(self) -> int:
        return self.shapes[0][0]

    def describe(self) -> str:
        return " + ".join("x".join(map(str, s)) for s in self.shapes)


def probes(graph: Graph, batch: int | None) -> list[Probe]:
    """The verification runs: batch 1 and 3 (or the fixed batch), symbols at two sizes."""
    envs = symbol_sizes(graph)
    batches = (batch,) if batch else VERIFY_BATCHES
    runs = max(len(batches), len(envs))
    return [Probe(tuple((batches[i % len(batches)], *concrete(shape, envs[i % len(envs)]))
                        for shape in graph.input_shapes())) for i in range(runs)]


def symbol_sizes(graph: Graph) -> list[dict[str, int]]:
    """Up to two assignments of the symbols that meet the network's conditions ([{}] without symbols).

    The smallest valid input first; then a round size, all symbols alike but
    the first where the conditions allow.
    """
    if not graph.symbols:
        return [{}]
    smallest = smallest_sizes(graph)
    first = {sym: smallest.get(sym, ROUND_SIZES[0]) for sym in graph.symbols}
    runs = [first] if holds(graph, first) else []
    for size in ROUND_SIZES:
        same = {sym: size for sym in graph.symbols}
        if same == first or not holds(graph, same):
            continue
        for other in ROUND_SIZES:      # the first symbol at another valid size, so the sizes differ
            mixed = {**same, graph.symbols[0]: other}
            if len(graph.symbols) > 1 and other != size and mixed != first and holds(graph, mixed):
                same = mixed
                break
        runs.append(same)
        break
    return runs or [first]


def holds(graph: Graph, env: dict[str, int]) -> bool:
    """Whether the sizes `env` meet every condition the network puts on its symbols."""
    try:
        shapes = [concrete(shape, env) for shape in graph.input_shapes()]
    except (ArithmeticError, KeyError):
        return False
    return all(d >= 1 for s in shapes for d in s) and all(c.holds(env) for c in graph.constraints)


def concrete(shape, env: dict[str, int]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else d.evaluate(env) for d in shape)


def smallest_sizes(graph: Graph) -> dict[str, int]:
    """Each symbol's value in the smallest valid input (where an input dimension is the bare symbol)."""
    env: dict[str, int] = {}
    for shape, small in zip(graph.input_shapes(), graph.smallest_input or []):
        for d, v in zip(shape, small):
            if not isinstance(d, int) and str(d) in graph.symbols:
                env.setdefault(str(d), v)
    return env
