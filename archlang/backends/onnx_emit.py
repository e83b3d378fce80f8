"""A checked graph's ONNX nodes, written straight from the IR by the op table.

`lower(graph, opset, batch)` walks the graph in order and lets each layer's
op write its nodes (`OpSpec.onnx`, in ops.py) through `Layer`, the small
interface defined here. Nothing is traced and nothing runs: the result is
the list of nodes, the parameters they read (declared by state_dict key,
shape and PyTorch's initialisation, not yet filled), the constants and the
graph's inputs and outputs. Weights come later (`onnx_weights`), so a layer
that cannot be exported as asked (an opset without its operator, a size
that must be a number) is reported first, every such layer at once, located
in the spec (E601), before any file is read or written.

Names follow the spec: the node that computes a layer's output is named
after the layer (`layer1.0.conv1`), and so is its output tensor; the other
nodes of a layer that needs several are `layer/OpType`; parameters are the
state_dict's keys (`layer1.0.conv1.weight`), constants `layer.role`; graph
inputs and outputs carry the spec's port names.

Torch-free; imports onnx for its node records and operator schemas.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper

from .. import ops
from ..diagnostics import Diagnostic, SpecError
from ..ir import Graph, Node
from .module_plan import module_paths, plan

BATCH_DIM = "batch"
SOURCE_KEY = "archlang.source"       # node metadata: the spec location of the layer
MIN_OPSET = 13                       # Softmax over one axis, Resize without roi: the lowerings assume 13+


@dataclass(frozen=True)
class Param:
    """One state_dict entry a layer declares: what the weights must provide."""

    key: str                         # "layer1.0.conv1.weight"
    shape: tuple[int, ...]           # in the state_dict
    init: ops.Init
    layer: str                       # the layer's name, for messages
    view: tuple[int, ...] | None = None   # its shape in the file, where it differs (the same numbers)


@dataclass(frozen=True)
class Constant:
    values: np.ndarray
    dtype: str                       # "compute" (the model's float type), "float32", "int64"


@dataclass
class Lowered:
    """A graph's ONNX nodes before weights: what `onnx_model.assemble` completes."""

    graph: Graph
    opset: int
    nodes: list[onnx.NodeProto]
    params: dict[str, Param]                         # every state_dict entry, in state_dict order
    constants: dict[str, Constant]
    inputs: list[tuple[str, list]]                   # (name, dims with the batch first)
    outputs: list[tuple[str, list]]
    layer_of: dict[str, Node] = field(default_factory=dict)   # ONNX node name -> the IR node it comes from


class Refusal(Exception):
    """A layer that cannot be lowered as asked; the message says why."""

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.help = help


class Names:
    """Tensor names of one graph: each given once."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, wanted: str) -> str:
        name, n = wanted, 2
        while name in self.used:
            name, n = f"{wanted}_{n}", n + 1
        self.used.add(name)
        return name


class Layer:
    """What an op's `onnx` function is given: one layer, and the means to write its nodes.

    See the "ONNX lowerings" section of ops.py for the contract.
    """

    def __init__(self, lowering: "_Lowering", node: Node, inputs: list[str]) -> None:
        graph = lowering.graph
        self.name = node.name
        self.inputs = inputs
        self.shapes = [graph.nodes[i].shape for i in node.inputs]
        self.out = node.shape
        self.args = node.args
        self.opset = lowering.opset
        self.nodes: list[onnx.NodeProto] = []
        self._node = node
        self._lowering = lowering
        self._module = lowering.paths.get(node.id, node.name)
        self._aux: dict[str, int] = {}

    def node(self, op_type: str, inputs: list[str], **attributes: Any) -> str:
        """One ONNX node of this layer; returns its output tensor."""
        self._lowering.check_operator(op_type)
        count = self._aux[op_type] = self._aux.get(op_type, 0) + 1
        name = f"{self.name}/{op_type}" + (f"_{count}" if count > 1 else "")
        output = self._lowering.names.take(name)
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], name=name, **attributes))
        return output

    def param(self, key: str | None, shape, init: ops.Init, view=None) -> str:
        """The tensor of this layer's state_dict entry `key`; `view` reshapes it in the file.
        key None: the layer is itself a parameter (`parameter`), whose key is its path."""
        full = self._module if key is None else f"{self._module}.{key}"
        if full in self._lowering.params:
            raise ValueError(f"parameter {full} declared twice")
        shape = tuple(int(d) for d in shape)
        if view is not None and math.prod(view) != math.prod(shape):
            raise ValueError(f"{full}: a view {tuple(view)} of {shape} must keep its size")
        self._lowering.params[full] = Param(full, shape, init, self.name, tuple(view) if view else None)
        self._lowering.declared_by.setdefault(self._module, []).append(full)
        self._lowering.names.used.add(full)
        return full

    def constant(self, role: str, values, shape=None, dtype: str = "compute") -> str:
        """A constant tensor: a number, or a flat list of `shape` (1-D when shape is None)."""
        array = np.asarray(values, dtype=np.int64 if dtype == "int64" else np.float64)
        if shape is not None:
            array = array.reshape(shape)
        name = self._lowering.names.take(f"{self.name}.{role}")
        self._lowering.constants[name] = Constant(array, dtype)
        return name

    def refuse(self, reason: str, help: str | None = None) -> None:
        raise Refusal(reason, help)


def lower(graph: Graph, opset: int, batch: int | None = None) -> Lowered:
    """The graph's nodes; SpecError (E601, located) for every layer that cannot be lowered."""
    return _Lowering(graph, opset, batch).run()


def exported_outputs(graph: Graph) -> list:
    """The outputs of eval mode, which the export is of: those `if training` are left out."""
    return [p for p in graph.outputs if not p.training]


def output_name(port) -> str:
    """An output's ONNX name: its key where the network returns a dict (`out`, `aux`), else its name."""
    return port.key or port.name


class _Lowering:
    def __init__(self, graph: Graph, opset: int, batch: int | None) -> None:
        self.graph = graph
        self.opset = opset
        self.batch = batch
        self.paths = module_paths(plan(graph))
        self.names = Names()
        self.params: dict[str, Param] = {}
        self.declared_by: dict[str, list[str]] = {}       # module path -> the state_dict keys it declared
        self.constants: dict[str, Constant] = {}
        self.nodes: list[onnx.NodeProto] = []
        self.layer_of: dict[str, Node] = {}
        self.values: dict[int, str] = {}                  # IR node id -> the tensor holding its value

    def run(self) -> Lowered:
        g = self.graph
        for port in g.inputs:
            self.values[port.node] = self.names.take(port.name)
        out_port = {}                                     # a node that is an output: its first port's name
        for port in exported_outputs(g):
            out_port.setdefault(port.node, output_name(port))
            self.names.used.add(output_name(port))
        problems = []
        for node in g.nodes:
            if node.op == "input":   # layers only outputs `if training` read are lowered (their
                continue             # weights are the state_dict's) and left out by `_needed`
            try:
                self._lower_layer(node, out_port.get(node.id))
            except Refusal as refusal:
                problems.append(_diagnostic(node, str(refusal), refusal.help))
                self.values[node.id] = node.name      # so that the layers after it are checked too
        if problems:
            raise SpecError(problems)
        self._in_state_dict_order()
        outputs = self._outputs()
        inputs = [(p.name, self._dims(g.nodes[p.node].shape)) for p in g.inputs]
        nodes = _needed(self.nodes, {name for name, _ in outputs})
        return Lowered(g, self.opset, nodes, self.params, self.constants, inputs, outputs, self.layer_of)

    def _lower_layer(self, node: Node, port: str | None) -> None:
        spec = ops.OPS[node.op]
        if spec.onnx is None:
            raise Refusal(f"the op table has no ONNX lowering for `{node.op}`")
        layer = Layer(self, node, [self.values[i] for i in node.inputs])
        result = spec.onnx(layer)
        final = next((n for n in layer.nodes if result in n.output), None)
        if final is not None:           # the node computing the layer's output carries the layer's name
            tensor = port if port is not None else self.names.take(node.name)
            self.names.used.discard(result)
            _rename_tensor(layer.nodes, result, tensor)
            final.name = node.name
            result = tensor
        location = node.span.location() if node.span is not None else None
        for n in layer.nodes:
            self.layer_of[n.name] = node
            if location is not None:
                n.metadata_props.add(key=SOURCE_KEY, value=location)
        self.nodes.extend(layer.nodes)
        self.values[node.id] = result

    def _in_state_dict_order(self) -> None:
        """Layers declare their entries as the graph runs; nn.Module lists a module's own parameters
        (`parameter`) before its layers', which is the order of the module plan's paths."""
        rank = {path: i for i, path in enumerate(self.paths.values())}
        module = {key: layer_path for layer_path, keys in self.declared_by.items() for key in keys}
        self.params = dict(sorted(self.params.items(), key=lambda item: rank.get(module[item[0]], -1)))

    def _outputs(self) -> list[tuple[str, list]]:
        """The graph outputs; an Identity where a port's value has another name (an input, a
        value that is two outputs, a layer that passes its input through)."""
        out = []
        for port in exported_outputs(self.graph):
            value, name = self.values[port.node], output_name(port)
            if value != name:
                self.nodes.append(helper.make_node("Identity", [value], [name], name=name))
            out.append((name, self._dims(self.graph.nodes[port.node].shape)))
        return out

    def _dims(self, shape) -> list:
        batch: Any = self.batch if self.batch is not None else BATCH_DIM
        return [batch, *(d if isinstance(d, int) else str(d) for d in shape)]

    def check_operator(self, op_type: str) -> None:
        if not _available(op_type, self.opset):
            first = _first_opset(op_type)
            if first is None:
                raise Refusal(f"ONNX has no {op_type} operator")
            raise Refusal(f"needs ONNX opset {first} or later (its {op_type} operator); "
                          f"the export asks for opset {self.opset}", help=f"export with --opset {first} or later")


def _diagnostic(node: Node, reason: str, help: str | None) -> Diagnostic:
    return Diagnostic("E601", f"{node.op} cannot be exported to ONNX: {reason}", node.span,
                      label=f"layer {node.name}", help=help, call_stack=node.scope.frames())


def _rename_tensor(nodes: list[onnx.NodeProto], old: str, new: str) -> None:
    for n in nodes:
        for field_ in (n.input, n.output):
            for i, name in enumerate(field_):
                if name == old:
                    field_[i] = new


def _needed(nodes: list[onnx.NodeProto], outputs: set[str]) -> list[onnx.NodeProto]:
    """The nodes the outputs depend on, in order (a layer nobody reads computes nothing here)."""
    wanted = set(outputs)
    kept = []
    for n in reversed(nodes):
        if any(o in wanted for o in n.output):
            kept.append(n)
            wanted.update(i for i in n.input if i)
    return kept[::-1]


@functools.cache
def _available(op_type: str, opset: int) -> bool:
    try:
        onnx.defs.get_schema(op_type, opset, "")
    except onnx.defs.SchemaError:
        return False
    return True


@functools.cache
def _first_opset(op_type: str) -> int | None:
    newest = onnx.defs.onnx_opset_version()
    return next((v for v in range(1, newest + 1) if _available(op_type, v)), None)
