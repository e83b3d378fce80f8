"""Receptive fields and cumulative strides: which input pixels each layer's units see.

For every node and every network input it depends on, one `Axis` per spatial
dimension says which input positions each output position reads, through the
whole network: output position `q * period + r` sees input positions
`q * shift + lo[r]` to `q * shift + hi[r]`. A convolution chain has period 1:
every unit sees `rf = hi - lo + 1` pixels and neighbouring units are `shift`
pixels apart (the cumulative stride); padding moves `lo` (a unit near the
border reaches into the padding). A transposed convolution or an upsampling
makes several output positions per input position: the period grows and the
stride becomes a fraction (`shift / period`). Each layer's `OpSpec.reads` says
which of its input positions an output position reads (`ops.Taps`).

- Dilation spreads the taps; the field is the extent from the first tap to the last.
- A merge (concat, add) sees the union of its paths: the largest field.
- Norm layers count as per position (the statistics they compute are not
  part of a receptive field), as do activations.
- `EVERY` (gap, linear, softmax over features) sees the whole input.

Exact for a unit whose field lies inside the input; at the borders the field
is cut by the image. Checked against gradients computed with torch on small
specs and generated programs (tests/test_receptive.py). Torch-free.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from . import ops, passes
from .ir import Graph
from .shapes import evaluate_shape, is_concrete

EVERY = "every"   # the unit sees the whole input


@dataclass(frozen=True)
class Axis:
    """What output positions see of one input axis (see the module's doc).

    `lo[r]` is None when output positions of residue r read nothing (a transposed
    convolution whose kernel skips them).
    """

    period: int
    shift: int
    lo: tuple[int | None, ...]
    hi: tuple[int | None, ...]

    @property
    def size(self) -> int:
        """The receptive field: the most input positions one unit spans."""
        return max((h - l + 1 for l, h in zip(self.lo, self.hi) if l is not None), default=0)

    @property
    def stride(self) -> Fraction:
        """Input positions between neighbouring units (the cumulative stride, or jump)."""
        return Fraction(self.shift, self.period)

    def region(self, position: int) -> tuple[int, int] | None:
        """The input positions (first, last) output `position` spans, borders not cut."""
        q, r = divmod(position, self.period)
        if self.lo[r] is None:
            return None
        return q * self.shift + self.lo[r], q * self.shift + self.hi[r]


IDENTITY = Axis(1, 1, (0,), (0,))
Field = Any   # tuple[Axis, ...] (one per spatial axis; () for an input without any) or EVERY


def fields(graph: Graph) -> dict[int, dict[int, Field]]:
    """Node id -> {input node id: its field on that input}, for the nodes whose shapes are known.

    Symbolic sizes are taken at the smallest valid input (only adaptive pooling's
    windows depend on them).
    """
    env = passes.smallest_env(graph)
    out: dict[int, dict[int, Field]] = {}
    for node in graph.nodes:
        if node.op == "input":
            shape = node.shape if isinstance(node.shape, tuple) else ()
            out[node.id] = {node.id: (IDENTITY,) * max(0, len(shape) - 1)}
            continue
        if not node.known or any(i not in out for i in read_inputs(node)):
            continue
        shapes = [_concrete(graph[i].shape, env) for i in node.inputs]
        shape = _concrete(node.shape, env)
        if shape is None or any(s is None for s in shapes):
            continue
        reads = ops.OPS[node.op].reads(shapes, shape, node.args)
        out[node.id] = _apply(reads, [out[i] for i in read_inputs(node)])
    return out


def read_inputs(node) -> tuple[int, ...]:
    """The inputs whose values a layer reads: all of them, but only the first for a layer with
    a tensor argument (crop's and resize's `like` gives a size, not values)."""
    if any(a.kind == "tensor" for a in ops.OPS[node.op].args):
        return node.inputs[:1]
    return node.inputs


def _concrete(shape, env):
    if is_concrete(shape):
        return tuple(shape)
    return None if env is None else tuple(evaluate_shape(shape, env))


def _apply(reads: Any, inputs: list[dict[int, Field]]) -> dict[int, Field]:
    result: dict[int, Field] = {}
    for source in dict.fromkeys(k for fields_in in inputs for k in fields_in):
        found = [f[source] for f in inputs if source in f]
        if reads == ops.EVERY_POSITION or any(f == EVERY for f in found):
            result[source] = EVERY
        elif reads == ops.SAME_POSITION:
            result[source] = _union(found)
        else:
            result[source] = _union([tuple(_through(a, t) for a, t in zip(f, reads)) for f in found])
    return result


def _through(axis: Axis, taps: ops.Taps) -> Axis:
    """The axis after a layer reading `taps` of it."""
    # Stepping `n` periods of the layer moves its reads by n * taps.shift input positions,
    # which must be whole periods of `axis` for the pattern to repeat.
    n = axis.period // math.gcd(axis.period, taps.shift)
    period = n * taps.period
    shift = n * taps.shift // axis.period * axis.shift
    lo: list[int | None] = []
    hi: list[int | None] = []
    for r in range(period):
        q, rr = divmod(r, taps.period)
        spans = [axis.region(q * taps.shift + t) for t in taps.taps[rr]]
        spans = [s for s in spans if s is not None]
        lo.append(min(s[0] for s in spans) if spans else None)
        hi.append(max(s[1] for s in spans) if spans else None)
    return Axis(period, shift, tuple(lo), tuple(hi))


def _union(found: list[Field]) -> Field:
    """What a unit of a merge sees: all its paths see (the largest field, axis by axis)."""
    if len(found) == 1:
        return found[0]
    return tuple(_union_axis(list(axes)) for axes in zip(*found))


def _union_axis(axes: list[Axis]) -> Axis:
    period = math.lcm(*(a.period for a in axes))
    spread = [_repeat(a, period) for a in axes]
    shift = max(a.shift for a in spread)   # paths of one size share it; if not, the largest
    lo = tuple(_least([a.lo[r] for a in spread]) for r in range(period))
    hi = tuple(_most([a.hi[r] for a in spread]) for r in range(period))
    return Axis(period, shift, lo, hi)


def _repeat(axis: Axis, period: int) -> Axis:
    """The same axis described with a longer period (a multiple of its own)."""
    times = period // axis.period
    lo, hi = [], []
    for r in range(period):
        span = axis.region(r)
        lo.append(None if span is None else span[0])
        hi.append(None if span is None else span[1])
    return Axis(period, axis.shift * times, tuple(lo), tuple(hi))


def _least(values: list) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _most(values: list) -> int | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


# -- exact extents, borders included -------------------------------------------------------

Extent = "tuple[int, int] | None"   # the first and last input position a unit reads; None: none


def extents(graph: Graph) -> dict[int, dict[int, Any]]:
    """Node id -> {input node id: per spatial axis, the `Extent` of every output position}.

    The exact counterpart of `fields` at the concrete sizes (the smallest valid
    input for symbolic ones): a position that falls in the padding reads nothing,
    so units at the borders see less. Per axis, because every op reads a product
    of per-axis positions. `EVERY` for a unit that mixes every position.
    """
    env = passes.smallest_env(graph)
    out: dict[int, dict[int, Any]] = {}
    for node in graph.nodes:
        shape = _concrete(node.shape, env) if node.known else None
        if node.op == "input":
            if shape is not None:
                out[node.id] = {node.id: tuple(tuple((i, i) for i in range(n)) for n in shape[1:])}
            continue
        if shape is None or any(i not in out for i in read_inputs(node)) \
                or any(_concrete(graph[i].shape, env) is None for i in node.inputs):
            continue
        shapes = [_concrete(graph[i].shape, env) for i in node.inputs]
        reads = ops.OPS[node.op].reads(shapes, shape, node.args)
        result: dict[int, Any] = {}
        read = read_inputs(node)
        for source in dict.fromkeys(k for i in read for k in out[i]):
            found = [out[i][source] for i in read if source in out[i]]
            if reads == ops.EVERY_POSITION or any(f == EVERY for f in found):
                result[source] = EVERY
            elif reads == ops.SAME_POSITION:
                result[source] = tuple(tuple(_span([f[a][p] for f in found]) for p in range(len(found[0][a])))
                                       for a in range(len(found[0])))
            else:
                (f,) = found
                result[source] = tuple(tuple(_span([axis[t] for t in _positions(taps, o) if 0 <= t < len(axis)])
                                             for o in range(n))
                                       for axis, taps, n in zip(f, reads, shape[1:]))
        out[node.id] = result
    return out


def _positions(taps: ops.Taps, o: int) -> list[int]:
    q, r = divmod(o, taps.period)
    return [q * taps.shift + t for t in taps.taps[r]]


def _span(extents: list) -> Any:
    present = [e for e in extents if e is not None]
    return (min(e[0] for e in present), max(e[1] for e in present)) if present else None


# -- what tables show -------------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    """One node's receptive field and cumulative stride per axis, on the input that gives
    the largest field; `every`: it sees the whole input."""

    sizes: tuple[int, ...] = ()
    strides: tuple[Fraction, ...] = ()
    every: bool = False

    @property
    def rf_text(self) -> str:
        return "all" if self.every else _joined(self.sizes)

    @property
    def stride_text(self) -> str:
        return "" if self.every else _joined(self.strides)

    def rf_json(self) -> Any:
        return "all" if self.every else list(self.sizes) or None

    def stride_json(self) -> Any:
        if self.every or not self.strides:
            return None
        return [int(s) if s.denominator == 1 else float(s) for s in self.strides]


def summaries(graph: Graph) -> dict[int, Summary]:
    """Node id -> its `Summary` (nodes of unknown shape left out)."""
    out = {}
    for node_id, per_input in fields(graph).items():
        if any(f == EVERY for f in per_input.values()):
            out[node_id] = Summary(every=True)
            continue
        best = max(per_input.values(), key=lambda f: sum(a.size for a in f), default=())
        out[node_id] = Summary(tuple(a.size for a in best), tuple(a.stride for a in best))
    return out


def _joined(values: tuple) -> str:
    """`7` when every axis agrees, else `7x5`; fractions as `1/2`."""
    if not values:
        return ""
    texts = [str(v) for v in values]
    return texts[0] if len(set(texts)) == 1 else "x".join(texts)
