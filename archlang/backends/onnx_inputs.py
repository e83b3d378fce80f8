"""The inputs of an ONNX export: which dimensions stay dynamic, and the sizes to trace and verify at.

The batch dimension is dynamic (named `batch`) unless fixed; a symbolic size
of the spec (`input x: [3, H, W]`) stays symbolic, named after its symbol, so
a U-Net exported once runs at any size the network accepts. Tracing and
verification need numbers: `trace_shapes` gives sizes that meet the
network's conditions on its symbols, and `probes` the verification runs, so
that every dynamic dimension is seen at two different values (batch 1 and 3,
and two sizes for the symbols).

Torch-free: plain shapes and names; `onnx.py` turns them into tensors and
`torch.export.Dim`s.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph

BATCH_DIM = "batch"
VERIFY_BATCHES = (1, 3)
TRACE_BATCH = 2                      # torch.export specialises sizes 0 and 1
ROUND_SIZES = (64, 96, 128, 224, 48, 32)   # tried in order for the symbols: small ones keep checks quick


@dataclass(frozen=True)
class Axis:
    """A dynamic dimension of one input: its position, its name and its least size."""

    position: int
    name: str
    min: int


@dataclass(frozen=True)
class Probe:
    """One verification run: the full shape of each input, batch first."""

    shapes: tuple[tuple[int, ...], ...]

    @property
    def batch(self) -> int:
        return self.shapes[0][0]

    def describe(self) -> str:
        return " + ".join("x".join(map(str, s)) for s in self.shapes)


def dynamic_axes(graph: Graph, batch: int | None) -> list[list[Axis]]:
    """Per input, its dynamic dimensions: the batch (unless fixed) and each symbolic size.

    A symbol's least size is its value in the smallest valid input, and at
    least 2: torch.export treats sizes 0 and 1 as special cases.
    """
    least = _smallest(graph)
    out = []
    for shape in graph.input_shapes():
        axes = [] if batch else [Axis(0, BATCH_DIM, 1)]
        axes += [Axis(i + 1, str(d), max(2, least.get(str(d), 2)))
                 for i, d in enumerate(shape) if not isinstance(d, int)]
        out.append(axes)
    return out


def trace_shapes(graph: Graph, batch: int | None) -> tuple[tuple[int, ...], ...]:
    """Input shapes to trace the module at."""
    env = symbol_sizes(graph)[0]
    return tuple((batch or TRACE_BATCH, *_concrete(shape, env)) for shape in graph.input_shapes())


def probes(graph: Graph, batch: int | None) -> list[Probe]:
    """The verification runs: batch 1 and 3 (or the fixed batch), each symbol at two sizes."""
    envs = symbol_sizes(graph)
    batches = (batch,) if batch else VERIFY_BATCHES
    runs = max(len(batches), len(envs))
    return [Probe(tuple((batches[i % len(batches)], *_concrete(shape, envs[i % len(envs)]))
                        for shape in graph.input_shapes())) for i in range(runs)]


def symbol_sizes(graph: Graph) -> list[dict[str, int]]:
    """Up to two assignments of the symbols that meet the network's conditions ([{}] without symbols).

    Round sizes first, all symbols alike; the second assignment gives the
    first symbol another size than the rest where the conditions allow, so
    that a height/width mix-up cannot pass. Without a round size that fits,
    the smallest valid input.
    """
    if not graph.symbols:
        return [{}]
    valid = [s for s in ROUND_SIZES if _holds(graph, {sym: s for sym in graph.symbols})]
    if not valid:
        smallest = _smallest(graph)
        return [{sym: smallest.get(sym, ROUND_SIZES[0]) for sym in graph.symbols}]
    first = {sym: valid[0] for sym in graph.symbols}
    if len(valid) == 1:
        return [first]
    mixed = {**first, graph.symbols[0]: valid[1]}
    return [first, mixed if _holds(graph, mixed) else {sym: valid[1] for sym in graph.symbols}]


def _holds(graph: Graph, env: dict[str, int]) -> bool:
    try:
        shapes = [_concrete(shape, env) for shape in graph.input_shapes()]
    except (ArithmeticError, KeyError):
        return False
    return all(d >= 1 for s in shapes for d in s) and all(c.holds(env) for c in graph.constraints)


def _concrete(shape, env: dict[str, int]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else d.evaluate(env) for d in shape)


def _smallest(graph: Graph) -> dict[str, int]:
    """Each symbol's value in the smallest valid input (where an input dimension is the bare symbol)."""
    env: dict[str, int] = {}
    for shape, small in zip(graph.input_shapes(), graph.smallest_input or []):
        for d, v in zip(shape, small):
            if not isinstance(d, int) and str(d) in graph.symbols:
                env.setdefault(str(d), v)
    return env
