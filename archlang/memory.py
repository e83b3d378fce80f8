"""Training memory: what one step of training holds, per layer and in all, without torch.

`estimate(graph, batch, optimizer, dtype)` adds up

- params, grads and the optimizer's state (fp32, as mixed precision keeps them);
- the activations autograd saves for the backward pass: each layer's `OpSpec.saves`
  (a conv keeps its input, sigmoid its output, maxpool its input and int64
  indices, dropout a mask...), counted once per storage: a tensor that several
  layers keep (a block's input read by two convs, a ReLU's output kept by the
  ReLU and the conv after it, a flatten that is a view of its input) counts once;
- a peak: the step walked as PyTorch runs it (the saved activations are freed
  layer by layer in the backward pass while gradients are allocated), then the
  optimizer's step with its temporaries.

Mixed precision (`dtype` "bf16" or "fp16") is torch.autocast's: layers the op
table marks `autocast="lower"` (conv, linear) run in 16 bits on a 16-bit copy of a
32-bit input and of their weights (both kept for backward), those marked "fp32" on
a 32-bit copy; the others in the type their input has.

The saved storages are checked against `torch.autograd.graph.saved_tensors_hooks`
on the compiled module (tests/test_memory.py); the peak against
`torch.cuda.max_memory_allocated` by bench/memory.py where a GPU is available.
With symbolic input sizes everything is counted at the smallest valid input.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import ops, passes
from .ir import Graph, Node
from .shapes import evaluate_shape, is_concrete, numel

# Moment buffers per parameter: SGD with momentum keeps one, Adam and AdamW two.
OPTIMIZER_STATES = {"sgd": 0, "sgd-momentum": 1, "adam": 2, "adamw": 2}
# Parameter-sized temporaries of the optimizer's step (PyTorch's foreach kernels):
# Adam's and AdamW's square root of the second moment.
OPTIMIZER_TEMPORARIES = {"sgd": 0, "sgd-momentum": 0, "adam": 1, "adamw": 1}
DTYPES = {"fp32": 4, "bf16": 2, "fp16": 2}
DEVICES = ("cuda", "cpu")
FP32 = 4


class Size(NamedTuple):
    """Bytes that may grow with the batch: `fixed + per_sample * batch`."""

    fixed: int = 0
    per_sample: int = 0

    def __add__(self, other: "Size") -> "Size":  # type: ignore[override]
        return Size(self.fixed + other.fixed, self.per_sample + other.per_sample)

    def __sub__(self, other: "Size") -> "Size":
        return Size(self.fixed - other.fixed, self.per_sample - other.per_sample)

    def at(self, batch: int) -> int:
        return self.fixed + self.per_sample * batch


NOTHING = Size()


@dataclass(frozen=True)
class Estimate:
    """Bytes of one training step at `batch`.

    `per_node`: node id -> bytes of the storages it is the first to keep for backward.
    `moments`: what is held at each moment of the step, as a `Size` (the forward's
    end, each layer's backward, the optimizer's step): the peak at any batch is the
    largest of them, which tells the largest batch a budget allows.
    """

    batch: int
    optimizer: str
    dtype: str
    device: str
    params: int
    grads: int
    optimizer_state: int
    activations_saved: int
    per_node: dict[int, int] = field(repr=False)
    moments: tuple[Size, ...] = field(repr=False)
    incomplete: bool = False         # some layer's shape is unknown: left out

    @property
    def total(self) -> int:
        """Parameters, gradients, optimizer state and saved activations added up (they are
        never all held at once: gradients come as the saved activations go)."""
        return self.params + self.grads + self.optimizer_state + self.activations_saved

    def peak_at(self, batch: int) -> int:
        return max(m.at(batch) for m in self.moments)

    @property
    def peak_estimate(self) -> int:
        return self.peak_at(self.batch)

    def fits(self, budget: int) -> bool:
        return self.peak_estimate <= budget

    def largest_batch(self, budget: int) -> int:
        """The largest batch whose peak stays within `budget`; 0 if not even one sample."""
        if any(m.at(1) > budget for m in self.moments):
            return 0
        return min((budget - m.fixed) // m.per_sample for m in self.moments if m.per_sample > 0)

    def to_json(self, budget: int | None = None) -> dict:
        out: dict[str, Any] = {
            "settings": {"batch": self.batch, "optimizer": self.optimizer, "dtype": self.dtype,
                         "device": self.device},
            "params": self.params, "grads": self.grads, "optimizer": self.optimizer_state,
            "activations_saved": self.activations_saved, "peak_estimate": self.peak_estimate,
            "total": self.total,
        }
        if budget is not None:
            out.update(budget=budget, fits=self.fits(budget), largest_batch=self.largest_batch(budget))
        return out


# -- storages ---------------------------------------------------------------------------

@dataclass
class _Storage:
    """One block of memory autograd may keep: its size and who keeps it."""

    size: Size
    keepers: list[int] = field(default_factory=list)   # node ids whose backward reads it


class _Model:
    """The storages of one forward pass in training (sizes as `Size`s: any batch)."""

    def __init__(self, graph: Graph, dtype: str, device: str) -> None:
        self.graph = graph
        self.low = DTYPES[dtype]            # bytes of a 16-bit (or, in fp32, 32-bit) activation
        self.mixed = dtype != "fp32"
        self.device = device
        env = passes.smallest_env(graph)
        self.shapes = {n.id: _concrete(n.shape, env) for n in graph.nodes}
        self.root: dict[int, int] = {}       # node id -> the node whose storage its output is
        self.width: dict[int, int] = {}      # node id -> bytes per element of its output
        self.storages: dict[tuple, _Storage] = {}
        self.copies: dict[int, int] = {}     # node id -> bytes of its 16-bit weight copy (mixed precision)
        self.incomplete = False

    def run(self) -> "_Model":
        for node in self.graph.nodes:
            self.root[node.id], self.width[node.id] = node.id, FP32
            if any(self.shapes.get(i) is None for i in node.inputs) or self.shapes[node.id] is None:
                self.incomplete = self.incomplete or node.op != "input"
            elif node.op != "input":
                self._layer(node)
        return self

    def _layer(self, node: Node) -> None:
        spec = ops.OPS[node.op]
        ins = [self.shapes[i] for i in node.inputs]
        out = self.shapes[node.id]
        width = self._run_width(spec, node)
        if spec.output_is_input is not None and spec.output_is_input(ins, node.args):
            self.root[node.id], self.width[node.id] = self.root[node.inputs[0]], self.width[node.inputs[0]]
        else:
            self.width[node.id] = width
        for k, item in enumerate(spec.saves(ins, out, node.args)):
            self._keep(node, k, item, ins, out, width)
        if self.mixed and spec.autocast == "lower":
            self.copies[node.id] = self.low * _weight_elements(node)

    def _run_width(self, spec: ops.OpSpec, node: Node) -> int:
        """Bytes per element of what the layer computes in."""
        if not self.mixed:
            return FP32
        if spec.autocast == "lower":
            return self.low
        if spec.autocast == "fp32":
            return FP32
        return max(self.width[i] for i in node.inputs)   # merges promote to the widest

    def _keep(self, node: Node, k: int, item: ops.Saved, ins: list, out: tuple, width: int) -> None:
        if item.source == "new":
            size = item.elements * self._item_width(item, width)
            self._add(("new", node.id, k), Size(0, size) if item.per_sample else Size(size, 0), node.id)
            return
        source = node.inputs[item.index] if item.source == "input" else node.id
        elements = numel(ins[item.index] if item.source == "input" else out)
        if item.source == "input" and self.width[source] != width:
            # autocast casts the input first; the cast copy is what backward keeps
            self._add(("cast", node.id, item.index), Size(0, elements * width), node.id)
            return
        if item.source == "input" and passes.is_parameter(self.graph.nodes[source]):
            return   # a parameter (layer_scale) is kept as the parameter it is: no activation
        # a view (flatten, chunk, crop) keeps its root's whole storage alive
        root = self.root[source]
        self._add(("tensor", root), Size(0, numel(self.shapes[root]) * self.width[root]), node.id)

    def _item_width(self, item: ops.Saved, width: int) -> int:
        if item.dtype == "activation":
            return width
        if item.dtype == "mask":
            return 1 if self.device == "cuda" else width   # bool on CUDA; CPU multiplies by a float mask
        return {"float32": FP32, "int64": 8}[item.dtype]

    def _add(self, key: tuple, size: Size, keeper: int) -> None:
        found = self.storages.get(key)
        if found is None:
            found = self.storages[key] = _Storage(size)
        found.keepers.append(keeper)

    # -- sums ---------------------------------------------------------------------------
    def saved(self) -> Size:
        return sum((s.size for s in self.storages.values()), NOTHING) + Size(sum(self.copies.values()), 0)

    def per_node(self, batch: int) -> dict[int, int]:
        out: dict[int, int] = dict(self.copies)
        for s in self.storages.values():
            first = min(s.keepers)
            out[first] = out.get(first, 0) + s.size.at(batch)
        return out

    def output(self, node_id: int) -> Size:
        shape = self.shapes.get(node_id)
        return NOTHING if shape is None else Size(0, numel(shape) * self.width.get(node_id, FP32))

    def backward(self) -> list[Size]:
        """What the backward pass holds at each step, besides parameters and optimizer state.

        Layers are undone in reverse order. Each needs the gradient of its output,
        makes the gradients of its inputs (kept until their makers are undone) and of
        its parameters (kept for the optimizer), then lets go of what it saved; a
        storage goes when its last keeper has let go.
        """
        remaining = {key: len(set(s.keepers)) for key, s in self.storages.items()}
        by_keeper: dict[int, list[tuple]] = {}
        for key, s in self.storages.items():
            for keeper in set(s.keepers):
                by_keeper.setdefault(keeper, []).append(key)
        live = self.saved()
        for port in self.graph.outputs:
            if ("tensor", self.root.get(port.node, port.node)) not in self.storages:
                live = live + self.output(port.node)
        grads: dict[int, Size] = {p.node: self.output(p.node) for p in self.graph.outputs}
        param_grads = 0
        moments = [live + _sum(grads.values())]
        for node in reversed(self.graph.nodes):
            if node.op == "input" or node.id not in grads:
                continue
            for src in dict.fromkeys(node.inputs):
                if self.graph.nodes[src].op != "input" and src not in grads:
                    grads[src] = self.output(src)
            param_grads += FP32 * node.trainable_params
            moments.append(live + _sum(grads.values()) + Size(param_grads, 0))
            grads.pop(node.id)
            for key in by_keeper.get(node.id, []):
                remaining[key] -= 1
                if remaining[key] == 0:
                    live = live - self.storages[key].size
        return moments


def _sum(sizes) -> Size:
    return sum(sizes, NOTHING)


def _weight_elements(node: Node) -> int:
    """The parameters of a layer less its bias (the tensors autocast casts to 16 bits)."""
    bias = node.args.get("out", 0) if node.args.get("bias") else 0
    return max(0, node.params - bias)


def _concrete(shape, env):
    if not isinstance(shape, tuple):
        return None
    if is_concrete(shape):
        return shape
    return None if env is None else tuple(evaluate_shape(shape, env))


def estimate(graph: Graph, batch: int = 1, optimizer: str = "sgd", dtype: str = "fp32",
             device: str = "cuda") -> Estimate:
    """The memory of one training step of `graph` at `batch` (see the module's doc)."""
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(OPTIMIZER_STATES)}")
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
    if batch < 1:
        raise ValueError("the batch must be at least 1")
    params = FP32 * graph.params_total
    trainable = FP32 * graph.trainable_params_total
    state = OPTIMIZER_STATES[optimizer] * trainable
    model = _Model(graph, dtype, device).run()
    held = Size(params + state, 0)
    step = Size(params + trainable + state + OPTIMIZER_TEMPORARIES[optimizer] * trainable, 0)
    moments = tuple(held + m for m in model.backward()) + (step,)
    return Estimate(batch, optimizer, dtype, device, params, trainable, state, model.saved().at(batch),
                    model.per_node(batch), moments, model.incomplete)


# -- budgets ---------------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
          "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_bytes(text: str) -> int:
    """`24GB` (decimal, 24e9), `24GiB` (binary), `512MB`, `1.5TB` -> bytes; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"expected a size such as 24GB, 24GiB or 512MB, got {text!r}")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if value < 1:
        raise ValueError(f"a budget must be at least one byte, got {text!r}")
    return int(value)
