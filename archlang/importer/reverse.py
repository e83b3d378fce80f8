"""The op table read backwards: which op a PyTorch layer is, and with which arguments.

Nothing here is a second table. Each op's torch constructor facet
(`OpSpec.torch`: input shapes and arguments -> class name and keyword
arguments) is asked, by probing it, which class it makes at a given input
rank and which keyword each of its arguments becomes: the argument whose
change changes `kernel_size` is conv's `k`, the one that changes `stride` is
`s`. PyTorch layers keep their constructor's keywords as attributes
(`conv.kernel_size`, `pool.ceil_mode`), so a layer's attributes give the
op's arguments. The reader then builds the op's module again and compares
(`from_torch.check_rebuilt`): an attribute that archlang cannot express
(a pool's dilation, a conv's padding_mode) shows up there, named.

Torch-free: attributes come in as plain values.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .. import ops

# A sample input of each rank, for asking a constructor what it makes.
SAMPLE_SHAPES = {1: (12,), 2: (12, 16), 3: (12, 16, 16), 4: (12, 16, 16, 16)}


@dataclass(frozen=True)
class Reading:
    """How one op is read from a layer: the class it makes, and argument -> keyword."""

    op: str
    cls: str
    keywords: tuple[tuple[str, str], ...]    # (argument, torch keyword), for the arguments that have one


def sample(arg: ops.Arg) -> tuple[Any, Any]:
    """Two different valid values of an argument: (base, changed)."""
    base = arg.default
    if arg.choices:
        base = base if base is not ops.REQUIRED else arg.choices[0]
        return base, next(c for c in arg.choices if c != base)
    if arg.kind == "bool":
        base = True if base is ops.REQUIRED else base
        return base, not base
    if arg.kind in ("float", "floats"):
        base = 0.25 if base is ops.REQUIRED else base
        return base, (base + 0.125 if isinstance(base, float) else 0.375)
    if arg.kind == "number":
        base = 2 if base is ops.REQUIRED else base
        return base, base + 1
    if base is None:                                               # a pool's stride: its window
        return None, 5
    base = 3 if base is ops.REQUIRED else base                     # int, ints, padding, size
    return base, ((base + 1 if base == 0 else base + 2) if isinstance(base, int) else 5)   # 1: padding within half a window


@lru_cache(maxsize=None)
def reading(op: str, rank: int) -> Reading | None:
    """How `op` is read at an input of `rank`; None when it makes no module there (merges)."""
    spec = ops.OPS[op]
    if spec.torch is None or spec.merge or takes_tensors(spec):
        return None
    shapes = [SAMPLE_SHAPES[rank]]
    samples = {a.name: sample(a) for a in spec.args}
    base = {name: pair[0] for name, pair in samples.items()}
    try:
        ops.infer(op, shapes, base)                  # the op's own rule says which ranks it takes
    except ops.ShapeFailure:
        return None
    cls, base_kw = spec.torch(shapes, base)
    keywords = []
    for arg in spec.args:
        changed = dict(base, **{arg.name: samples[arg.name][1]})
        try:
            _, kw = spec.torch(shapes, changed)
        except (KeyError, ValueError, TypeError, IndexError):
            continue
        moved = [k for k in set(base_kw) | set(kw) if base_kw.get(k, _MISSING) != kw.get(k, _MISSING)]
        if len(moved) == 1:
            keywords.append((arg.name, moved[0]))
    return Reading(op, cls, tuple(keywords))


_MISSING = object()


def takes_tensors(spec: ops.OpSpec) -> bool:
    """An op with a tensor argument (crop and resize take another tensor's size): a layer of
    several inputs, which a probe of one input cannot read."""
    return any(a.kind == "tensor" for a in spec.args)


def candidates(cls: str, rank: int) -> list[Reading]:
    """The ops whose constructor makes class `cls` at an input of `rank`, in table order."""
    found = []
    for name in ops.OPS:
        r = reading(name, rank)
        if r is not None and r.cls == cls:
            found.append(r)
    return found


def arguments(r: Reading, attributes: dict[str, Any]) -> dict[str, Any]:
    """The op's arguments from a layer's attributes (keyword -> value), in the op's kinds;
    arguments whose keyword the layer lacks keep their defaults."""
    spec = ops.OPS[r.op]
    by_keyword = dict(r.keywords)
    args: dict[str, Any] = {}
    for arg in spec.args:
        keyword = by_keyword.get(arg.name)
        if keyword is None or keyword not in attributes:
            if arg.required:
                raise LookupError(f"{r.op}'s {arg.name} has no attribute to be read from")
            args[arg.name] = arg.default
            continue
        args[arg.name] = as_kind(arg.kind, attributes[keyword])
    if spec.arg("s") is not None and spec.arg("s").default is None and args.get("s") == args.get("k"):
        args["s"] = None                  # a pool's stride that is its window: the default
    return args


def as_kind(kind: str, value: Any) -> Any:
    """A layer's attribute as an argument of `kind`: (3, 3) -> 3, a bias tensor -> true."""
    if kind == "bool":
        return bool(value) if isinstance(value, (bool, int)) else value is not None
    if isinstance(value, (tuple, list)):
        values = tuple(as_kind(kind, v) for v in value)
        if kind in ("ints", "padding", "size", "floats") and len(set(values)) == 1:
            return values[0]
        return values
    if kind in ("float", "floats") and isinstance(value, (int, float)):
        return float(value)
    return value


def with_defaults(op: str, args: dict[str, Any]) -> dict[str, Any]:
    """All of the op's arguments: `args`, and the defaults of the others."""
    return {a.name: args.get(a.name, a.default) for a in ops.OPS[op].args}


def nondefault(op: str, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments a spec writes: those that differ from the op's defaults."""
    out = {}
    for arg in ops.OPS[op].args:
        value = args.get(arg.name, arg.default)
        if arg.required or not _same(value, arg.default):
            out[arg.name] = value
    return out


def _same(a: Any, b: Any) -> bool:
    return a == b and type(a) is type(b)


def scale_shift_args(kind: str, number: float, number_first: bool) -> dict[str, float] | None:
    """`x op number` (or `number op x`) as `scale_shift`'s arguments (x * scale + shift), the
    defaults left out; None where no scale and shift compute it (`number / x`, a division by 0).
    Both importers (torch calls and ONNX nodes) read arithmetic on a constant this way."""
    if kind == "add":
        scale, shift = 1.0, number
    elif kind == "mul":
        scale, shift = number, 0.0
    elif kind == "sub":
        scale, shift = (-1.0, number) if number_first else (1.0, -number)
    elif kind == "div" and not number_first and number != 0:
        scale, shift = 1.0 / number, 0.0
    else:
        return None
    return {k: v for k, v in (("scale", scale), ("shift", shift)) if v != ops.OPS["scale_shift"].arg(k).default}


def arithmetic_refused(kind: str, number: float, number_first: bool) -> str:
    """What cannot be imported, for the importer's error: `a number div a tensor`, `div by 0.0`."""
    return f"{'a number ' + kind + ' a tensor' if number_first else kind + ' by ' + str(number)}"
