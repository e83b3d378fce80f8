"""The op table's ONNX lowerings read backwards: which op an ONNX node is.

Nothing here is a second table. Each op's `onnx` facet (a lowering that
writes nodes through a `layer` object) is run on a stand-in that records
what it writes (`Probe`): the op whose lowering is one node of an ONNX type
is a candidate for that type, and the argument whose change moves one
attribute is read from that attribute (LeakyRelu's `alpha` is leaky_relu's
`slope`). A node read this way is lowered again with the arguments found
and compared attribute by attribute (`differences`), so an attribute
archlang cannot express is named, never dropped.

Torch-free; values come in as plain Python numbers and lists.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .. import ops
from . import reverse
from .reverse import SAMPLE_SHAPES, sample

OPSET = 20


class Refused(Exception):
    """A lowering that refuses the arguments it was given (an opset, a symbolic size)."""


class Probe:
    """A stand-in for the ONNX emitter's layer: records the nodes and parameters a lowering writes."""

    def __init__(self, shape: tuple[int, ...], out: tuple[int, ...], args: dict[str, Any]) -> None:
        self.name = "probe"
        self.inputs = ["x"]
        self.shapes = [shape]
        self.out = out
        self.args = args
        self.opset = OPSET
        self.nodes: list[tuple[str, list[str], dict[str, Any]]] = []
        self.params: dict[str, tuple[int, ...]] = {}

    def node(self, op_type: str, inputs: list[str], **attributes: Any) -> str:
        self.nodes.append((op_type, list(inputs), attributes))
        return f"probe/{op_type}{len(self.nodes)}"

    def param(self, key: str, shape, init, view=None) -> str:
        self.params[key] = tuple(int(d) for d in shape)
        return key

    def constant(self, role: str, values, shape=None, dtype: str = "compute") -> str:
        return f"const:{role}"

    def refuse(self, reason: str, help: str | None = None) -> None:
        raise Refused(reason)


def lowered(op: str, shape: tuple[int, ...], args: dict[str, Any]) -> Probe | None:
    """What the op's lowering writes for one input of `shape` (without the batch); None when it
    refuses, or the op has no lowering or rule for that input."""
    spec = ops.OPS[op]
    if spec.onnx is None or spec.merge or reverse.takes_tensors(spec):
        return None
    full = {a.name: args.get(a.name, a.default) for a in spec.args}
    try:
        out, _ = ops.infer(op, [shape], full)
        probe = Probe(tuple(shape), tuple(out), full)
        spec.onnx(probe)
    except (ops.ShapeFailure, Refused, KeyError, TypeError, ValueError, IndexError):
        return None
    return probe


@dataclass(frozen=True)
class Reading:
    """How one op is read from a node of one type: argument -> attribute, for those that have one."""

    op: str
    op_type: str
    keywords: tuple[tuple[str, str], ...]


@lru_cache(maxsize=None)
def readings(op_type: str, rank: int) -> tuple[Reading, ...]:
    """The ops whose lowering is one node of `op_type` at an input of `rank`, in table order."""
    found = []
    shape = SAMPLE_SHAPES[rank]
    for name, spec in ops.OPS.items():
        if spec.onnx is None or spec.merge or reverse.takes_tensors(spec):
            continue
        samples = {a.name: sample(a) for a in spec.args}
        base = {k: v[0] for k, v in samples.items()}
        probe = lowered(name, shape, base)
        if probe is None or len(probe.nodes) != 1 or probe.nodes[0][0] != op_type:
            continue
        moves = {}
        for arg in spec.args:
            changed = lowered(name, shape, dict(base, **{arg.name: samples[arg.name][1]}))
            if changed is None or len(changed.nodes) != 1:
                continue
            before, after = probe.nodes[0][2], changed.nodes[0][2]
            moves[arg.name] = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        # an argument that moves one attribute claims it; one that moves several (a pool's
        # window moves its stride too, when the stride is the window) takes what is left
        claimed = {next(iter(m)) for m in moves.values() if len(m) == 1}
        keywords = []
        for arg in spec.args:
            left = moves.get(arg.name, set()) if len(moves.get(arg.name, ())) == 1 \
                else moves.get(arg.name, set()) - claimed
            if len(left) == 1:
                keywords.append((arg.name, next(iter(left))))
        found.append(Reading(name, op_type, tuple(keywords)))
    return tuple(found)


def differences(op: str, shape: tuple[int, ...], args: dict[str, Any], op_type: str,
                attributes: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """How the node the op's lowering writes differs from an ONNX node's type and attributes.

    An attribute the lowering leaves out must be at its ONNX default (`defaults`, per attribute).
    """
    probe = lowered(op, shape, args)
    if probe is None:
        return [f"archlang's {op} cannot be written to ONNX at {list(shape)}"]
    if len(probe.nodes) != 1 or probe.nodes[0][0] != op_type:
        return [f"archlang's {op} is written as {', '.join(n[0] for n in probe.nodes)}, not {op_type}"]
    mine = probe.nodes[0][2]
    out = []
    for key in sorted(set(mine) | set(attributes)):
        theirs = attributes.get(key, defaults.get(key, _UNSET))
        ours = mine.get(key, defaults.get(key, _UNSET))
        if _normal(ours) != _normal(theirs):
            out.append(f"{key}={_shown(theirs)} (archlang's {op} writes {_shown(ours)})")
    return out


_UNSET = object()


def _normal(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_normal(v) for v in value)
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, bytes):
        return value.decode()
    return value


def _shown(value: Any) -> str:
    return "(unset)" if value is _UNSET else repr(_normal(value))
