"""THE op table: every layer of the language, declared once.

Each `OpSpec` holds an op's arguments (types, defaults, aliases, choices), its
shape rule, its parameter/MAC rule, its PyTorch constructor, its ONNX lowering,
and a line of documentation. Elaboration binds arguments with `bind`, the
passes call `infer` and `count`, the backends call `torch` and `onnx`. Adding
an op is one entry here plus its tests (rule against torch, count against
torchinfo, export verified in onnxruntime).

Shape rules receive an `InferContext` and return the output shape, or raise
`ShapeFailure` with the shapes on both sides. Conditions on symbolic sizes
that only the sizes can decide are recorded with `ctx.require`.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, NamedTuple

from . import binder, terms
from .binder import Actual
from .diagnostics import Collector
from .terms import arith, is_symbolic
from .values import TensorRef
from .shapes import (UNKNOWN, Expr, Shape, at_least_one, compare_eq, conv_out, evaluate, format_shape,
                     numel, pool_out)

# --------------------------------------------------------------------------- declarations


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Arg:
    name: str                        # canonical short name: "k", "s", "p", "d"
    kind: str                        # int, float, number, bool, str, ints, floats, padding, size
    default: Any = REQUIRED
    aliases: tuple[str, ...] = ()
    choices: tuple | None = None     # allowed values of an enumerated str argument
    minimum: int | float | None = None   # smallest allowed value (each element of a list)
    minimum_code: str = "E211"       # E310 for kernel/stride/dilation/padding geometry
    maximum: int | float | None = None   # largest allowed value
    above: int | float | None = None     # every value must be greater than this (eps > 0)
    doc: str = ""
    default_text: str | None = None  # how signatures show a default that is no value (chunk's "all")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class OpSpec:
    name: str
    args: tuple[Arg, ...]
    infer: Callable[["InferContext"], Shape]
    count: Callable[[list, tuple, dict], tuple[int, int, int]]
    torch: Callable[[list, dict], tuple[str, dict]] | None
    summary: str
    key_args: tuple[str, ...] = ()
    ranks: str = "any"               # the input ranks it takes, for the docs
    merge: bool = False              # several inputs (concat, add)
    # Problems of the arguments alone (raises ShapeFailure): checked even when the
    # input's shape is unknown, so that independent errors are all reported.
    check_args: Callable[[dict], None] | None = None
    # -- what the lints, the drawings and the backends know about the op
    colour: str = field(kw_only=True)    # fill of its node in drawings (one colour per family of ops)
    # W503: why the layer does nothing with these arguments on these input shapes, or None.
    does_nothing: Callable[[list, dict], str | None] | None = None
    # Names users type from habit (PyTorch's classes, other libraries'): `Conv2d`, `fc`.
    # An unknown layer of one of these names gets "did you mean" this op; compared
    # without case and underscores.
    torch_names: tuple[str, ...] = ()
    # A `bn` that alone follows it folds into its weights for inference (`export --fold-bn`).
    absorbs_bn: bool = False
    # Normalises by the batch's own statistics in training: it needs more than one value
    # per channel, so `train` refuses a batch that would give it one (train/checks.py).
    batch_statistics: bool = False
    # The padding per spatial axis that makes it turn the input shape into the target
    # spatial sizes (a concrete fix for a merge whose paths disagree), or None.
    fit_padding: Callable[[Shape, dict, tuple], tuple | None] | None = None
    # In-place safety, for code generators that reuse buffers (backends/torch_source.py).
    # How the op can write its result into its input: "module" (nn.ReLU(inplace=True)),
    # "sum" (`a += b`), or None.
    writes_input: str | None = None
    # Its output is a new tensor that its own backward does not read, so the one step
    # that alone reads it may overwrite it. Not relu (its backward reads its output), not
    # dropout, flatten or channel_shuffle (they may return their input, or a view of it).
    fresh_output: bool = False
    # With a single input, its value is that input itself, not a copy (a one-input add
    # sums nothing): writing into it writes into the input.
    aliases_single_input: bool = False
    # The ONNX nodes of one layer, written through the ONNX backend's small
    # interface (see "ONNX lowerings" below); returns the output tensor's name.
    onnx: Callable[[Any], str] | None = None
    # For an op that is no module (`torch` is None: merges): the Python expression generated
    # code computes it with, from its inputs' variables and its arguments: "a + b".
    expression: Callable[[list[str], dict], str] | None = None
    # -- design-time answers: training memory (archlang/memory.py), receptive fields
    # (archlang/receptive.py) and FLOPs (passes.count). Required: a new op states them or
    # the table does not load (no guessed default can be silently wrong); tests/test_memory.py,
    # tests/test_receptive.py and tests/test_flops.py check each against torch.
    # The tensors its backward keeps, on these input and output shapes (`Saved` items).
    saves: Callable[[list, tuple, dict], tuple["Saved", ...]] = field(kw_only=True)
    # In training its output is its first input's storage (a view, or the tensor itself).
    output_is_input: Callable[[list, dict], bool] | None = None
    # How torch.autocast runs it on a GPU: "lower" (in 16 bits, inputs and weights cast:
    # conv, linear), "fp32" (its input cast up) or "" (in the type its input comes in).
    autocast: str = ""
    # Which input positions each output position reads, per spatial axis (`Taps`), or
    # SAME_POSITION (each position its own: norms, activations, flatten) or EVERY_POSITION
    # (a unit that sees the whole input: gap, linear).
    reads: Callable[[list, tuple, dict], Any] = field(kw_only=True)
    # Floating-point operations of one sample's forward pass (docs/ops.md, "FLOPs").
    flops: Callable[[list, tuple, dict], int] = field(kw_only=True)
    # A learnable tensor of the block that declares it (`parameter`): no input, no module; the
    # block's module holds it as an nn.Parameter whose state_dict key is the layer's own name
    # (convnext's `features.1.0.layer_scale`). It has no batch dimension.
    parameter: bool = False
    # An input may be a parameter, which the op broadcasts over the batch (mul, add).
    takes_parameters: bool = False
    # Its output's channel count from its inputs' and its arguments, as terms
    # (`terms.py`: ints, or expressions of a block's parameters): (input shapes,
    # input channel terms, argument terms) -> term. The same arithmetic on plain
    # ints gives the channels its shape rule gives (tests/test_op_table.py).
    channels: Callable[[list, list, dict], Any] = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.channels is None:
            object.__setattr__(self, "channels", same_channels)

    def apply(self, ctx: "InferContext") -> Shape:
        """The output shape: the argument check, the shape rule, then that the module is one
        module: no constructor argument (its weights' or statistics' size) depends on a
        symbolic size, as bn's features do after `flatten` of [C, H, W] (E309)."""
        if self.check_args is not None:
            self.check_args(ctx.args)
        shape = self.infer(ctx)
        _check_fixed_module(self, ctx)
        return shape

    def arg(self, name: str) -> Arg | None:
        """The argument called `name` or one of its aliases."""
        for a in self.args:
            if a.name == name or name in a.aliases:
                return a
        return None


@dataclass(frozen=True)
class Init:
    """How PyTorch initialises a parameter or buffer, so a backend can make the
    weights `archlang.compile` would draw (same distribution) without torch.

    kind "uniform": U(-value, value), what conv and linear layers draw
    (kaiming_uniform_ with a=sqrt(5) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)));
    kind "fill": every element equal to `value`.
    """

    kind: str
    value: float
    dtype: str = "float32"           # "int64" for counters (num_batches_tracked)


def fan_in_uniform(fan_in: int) -> Init:
    return Init("uniform", 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0)


class ShapeFailure(Exception):
    """A shape rule's error, with the shapes on both sides.

    `input_index` points the diagnostic at one input's path (merges); None
    means the layer itself.
    """

    def __init__(self, code: str, message: str, label: str = "", notes: tuple[str, ...] | list[str] = (),
                 help: str | None = None, input_index: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.label = label
        self.notes = list(notes)
        self.help = help
        self.input_index = input_index


@dataclass(frozen=True)
class Requirement:
    """A condition on the symbolic sizes that the rule could not decide alone: `lhs rel rhs`."""

    code: str                        # E305 (size >= 1), E303/E304 (merge equality)
    lhs: Any
    rel: str                         # ">=" or "=="
    rhs: Any
    input_index: int | None = None

    @property
    def text(self) -> str:           # "H >= 5", "(H - 1) // 2 + 1 == H // 2"
        return f"{self.lhs} {self.rel} {self.rhs}"

    def holds(self, env: dict) -> bool:
        a, b = evaluate(self.lhs, env), evaluate(self.rhs, env)
        return a >= b if self.rel == ">=" else a == b


@dataclass
class InferContext:
    op: str
    inputs: tuple[Shape, ...]
    args: dict[str, Any]
    requirements: list[Requirement] = field(default_factory=list)

    @property
    def x(self) -> Shape:
        return self.inputs[0]

    def fail(self, code: str, message: str, **kw) -> ShapeFailure:
        kw.setdefault("label", f"input {format_shape(self.x)}" if self.inputs else "")
        return ShapeFailure(code, message, **kw)

    def require(self, code: str, lhs, rel: str, rhs, input_index: int | None = None) -> None:
        self.requirements.append(Requirement(code, lhs, rel, rhs, input_index))

    def size(self, axis: str, size, formula: Callable, window: "Window | None" = None) -> Any:
        """Apply a size formula to one axis and insist that the result is at least 1.

        Every formula here grows with the input size, so "output >= 1" is
        "input >= the smallest size that works", which is what users read.
        `window`: the kernel geometry on this axis, so that the help says what
        the layer does to the size and which padding keeps it.
        """
        out = formula(size)
        needed = _smallest_input(formula)
        if isinstance(size, int):
            if out < 1:
                raise self.fail("E305", f"{self.op} would make the {axis} {out}; sizes must be at least 1",
                                help=_needs_text(self.op, axis, needed, size) + _shrink_text(window, axis, size, out))
            return out
        verdict = False if needed is None else at_least_one(size - (needed - 1))
        if verdict is False:
            raise self.fail("E305", f"{self.op} makes the {axis} below 1 for every input size",
                            help=_needs_text(self.op, axis, needed, size) + _shrink_text(window, axis))
        if verdict is None:
            self.require("E305", size, ">=", needed)
        return out


def _check_fixed_module(spec: "OpSpec", ctx: InferContext) -> None:
    """E309 when a symbolic width (the first dim: channels or features) sizes the module."""
    if spec.torch is None or not any(s and isinstance(s[0], Expr) for s in ctx.inputs):
        return
    cls, kwargs = spec.torch(list(ctx.inputs), ctx.args)
    sized = [(k, v) for k, v in kwargs.items()
             if isinstance(v, Expr) or (isinstance(v, (tuple, list)) and any(isinstance(d, Expr) for d in v))]
    if not sized:
        return
    width = ctx.x[0]
    names = ", ".join(sorted(width.symbols())) if isinstance(width, Expr) else "the input's symbols"
    name, value = sized[0]
    raise ctx.fail("E309", f"{spec.name}'s input width {width} depends on the input size ({names})",
                   notes=[f"its module would be {cls}({name}={_show(value)}): a different module for each input size"],
                   help=f"{spec.name} needs a fixed width: pool to a fixed size first (gap flatten, or "
                        f"adaptive_avgpool then flatten), or declare a fixed input size")


class Window(NamedTuple):
    """A kernel's geometry on one axis, for E305's help."""

    k: int
    s: int
    p: int
    d: int = 1
    same: bool = True      # p="same" is allowed (conv), not for pooling


def _shrink_text(window: Window | None, axis: str, size=None, out=None) -> str:
    """`. k=7 with p=0 takes 6 from the height: 4 becomes -2; p=3 keeps it`, as E303's help says
    which padding gives a size."""
    if window is None:
        return ""
    k, s, p, d, same = window
    span = d * (k - 1)
    text = f". k={k}{f', d={d}' if d != 1 else ''} with p={p} takes {span - 2 * p} from the {axis}"
    if s > 1:
        text += f" and the stride {s} divides what is left"
    if out is not None:
        text += f": {size} becomes {out}"
    if s == 1 and span % 2 == 0:
        text += f"; p={span // 2} keeps the {axis}"
    elif s == 1 and same:
        text += f'; p="same" keeps the {axis}'
    return text


def _needs_text(op: str, axis: str, needed: int | None, got) -> str:
    if needed is None:
        return f"no input {axis} works with these arguments"
    return f"this {op} needs an input {axis} of at least {needed}; it gets {got}"


def _smallest_input(formula: Callable[[int], int]) -> int | None:
    """The smallest size >= 1 whose output is >= 1 (formulas are monotone)."""
    if formula(1) >= 1:
        return 1
    hi = 2
    while formula(hi) < 1:
        hi *= 2
        if hi > 1 << 48:
            return None
    lo = hi // 2  # formula(lo) < 1 <= formula(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if formula(mid) >= 1 else (mid, hi)
    return hi


# --------------------------------------------------------------------------- drawing colours

# One fill per family of ops, so a drawing reads at a glance (graphviz backend).
CONV_COLOUR = "#cfe2f3"
LINEAR_COLOUR = "#d9d2e9"
NORM_COLOUR = "#d9ead3"
POOL_COLOUR = "#fce5cd"
ACTIVATION_COLOUR = "#fff2cc"
PLAIN_COLOUR = "#eeeeee"             # reshaping, resizing, regularisation, merges


# --------------------------------------------------------------------------- helpers for rules

AXES = {2: ("length",), 3: ("height", "width"), 4: ("depth", "height", "width")}
RANK_FORMS = {1: "[F]", 2: "[C, L]", 3: "[C, H, W]", 4: "[C, D, H, W]"}


def _spatial(ctx: InferContext, help: str | None = None) -> int:
    """The number of spatial dims (1, 2 or 3) of an image-like input; E302 otherwise."""
    rank = len(ctx.x)
    if rank not in AXES:
        raise ctx.fail("E302", f"{ctx.op} needs [C, L], [C, H, W] or [C, D, H, W], got {format_shape(ctx.x)} "
                               f"(rank {rank})", help=help)
    return rank - 1


def _per_axis(ctx: InferContext, name: str, n: int) -> tuple[int, ...]:
    value = ctx.args[name]
    if isinstance(value, int):
        return (value,) * n
    if len(value) != n:
        raise ctx.fail("E310", f"{name}={_show(value)} has {len(value)} values, but {ctx.op} on "
                               f"{format_shape(ctx.x)} has {n} spatial dimension{'s' if n > 1 else ''}")
    return tuple(value)


def _one_or_tuple(values: tuple) -> Any:
    """PyTorch's style: a single int when every dimension agrees."""
    return values[0] if len(set(values)) == 1 else tuple(values)


def _per_dim(v) -> Any:
    """An argument as a constructor takes it: one value, or one per dimension (`_one_or_tuple`).

    The torch rules also run on terms (`terms.py`, for the code generators):
    a term that is no list (`k`, `ks`) passes as it is, and values that are
    equal as terms are equal for every value of their variables.
    """
    return v if not isinstance(v, (tuple, list)) else _one_or_tuple(tuple(v))


def _no_count(inputs, out, args) -> tuple[int, int, int]:
    return 0, 0, 0


def _show(value) -> str:
    """A value as archlang writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _nondefault(args: dict, defaults: dict) -> dict:
    return {k: v for k, v in args.items() if k not in defaults or defaults[k] != v or type(defaults[k]) is not type(v)}


# --------------------------------------------------------------------------- conv

def _conv_geometry(ctx: InferContext):
    n = _spatial(ctx, help="a feature vector [F] takes linear, not conv" if len(ctx.x) == 1 else None)
    k, s, d = (_per_axis(ctx, a, n) for a in ("k", "s", "d"))
    p = ctx.args["p"] if isinstance(ctx.args["p"], str) else _per_axis(ctx, "p", n)
    return n, k, s, p, d


def check_conv_args(args: dict) -> None:
    out, groups, stride = args["out"], args["groups"], args["s"]
    if out % groups:
        raise ShapeFailure("E308", f"groups={groups} does not divide the output channels ({out})",
                           help="groups must divide both the input channels and out")
    if args["p"] == "same" and any(v != 1 for v in _values(stride)):
        raise ShapeFailure("E310", f"p=\"same\" needs s=1, got s={_show(stride)}",
                           help="PyTorch does not support \"same\" padding for strided convolutions; "
                                "write the padding as a number")


def _values(v) -> tuple:
    return (v,) if isinstance(v, (int, float, str)) or v is None else tuple(v)


def infer_conv(ctx: InferContext) -> Shape:
    n, k, s, p, d = _conv_geometry(ctx)
    c_in, out, groups = ctx.x[0], ctx.args["out"], ctx.args["groups"]
    if c_in % groups:
        raise ctx.fail("E308", f"groups={groups} does not divide the input channels ({c_in})",
                       help=f"groups must divide both the input channels ({c_in}) and out ({out})")
    dims = []
    for i, axis in enumerate(AXES[n + 1]):
        if p == "same":
            dims.append(ctx.x[i + 1])
            continue
        pi = 0 if p == "valid" else p[i]
        dims.append(ctx.size(axis, ctx.x[i + 1],
                             lambda size, i=i, pi=pi: conv_out(size, k[i], s[i], pi, d[i]),
                             Window(k[i], s[i], pi, d[i])))
    return (out, *dims)


def count_conv(inputs, out, args) -> tuple[int, int, int]:
    n = len(out) - 1
    k = args["k"] if isinstance(args["k"], tuple) else (args["k"],) * n
    per_output = inputs[0][0] // args["groups"] * math.prod(k)
    params = per_output * args["out"] + (args["out"] if args["bias"] else 0)
    return params, params, numel(out) * per_output


def fit_conv_padding(source: Shape, args: dict, target: tuple) -> tuple | None:
    """The smallest padding per axis (up to k) with which the conv gives `target`."""
    if isinstance(args["p"], str):
        return None
    n = len(source) - 1
    k, s, d = (_axis_values(args[a], n) for a in ("k", "s", "d"))
    return _fit_each_axis(source, target, lambda i, size: [
        p for p in range(k[i] + 1) if conv_out(size, k[i], s[i], p, d[i]) == target[i]])


def _fit_each_axis(source: Shape, target: tuple, fits: Callable[[int, int], list[int]]) -> tuple | None:
    pads = []
    for i, size in enumerate(source[1:]):
        found = fits(i, size)
        if not found:
            return None
        pads.append(found[0])
    return tuple(pads)


def _axis_values(v, n: int) -> tuple:
    return (v,) * n if isinstance(v, int) else tuple(v)


def torch_conv(inputs, args) -> tuple[str, dict]:
    n = len(inputs[0]) - 1
    expand = _per_dim
    kw = {"in_channels": inputs[0][0], "out_channels": args["out"], "kernel_size": expand(args["k"]),
          "stride": expand(args["s"]), "padding": expand(args["p"]), "dilation": expand(args["d"]),
          "groups": args["groups"], "bias": args["bias"]}
    return f"Conv{n}d", _nondefault(kw, {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True})


def check_conv_transpose_args(args: dict) -> None:
    out, groups = args["out"], args["groups"]
    if out % groups:
        raise ShapeFailure("E308", f"groups={groups} does not divide the output channels ({out})",
                           help="groups must divide both the input channels and out")
    extra, s, d = _values(args["output_padding"]), _values(args["s"]), _values(args["d"])
    width = max(len(extra), len(s), len(d))
    widen = lambda v: v * width if len(v) == 1 else v  # noqa: E731 - one value stands for every axis
    for e, si, di in zip(widen(extra), widen(s), widen(d)):
        if e >= max(si, di):
            raise ShapeFailure("E310", f"output_padding={_show(args['output_padding'])} is not smaller than the "
                                       f"stride or the dilation", help="PyTorch requires output_padding < max(s, d) "
                                                                     "on every axis")


def _transpose_size(k: int, s: int, p: int, d: int, extra: int) -> Callable:
    """PyTorch's ConvTranspose output size: (size - 1) * s - 2p + d * (k - 1) + output_padding + 1."""
    return lambda size: (size - 1) * s - 2 * p + d * (k - 1) + extra + 1


def infer_conv_transpose(ctx: InferContext) -> Shape:
    n = _spatial(ctx, help="a feature vector [F] takes linear, not conv_transpose" if len(ctx.x) == 1 else None)
    k, s, p, d, extra = (_per_axis(ctx, a, n) for a in ("k", "s", "p", "d", "output_padding"))
    c_in, groups = ctx.x[0], ctx.args["groups"]
    if c_in % groups:
        raise ctx.fail("E308", f"groups={groups} does not divide the input channels ({c_in})",
                       help=f"groups must divide both the input channels ({c_in}) and out ({ctx.args['out']})")
    dims = [ctx.size(axis, ctx.x[i + 1], _transpose_size(k[i], s[i], p[i], d[i], extra[i]))
            for i, axis in enumerate(AXES[n + 1])]
    return (ctx.args["out"], *dims)


def count_conv_transpose(inputs, out, args) -> tuple[int, int, int]:
    """Each input position scatters through the kernel: MACs are input positions times weights."""
    n = len(out) - 1
    weights = inputs[0][0] * (args["out"] // args["groups"]) * math.prod(_axis_values(args["k"], n))
    params = weights + (args["out"] if args["bias"] else 0)
    return params, params, numel(inputs[0][1:]) * weights


def fit_conv_transpose_padding(source: Shape, args: dict, target: tuple) -> tuple | None:
    n = len(source) - 1
    k, s, d, extra = (_axis_values(args[a], n) for a in ("k", "s", "d", "output_padding"))
    return _fit_each_axis(source, target, lambda i, size: [
        p for p in range(d[i] * (k[i] - 1) + 1) if _transpose_size(k[i], s[i], p, d[i], extra[i])(size) == target[i]])


def torch_conv_transpose(inputs, args) -> tuple[str, dict]:
    n = len(inputs[0]) - 1
    expand = _per_dim
    kw = {"in_channels": inputs[0][0], "out_channels": args["out"], "kernel_size": expand(args["k"]),
          "stride": expand(args["s"]), "padding": expand(args["p"]), "output_padding": expand(args["output_padding"]),
          "groups": args["groups"], "bias": args["bias"], "dilation": expand(args["d"])}
    return f"ConvTranspose{n}d", _nondefault(kw, {"stride": 1, "padding": 0, "output_padding": 0, "dilation": 1,
                                                   "groups": 1, "bias": True})


# --------------------------------------------------------------------------- norms and activations

def infer_bn(ctx: InferContext) -> Shape:
    if len(ctx.x) > 4:
        raise ctx.fail("E302", f"bn takes [F], [C, L], [C, H, W] or [C, D, H, W], got {format_shape(ctx.x)}")
    return ctx.x


def count_bn(inputs, out, args) -> tuple[int, int, int]:
    params = 2 * inputs[0][0] if args["affine"] else 0  # weight and bias; running stats are buffers
    return params, params, 0


def torch_bn(inputs, args) -> tuple[str, dict]:
    dims = {1: 1, 2: 1, 3: 2, 4: 3}[len(inputs[0])]
    kw = {"num_features": inputs[0][0], "eps": args["eps"], "momentum": args["momentum"], "affine": args["affine"]}
    return f"BatchNorm{dims}d", _nondefault(kw, {"eps": 1e-5, "momentum": 0.1, "affine": True})


def infer_same(ctx: InferContext) -> Shape:
    return ctx.x


def _activation(cls: str, kwargs: Callable[[dict], dict] = lambda a: {}) -> Callable:
    return lambda inputs, args: (cls, kwargs(args))


def dropout_does_nothing(inputs, args) -> str | None:
    if args["p"] == 1:
        return "dropout with p=1 zeroes every element while training"
    return "dropout with p=0" if args["p"] == 0 else None


def infer_lrn(ctx: InferContext) -> Shape:
    if len(ctx.x) < 2:
        raise ctx.fail("E302", f"lrn normalises across channels of [C, ...], got {format_shape(ctx.x)} (rank 1)")
    return ctx.x


def torch_lrn(inputs, args) -> tuple[str, dict]:
    kw = {"size": args["size"], "alpha": args["alpha"], "beta": args["beta"], "k": args["k"]}
    return "LocalResponseNorm", _nondefault(kw, {"alpha": 1e-4, "beta": 0.75, "k": 1.0})


def _channels(ctx: InferContext) -> int:
    return ctx.x[0]


def infer_groupnorm(ctx: InferContext) -> Shape:
    c, groups = _channels(ctx), ctx.args["groups"]
    if c % groups:
        raise ctx.fail("E308", f"groups={groups} does not divide the channels ({c})",
                       help=f"groupnorm's groups must divide the channels: one of {_divisors(c)}")
    # A group of one value normalises it to 0 (the output is the shift alone), and PyTorch refuses
    # such a group norm on a batch of one, in eval mode too ("more than 1 value per channel").
    values = numel((c // groups, *ctx.x[1:]))
    if isinstance(values, int):
        if values == 1:
            raise ctx.fail("E308", f"groups={groups} of {c} channels leaves one value per group",
                           help="each value would normalise to 0, and PyTorch refuses it on a batch of one: "
                                "fewer groups (groupnorm(1) normalises all channels together)")
    else:
        ctx.require("E308", values, ">=", 2)
    return ctx.x


def _divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(1, n + 1) if n % d == 0)


def count_affine_norm(inputs, out, args) -> tuple[int, int, int]:
    """A scale and a shift per channel (or feature) when affine."""
    params = 2 * inputs[0][0] if args["affine"] else 0
    return params, params, 0


def torch_groupnorm(inputs, args) -> tuple[str, dict]:
    kw = {"num_groups": args["groups"], "num_channels": inputs[0][0], "eps": args["eps"], "affine": args["affine"]}
    return "GroupNorm", _nondefault(kw, {"eps": 1e-5, "affine": True})


def torch_layernorm(inputs, args) -> tuple[str, dict]:
    """nn.LayerNorm on [F]; on [C, ...] the same over the channels (torchvision's LayerNorm2d)."""
    kw = {"normalized_shape": inputs[0][0], "eps": args["eps"], "elementwise_affine": args["affine"]}
    cls = "LayerNorm" if len(inputs[0]) == 1 else "ChannelLayerNorm"
    return cls, _nondefault(kw, {"eps": 1e-5, "elementwise_affine": True})


def infer_channel_linear(ctx: InferContext) -> Shape:
    return (ctx.args["out"], *ctx.x[1:])


def count_channel_linear(inputs, out, args) -> tuple[int, int, int]:
    weights = inputs[0][0] * args["out"]
    params = weights + (args["out"] if args["bias"] else 0)
    return params, params, numel(out[1:]) * weights


def torch_channel_linear(inputs, args) -> tuple[str, dict]:
    cls, kw = torch_linear(inputs, args)
    return ("Linear" if len(inputs[0]) == 1 else "ChannelLinear"), kw


def infer_channel_shuffle(ctx: InferContext) -> Shape:
    if len(ctx.x) < 2:
        raise ctx.fail("E302", f"channel_shuffle takes [C, ...] with a spatial size, got {format_shape(ctx.x)}")
    c, groups = _channels(ctx), ctx.args["groups"]
    if c % groups:
        raise ctx.fail("E308", f"groups={groups} does not divide the channels ({c})",
                       help=f"channel_shuffle's groups must divide the channels: one of {_divisors(c)}")
    return ctx.x


def channel_shuffle_does_nothing(inputs, args) -> str | None:
    return "channel_shuffle with groups=1" if args["groups"] == 1 else None


def torch_stochastic_depth(inputs, args) -> tuple[str, dict]:
    return "StochasticDepth", {"p": args["p"], "mode": args["mode"]}


def infer_scale_shift(ctx: InferContext) -> Shape:
    c = _channels(ctx)
    for name in ("scale", "shift"):
        value = ctx.args[name]
        if isinstance(value, tuple) and len(value) not in (1, c):
            raise ctx.fail("E301", f"scale_shift's {name} has {len(value)} values, but the input has {c} "
                                   f"channel{'s' if c != 1 else ''}",
                           help=f"give one {name} per channel, or one number for all")
    return ctx.x


def scale_shift_does_nothing(inputs, args) -> str | None:
    if all(v == 1 for v in _values(args["scale"])) and all(v == 0 for v in _values(args["shift"])):
        return "scale_shift with scale 1 and shift 0"
    return None


def torch_scale_shift(inputs, args) -> tuple[str, dict]:
    return "ScaleShift", {"scale": args["scale"], "shift": args["shift"]}


# --------------------------------------------------------------------------- pooling

def _pool_geometry(ctx: InferContext):
    n = _spatial(ctx, help="a feature vector [F] has nothing to pool" if len(ctx.x) == 1 else None)
    k = _per_axis(ctx, "k", n)
    s = k if ctx.args["s"] is None else _per_axis(ctx, "s", n)
    p = _per_axis(ctx, "p", n)
    return n, k, s, p


def check_pool_args(args: dict) -> None:
    k, p = _values(args["k"]), _values(args["p"])
    if len(k) != len(p):  # one is a list: pair them once the rank says how many dims there are
        k, p = (k * len(p), p) if len(k) == 1 else (k, p * len(k)) if len(p) == 1 else (k, p)
    for ki, pi in zip(k, p):
        if pi > ki // 2:
            raise ShapeFailure("E310", f"padding {pi} is more than half the pooling window {ki}",
                               help=f"PyTorch requires p <= k // 2 for pooling; with k={ki} use p <= {ki // 2}")


def infer_pool(ctx: InferContext) -> Shape:
    n, k, s, p = _pool_geometry(ctx)
    ceil = ctx.args["ceil"]
    dims = [ctx.size(axis, ctx.x[i + 1], lambda size, i=i: pool_out(size, k[i], s[i], p[i], ceil),
                     Window(k[i], s[i], p[i], same=False))
            for i, axis in enumerate(AXES[n + 1])]
    if ctx.op == "avgpool" and n == 3:
        _window_fits(ctx, k)
    return (ctx.x[0], *dims)


def fit_pool_padding(source: Shape, args: dict, target: tuple) -> tuple | None:
    """The smallest padding per axis (up to k // 2, PyTorch's bound) with which the pool gives `target`."""
    n = len(source) - 1
    k = _axis_values(args["k"], n)
    s = k if args["s"] is None else _axis_values(args["s"], n)
    return _fit_each_axis(source, target, lambda i, size: [
        p for p in range(k[i] // 2 + 1) if pool_out(size, k[i], s[i], p, args["ceil"]) == target[i]])


def _pool_does_nothing(op: str) -> Callable[[list, dict], str | None]:
    def why(inputs, args) -> str | None:
        ones = all(v == 1 for v in _values(args["k"])) and (args["s"] is None or all(v == 1 for v in _values(args["s"])))
        return f"{op} with k=1, s=1 and p=0" if ones and all(v == 0 for v in _values(args["p"])) else None
    return why


def _window_fits(ctx: InferContext, k: tuple[int, ...]) -> None:
    """PyTorch's avg_pool3d refuses an input smaller than its window, padding or not
    ("input image smaller than kernel size"), where the 1d and 2d pools take it."""
    for axis, size, window in zip(AXES[4], ctx.x[1:], k):
        verdict = size >= window if isinstance(size, int) else at_least_one(size - (window - 1))
        if verdict is False:
            raise ctx.fail("E305", f"avgpool on {RANK_FORMS[4]} needs an input {axis} of at least its window "
                                   f"{window}, got {size}",
                           help="PyTorch's avg_pool3d refuses an input smaller than the window even with padding")
        if verdict is None:
            ctx.require("E305", size, ">=", window)


def _torch_pool(kind: str) -> Callable:
    def build(inputs, args) -> tuple[str, dict]:
        n = len(inputs[0]) - 1
        k, s, p = _per_dim(args["k"]), _per_dim(args["s"]), _per_dim(args["p"])
        # s == k: the same value (for terms: the same term, so equal for every value of its variables)
        kw = {"kernel_size": k, "stride": None if type(s) is type(k) and s == k else s, "padding": p,
              "ceil_mode": args["ceil"]}
        return f"{kind}Pool{n}d", _nondefault(kw, {"stride": None, "padding": 0, "ceil_mode": False})
    return build


def infer_gap(ctx: InferContext) -> Shape:
    n = _spatial(ctx, help="a feature vector [F] is already pooled" if len(ctx.x) == 1 else None)
    return (ctx.x[0],) + (1,) * n


def torch_gap(inputs, args) -> tuple[str, dict]:
    return f"AdaptiveAvgPool{len(inputs[0]) - 1}d", {"output_size": 1}


def infer_adaptive(ctx: InferContext) -> Shape:
    n = _spatial(ctx)
    out = ctx.args["out"]
    sizes = (out,) * n if isinstance(out, int) else tuple(out)
    if len(sizes) != n:
        raise ctx.fail("E211", f"out={_show(out)} has {len(sizes)} values, but {format_shape(ctx.x)} "
                               f"has {n} spatial dimension{'s' if n > 1 else ''}")
    return (ctx.x[0], *sizes)


def torch_adaptive(inputs, args) -> tuple[str, dict]:
    out = args["out"]
    return f"AdaptiveAvgPool{len(inputs[0]) - 1}d", {"output_size": _per_dim(out)}


# --------------------------------------------------------------------------- flatten, linear

def infer_flatten(ctx: InferContext) -> Shape:
    return (numel(ctx.x),)


def flatten_does_nothing(inputs, args) -> str | None:
    flat = inputs and inputs[0] is not UNKNOWN and len(inputs[0]) == 1
    return "flatten of a tensor that is already flat" if flat else None


def infer_linear(ctx: InferContext) -> Shape:
    x = ctx.x
    if len(x) != 1:
        flat = numel(x)
        help = f"add flatten before linear: {format_shape(x)} flattens to [{flat}]"
        if len(x) > 1 and any(d != 1 for d in x[1:]):
            help += f", or gap flatten gives [{x[0]}]"
        raise ctx.fail("E306", f"linear needs a feature vector [F], got {format_shape(x)} (rank {len(x)})", help=help)
    width = x[0]
    if isinstance(width, Expr):
        names = ", ".join(sorted(width.symbols()))
        raise ctx.fail("E309", f"linear's input width {width} depends on the input size ({names})",
                       help="linear needs a fixed width: pool to a fixed size first (gap flatten, or "
                            "adaptive_avgpool then flatten), or declare a fixed input size")
    return (ctx.args["out"],)


def count_linear(inputs, out, args) -> tuple[int, int, int]:
    weights = inputs[0][0] * args["out"]
    params = weights + (args["out"] if args["bias"] else 0)
    return params, params, weights


def torch_linear(inputs, args) -> tuple[str, dict]:
    kw = {"in_features": inputs[0][0], "out_features": args["out"], "bias": args["bias"]}
    return "Linear", _nondefault(kw, {"bias": True})


# --------------------------------------------------------------------------- upsample

UPSAMPLE_MODES = {2: ("nearest", "linear"), 3: ("nearest", "bilinear", "bicubic"), 4: ("nearest", "trilinear")}


def infer_upsample(ctx: InferContext) -> Shape:
    n = _spatial(ctx)
    mode, scale = ctx.args["mode"], ctx.args["scale"]
    if mode not in UPSAMPLE_MODES[n + 1]:
        raise ctx.fail("E302", f"upsample mode \"{mode}\" does not take {format_shape(ctx.x)}",
                       help=f"for {RANK_FORMS[n + 1]} use mode " + " or ".join(f'"{m}"' for m in UPSAMPLE_MODES[n + 1]))
    dims = [ctx.size(axis, ctx.x[i + 1], _scaler(ctx, axis, ctx.x[i + 1], scale))
            for i, axis in enumerate(AXES[n + 1])]
    return (ctx.x[0], *dims)


def check_upsample_args(args: dict) -> None:
    if args["scale"] <= 0:
        raise ShapeFailure("E211", f"upsample scale must be positive, got {args['scale']}")


def _scaler(ctx: InferContext, axis: str, size, scale) -> Callable:
    """floor(size * scale) as PyTorch computes it (in doubles), also for symbolic sizes where exact."""
    if isinstance(scale, int) or float(scale).is_integer():
        return lambda v: v * int(scale)
    ratio = Fraction(scale)
    if isinstance(size, Expr) and ratio.denominator > 1 << 16:
        raise ctx.fail("E211", f"upsample scale {scale} on the symbolic {axis} {size}: the size depends on "
                               "floating-point rounding", help="use an integer scale or a fraction like 0.5, "
                                                               "or a fixed input size")
    # Dyadic ratios with small denominators multiply exactly in doubles, so floor((n * a) / b) is PyTorch's result.
    return lambda v: math.floor(float(v) * scale) if isinstance(v, int) else (v * ratio.numerator) // ratio.denominator


def upsample_does_nothing(inputs, args) -> str | None:
    return "upsample with scale 1" if args["scale"] == 1 else None


def torch_upsample(inputs, args) -> tuple[str, dict]:
    kw = {"scale_factor": args["scale"], "mode": args["mode"]}
    return "Upsample", _nondefault(kw, {"mode": "nearest"})


# --------------------------------------------------------------------------- merges

def path_notes(shapes, skip: int | None = None) -> list[str]:
    """"path 1 yields [64, 28, 28]" for every input of a merge but `skip`."""
    return [f"path {i + 1} yields {format_shape(s)}" for i, s in enumerate(shapes) if i != skip]


def _path_list(ctx: InferContext, skip: int | None = None) -> list[str]:
    return path_notes(ctx.inputs, skip)


def _reference(ctx: InferContext, key: Callable[[Shape], Any]) -> int:
    """The index of the shape most inputs agree on (the first, on a tie)."""
    keys = [key(s) for s in ctx.inputs]
    return max(range(len(keys)), key=lambda i: (keys.count(keys[i]), -i))


def _merge_check(ctx: InferContext, code: str, dims_of: Callable[[Shape], tuple], what: str) -> None:
    """Every input has the reference rank and equal `dims_of`; record what depends on sizes.

    An add path of [C, ...] tensors that differs from the reference in
    channels alone is E301, unless another path's sizes differ too: then
    E304 says more.
    """
    ref = _reference(ctx, lambda s: (len(s), dims_of(s)))
    want = ctx.inputs[ref]
    channels_only = None  # the first add path whose channels alone differ
    for i, shape in enumerate(ctx.inputs):
        if i == ref:
            continue
        if len(shape) != len(want):
            raise ShapeFailure(code, f"{ctx.op} paths have different ranks", label=f"this path yields {format_shape(shape)}",
                               notes=_path_list(ctx, skip=i), input_index=i)
        pairs = list(zip(dims_of(shape), dims_of(want)))
        verdicts = [compare_eq(a, b) for a, b in pairs]
        if ctx.op == "add" and len(shape) > 1 and verdicts[0] is False and False not in verdicts[1:]:
            channels_only = i if channels_only is None else channels_only
            continue
        if False in verdicts:
            raise ShapeFailure(code, f"{ctx.op} paths disagree on {what}", label=f"this path yields {format_shape(shape)}",
                               notes=_path_list(ctx, skip=i), input_index=i)
        for (a, b), verdict in zip(pairs, verdicts):
            if verdict is None:
                ctx.require(code, a, "==", b, input_index=i)
    if channels_only is not None:
        raise _channel_mismatch(ctx, channels_only, ctx.inputs[channels_only], want)


def _channel_mismatch(ctx: InferContext, i: int, shape: Shape, want: Shape) -> ShapeFailure:
    """E301: an add whose paths agree on every size but the channels; a 1x1 conv projects them."""
    target = (want[0], *shape[1:])
    return ShapeFailure("E301", f"{ctx.op} paths disagree on channels", label=f"this path yields {format_shape(shape)}",
                        notes=_path_list(ctx, skip=i), input_index=i,
                        help=f"a 1x1 conv, conv({want[0]}, k=1), projects {format_shape(shape)} to "
                             f"{format_shape(target)}")


def _simplest(dims) -> Any:
    """Of sizes that must be equal, the one that reads best: `H` rather than `2 * (H // 2)`."""
    return min(dims, key=lambda d: (len(str(d)), str(d)))


def infer_concat(ctx: InferContext) -> Shape:
    what = "spatial size" if len(ctx.x) > 1 else "rank"
    _merge_check(ctx, "E303", lambda s: tuple(s[1:]), what)
    return (sum(s[0] for s in ctx.inputs), *(_simplest(col) for col in zip(*(s[1:] for s in ctx.inputs))))


def infer_add(ctx: InferContext) -> Shape:
    _merge_check(ctx, "E304", lambda s: tuple(s), "shape")
    return tuple(_simplest(col) for col in zip(*ctx.inputs))


# --------------------------------------------------------------------------- ONNX lowerings
#
# Each function writes one layer's ONNX nodes through the interface the ONNX
# backend hands it (`backends/onnx_emit.Layer`), so this module imports
# neither onnx nor torch:
#
#   layer.name, layer.inputs (tensor names), layer.shapes (input shapes, batch
#   left out), layer.out (output shape), layer.args, layer.opset
#   layer.node(op_type, inputs, **attributes) -> the output tensor's name
#   layer.param(key, shape, init, view=None) -> the tensor of the state_dict entry
#       `<module path>.<key>`, declared in state_dict order; `view` reshapes it in
#       the file (the same numbers: a Linear's (out, in) as a 1x1 conv's (out, in, 1, 1))
#   layer.constant(role, values, shape=None, dtype="compute") -> a constant tensor:
#       a number, or a flat list of `shape`; "compute" follows the model's float
#       type (float16 with --fp16)
#   layer.refuse(reason) -> raises: this layer cannot be exported as asked
#
# and return the name of the tensor that holds the layer's output. Sizes may
# be symbolic (`Expr`) wherever the input declares symbols: a lowering that
# needs a number for one refuses, with the reason.


def _ints(value, n: int) -> list[int]:
    return [value] * n if isinstance(value, int) else list(value)


def onnx_conv(layer) -> str:
    args, shape = layer.args, layer.shapes[0]
    n = len(shape) - 1
    k, s, d = (_ints(args[a], n) for a in ("k", "s", "d"))
    if args["p"] == "same":                      # PyTorch puts the odd one at the end
        total = [di * (ki - 1) for ki, di in zip(k, d)]
        pads = [t // 2 for t in total] + [t - t // 2 for t in total]
    else:
        p = [0] * n if args["p"] == "valid" else _ints(args["p"], n)
        pads = p + p
    per_group = shape[0] // args["groups"]
    init = fan_in_uniform(per_group * math.prod(k))
    inputs = [layer.inputs[0], layer.param("weight", (args["out"], per_group, *k), init)]
    if args["bias"]:
        inputs.append(layer.param("bias", (args["out"],), init))
    return layer.node("Conv", inputs, kernel_shape=k, strides=s, pads=pads, dilations=d, group=args["groups"])


def onnx_bn(layer) -> str:
    c = layer.shapes[0][0]
    if layer.args["affine"]:
        scale, shift = layer.param("weight", (c,), Init("fill", 1.0)), layer.param("bias", (c,), Init("fill", 0.0))
    else:
        scale, shift = layer.constant("scale", [1.0] * c), layer.constant("shift", [0.0] * c)
    mean = layer.param("running_mean", (c,), Init("fill", 0.0))
    var = layer.param("running_var", (c,), Init("fill", 1.0))
    layer.param("num_batches_tracked", (), Init("fill", 0, "int64"))   # in the state_dict; inference ignores it
    return layer.node("BatchNormalization", [layer.inputs[0], scale, shift, mean, var], epsilon=layer.args["eps"])


def _onnx_unary(op_type: str, attributes: Callable[[dict], dict] = lambda a: {}) -> Callable:
    return lambda layer: layer.node(op_type, layer.inputs, **attributes(layer.args))


def onnx_relu6(layer) -> str:
    return layer.node("Clip", [layer.inputs[0], layer.constant("min", 0.0), layer.constant("max", 6.0)])


def onnx_silu(layer) -> str:
    x = layer.inputs[0]
    return layer.node("Mul", [x, layer.node("Sigmoid", [x])])


def onnx_identity(layer) -> str:
    """Dropout at inference: the input itself."""
    return layer.inputs[0]


def _onnx_pool(op_type: str) -> Callable:
    """MaxPool / AveragePool, padding counted in averages (PyTorch's default).

    ceil=true on concrete sizes is written as explicit end padding with
    ceil_mode off: ONNX's rule (a window that would start in the right padding
    is dropped) is PyTorch's and onnxruntime follows it, but onnx's own shape
    inference does not, so a file with ceil_mode would fail onnx.checker, and
    other runtimes might round differently. The overhang is padding no
    average counts: the regular padding becomes a Pad of zeros, and the pool
    counts only what is inside. Symbolic sizes keep ceil_mode.
    """
    def lower(layer) -> str:
        x, sizes, outs = layer.inputs[0], layer.shapes[0][1:], layer.out[1:]
        n = len(sizes)
        k = _ints(layer.args["k"], n)
        s = k if layer.args["s"] is None else _ints(layer.args["s"], n)
        p = _ints(layer.args["p"], n)
        concrete = all(isinstance(v, int) for v in sizes)
        ceil = layer.args["ceil"] and not concrete
        extra = [0] * n if ceil or not concrete else [max(0, (o - 1) * si + ki - (v + 2 * pi))
                                                      for v, o, ki, si, pi in zip(sizes, outs, k, s, p)]
        if not any(extra):
            counted = {"count_include_pad": 1} if op_type == "AveragePool" else {}
            return layer.node(op_type, [x], kernel_shape=k, strides=s, pads=p + p, ceil_mode=int(ceil), **counted)
        if op_type == "MaxPool":            # padding never wins a max
            return layer.node(op_type, [x], kernel_shape=k, strides=s, pads=p + [pi + e for pi, e in zip(p, extra)])
        if any(p):
            x = layer.node("Pad", [x, layer.constant("pads", [0, 0, *p, 0, 0, *p], dtype="int64")])
        return layer.node(op_type, [x], kernel_shape=k, strides=s, pads=[0] * n + extra, count_include_pad=0)
    return lower


def onnx_gap(layer) -> str:
    return layer.node("GlobalAveragePool", layer.inputs)


def onnx_adaptive(layer) -> str:
    """An average pool where each size divides evenly (what PyTorch's own exporter
    writes), else one MatMul per axis with PyTorch's bins as an averaging matrix."""
    sizes, outs = layer.shapes[0][1:], layer.out[1:]
    if all(o == 1 for o in outs):
        return layer.node("GlobalAveragePool", layer.inputs)
    if not all(isinstance(size, int) for size in sizes):
        layer.refuse(f"adaptive_avgpool to {format_shape(outs)} of the symbolic size {format_shape(layer.shapes[0])}: "
                     f"ONNX has no adaptive pooling, and the pooling windows depend on the size",
                     help="give the input concrete sizes with --input, or pool to 1 (gap)")
    if all(size % o == 0 for size, o in zip(sizes, outs)):
        k = [size // o for size, o in zip(sizes, outs)]
        return layer.node("AveragePool", layer.inputs, kernel_shape=k, strides=k)
    x, rank = layer.inputs[0], len(sizes) + 2
    for axis, (size, o) in enumerate(zip(sizes, outs), start=2):
        if size == o:
            continue
        bins = [0.0] * (size * o)                         # [size, o]: column j averages bin j
        for j in range(o):
            start, end = (j * size) // o, -(-((j + 1) * size) // o)
            for i in range(start, end):
                bins[i * o + j] = 1.0 / (end - start)
        last = list(range(rank))
        last[axis], last[-1] = last[-1], last[axis]       # bring the axis last, pool it, put it back
        if axis != rank - 1:
            x = layer.node("Transpose", [x], perm=last)
        x = layer.node("MatMul", [x, layer.constant(f"bins{axis - 1}", bins, shape=(size, o))])
        if axis != rank - 1:
            x = layer.node("Transpose", [x], perm=last)
    return x


def onnx_flatten(layer) -> str:
    return layer.node("Flatten", layer.inputs, axis=1)


def onnx_linear(layer) -> str:
    width, out = layer.shapes[0][0], layer.args["out"]
    init = fan_in_uniform(width)
    inputs = [layer.inputs[0], layer.param("weight", (out, width), init)]
    if layer.args["bias"]:
        inputs.append(layer.param("bias", (out,), init))
    return layer.node("Gemm", inputs, transB=1)


def onnx_upsample(layer) -> str:
    n = len(layer.shapes[0]) - 1
    scales = layer.constant("scales", [1.0, 1.0] + [float(layer.args["scale"])] * n, dtype="float32")
    mode = layer.args["mode"]
    if mode == "nearest":   # PyTorch: source index floor(i / scale)
        how = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:                   # align_corners=False
        how = {"mode": "cubic" if mode == "bicubic" else "linear",
               "coordinate_transformation_mode": "pytorch_half_pixel"}
        if mode == "bicubic":
            how["cubic_coeff_a"] = -0.75
    return layer.node("Resize", [layer.inputs[0], "", scales], **how)


def onnx_lrn(layer) -> str:
    """ONNX's LRN where onnxruntime runs it as PyTorch computes it (4-D input, odd
    size: the window is centred alike); else PyTorch's formula spelled out, the
    window mean over channels as a 1x1 convolution with a banded kernel."""
    shape, a = layer.shapes[0], layer.args
    size, x = a["size"], layer.inputs[0]
    if len(shape) == 3 and size % 2 == 1:
        return layer.node("LRN", [x], size=size, alpha=a["alpha"], beta=a["beta"], bias=a["k"])
    c, ones = shape[0], (1,) * (len(shape) - 1)
    band = [1.0 / size if -(size // 2) <= j - i <= (size - 1) // 2 else 0.0 for i in range(c) for j in range(c)]
    mean = layer.node("Conv", [layer.node("Mul", [x, x]), layer.constant("window", band, shape=(c, c, *ones))],
                      kernel_shape=list(ones))
    scaled = layer.node("Add", [layer.node("Mul", [mean, layer.constant("alpha", a["alpha"])]),
                                layer.constant("k", a["k"])])
    return layer.node("Div", [x, layer.node("Pow", [scaled, layer.constant("beta", a["beta"])])])


def _channel_view(shape) -> tuple[int, ...]:
    """A per-channel vector's shape that broadcasts over [N, C, ...]: (C, 1, ..., 1)."""
    return (shape[0], *(1,) * (len(shape) - 1))


def onnx_conv_transpose(layer) -> str:
    """ConvTranspose: ONNX's output size with explicit pads and output_padding is PyTorch's."""
    args, shape = layer.args, layer.shapes[0]
    n = len(shape) - 1
    k, s, p, d, extra = (_ints(args[a], n) for a in ("k", "s", "p", "d", "output_padding"))
    per_group = args["out"] // args["groups"]
    init = fan_in_uniform(per_group * math.prod(k))    # PyTorch's fan_in of a (in, out / groups, *k) weight
    inputs = [layer.inputs[0], layer.param("weight", (shape[0], per_group, *k), init)]
    if args["bias"]:
        inputs.append(layer.param("bias", (args["out"],), init))
    return layer.node("ConvTranspose", inputs, kernel_shape=k, strides=s, pads=p + p, dilations=d,
                      output_padding=extra, group=args["groups"])


def onnx_groupnorm(layer) -> str:
    """PyTorch's GroupNorm spelled out as its own exporter writes it: InstanceNormalization over
    the groups, then the per-channel scale and shift (ONNX's GroupNormalization scaled per group
    before opset 21, and onnxruntime runs it on few devices)."""
    shape, args = layer.shapes[0], layer.args
    c, groups, x = shape[0], args["groups"], layer.inputs[0]
    grouped = layer.node("Reshape", [x, layer.constant("groups", [0, groups, -1], dtype="int64")])
    normed = layer.node("InstanceNormalization", [grouped, layer.constant("ones", [1.0] * groups),
                                                  layer.constant("zeros", [0.0] * groups)], epsilon=args["eps"])
    y = layer.node("Reshape", [normed, layer.node("Shape", [x])])
    if not args["affine"]:
        return y
    view = _channel_view(shape)
    scaled = layer.node("Mul", [y, layer.param("weight", (c,), Init("fill", 1.0), view=view)])
    return layer.node("Add", [scaled, layer.param("bias", (c,), Init("fill", 0.0), view=view)])


def onnx_layernorm(layer) -> str:
    """LayerNormalization over the last axis: the features of [F], or the channels of [C, ...]
    moved last and back (torchvision's LayerNorm2d permutes alike)."""
    shape, args = layer.shapes[0], layer.args
    c, x = shape[0], layer.inputs[0]
    if args["affine"]:
        norm = [layer.param("weight", (c,), Init("fill", 1.0)), layer.param("bias", (c,), Init("fill", 0.0))]
    else:
        norm = [layer.constant("ones", [1.0] * c)]
    if len(shape) == 1:
        return layer.node("LayerNormalization", [x, *norm], axis=-1, epsilon=args["eps"])
    rank = len(shape) + 1
    moved = layer.node("Transpose", [x], perm=[0, *range(2, rank), 1])
    normed = layer.node("LayerNormalization", [moved, *norm], axis=-1, epsilon=args["eps"])
    return layer.node("Transpose", [normed], perm=[0, rank - 1, *range(1, rank - 1)])


def onnx_channel_linear(layer) -> str:
    """nn.Linear over the channels: a Gemm on [F], else a 1x1 convolution whose weight is the
    Linear's (out, in) weight viewed as (out, in, 1, ...), the same numbers."""
    shape, args = layer.shapes[0], layer.args
    if len(shape) == 1:
        return onnx_linear(layer)
    ones = (1,) * (len(shape) - 1)
    init = fan_in_uniform(shape[0])
    weight = layer.param("weight", (args["out"], shape[0]), init, view=(args["out"], shape[0], *ones))
    inputs = [layer.inputs[0], weight]
    if args["bias"]:
        inputs.append(layer.param("bias", (args["out"],), init))
    return layer.node("Conv", inputs, kernel_shape=list(ones))


def onnx_channel_shuffle(layer) -> str:
    """A Gather of the channels in shuffled order: output channel i*g + j is input channel j*(C/g) + i."""
    c, groups = layer.shapes[0][0], layer.args["groups"]
    order = [(o % groups) * (c // groups) + o // groups for o in range(c)]
    return layer.node("Gather", [layer.inputs[0], layer.constant("order", order, dtype="int64")], axis=1)


def onnx_scale_shift(layer) -> str:
    def constant(role: str) -> str:
        values = _values(layer.args[role])
        if len(values) == 1:
            return layer.constant(role, values[0])
        return layer.constant(role, list(values), shape=_channel_view(layer.shapes[0]))

    return layer.node("Add", [layer.node("Mul", [layer.inputs[0], constant("scale")]), constant("shift")])


def onnx_concat(layer) -> str:
    return layer.node("Concat", layer.inputs, axis=1)


def onnx_add(layer) -> str:
    return layer.node("Add" if len(layer.inputs) == 2 else "Sum", layer.inputs)


def onnx_crop(layer) -> str:
    """A Slice of the centre; the offsets are numbers, so the sizes must be."""
    sizes, out = layer.shapes[0][1:], layer.out[1:]
    if not all(isinstance(v, int) for v in (*sizes, *out)):
        layer.refuse("crop of a symbolic size: the offsets of the centre depend on it",
                     help="give the input concrete sizes with --input")
    tops = [(size - want) // 2 for size, want in zip(sizes, out)]
    return layer.node("Slice", [layer.inputs[0], layer.constant("starts", tops, dtype="int64"),
                                layer.constant("ends", [t + w for t, w in zip(tops, out)], dtype="int64"),
                                layer.constant("axes", list(range(2, 2 + len(out))), dtype="int64")])


def onnx_resize(layer) -> str:
    """Resize to `sizes`: the input's batch and channels, the other tensor's spatial sizes (read at
    run time, so symbolic sizes export too)."""
    x, like = layer.inputs
    rank = len(layer.shapes[0]) + 1
    sizes = layer.node("Concat", [_shape_part(layer, x, 0, 2), _shape_part(layer, like, 2, rank)], axis=0)
    mode = layer.args["mode"]
    if mode == "nearest":   # PyTorch: source index floor(i * in / out)
        how = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        how = {"mode": "cubic" if mode == "bicubic" else "linear", "coordinate_transformation_mode":
               "align_corners" if layer.args["align_corners"] else "pytorch_half_pixel"}
        if mode == "bicubic":
            how["cubic_coeff_a"] = -0.75
    return layer.node("Resize", [x, "", "", sizes], **how)


def _shape_part(layer, x: str, start: int, end: int) -> str:
    """x's sizes start:end as an int64 tensor: Shape's own start/end from opset 15 (so onnx's
    shape inference sees the sizes), a Slice of the whole shape before."""
    if layer.opset >= 15:
        return layer.node("Shape", [x], start=start, end=end)
    # Constant nodes, not initializers, so that onnx's shape inference reads the bounds
    ints = lambda v: layer.node("Constant", [], value_ints=[v])  # noqa: E731
    return layer.node("Slice", [layer.node("Shape", [x]), ints(start), ints(end)])


def onnx_mul(layer) -> str:
    """Mul broadcasts as numpy does, from the right: the equal ranks and the batch in front
    make that archlang's rule."""
    result = layer.inputs[0]
    if len(layer.inputs) == 1:
        return layer.node("Identity", [result])
    for other in layer.inputs[1:]:
        result = layer.node("Mul", [result, other])
    return result


def onnx_chunk(layer) -> str:
    part, index = layer.out[0], layer.args["index"]
    return layer.node("Slice", [layer.inputs[0], layer.constant("starts", [index * part], dtype="int64"),
                                layer.constant("ends", [(index + 1) * part], dtype="int64"),
                                layer.constant("axes", [1], dtype="int64")])


def infer_mul(ctx: InferContext) -> Shape:
    """Equal ranks; in each dimension the sizes are equal, or 1, which broadcasts (squeeze-excitation's
    [C, H, W] * [C, 1, 1]). The batch is never broadcast: every input has it."""
    for i, shape in enumerate(ctx.inputs):
        if len(shape) != len(ctx.x):
            raise ShapeFailure("E304", "mul paths have different ranks", label=f"this path yields {format_shape(shape)}",
                               notes=_path_list(ctx, skip=i), input_index=i,
                               help="mul multiplies tensors of one rank; a size of 1 broadcasts, as in "
                                    "[C, H, W] * [C, 1, 1]")
    out = []
    for axis, column in enumerate(zip(*ctx.inputs)):
        sizes = [(i, d) for i, d in enumerate(column) if not _is_one(d)]
        if not sizes:
            out.append(1)
            continue
        want = sizes[0][1]
        for i, d in sizes[1:]:
            verdict = compare_eq(d, want)
            if verdict is False:
                raise ShapeFailure("E304", "mul paths do not broadcast", label=f"this path yields "
                                   f"{format_shape(ctx.inputs[i])}", notes=_path_list(ctx, skip=i), input_index=i,
                                   help=f"dimension {axis + 1} is {d} here and {want} in path {sizes[0][0] + 1}: mul "
                                        f"takes equal sizes, or a size of 1, which broadcasts")
            if verdict is None:
                ctx.require("E304", d, "==", want, input_index=i)
        out.append(_simplest([d for _, d in sizes]))
    return tuple(out)


def _is_one(d) -> bool:
    return isinstance(d, int) and d == 1


def _like(ctx: InferContext, what: str) -> Shape:
    """The shape of the tensor an op takes its size from (its second input): same rank as the first."""
    ref = ctx.inputs[1]
    if len(ref) != len(ctx.x):
        raise ctx.fail("E302", f"{ctx.op} to the size of {_tensor_name(ctx.args['like'])}, {format_shape(ref)}, "
                               f"which is not "
                               f"of the rank of its input {format_shape(ctx.x)}", help=f"{what} keeps the rank")
    return ref


def _tensor_name(value) -> str:
    """A tensor argument as messages show it: the elaborator stores the tensor's name."""
    return value.name if isinstance(value, TensorRef) else str(value)


def infer_crop(ctx: InferContext) -> Shape:
    """The centre of the input, of the other tensor's spatial size (U-Net's copy and crop): as many
    rows off the top as off the bottom, so the difference in each size must be even."""
    _spatial(ctx)
    ref = _like(ctx, "a crop")
    for axis, have, want in zip(AXES[len(ctx.x)], ctx.x[1:], ref[1:]):
        diff = have - want
        if isinstance(diff, int):
            if diff < 0:
                raise ctx.fail("E311", f"crop to a {axis} of {want}, but the input's {axis} is {have}",
                               help=f"a crop takes the centre of a larger tensor; "
                                    f"{_tensor_name(ctx.args['like'])} is larger")
            if diff % 2:
                raise ctx.fail("E311", f"crop of the {axis} {have} to {want} has no centre: {diff} is odd",
                               help="the centre crop of the U-Net paper takes as much off each side, so the sizes "
                                    "must differ by an even number")
            continue
        if at_least_one(diff + 1) is False:
            raise ctx.fail("E311", f"crop to a {axis} of {want}, larger than the input's {have}, for every input size")
        ctx.require("E311", diff, ">=", 0)
        ctx.require("E311", diff % 2, "==", 0)
    return (ctx.x[0], *ref[1:])


def torch_crop(inputs, args) -> tuple[str, dict]:
    return "CenterCrop", {}


def infer_resize(ctx: InferContext) -> Shape:
    n = _spatial(ctx)
    ref = _like(ctx, "a resize")
    mode = ctx.args["mode"]
    if mode not in UPSAMPLE_MODES[n + 1]:
        raise ctx.fail("E302", f"resize mode \"{mode}\" does not take {format_shape(ctx.x)}",
                       help=f"for {RANK_FORMS[n + 1]} use mode " + " or ".join(f'"{m}"' for m in UPSAMPLE_MODES[n + 1]))
    return (ctx.x[0], *ref[1:])


def check_resize_args(args: dict) -> None:
    if args["align_corners"] and args["mode"] == "nearest":
        raise ShapeFailure("E211", "align_corners=true needs an interpolating mode, not \"nearest\"",
                           help="PyTorch refuses align_corners with mode=\"nearest\"")


def torch_resize(variables: list[str], args: dict) -> str:
    x, ref = variables
    corners = f", align_corners={args['align_corners']}" if args["mode"] != "nearest" else ""
    return f'nn.functional.interpolate({x}, size={ref}.shape[2:], mode="{args["mode"]}"{corners})'


def check_chunk_args(args: dict) -> None:
    n, index = args["chunks"], args["index"]
    if index is None:
        raise ShapeFailure("E218", f"chunk({n}) makes {n} tensors, and this chain takes one",
                           help=f"bind them all, as in `a, b = x -> chunk({n})`, or take one part with "
                                f"chunk({n}, index=0)")
    if not 0 <= index < n:
        raise ShapeFailure("E211", f"chunk({n}) has parts 0 to {n - 1}, not {index}")


def infer_chunk(ctx: InferContext) -> Shape:
    """torch.chunk along the channels, into equal parts only: a part count that does not
    divide the channels would give parts of other sizes (or fewer parts) in PyTorch."""
    if len(ctx.x) < 1:
        raise ctx.fail("E302", "chunk needs a tensor with channels")
    c, n = ctx.x[0], ctx.args["chunks"]
    divides = compare_eq(c % n, 0)   # the width of a flattened symbolic tensor is symbolic
    if divides is False:
        raise ctx.fail("E308", f"chunk({n}) does not divide the channels ({c}) into equal parts",
                       help=f"the number of parts must divide the channels: one of {_divisors(c)}"
                       if isinstance(c, int) else None)
    if divides is None:
        ctx.require("E308", c % n, "==", 0)
    return (c // n, *ctx.x[1:])


def torch_chunk(variables: list[str], args: dict) -> str:
    return f"{variables[0]}.chunk({args['chunks']}, dim=1)[{args['index']}]"


# -- parameters declared in a block

def infer_parameter(ctx: InferContext) -> Shape:
    """The declared shape: a parameter reads no tensor."""
    shape = ctx.args["shape"]
    return (shape,) if isinstance(shape, int) else tuple(shape)


def count_parameter(inputs, out, args) -> tuple[int, int, int]:
    n = numel(out)
    return n, n, 0


def onnx_parameter(layer) -> str:
    """An initializer named by its state_dict key, the layer's own path; filled as
    nn.Parameter(torch.full(shape, fill)) is."""
    return layer.param(None, layer.out, Init("fill", layer.args["fill"]))


# How generated forward code computes the ops that are no module (merges): input variables -> Python.
def torch_add(variables: list[str], args: dict) -> str:
    return " + ".join(variables)


def torch_mul(variables: list[str], args: dict) -> str:
    return " * ".join(variables)


def torch_concat(variables: list[str], args: dict) -> str:
    return f"torch.cat([{', '.join(variables)}], dim=1)"


# --------------------------------------------------------------------------- memory, receptive fields, FLOPs
#
# What PyTorch's autograd keeps for each layer's backward (measured with
# torch.autograd.graph.saved_tensors_hooks on the compiled module in training,
# tests/test_memory.py), which input positions each output position reads
# (checked against gradients, tests/test_receptive.py), and the FLOPs of a
# forward pass by the convention of docs/ops.md.


@dataclass(frozen=True)
class Saved:
    """One tensor a layer's backward keeps.

    source   "input" (the storage of input `index`: a conv's input), "output" (its own
             output: sigmoid's), or "new" (a tensor of its own: maxpool's indices)
    elements for "new": how many (per sample, or in all when `per_sample` is false)
    dtype    "activation" (the type activations have: 4 bytes in fp32, 2 in mixed
             precision), "float32" (statistics), "int64" (indices), or "mask" (dropout's:
             one byte per element on a GPU, an activation's size on a CPU)
    """

    source: str
    elements: int = 0
    dtype: str = "activation"
    per_sample: bool = True
    index: int = 0


SAVES_INPUT = (Saved("input"),)
SAVES_OUTPUT = (Saved("output"),)


def saves_input(inputs, out, args) -> tuple[Saved, ...]:
    return SAVES_INPUT


def saves_output(inputs, out, args) -> tuple[Saved, ...]:
    return SAVES_OUTPUT


def saves_nothing(inputs, out, args) -> tuple[Saved, ...]:
    return ()


def saves_bn(inputs, out, args) -> tuple[Saved, ...]:
    """The input, and the batch's mean and inverse deviation per channel."""
    return (Saved("input"), Saved("new", 2 * inputs[0][0], "float32", per_sample=False))


def saves_groupnorm(inputs, out, args) -> tuple[Saved, ...]:
    return (Saved("input"), Saved("new", 2 * args["groups"], "float32"))


def saves_layernorm(inputs, out, args) -> tuple[Saved, ...]:
    """The input, and a mean and inverse deviation per position (per sample on [F])."""
    positions = numel(inputs[0][1:]) if len(inputs[0]) > 1 else 1
    return (Saved("input"), Saved("new", 2 * positions, "float32"))


def saves_channel_linear(inputs, out, args) -> tuple[Saved, ...]:
    """On [C, ...] the channels-last input is copied to be multiplied: the copy is kept."""
    return SAVES_INPUT if len(inputs[0]) == 1 else (Saved("new", numel(inputs[0])),)


def saves_dropout(inputs, out, args) -> tuple[Saved, ...]:
    if args["p"] == 0:
        return ()                                     # the input itself comes back
    if args["p"] == 1:
        return (Saved("new", 1, per_sample=False),)   # a zero to multiply by
    return (Saved("new", numel(inputs[0]), "mask"),)


def saves_stochastic_depth(inputs, out, args) -> tuple[Saved, ...]:
    """The noise it multiplies by: one number per sample ("row") or per batch."""
    if args["p"] == 0:
        return ()
    return (Saved("new", 1, per_sample=args["mode"] == "row"),)


def saves_maxpool(inputs, out, args) -> tuple[Saved, ...]:
    """The input, and where each maximum was (int64 indices)."""
    return (Saved("input"), Saved("new", numel(out), "int64"))


def saves_adaptive(inputs, out, args) -> tuple[Saved, ...]:
    """To a single position PyTorch takes a mean, which keeps nothing."""
    return () if all(d == 1 for d in out[1:]) else SAVES_INPUT


def saves_lrn(inputs, out, args) -> tuple[Saved, ...]:
    """PyTorch's local_response_norm: the input, its squares padded across channels, the
    scaled sum and its power (each as large as the input)."""
    x = inputs[0]
    padded = (x[0] + args["size"] - 1) * numel(x[1:])
    return (Saved("input"), Saved("new", padded), Saved("new", 2 * numel(x)))


def returns_input_storage(inputs, args) -> bool:
    return True


def saves_every_input(inputs, out, args) -> tuple[Saved, ...]:
    """mul: the gradient of each factor is the other's (broadcast) values: both are kept."""
    return tuple(Saved("input", index=i) for i in range(len(inputs)))


def returns_input_when_p_zero(inputs, args) -> bool:
    return args["p"] == 0


@dataclass(frozen=True)
class Taps:
    """The input positions one spatial axis of a layer reads: output position
    `q * period + r` reads input positions `q * shift + t` for each t in `taps[r]`.

    A convolution: period 1, shift s, taps (-p, -p + d, ..., -p + (k - 1) * d); a
    transposed one or an upsampling has a period above 1 (several output positions
    per input position).
    """

    period: int
    shift: int
    taps: tuple[tuple[int, ...], ...]


SAME_POSITION = "same"        # each output position reads its own position only
EVERY_POSITION = "every"      # each output unit reads the whole input


def reads_same(inputs, out, args) -> str:
    return SAME_POSITION


def reads_every(inputs, out, args) -> str:
    return EVERY_POSITION


def _window_taps(k: tuple, s: tuple, left: tuple, d: tuple) -> tuple[Taps, ...]:
    return tuple(Taps(1, si, (tuple(-pi + m * di for m in range(ki)),)) for ki, si, pi, di in zip(k, s, left, d))


def reads_conv(inputs, out, args) -> tuple[Taps, ...]:
    n = len(out) - 1
    k, s, d = (_axis_values(args[a], n) for a in ("k", "s", "d"))
    if args["p"] == "same":                      # PyTorch puts the odd one at the end
        left = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d))
    else:
        left = (0,) * n if args["p"] == "valid" else _axis_values(args["p"], n)
    return _window_taps(k, s, left, d)


def reads_conv_transpose(inputs, out, args) -> tuple[Taps, ...]:
    """Output o receives input i where o = i * s - p + m * d: o = q * s + r reads
    i = q + (r + p - m * d) / s wherever that divides."""
    n = len(out) - 1
    k, s, p, d = (_axis_values(args[a], n) for a in ("k", "s", "p", "d"))
    return tuple(Taps(si, 1, tuple(tuple(sorted({(r + pi - m * di) // si for m in range(ki)
                                                   if (r + pi - m * di) % si == 0}))
                                     for r in range(si)))
                 for ki, si, pi, di in zip(k, s, p, d))


def reads_pool(inputs, out, args) -> tuple[Taps, ...]:
    n = len(out) - 1
    k = _axis_values(args["k"], n)
    s = k if args["s"] is None else _axis_values(args["s"], n)
    return _window_taps(k, s, _axis_values(args["p"], n), (1,) * n)


def reads_adaptive(inputs, out, args) -> Any:
    """PyTorch's bins: output o of m averages input [floor(o n / m), ceil((o + 1) n / m)),
    which repeats every m / gcd(n, m) outputs. To one position: the whole input."""
    if all(o == 1 for o in out[1:]):
        return EVERY_POSITION
    axes = []
    for n, m in zip(inputs[0][1:], out[1:]):
        g = math.gcd(n, m)
        axes.append(Taps(m // g, n // g, tuple(tuple(range(r * n // m, -(-(r + 1) * n // m)))
                                                for r in range(m // g))))
    return tuple(axes)


def reads_upsample(inputs, out, args) -> tuple[Taps, ...]:
    """PyTorch's source positions for a scale a/b (lowest terms): nearest reads
    floor(o * b / a); the linear modes (align_corners=False) read around
    (o + 1/2) * b / a - 1/2, the taps whose weight is not zero."""
    n = len(out) - 1
    ratio = Fraction(args["scale"]).limit_denominator(1 << 16)
    a, b = ratio.numerator, ratio.denominator
    mode = args["mode"]
    taps = []
    for r in range(a):
        if mode == "nearest":
            taps.append(((r * b) // a,))
            continue
        src = (Fraction(2 * r + 1, 2)) * Fraction(b, a) - Fraction(1, 2)
        low = math.floor(src)
        exact = src == low
        reach = (0, 0) if exact else (-1, 2) if mode == "bicubic" else (0, 1)
        taps.append(tuple(range(low + reach[0], low + reach[1] + 1)))
    return (Taps(a, b, tuple(taps)),) * n


def reads_crop(inputs, out, args) -> tuple[Taps, ...]:
    """The centre: output position o reads input position o + (size - want) // 2 (torchvision's
    center_crop); only the first input is read (`like` gives a size)."""
    return tuple(Taps(1, 1, (((size - want) // 2,),)) for size, want in zip(inputs[0][1:], out[1:]))


def reads_resize(inputs, out, args) -> tuple[Taps, ...]:
    """F.interpolate to `like`'s size: per axis, one period of the whole output (the scale
    in/out need not repeat), the taps PyTorch's source index gives each output position."""
    mode, corners = args["mode"], args["align_corners"]
    result = []
    for size, want in zip(inputs[0][1:], out[1:]):
        taps = []
        for o in range(want):
            if mode == "nearest":
                taps.append((min(o * size // want, size - 1),))
                continue
            src = (Fraction(o * (size - 1), want - 1) if want > 1 else Fraction(0)) if corners \
                else Fraction(2 * o + 1, 2) * Fraction(size, want) - Fraction(1, 2)
            if mode != "bicubic":
                src = max(src, Fraction(0))
            low = math.floor(src)
            reach = (0, 0) if src == low else (-1, 2) if mode == "bicubic" else (0, 1)
            taps.append(tuple(t for t in range(low + reach[0], low + reach[1] + 1) if 0 <= t < size)
                        or (min(low, size - 1),))
        result.append(Taps(want, size, tuple(taps)))
    return tuple(result)


def reads_features(inputs, out, args) -> str:
    """On [F] every feature mixes into each output (linear, softmax); on [C, ...] positions
    stay apart."""
    return EVERY_POSITION if len(inputs[0]) == 1 else SAME_POSITION


# FLOPs (docs/ops.md): 2 per multiply-accumulate, 1 per bias add, per element of the rest.

def flops_of(count: Callable) -> Callable:
    """Weighted layers: two per MAC (a multiply and an add), one per output for the bias."""
    def flops(inputs, out, args) -> int:
        _, _, macs = count(inputs, out, args)
        return 2 * macs + (numel(out) if args.get("bias") else 0)
    return flops


def per_element(n: int) -> Callable:
    return lambda inputs, out, args: n * numel(out)


def no_flops(inputs, out, args) -> int:
    return 0


def flops_norm(inputs, out, args) -> int:
    """Mean and variance (3 per element), normalising (2) and the affine map (2)."""
    return (7 if args["affine"] else 5) * numel(out)


def flops_pool(inputs, out, args) -> int:
    """A comparison or an add per window element."""
    n = len(out) - 1
    return numel(out) * math.prod(_axis_values(args["k"], n))


def flops_adaptive(inputs, out, args) -> int:
    """An add per element of each output's window."""
    windows = 1
    for n, m in zip(inputs[0][1:], out[1:]):
        windows *= sum(-(-(o + 1) * n // m) - o * n // m for o in range(m))
    return out[0] * windows


def flops_upsample(inputs, out, args) -> int:
    """Interpolation: nothing for nearest; two per tap less one (weights times values,
    summed) for the linear modes: 2, 4 or 8 taps, bicubic 16."""
    taps = {"nearest": 0, "linear": 2, "bilinear": 4, "trilinear": 8, "bicubic": 16}[args["mode"]]
    return max(0, 2 * taps - 1) * numel(out)


def flops_lrn(inputs, out, args) -> int:
    """Square, the window sum, scale and shift, the power and the divide."""
    return (args["size"] + 5) * numel(out)


def flops_add(inputs, out, args) -> int:
    return (len(inputs) - 1) * numel(out)


# --------------------------------------------------------------------------- the table

_K = ("kernel",)
_GEOMETRY = dict(minimum=1, minimum_code="E310")
_PROBABILITY = dict(minimum=0, maximum=1)


def same_channels(shapes, ins, args):
    """The channels of the (first) input: activations, norms, pooling, add."""
    return ins[0]


def out_channels(shapes, ins, args):
    """The `out` argument: conv, conv_transpose, linear, channel_linear."""
    return args["out"]


def summed_channels(shapes, ins, args):
    """concat: the sum of its inputs' channels."""
    total = ins[0]
    for c in ins[1:]:
        total = total + c
    return total


def chunk_channels(shapes, ins, args):
    """chunk: an equal part of the channels."""
    return arith("//", ins[0], args["chunks"])


def broadcast_channels(shapes, ins, args):
    """mul: the channels of the first input whose channels (its concrete shape's, not its term's:
    `c // 3` may be the 1 that broadcasts) are not 1; the first input's where all are 1."""
    for shape, c in zip(shapes, ins):
        if shape and shape[0] != 1:
            return c
    return ins[0]


def parameter_channels(shapes, ins, args):
    """parameter: the first entry of its shape (it has no input); a single size is its shape."""
    shape = args["shape"]
    return shape if isinstance(shape, int) else terms.index(shape, 0)


def flat_channels(shapes, ins, args):
    """flatten: channels times the spatial sizes."""
    return ins[0] * numel(shapes[0][1:])


def _act(name: str, cls: str, summary: str, args: tuple[Arg, ...] = (),
         kwargs: Callable[[dict], dict] = lambda a: {}, **more) -> OpSpec:
    more = {"reads": reads_same, "flops": per_element(1), **more}
    return OpSpec(name, args, infer_same, _no_count, _activation(cls, kwargs), summary,
                  key_args=tuple(a.name for a in args), colour=ACTIVATION_COLOUR, torch_names=(cls,), **more)


def _table() -> dict[str, OpSpec]:
    specs = [
        OpSpec("conv", (
            Arg("out", "int", minimum=1, doc="output channels"),
            Arg("k", "ints", aliases=_K, **_GEOMETRY, doc="kernel size, an int or one per spatial dim"),
            Arg("s", "ints", 1, aliases=("stride",), **_GEOMETRY, doc="stride"),
            Arg("p", "padding", 0, aliases=("padding",), minimum=0, minimum_code="E310",
                doc='zero padding each side, or "same" (s=1 only) or "valid"'),
            Arg("d", "ints", 1, aliases=("dilation",), **_GEOMETRY, doc="dilation"),
            Arg("groups", "int", 1, minimum=1, doc="grouped convolution; divides in and out channels"),
            Arg("bias", "bool", True, doc="learn a bias"),
        ), infer_conv, count_conv, torch_conv, "convolution; 1d/2d/3d by the input's rank",
            key_args=("out", "k", "s", "p", "d", "groups"), ranks="2, 3, 4", check_args=check_conv_args,
            colour=CONV_COLOUR, absorbs_bn=True, fit_padding=fit_conv_padding, torch_names=("Conv1d", "Conv2d", "Conv3d"),
            fresh_output=True, onnx=onnx_conv, saves=saves_input, autocast="lower", reads=reads_conv,
            flops=flops_of(count_conv), channels=out_channels),
        OpSpec("conv_transpose", (
            Arg("out", "int", minimum=1, doc="output channels"),
            Arg("k", "ints", aliases=_K, **_GEOMETRY, doc="kernel size, an int or one per spatial dim"),
            Arg("s", "ints", 1, aliases=("stride",), **_GEOMETRY, doc="stride: the factor the size grows by"),
            Arg("p", "ints", 0, aliases=("padding",), minimum=0, minimum_code="E310",
                doc="removed from each side of the output"),
            Arg("d", "ints", 1, aliases=("dilation",), **_GEOMETRY, doc="dilation"),
            Arg("groups", "int", 1, minimum=1, doc="grouped convolution; divides in and out channels"),
            Arg("bias", "bool", True, doc="learn a bias"),
            Arg("output_padding", "ints", 0, minimum=0, minimum_code="E310",
                doc="added to one side of the output, below max(s, d)"),
        ), infer_conv_transpose, count_conv_transpose, torch_conv_transpose,
            "transposed convolution (learned upsampling); 1d/2d/3d by the input's rank",
            key_args=("out", "k", "s", "p", "d", "groups", "output_padding"), ranks="2, 3, 4",
            check_args=check_conv_transpose_args, colour=CONV_COLOUR, absorbs_bn=True,
            fit_padding=fit_conv_transpose_padding, torch_names=("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"),
            fresh_output=True, onnx=onnx_conv_transpose, saves=saves_input, autocast="lower",
            reads=reads_conv_transpose, flops=flops_of(count_conv_transpose), channels=out_channels),
        OpSpec("bn", (
            Arg("eps", "float", 1e-5, above=0, doc="added to the variance"),
            Arg("momentum", "float", 0.1, **_PROBABILITY, doc="PyTorch's convention: d2l's 0.9 is 0.1 here"),
            Arg("affine", "bool", True, doc="learn scale and shift"),
        ), infer_bn, count_bn, torch_bn, "batch normalisation; BatchNorm1d/2d/3d by the input's rank",
            ranks="1, 2, 3, 4", colour=NORM_COLOUR, batch_statistics=True,
            torch_names=("BatchNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d"), fresh_output=True, onnx=onnx_bn,
            saves=saves_bn, reads=reads_same, flops=per_element(2)),
        OpSpec("groupnorm", (
            Arg("groups", "int", minimum=1, aliases=("num_groups",), doc="groups of channels; divides the channels"),
            Arg("eps", "float", 1e-5, above=0, doc="added to the variance"),
            Arg("affine", "bool", True, doc="learn scale and shift per channel"),
        ), infer_groupnorm, count_affine_norm, torch_groupnorm, "group normalisation over groups of channels",
            key_args=("groups",), ranks="any", colour=NORM_COLOUR, torch_names=("GroupNorm",), fresh_output=True,
            onnx=onnx_groupnorm, saves=saves_groupnorm, autocast="fp32", reads=reads_same, flops=flops_norm),
        OpSpec("layernorm", (
            Arg("eps", "float", 1e-5, above=0, doc="added to the variance"),
            Arg("affine", "bool", True, aliases=("elementwise_affine",), doc="learn scale and shift per channel"),
        ), infer_same, count_affine_norm, torch_layernorm,
            "layer normalisation over the channels at each position (over the features of [F])",
            key_args=("eps",), ranks="any", colour=NORM_COLOUR, torch_names=("LayerNorm", "LayerNorm2d"),
            onnx=onnx_layernorm, saves=saves_layernorm, autocast="fp32", reads=reads_same, flops=flops_norm),
        _act("relu", "ReLU", "max(x, 0)", writes_input="module", onnx=_onnx_unary("Relu"), saves=saves_output),
        _act("relu6", "ReLU6", "min(max(x, 0), 6)", onnx=onnx_relu6, saves=saves_input),
        _act("sigmoid", "Sigmoid", "1 / (1 + exp(-x))", onnx=_onnx_unary("Sigmoid"), saves=saves_output),
        _act("tanh", "Tanh", "hyperbolic tangent", onnx=_onnx_unary("Tanh"), saves=saves_output),
        _act("gelu", "GELU", "Gaussian error linear unit",
             (Arg("approximate", "str", "none", choices=("none", "tanh"),
                  doc='"tanh" for the tanh approximation'),),
             lambda a: _nondefault({"approximate": a["approximate"]}, {"approximate": "none"}),
             onnx=_onnx_unary("Gelu", lambda a: {"approximate": a["approximate"]}), saves=saves_input),
        _act("hardswish", "Hardswish", "x * relu6(x + 3) / 6 (MobileNetV3)", onnx=_onnx_unary("HardSwish"),
             saves=saves_input),
        _act("hardsigmoid", "Hardsigmoid", "relu6(x + 3) / 6 (MobileNetV3's squeeze-excitation gate)",
             onnx=_onnx_unary("HardSigmoid", lambda a: {"alpha": 1 / 6, "beta": 0.5}), saves=saves_input),
        _act("silu", "SiLU", "x * sigmoid(x) (swish)", onnx=onnx_silu, saves=saves_input),
        _act("elu", "ELU", "exponential linear unit", onnx=_onnx_unary("Elu", lambda a: {"alpha": 1.0}),
             saves=saves_input),
        _act("leaky_relu", "LeakyReLU", "max(x, 0) + slope * min(x, 0)",
             (Arg("slope", "float", 0.01, aliases=("negative_slope",), doc="slope for x < 0"),),
             lambda a: _nondefault({"negative_slope": a["slope"]}, {"negative_slope": 0.01}),
             onnx=_onnx_unary("LeakyRelu", lambda a: {"alpha": a["slope"]}), saves=saves_input),
        _act("softmax", "Softmax", "softmax over channels / features", kwargs=lambda a: {"dim": 1},
             onnx=_onnx_unary("Softmax", lambda a: {"axis": 1}), saves=saves_output, autocast="fp32",
             reads=reads_features, flops=per_element(3)),
        OpSpec("dropout", (Arg("p", "float", 0.5, **_PROBABILITY, doc="probability of zeroing an element"),),
               infer_same, _no_count,
               lambda inputs, args: ("Dropout", _nondefault({"p": args["p"]}, {"p": 0.5})),
               "zero elements at random while training", key_args=("p",),
               colour=PLAIN_COLOUR, does_nothing=dropout_does_nothing, onnx=onnx_identity, saves=saves_dropout,
               output_is_input=returns_input_when_p_zero, reads=reads_same, flops=no_flops),
        OpSpec("stochastic_depth", (
            Arg("p", "float", **_PROBABILITY, doc="probability of dropping a sample's whole path"),
            Arg("mode", "str", "row", choices=("row", "batch"),
                doc='"row": per sample; "batch": the whole batch at once'),
        ), infer_same, _no_count, torch_stochastic_depth,
            "drop a residual path per sample while training (torchvision.ops.StochasticDepth)",
            key_args=("p", "mode"), colour=PLAIN_COLOUR,
            torch_names=("StochasticDepth",), onnx=onnx_identity, saves=saves_stochastic_depth,
            output_is_input=returns_input_when_p_zero, reads=reads_same, flops=no_flops),
        OpSpec("maxpool", _pool_args(), infer_pool, _no_count, _torch_pool("Max"),
               "max pooling; 1d/2d/3d by the input's rank", key_args=("k", "s", "p", "ceil"), ranks="2, 3, 4",
               check_args=check_pool_args, colour=POOL_COLOUR, does_nothing=_pool_does_nothing("maxpool"),
               fit_padding=fit_pool_padding, torch_names=("MaxPool1d", "MaxPool2d", "MaxPool3d"), fresh_output=True,
               onnx=_onnx_pool("MaxPool"), saves=saves_maxpool, reads=reads_pool, flops=flops_pool),
        OpSpec("avgpool", _pool_args(), infer_pool, _no_count, _torch_pool("Avg"),
               "average pooling; 1d/2d/3d by the input's rank", key_args=("k", "s", "p", "ceil"), ranks="2, 3, 4",
               check_args=check_pool_args, colour=POOL_COLOUR, does_nothing=_pool_does_nothing("avgpool"),
               fit_padding=fit_pool_padding, torch_names=("AvgPool1d", "AvgPool2d", "AvgPool3d"), fresh_output=True,
               onnx=_onnx_pool("AveragePool"), saves=saves_input, reads=reads_pool, flops=flops_pool),
        OpSpec("gap", (), infer_gap, _no_count, torch_gap, "global average pooling to [C, 1, 1]", ranks="2, 3, 4",
               colour=POOL_COLOUR, torch_names=("GlobalAvgPool",), fresh_output=True, onnx=onnx_gap,
               saves=saves_nothing, reads=reads_every, flops=lambda inputs, out, args: numel(inputs[0])),
        OpSpec("adaptive_avgpool", (Arg("out", "size", minimum=1, aliases=("output_size",),
                                        doc="output size, an int or one per spatial dim"),),
               infer_adaptive, _no_count, torch_adaptive, "average pooling to a fixed output size",
               key_args=("out",), ranks="2, 3, 4", colour=POOL_COLOUR,
               torch_names=("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d"), fresh_output=True,
               onnx=onnx_adaptive, saves=saves_adaptive, reads=reads_adaptive, flops=flops_adaptive),
        OpSpec("flatten", (), infer_flatten, _no_count, lambda inputs, args: ("Flatten", {}),
               "[C, H, W] to [C*H*W]", ranks="any", colour=PLAIN_COLOUR, does_nothing=flatten_does_nothing,
               onnx=onnx_flatten, saves=saves_nothing, output_is_input=returns_input_storage, reads=reads_same,
               flops=no_flops, channels=flat_channels),
        OpSpec("linear", (
            Arg("out", "int", minimum=1, doc="output features"),
            Arg("bias", "bool", True, doc="learn a bias"),
        ), infer_linear, count_linear, torch_linear, "fully connected layer; input width from the flow",
            key_args=("out",), ranks="1", colour=LINEAR_COLOUR, absorbs_bn=True, torch_names=("fc",),
            fresh_output=True, onnx=onnx_linear, saves=saves_input, autocast="lower", reads=reads_every,
            flops=flops_of(count_linear), channels=out_channels),
        OpSpec("channel_linear", (
            Arg("out", "int", minimum=1, doc="output channels"),
            Arg("bias", "bool", True, doc="learn a bias"),
        ), infer_channel_linear, count_channel_linear, torch_channel_linear,
            "nn.Linear over the channels at each position (convnext's permute, Linear, permute)",
            key_args=("out",), colour=LINEAR_COLOUR, absorbs_bn=True, onnx=onnx_channel_linear,
            saves=saves_channel_linear, autocast="lower", reads=reads_features, flops=flops_of(count_channel_linear),
            channels=out_channels),
        OpSpec("channel_shuffle", (Arg("groups", "int", minimum=1, doc="groups; divides the channels"),),
               infer_channel_shuffle, _no_count, lambda inputs, args: ("ChannelShuffle", {"groups": args["groups"]}),
               "interleave the channels of groups (ShuffleNet)", key_args=("groups",), ranks="2, 3, 4",
               colour=PLAIN_COLOUR, does_nothing=channel_shuffle_does_nothing, torch_names=("ChannelShuffle",),
               onnx=onnx_channel_shuffle, saves=saves_nothing, reads=reads_same, flops=no_flops),
        OpSpec("scale_shift", (
            Arg("scale", "floats", 1.0, doc="multiplier, one number or one per channel"),
            Arg("shift", "floats", 0.0, doc="added after scaling, one number or one per channel"),
        ), infer_scale_shift, _no_count, torch_scale_shift,
            "x * scale + shift per channel, constants (inception_v3's transform_input)",
            key_args=("scale", "shift"), colour=PLAIN_COLOUR, does_nothing=scale_shift_does_nothing,
            onnx=onnx_scale_shift, saves=saves_nothing, reads=reads_same, flops=per_element(2)),
        OpSpec("upsample", (
            Arg("scale", "number", aliases=("scale_factor",), doc="size multiplier (output = floor(size * scale))"),
            Arg("mode", "str", "nearest", choices=("nearest", "linear", "bilinear", "bicubic", "trilinear"),
                doc="linear for [C, L], bilinear/bicubic for [C, H, W], trilinear for [C, D, H, W]"),
        ), infer_upsample, _no_count, torch_upsample, "resize by a scale factor",
            key_args=("scale", "mode"), ranks="2, 3, 4", check_args=check_upsample_args, colour=PLAIN_COLOUR,
            does_nothing=upsample_does_nothing, torch_names=("UpSampling",), onnx=onnx_upsample, saves=saves_nothing,
            reads=reads_upsample, flops=flops_upsample),
        OpSpec("lrn", (
            Arg("size", "int", minimum=1, doc="channels to normalise over"),
            Arg("alpha", "float", 1e-4, minimum=0, doc="multiplicative factor"),
            Arg("beta", "float", 0.75, doc="exponent"),
            Arg("k", "float", 1.0, above=0, doc="additive factor (at 0, a window of zeros gives NaN)"),
        ), infer_lrn, _no_count, torch_lrn, "local response normalisation across channels (AlexNet)",
            key_args=("size",), ranks="2, 3, 4", colour=NORM_COLOUR, torch_names=("LocalResponseNorm",),
            onnx=onnx_lrn, saves=saves_lrn, reads=reads_same, flops=flops_lrn),
        OpSpec("crop", (Arg("like", "tensor", aliases=("size_of",), doc="the tensor whose spatial size to take"),),
               infer_crop, _no_count, torch_crop,
               "the centre of the input at another tensor's spatial size (U-Net's copy and crop)",
               key_args=("like",), ranks="2, 3, 4", colour=PLAIN_COLOUR, torch_names=("CenterCrop", "center_crop"),
               onnx=onnx_crop, saves=saves_nothing, output_is_input=returns_input_storage, reads=reads_crop,
               flops=no_flops),   # a view of the input
        OpSpec("resize", (
            Arg("like", "tensor", aliases=("size_of",), doc="the tensor whose spatial size to take"),
            Arg("mode", "str", "bilinear", choices=("nearest", "linear", "bilinear", "bicubic", "trilinear"),
                doc="linear for [C, L], bilinear/bicubic for [C, H, W], trilinear for [C, D, H, W]"),
            Arg("align_corners", "bool", False, doc="PyTorch's align_corners (interpolating modes only)"),
        ), infer_resize, _no_count, None, "resize to another tensor's spatial size (segmentation heads' "
            "F.interpolate(x, size=input.shape[-2:], mode=\"bilinear\", align_corners=False))",
            key_args=("like", "mode"), ranks="2, 3, 4", check_args=check_resize_args, colour=PLAIN_COLOUR,
            expression=torch_resize, fresh_output=True, torch_names=("interpolate", "Upsample"), onnx=onnx_resize,
            saves=saves_nothing, reads=reads_resize, flops=flops_upsample),
        OpSpec("chunk", (
            Arg("chunks", "int", minimum=1, doc="equal parts along the channels"),
            Arg("index", "int", None, minimum=0, default_text="all",
                doc="the part this layer takes; left out where a binding takes every part (`a, b = x -> chunk(2)`)"),
        ), infer_chunk, _no_count, None, "split the channels into equal parts (ShuffleNet's x.chunk(2, dim=1))",
            key_args=("chunks", "index"), ranks="any", check_args=check_chunk_args, colour=PLAIN_COLOUR,
            expression=torch_chunk, torch_names=("split",), onnx=onnx_chunk,   # a view: not fresh
            saves=saves_nothing, output_is_input=returns_input_storage, reads=reads_same, flops=no_flops,
            channels=chunk_channels),
        OpSpec("concat", (), infer_concat, _no_count, None, "concatenate along channels", merge=True,
               colour=PLAIN_COLOUR, fresh_output=True, expression=torch_concat,
               onnx=onnx_concat,   # torch.cat copies, even one input
               saves=saves_nothing, reads=reads_same, flops=no_flops, channels=summed_channels),
        OpSpec("add", (), infer_add, _no_count, None, "element-wise sum of equal shapes", merge=True,
               colour=PLAIN_COLOUR, writes_input="sum", fresh_output=True, aliases_single_input=True,
               expression=torch_add, onnx=onnx_add,
               saves=saves_nothing, output_is_input=lambda inputs, args: len(inputs) == 1, reads=reads_same,
               flops=flops_add, takes_parameters=True),
        OpSpec("mul", (), infer_mul, _no_count, None,
               "element-wise product; a size of 1 broadcasts ([C, H, W] * [C, 1, 1])", merge=True,
               colour=PLAIN_COLOUR, fresh_output=True, aliases_single_input=True, expression=torch_mul,
               onnx=onnx_mul, saves=saves_every_input, output_is_input=lambda inputs, args: len(inputs) == 1,
               reads=reads_same, flops=flops_add, channels=broadcast_channels, takes_parameters=True),
        OpSpec("parameter", (
            Arg("shape", "ints", minimum=1, doc="its shape, without a batch: [C, 1, 1] scales each channel"),
            Arg("fill", "float", 0.0, doc="every element's initial value"),
        ), infer_parameter, count_parameter, None,
            "a learnable tensor the block declares, read by mul or add (convnext's layer_scale)",
            key_args=("shape", "fill"), ranks="none (it reads no tensor)", colour=LINEAR_COLOUR,
            torch_names=("Parameter",), onnx=onnx_parameter, parameter=True,
            saves=saves_nothing, reads=reads_same, flops=no_flops, channels=parameter_channels),
    ]
    return {s.name: s for s in specs}


def _pool_args() -> tuple[Arg, ...]:
    return (
        Arg("k", "ints", aliases=_K, **_GEOMETRY, doc="window size"),
        Arg("s", "ints", None, aliases=("stride",), **_GEOMETRY, doc="stride; defaults to k"),
        Arg("p", "ints", 0, aliases=("padding",), minimum=0, minimum_code="E310",
            doc="padding each side, at most k // 2"),
        Arg("ceil", "bool", False, aliases=("ceil_mode",), doc="round the output size up"),
    )


OPS: dict[str, OpSpec] = _table()


# --------------------------------------------------------------------------- binding

KIND_TEXT = {
    "int": "an int", "float": "a number", "number": "a number", "bool": "true or false", "str": "a string",
    "ints": "an int or a list of ints", "floats": "a number or a list of numbers",
    "padding": 'an int, a list of ints or "same"',
    "size": "an int or a list of ints",
    "tensor": "a tensor",
}


def _is_tensor(value) -> bool:
    return isinstance(value, TensorRef)


def bind(op: "str | OpSpec", positional, keywords, call_span, collector: Collector) -> dict | None:
    """Bind a call's arguments to `op`'s declaration; None (after reporting) if any is wrong.

    positional: [(value, span)]; keywords: [(name, value, name_span, value_span)].
    """
    actuals = [Actual(None, value, span) for value, span in positional]
    actuals += [Actual(name, value, value_span, name_span) for name, value, name_span, value_span in keywords]
    return bind_actuals(op, actuals, call_span, collector)


def bind_actuals(op: "str | OpSpec", actuals: list[Actual], call_span, report,
                 terms: dict | None = None) -> dict | None:
    """The arguments of a call (`binder.Actual`s, in the order written), bound and checked.

    The result has canonical names, defaults filled, lists as tuples, floats as
    floats; None after reporting. Every argument is checked, even after a
    binding error, so that one run reports every independent mistake.
    `terms`, when given, receives each argument's term (`terms.py`): the
    actual's, or the bound value for a constant.
    """
    spec = OPS[op] if isinstance(op, str) else op
    binding = binder.bind(op_signature(spec), actuals, call_span, report)
    bound: dict[str, Any] = {}
    ok = binding.ok
    for arg, actual in zip(spec.args, binding.formals):
        if actual is None:
            bound[arg.name] = arg.default
        else:
            converted = _convert(spec, arg, actual.value, actual.span, report)
            ok = ok and converted is not _BAD
            bound[arg.name] = converted
        if terms is not None:
            written = actual.term if actual is not None else None
            terms[arg.name] = written if written is not None and is_symbolic(written) else bound[arg.name]
    return bound if ok else None


# PyTorch's keywords that spell an argument differently, and those archlang reads from the flow.
_TORCH_KEYWORDS = {"out_channels": "out", "out_features": "out", "kernel_size": "k"}
_FROM_THE_FLOW = ("in_channels", "in_features", "num_features")


def op_signature(spec: OpSpec) -> binder.Signature:
    """The op's arguments as the binder sees them (made once per op)."""
    cached = _SIGNATURES.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    formals = tuple(binder.Formal(a.name, a.required, a.aliases, arg_text(a).partition("=")[2], a.doc)
                    for a in spec.args)
    explained = {name: f"{spec.name} reads its input size from the tensor it receives: leave {name} out"
                 for name in _FROM_THE_FLOW}
    made = binder.Signature(spec.name, formals, "argument", _TORCH_KEYWORDS, explained)
    _SIGNATURES[id(spec)] = (spec, made)
    return made


_SIGNATURES: dict[int, tuple[OpSpec, binder.Signature]] = {}


_BAD = object()


def _convert(spec: OpSpec, arg: Arg, value, span, collector: Collector) -> Any:
    """Check one argument's type and value; the bound value or _BAD after reporting."""
    def wrong(expected: str, help: str | None = None):
        collector.error("E204", f"{spec.name}'s {arg.name} must be {expected}, got {_describe(value)}", span,
                        help=help)
        return _BAD

    if arg.kind == "tensor":  # `crop(like=u4)`: a tensor's name, `in` or `cur`
        if not _is_tensor(value):
            return wrong(KIND_TEXT[arg.kind], help="name a tensor bound with `=`, or in or cur")
        return value
    if _is_tensor(value):
        collector.error("E204", f"`{value.name}` is a tensor, not an argument value", span,
                        help=f"use one of its sizes, like {value.name}.c")
        return _BAD
    if isinstance(value, Expr) or (isinstance(value, (list, tuple)) and any(isinstance(v, Expr) for v in value)):
        return wrong(KIND_TEXT[arg.kind], help="it depends on the symbolic input size; arguments must be numbers")
    converted = _coerce(arg.kind, value)
    if converted is _BAD:
        help = _float_help(arg, value, span) if isinstance(value, float) and "int" in KIND_TEXT[arg.kind] else None
        return wrong(KIND_TEXT[arg.kind], help)
    if arg.choices is not None and converted not in arg.choices:
        close = difflib.get_close_matches(str(converted), [str(c) for c in arg.choices], n=1, cutoff=0.5)
        collector.error("E211", f"{spec.name}'s {arg.name} must be one of {', '.join(_show(c) for c in arg.choices)}, "
                                f"got {_show(converted)}", span, help=f"did you mean {_show(close[0])}?" if close else None)
        return _BAD
    why = _out_of_bounds(arg, converted)
    if why is not None:
        collector.error(arg.minimum_code, f"{spec.name}'s {arg.name} must be {why}, got {_show(value)}", span)
        return _BAD
    return converted


def _out_of_bounds(arg: Arg, converted) -> str | None:
    """What an argument's values must be, when one of them is not (each element of a list)."""
    if arg.minimum is None and arg.maximum is None and arg.above is None:
        return None
    values = [v for v in (converted if isinstance(converted, tuple) else (converted,)) if not isinstance(v, str)]
    low = arg.minimum is not None and any(v < arg.minimum for v in values)
    high = arg.maximum is not None and any(v > arg.maximum for v in values)
    if low or high:
        if arg.minimum is not None and arg.maximum is not None:
            return f"between {arg.minimum} and {arg.maximum}"
        return f"at least {arg.minimum}" if low else f"at most {arg.maximum}"
    if arg.above is not None and any(v <= arg.above for v in values):
        return f"greater than {arg.above}"
    return None


_TRUE_DIVISION = re.compile(r"(?<!/)/(?!/)")


def _float_help(arg: Arg, value: float, span) -> str:
    """Why a float came where an int is needed: a `/` in the argument, or a number given so."""
    if span is not None and _TRUE_DIVISION.search(span.text):
        return "use // for integer division"
    if value.is_integer():
        return f"{arg.name} takes an int: {int(value)}, not {value}"
    return f"{arg.name} takes a whole number, such as {math.floor(value)} or {math.ceil(value)}"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _coerce(kind: str, value) -> Any:
    if kind == "int":
        return value if _is_int(value) else _BAD
    if kind in ("float", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _BAD
        return float(value) if kind == "float" else value
    if kind == "bool":
        return value if isinstance(value, bool) else _BAD
    if kind == "str":
        return value if isinstance(value, str) else _BAD
    if kind == "padding" and value in ("same", "valid"):
        return value
    if kind == "floats":
        if _is_number(value):
            return float(value)
        if isinstance(value, (list, tuple)) and value and all(_is_number(v) for v in value):
            return tuple(float(v) for v in value)
        return _BAD
    if kind in ("ints", "padding", "size"):
        if _is_int(value):
            return value
        if isinstance(value, (list, tuple)) and value and all(_is_int(v) for v in value):
            return tuple(value)
        return _BAD
    raise ValueError(f"unknown argument kind {kind!r}")


def _describe(value) -> str:
    kind = {bool: "a bool", int: "an int", float: "a float", str: "a string"}.get(type(value))
    if isinstance(value, (list, tuple)):
        kind = "a list"
    if isinstance(value, Expr):
        kind = "a symbolic size"
    return f"{_show(value)} ({kind})" if kind else _show(value)


def signature(spec: OpSpec) -> str:
    """`out, k, s=1, p=0, d=1, groups=1, bias=true`."""
    return ", ".join(arg_text(a) for a in spec.args)


def arg_text(a: Arg) -> str:
    """One argument as a signature shows it: `out`, `p=0`, `s=k` (pooling's stride is its kernel)."""
    if a.required:
        return a.name
    if a.default_text is not None:
        return f"{a.name}={a.default_text}"
    return f"{a.name}={'k' if a.default is None and a.name == 's' else _show(a.default)}"


def format_call(op: str, args: dict) -> str:
    """A layer as users write it, key arguments only, defaults left out: `conv(64, k=7, s=2, p=3)`."""
    spec = OPS.get(op)
    if spec is None:
        return op
    shown = []
    for a in spec.args:
        if a.name not in spec.key_args or a.name not in args:
            continue
        v = args[a.name]
        if not a.required and (v == a.default and type(v) is type(a.default)):
            continue
        text = v if a.kind == "tensor" else _show(v)   # a tensor argument holds the tensor's name
        shown.append(text if a.required and a is spec.args[0] else f"{a.name}={text}")
    return f"{op}({', '.join(shown)})" if shown else op


def size_inputs(op: str) -> int:
    """How many of the op's inputs, after the first, are tensors it reads only the size of
    (`crop(like=u4)`): its tensor arguments."""
    return sum(a.kind == "tensor" for a in OPS[op].args) if op in OPS else 0


def infer(op: str, inputs: list, args: dict) -> tuple[Any, list[Requirement]]:
    """Run a rule outside a graph: (output shape, requirements); raises ShapeFailure."""
    if any(s is UNKNOWN for s in inputs):
        return UNKNOWN, []
    ctx = InferContext(op, tuple(tuple(s) for s in inputs), args)
    return OPS[op].apply(ctx), ctx.requirements
