"""A reference interpreter of the IR: what a checked `ir.Graph` computes.

It walks `graph.nodes` in order and runs each node with torch's functional
ops (`F.conv2d`, `F.batch_norm` with explicit running statistics, ...) on
parameter tensors it holds itself. It reads only `node.op`, `node.args`,
`node.inputs`, `node.name` and the graph's ports: nothing of
`archlang/backends/` (no module plan, no generated source, no constructor
table), so a bug there cannot hide here. It never writes into a tensor it
has computed or was given (every op is out of place), so its values are
what the spec says even where codegen reuses buffers.

Its parameters and buffers are named `<node.name>.weight`, `.bias`,
`.running_mean`, ... as PyTorch names them (a `parameter` is `<node.name>`), so a test loads them into a
compiled module with `load_state_dict(strict=True)`: the keys agreeing is
itself a check. The parameter count of a node is the numel of its learnable
tensors, independent of the op table's count rule.

    interp = Interpreter(graph, seed=0)
    trace = interp.run([x], training=False)
    trace.outputs, trace.values[node.id]
    model.load_state_dict(interp.state_dict(), strict=True)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


@dataclass(frozen=True)
class Slot:
    """One tensor a node owns: a learnable parameter or a buffer (running statistics)."""

    name: str
    shape: tuple[int, ...]
    learnable: bool
    init: str          # "fan_in", "gamma", "beta", "mean", "var", "count"


@dataclass(frozen=True)
class Rule:
    """How the interpreter runs one op: the tensors it owns, and the computation."""

    slots: Callable[[dict, list[tuple[int, ...]]], list[Slot]]
    run: Callable[[list[Tensor], dict, dict[str, Tensor], bool], Tensor]


def _none(args, shapes) -> list[Slot]:
    return []


def _expand(value, n: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


# -- conv ---------------------------------------------------------------------------------------

def _conv_slots(args, shapes) -> list[Slot]:
    c_in, n = shapes[0][0], len(shapes[0]) - 1
    k = _expand(args["k"], n)
    slots = [Slot("weight", (args["out"], c_in // args["groups"], *k), True, "fan_in")]
    if args["bias"]:
        slots.append(Slot("bias", (args["out"],), True, "fan_in"))
    return slots


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _conv(xs, args, p, training) -> Tensor:
    x = xs[0]
    n = x.dim() - 2
    k, s, d = (_expand(args[a], n) for a in ("k", "s", "d"))
    pad = args["p"]
    if pad == "same":
        # PyTorch's rule: total padding d*(k-1) per axis, the odd one on the right/bottom.
        widths = []
        for ki, di in reversed(list(zip(k, d))):   # F.pad lists the last axis first
            total = di * (ki - 1)
            widths += [total // 2, total - total // 2]
        x, pad = F.pad(x, widths), 0
    elif pad == "valid":
        pad = 0
    return _CONV[n](x, p["weight"], p.get("bias"), stride=s, padding=_expand(pad, n), dilation=d,
                    groups=args["groups"])


def _conv_transpose_slots(args, shapes) -> list[Slot]:
    c_in, n = shapes[0][0], len(shapes[0]) - 1
    k = _expand(args["k"], n)
    # (in, out / groups, *k): every input channel scatters into its group's outputs
    slots = [Slot("weight", (c_in, args["out"] // args["groups"], *k), True, "fan_in")]
    if args["bias"]:
        slots.append(Slot("bias", (args["out"],), True, "fan_in"))
    return slots


_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _conv_transpose(xs, args, p, training) -> Tensor:
    x = xs[0]
    n = x.dim() - 2
    k, s, pad, d, extra = (_expand(args[a], n) for a in ("k", "s", "p", "d", "output_padding"))
    return _CONV_T[n](x, p["weight"], p.get("bias"), stride=s, padding=pad, output_padding=extra,
                      groups=args["groups"], dilation=d)


# -- norms --------------------------------------------------------------------------------------

def _bn_slots(args, shapes) -> list[Slot]:
    c = shapes[0][0]
    slots = [Slot("weight", (c,), True, "gamma"), Slot("bias", (c,), True, "beta")] if args["affine"] else []
    return slots + [Slot("running_mean", (c,), False, "mean"), Slot("running_var", (c,), False, "var"),
                    Slot("num_batches_tracked", (), False, "count")]


def _bn(xs, args, p, training) -> Tensor:
    if training:
        p["num_batches_tracked"] += 1   # the interpreter's own buffer, as BatchNorm counts batches
    # F.batch_norm updates the running statistics (our buffers) in training; the input is not written.
    return F.batch_norm(xs[0], p["running_mean"], p["running_var"], p.get("weight"), p.get("bias"),
                        training=training, momentum=args["momentum"], eps=args["eps"])


def _affine_slots(args, shapes) -> list[Slot]:
    c = shapes[0][0]
    return [Slot("weight", (c,), True, "gamma"), Slot("bias", (c,), True, "beta")] if args["affine"] else []


def _per_channel(v: Tensor, x: Tensor) -> Tensor:
    """A (C,) vector shaped to broadcast over (N, C, ...)."""
    return v.reshape(-1, *([1] * (x.dim() - 2)))


def _groupnorm(xs, args, p, training) -> Tensor:
    return F.group_norm(xs[0], args["groups"], p.get("weight"), p.get("bias"), eps=args["eps"])


def _layernorm(xs, args, p, training) -> Tensor:
    """Normalised over the channels at each position, written out (not F.layer_norm's movedim)."""
    x = xs[0]
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    y = (x - mean) / torch.sqrt(var + args["eps"])
    if args["affine"]:
        y = y * _per_channel(p["weight"], x) + _per_channel(p["bias"], x)
    return y


def _channel_linear(xs, args, p, training) -> Tensor:
    x = xs[0]
    # A broadcast product summed over the channels, not einsum: einsum's backward hands a batch norm
    # before it a gradient strided as channels_last_3d (a size-1 depth's stride 1), and PyTorch's CPU
    # batch norm backward then reads it wrongly for a contiguous input (2.14; seed 3555).
    w = p["weight"].reshape(p["weight"].shape + (1,) * (x.dim() - 2))
    y = (x.unsqueeze(1) * w.unsqueeze(0)).sum(dim=2)
    return y + _per_channel(p["bias"], x) if "bias" in p else y


def _channel_shuffle(xs, args, p, training) -> Tensor:
    x = xs[0]
    g = args["groups"]
    n, c, *rest = x.shape
    return x.reshape(n, g, c // g, *rest).transpose(1, 2).reshape(n, c, *rest)


def _scale_shift(xs, args, p, training) -> Tensor:
    x = xs[0]
    scale = torch.tensor(args["scale"], dtype=x.dtype).reshape(-1)
    shift = torch.tensor(args["shift"], dtype=x.dtype).reshape(-1)
    return x * _per_channel(scale, x) + _per_channel(shift, x)


def _stochastic_depth(xs, args, p, training) -> Tensor:
    """torchvision.ops.stochastic_depth, written out: in training, keep each sample ("row") or
    the batch with probability 1 - p and scale what is kept by 1 / (1 - p)."""
    x = xs[0]
    if not training or args["p"] == 0:
        return x
    survival = 1.0 - args["p"]
    size = [x.shape[0]] + [1] * (x.dim() - 1) if args["mode"] == "row" else [1] * x.dim()
    noise = torch.empty(size, dtype=x.dtype).bernoulli_(survival)
    return x * (noise / survival if survival > 0 else noise)


def _lrn(xs, args, p, training) -> Tensor:
    return F.local_response_norm(xs[0], args["size"], alpha=args["alpha"], beta=args["beta"], k=args["k"])


# -- pooling ------------------------------------------------------------------------------------

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_ADAPTIVE = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}


def _pool(table) -> Callable:
    def run(xs, args, p, training) -> Tensor:
        x = xs[0]
        n = x.dim() - 2
        k = _expand(args["k"], n)
        s = k if args["s"] is None else _expand(args["s"], n)
        return table[n](x, k, s, _expand(args["p"], n), ceil_mode=args["ceil"])
    return run


def _gap(xs, args, p, training) -> Tensor:
    return _ADAPTIVE[xs[0].dim() - 2](xs[0], 1)


def _adaptive(xs, args, p, training) -> Tensor:
    n = xs[0].dim() - 2
    return _ADAPTIVE[n](xs[0], _expand(args["out"], n))


# -- dense --------------------------------------------------------------------------------------

def _channel_linear_slots(args, shapes) -> list[Slot]:
    return _linear_slots(args, shapes)


def _linear_slots(args, shapes) -> list[Slot]:
    slots = [Slot("weight", (args["out"], shapes[0][0]), True, "fan_in")]
    return slots + ([Slot("bias", (args["out"],), True, "fan_in")] if args["bias"] else [])


def _linear(xs, args, p, training) -> Tensor:
    return F.linear(xs[0], p["weight"], p.get("bias"))


def _flatten(xs, args, p, training) -> Tensor:
    return torch.flatten(xs[0], 1)


# -- the rest -----------------------------------------------------------------------------------

def _upsample(xs, args, p, training) -> Tensor:
    return F.interpolate(xs[0], scale_factor=float(args["scale"]), mode=args["mode"])


def _dropout(xs, args, p, training) -> Tensor:
    return F.dropout(xs[0], args["p"], training=training)


def _concat(xs, args, p, training) -> Tensor:
    return torch.cat(xs, dim=1)


def _add(xs, args, p, training) -> Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


def _mul(xs, args, p, training) -> Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = out * x        # torch broadcasts the sizes of 1
    return out


def _chunk(xs, args, p, training) -> Tensor:
    """The index-th of equal parts along the channels, written out with narrow."""
    x = xs[0]
    part = x.shape[1] // args["chunks"]
    return x.narrow(1, args["index"] * part, part)


def _crop(xs, args, p, training) -> Tensor:
    """The centre of the first input at the second's spatial size, axis by axis."""
    x, like = xs
    for axis in range(2, x.dim()):
        top = (x.shape[axis] - like.shape[axis]) // 2
        x = x.narrow(axis, top, like.shape[axis])
    return x


def _resize(xs, args, p, training) -> Tensor:
    x, like = xs
    corners = {} if args["mode"] == "nearest" else {"align_corners": args["align_corners"]}
    return F.interpolate(x, size=tuple(like.shape[2:]), mode=args["mode"], **corners)


def _parameter_slots(args, shapes) -> list[Slot]:
    shape = args["shape"]
    return [Slot("", (shape,) if isinstance(shape, int) else tuple(shape), True, "gamma")]


def _parameter(xs, args, p, training) -> Tensor:
    """The block's own tensor (its state_dict key is the node's name: the slot has no name of its
    own), as a batch of one, which its readers (mul, add) broadcast over the batch as PyTorch
    broadcasts the batchless nn.Parameter."""
    return p[""].unsqueeze(0)


def _elementwise(fn: Callable[[Tensor, dict], Tensor]) -> Rule:
    return Rule(_none, lambda xs, args, p, training: fn(xs[0], args))


RULES: dict[str, Rule] = {
    "conv": Rule(_conv_slots, _conv),
    "conv_transpose": Rule(_conv_transpose_slots, _conv_transpose),
    "bn": Rule(_bn_slots, _bn),
    "groupnorm": Rule(_affine_slots, _groupnorm),
    "layernorm": Rule(_affine_slots, _layernorm),
    "relu": _elementwise(lambda x, a: F.relu(x)),
    "relu6": _elementwise(lambda x, a: F.relu6(x)),
    "sigmoid": _elementwise(lambda x, a: torch.sigmoid(x)),
    "tanh": _elementwise(lambda x, a: torch.tanh(x)),
    "gelu": _elementwise(lambda x, a: F.gelu(x, approximate=a["approximate"])),
    "hardswish": _elementwise(lambda x, a: F.hardswish(x)),
    "hardsigmoid": _elementwise(lambda x, a: F.hardsigmoid(x)),
    "silu": _elementwise(lambda x, a: F.silu(x)),
    "elu": _elementwise(lambda x, a: F.elu(x)),
    "leaky_relu": _elementwise(lambda x, a: F.leaky_relu(x, a["slope"])),
    "softmax": _elementwise(lambda x, a: F.softmax(x, dim=1)),
    "dropout": Rule(_none, _dropout),
    "stochastic_depth": Rule(_none, _stochastic_depth),
    "maxpool": Rule(_none, _pool(_MAX)),
    "avgpool": Rule(_none, _pool(_AVG)),
    "gap": Rule(_none, _gap),
    "adaptive_avgpool": Rule(_none, _adaptive),
    "flatten": Rule(_none, _flatten),
    "linear": Rule(_linear_slots, _linear),
    "channel_linear": Rule(_channel_linear_slots, _channel_linear),
    "channel_shuffle": Rule(_none, _channel_shuffle),
    "scale_shift": Rule(_none, _scale_shift),
    "upsample": Rule(_none, _upsample),
    "lrn": Rule(_none, _lrn),
    "concat": Rule(_none, _concat),
    "add": Rule(_none, _add),
    "mul": Rule(_none, _mul),
    "chunk": Rule(_none, _chunk),
    "crop": Rule(_none, _crop),
    "resize": Rule(_none, _resize),
    "parameter": Rule(_parameter_slots, _parameter),
}


def key(node, slot: Slot) -> str:
    """A tensor's state_dict key: `<node>.weight`; a parameter's is the node's name itself."""
    return f"{node.name}.{slot.name}" if slot.name else node.name


# -- the interpreter ------------------------------------------------------------------------------

@dataclass
class Trace:
    """One run: every node's value (by node id) and the outputs in port order."""

    values: dict[int, Tensor]
    outputs: list[Tensor]


@dataclass
class Interpreter:
    graph: object                       # ir.Graph, checked, with concrete sizes
    seed: int = 0
    dtype: torch.dtype = torch.float64
    tensors: dict[str, Tensor] = field(default_factory=dict)   # state_dict-style, by node name
    slots: dict[int, list[Slot]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        gen = torch.Generator().manual_seed(self.seed)
        shapes = self._static_shapes()
        for node in self.graph.nodes:
            if node.op == "input":
                continue
            rule = RULES[node.op]
            slots = rule.slots(node.args, [shapes[i] for i in node.inputs])
            self.slots[node.id] = slots
            fan_in = math.prod(slots[0].shape[1:]) if slots and slots[0].init == "fan_in" else 1
            for slot in slots:
                self.tensors[key(node, slot)] = _initial(slot, fan_in, gen, self.dtype)

    def _static_shapes(self) -> dict[int, tuple[int, ...]]:
        """Input shapes for sizing parameters: the declared input shapes, then the
        interpreter's own forward on an empty batch (the IR's per-node shapes are not read)."""
        shapes: dict[int, tuple[int, ...]] = {}
        values: dict[int, Tensor] = {}
        for port in self.graph.inputs:
            shape = tuple(int(d) for d in self.graph.nodes[port.node].args["shape"])
            values[port.node] = torch.zeros((2, *shape), dtype=self.dtype)
        with torch.no_grad():
            for node in self.graph.nodes:
                if node.op == "input":
                    shapes[node.id] = tuple(values[node.id].shape[1:])
                    continue
                rule = RULES[node.op]
                xs = [values[i] for i in node.inputs]
                slots = rule.slots(node.args, [tuple(x.shape[1:]) for x in xs])
                params = {s.name: _initial(s, 1, None, self.dtype) for s in slots}
                values[node.id] = rule.run(xs, node.args, params, False)
                shapes[node.id] = tuple(values[node.id].shape[1:])
        return shapes

    # -- what a test reads ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Tensor]:
        """Copies of every parameter and buffer, keyed as the compiled module's state_dict must be."""
        return {k: v.detach().clone() for k, v in self.tensors.items()}

    def params_of(self, node) -> int:
        """Learnable parameters of one node: the numel of its weight and bias tensors."""
        return sum(math.prod(s.shape) for s in self.slots.get(node.id, []) if s.learnable)

    def inputs(self, batch: int = 2, seed: int = 1) -> list[Tensor]:
        """Random inputs of the declared shapes."""
        gen = torch.Generator().manual_seed(seed)
        out = []
        for port in self.graph.inputs:
            shape = tuple(int(d) for d in self.graph.nodes[port.node].args["shape"])
            out.append(torch.randn((batch, *shape), generator=gen, dtype=self.dtype))
        return out

    def run(self, inputs: list[Tensor], training: bool = False) -> Trace:
        values: dict[int, Tensor] = {}
        for port, x in zip(self.graph.inputs, inputs):
            values[port.node] = x
        for node in self.graph.nodes:
            if node.op == "input":
                continue
            params = {s.name: self.tensors[key(node, s)] for s in self.slots[node.id]}
            values[node.id] = RULES[node.op].run([values[i] for i in node.inputs], node.args, params, training)
        return Trace(values, [values[p.node] for p in self.graph.outputs])


def _initial(slot: Slot, fan_in: int, gen, dtype) -> Tensor:
    """Values that make every layer matter: no zero biases, batch-norm statistics far from (0, 1)."""
    if slot.init == "count":
        return torch.tensor(0, dtype=torch.long)
    if gen is None:   # sizing only
        return torch.ones(slot.shape, dtype=dtype)
    u = torch.rand(slot.shape, generator=gen, dtype=dtype)
    if slot.init == "fan_in":
        return (2 * u - 1) / math.sqrt(fan_in)
    if slot.init in ("gamma", "var"):
        return 0.5 + u
    return 0.4 * u - 0.2   # beta, mean
