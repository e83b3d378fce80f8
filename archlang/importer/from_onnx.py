"""An ONNX file as an `ImportedGraph`, and its weights by state_dict key.

Each node is read through the op table's own ONNX lowerings
(`onnx_reverse`): the op whose lowering is one node of that type, its
arguments from the attributes and from the shapes of the weights it reads
(a Conv's output channels are its weight's first size), then lowered again
and compared, so that whatever archlang cannot express is an E701 naming the
node and the attribute. The nodes that are no layer are read here: `Add`,
`Mul` and `Concat` of tensors are the merges, `Add`/`Sub`/`Mul`/`Div` by a
number `scale_shift`, `Reshape` to [N, -1] `flatten`, `ReduceMean` over the
spatial axes `gap`, `Identity` and `Dropout` nothing.

Names: a layer's weights name its module when they are a state_dict's keys
(`layer1.0.conv1.weight`, as torch.onnx.export keeps them), else the node's
name says it (`/layer1/layer1.0/conv1/Conv`); the node names' `/` parts are
the scopes that `structure` turns into blocks. Torch-free.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from .. import ops
from ..diagnostics import Diagnostic
from . import onnx_reverse, reverse
from .errors import ImportFailure, cannot_import, failure
from .graph import MERGES, ImportedGraph, Origin, Scope

LABEL_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
# ONNX's defaults of the attributes an op's lowering may leave out.
ATTRIBUTE_DEFAULTS: dict[str, dict[str, Any]] = {
    "Conv": {"auto_pad": "NOTSET", "group": 1},
    "MaxPool": {"auto_pad": "NOTSET", "ceil_mode": 0, "storage_order": 0},
    "AveragePool": {"auto_pad": "NOTSET", "ceil_mode": 0, "count_include_pad": 0},
    "Gemm": {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0},
    "BatchNormalization": {"training_mode": 0},
    "Flatten": {"axis": 1},
    "Softmax": {"axis": -1},
    "LeakyRelu": {"alpha": 0.01},
    "Elu": {"alpha": 1.0},
    "HardSigmoid": {"alpha": 0.2, "beta": 0.5},
    "Gelu": {"approximate": "none"},
}
PASS_THROUGH = ("Identity", "Dropout")


class NotRead(Exception):
    """A node no op of the table expresses."""

    def __init__(self, reason: str, needed: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.needed = needed


def read_file(path: str | Path, shape: tuple[int, ...] | None, name: str) -> tuple[ImportedGraph, dict[str, np.ndarray]]:
    """The graph of an ONNX file and its weights (state_dict key -> array). Raises ImportFailure."""
    model = _load(Path(path))
    return _Reader(model.graph, shape, name).read()


def _load(path: Path):
    import onnx
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - protobuf and the checker fail in many ways on a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise failure(f"{path} is no valid ONNX model: {first}",
                      help="export the model again; archlang reads files that onnx.checker accepts") from None
    return model


class _Reader:
    def __init__(self, graph, shape: tuple[int, ...] | None, name: str) -> None:
        from onnx import numpy_helper
        self.onnx_graph = graph
        self.constants: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.initializers = set(self.constants)
        self.to_array = numpy_helper.to_array
        self.shape = shape
        self.graph = ImportedGraph(name)
        self.ids: dict[str, int] = {}                  # ONNX tensor name -> call id
        self.weights: dict[str, np.ndarray] = {}
        self.problems: list[Diagnostic] = []
        self.automatic: dict[str, int] = {}
        self.failed: set[str] = set()                  # tensors of nodes that could not be read

    def read(self) -> tuple[ImportedGraph, dict[str, np.ndarray]]:
        self._input()
        for node in self.onnx_graph.node:
            if any(i in self.failed for i in node.input):
                self.failed.update(node.output)          # reported where it started
                continue
            try:
                self._node(node)
            except NotRead as exc:
                self.failed.update(node.output)
                origin = Origin(node.name, f"ONNX {node.op_type}")
                self.problems.append(cannot_import(origin, exc.reason, exc.needed))
        if not self.problems:
            self._output()
        if self.problems:
            raise ImportFailure(self.problems)
        _modules_that_are_scopes(self.graph)
        _classes(self.onnx_graph, self.graph)
        return self.graph, self.weights

    # -- the ends ---------------------------------------------------------------------------
    def _input(self) -> None:
        inputs = [i for i in self.onnx_graph.input if i.name not in self.constants]
        if len(inputs) != 1:
            raise failure(f"the model has {len(inputs)} inputs; archlang imports models of one input tensor")
        (x,) = inputs
        dims = [d.dim_value if d.HasField("dim_value") else None for d in x.type.tensor_type.shape.dim]
        shape = self.shape
        if shape is None:
            if len(dims) < 2 or any(d is None for d in dims[1:]):
                raise failure(f"the input {x.name} has sizes that are not numbers ({dims}), and no --input gave them",
                              help="give the input's shape without the batch with --input CxHxW")
            shape = tuple(dims[1:])
        self.ids[x.name] = self.graph.add("input", {}, [], shape, (), Origin("", "the input")).id

    def _output(self) -> None:
        outputs = list(self.onnx_graph.output)
        if len(outputs) != 1 or outputs[0].name not in self.ids:
            raise failure(f"the model has {len(outputs)} outputs; archlang imports models of one output tensor")
        self.graph.output = self.ids[outputs[0].name]

    # -- one node ---------------------------------------------------------------------------
    def _node(self, node) -> None:
        kind = node.op_type
        attrs = {a.name: _attribute(a, self.to_array) for a in node.attribute}
        if kind == "Constant":               # value, value_int, value_floats, ...: its one attribute
            self.constants[node.output[0]] = np.asarray(next(iter(attrs.values())))
            return
        if kind == "CastLike" and node.input[0] in self.constants:   # a constant cast like the data
            self.constants[node.output[0]] = self.constants[node.input[0]].astype(np.float32)
            return
        if len(node.output) != 1 and kind not in PASS_THROUGH:
            raise NotRead(f"{kind} with {len(node.output)} outputs", needed="a layer of several outputs")
        out = node.output[0]
        if kind in PASS_THROUGH:
            source = node.input[0]
            if source in self.constants:
                self.constants[out] = self.constants[source]
                if source in self.initializers:      # torch's exporter shares equal weights this way
                    self.initializers.add(out)
            else:
                self.ids[out] = self._tensor(source)
            return
        if kind == "Shape" and node.input[0] in self.ids:   # sizes, for a Reshape to compute with
            shape = np.array([1, *self.shape_of(node.input[0])], dtype=np.int64)
            self.constants[out] = shape[attrs.get("start", 0):attrs.get("end", len(shape))]
            return
        if all(i in self.constants for i in node.input if i):
            self.constants[out] = _folded(node, [self.constants[i] if i else None for i in node.input])
            return
        handler = NODES.get(kind)
        self.ids[out] = handler(self, node, attrs) if handler else self._layer(node, attrs)

    def _tensor(self, name: str) -> int:
        if name not in self.ids:
            raise NotRead(f"the tensor {name} is no result archlang knows")
        return self.ids[name]

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.graph.calls[self._tensor(name)].shape

    def add(self, node, op: str, args: dict, inputs: list[str], module: tuple[str, ...] | None = None,
            state: tuple[str, ...] = ()) -> int:
        shapes = [self.shape_of(i) for i in inputs]
        full = reverse.with_defaults(op, args)
        try:
            out, _ = ops.infer(op, shapes, full)
        except ops.ShapeFailure as exc:
            raise NotRead(f"archlang's {op} refuses {' and '.join(str(list(s)) for s in shapes)}: {exc.message}") \
                from None
        scopes = _scopes(_node_path(node), module, op not in MERGES and op != "flatten")
        call = self.graph.add(op, reverse.nondefault(op, args), [self._tensor(i) for i in inputs], tuple(out),
                              scopes[0], Origin(node.name, f"ONNX {node.op_type}"), scopes[1] if module is None else module,
                              state)
        return call.id

    # -- layers, through the op table's lowerings -------------------------------------------
    def _layer(self, node, attrs: dict) -> int:
        x = node.input[0]
        if x in self.constants or x not in self.ids:
            raise NotRead(f"{node.op_type} of a constant", needed="a layer whose first input is the data")
        shape = self.shape_of(x)
        found = onnx_reverse.readings(node.op_type, len(shape)) if len(shape) in reverse.SAMPLE_SHAPES else ()
        if not found:
            raise NotRead(f"archlang has no op written as ONNX's {node.op_type}",
                          needed=f"an op whose ONNX lowering is {node.op_type}")
        problems = []
        for reading in found:
            try:
                args = self._arguments(reading, node, attrs, shape)
            except NotRead as exc:
                problems.append(exc.reason)
                continue
            compared = dict(attrs)
            compared.pop("momentum", None) if node.op_type == "BatchNormalization" else None   # read above
            for key in ("dilations", "strides"):     # ONNX's default: 1 on every axis
                if key in compared and all(v == 1 for v in compared[key]):
                    ours = onnx_reverse.lowered(reading.op, shape, args)
                    if ours is not None and key in ours.nodes[0][2]:
                        compared[key] = ours.nodes[0][2][key]
                    else:
                        del compared[key]
            if args.get("ceil"):            # archlang writes ceil_mode as end padding on known sizes
                compared.pop("ceil_mode")
                diffs = onnx_reverse.differences(reading.op, shape, dict(args, ceil=False), node.op_type, compared,
                                                 ATTRIBUTE_DEFAULTS.get(node.op_type, {}))
            else:
                diffs = onnx_reverse.differences(reading.op, shape, args, node.op_type, compared,
                                                 ATTRIBUTE_DEFAULTS.get(node.op_type, {}))
            if diffs:
                problems.append(f"{ops.format_call(reading.op, args)} differs: {'; '.join(diffs)}")
                continue
            return self._layer_call(node, reading.op, args, shape)
        raise NotRead(f"{node.op_type} is no op archlang has: " + "; ".join(problems),
                      needed="arguments of " + " or ".join(r.op for r in found) + " for these attributes")

    def _arguments(self, reading: onnx_reverse.Reading, node, attrs: dict, shape: tuple[int, ...]) -> dict:
        """The op's arguments: from attributes, from the weights' sizes and presence."""
        spec = ops.OPS[reading.op]
        by_attribute = dict(reading.keywords)
        args: dict[str, Any] = {}
        sample_shape = reverse.SAMPLE_SHAPES[len(shape)]       # which weight size an argument is: any shape says
        base = onnx_reverse.lowered(reading.op, sample_shape, {a.name: reverse.sample(a)[0] for a in spec.args})
        for arg in spec.args:
            attribute = by_attribute.get(arg.name)
            if attribute is not None and attribute in attrs:
                args[arg.name] = _argument(arg, attribute, attrs[attribute])
            elif attribute is None:
                value = self._from_weights(reading.op, arg, node, sample_shape, base)
                if value is not None:
                    args[arg.name] = value
        if node.op_type == "BatchNormalization" and "momentum" in attrs:   # ONNX's is 1 - PyTorch's
            args["momentum"] = float(f"{1.0 - attrs['momentum']:.7g}")   # 0.9 (as float32 spells it) -> 0.1
        if spec.arg("s") is not None and spec.arg("s").default is None and args.get("s") == args.get("k"):
            args["s"] = None
        for arg in spec.args:
            if arg.required and arg.name not in args:
                raise NotRead(f"{reading.op}'s {arg.name} cannot be read from {node.op_type}")
        return args

    def _from_weights(self, op: str, arg: ops.Arg, node, shape, base: onnx_reverse.Probe | None) -> Any:
        """An argument the lowering writes as a weight's size (conv's out) or presence (bias)."""
        if base is None:
            return None
        spec = ops.OPS[op]
        changed = onnx_reverse.lowered(op, shape, {a.name: reverse.sample(a)[1 if a is arg else 0] for a in spec.args})
        if changed is None:
            return None
        inputs = base.nodes[0][1] if base.nodes else []
        if set(changed.params) != set(base.params) and arg.kind == "bool":
            appeared = [k for k in set(base.params) ^ set(changed.params)]
            both = base.params if appeared[0] in base.params else changed.params
            position = (base.nodes[0][1] if appeared[0] in base.params else changed.nodes[0][1]).index(appeared[0])
            present = len(node.input) > position and bool(node.input[position]) \
                and not self._filler(node.input[position])
            return present if both is base.params else not present
        for key, size in base.params.items():
            other = changed.params.get(key)
            if other is not None and other != size and key in inputs:
                moved = [d for d, (a, b) in enumerate(zip(size, other)) if a != b]
                position = inputs.index(key)
                if len(moved) == 1 and len(node.input) > position and node.input[position] in self.constants:
                    return int(self.constants[node.input[position]].shape[moved[0]])
        return None

    def _filler(self, name: str) -> bool:
        """Zeros the exporter computed (torch's dynamo exporter expands a conv's missing bias):
        no weight of the model, which stores its weights as initializers."""
        value = self.constants.get(name)
        return name not in self.initializers and value is not None and not np.any(value)

    def _layer_call(self, node, op: str, args: dict, shape: tuple[int, ...]) -> int:
        probe = onnx_reverse.lowered(op, shape, args)
        inputs = probe.nodes[0][1]
        state = tuple(probe.params)
        module = self._module_of(node, op, inputs, state) if state else None
        for position, key in enumerate(inputs):
            if key in probe.params:
                if position >= len(node.input) or node.input[position] not in self.constants:
                    raise NotRead(f"{node.op_type}'s input {position} is computed, not a weight",
                                  needed="weights stored in the file")
                self.weights[".".join((*module, key))] = np.asarray(self.constants[node.input[position]])
        for key in state:
            if key not in inputs:                      # buffers the lowering does not read (num_batches_tracked)
                self.weights[".".join((*module, key))] = np.zeros(probe.params[key], dtype=np.int64)
        return self.add(node, op, args, [node.input[0]], module, state)

    def _module_of(self, node, op: str, inputs: list[str], state: tuple[str, ...]) -> tuple[str, ...]:
        """The layer's module path: its weights' common prefix when they are named `PATH.KEY`,
        else the node's name, else a name of its own (`conv3`)."""
        prefixes = set()
        for position, key in enumerate(inputs):
            if key in state and position < len(node.input):
                name = node.input[position]
                prefixes.add(name[:-len(key) - 1] if name.endswith("." + key) else None)
        if len(prefixes) == 1 and None not in prefixes:
            path = tuple(prefixes.pop().split("."))
            if all(LABEL_PART.fullmatch(p) for p in path):
                return path
        segments = _segments(_node_path(node))
        if segments and all(LABEL_PART.fullmatch(p) for p in segments[-1]):
            return segments[-1]
        self.automatic[op] = self.automatic.get(op, 0) + 1
        return (f"{op}{self.automatic[op]}",)


def _folded(node, values: list) -> np.ndarray:
    """A node of constants, computed once (onnx's reference evaluator): the shape arithmetic
    torch's exporter writes without constant folding."""
    from onnx.reference import ReferenceEvaluator
    try:
        (value,) = ReferenceEvaluator(node).run(None, {n: v for n, v in zip(node.input, values) if n})
    except Exception as exc:  # noqa: BLE001 - the evaluator refuses in many ways
        raise NotRead(f"{node.op_type} of constants cannot be computed: {exc}") from None
    return np.asarray(value)


# --------------------------------------------------------------------------- what is no layer

def _arith(kind: str):
    def read(reader: _Reader, node, attrs: dict) -> int:
        a, b = node.input[0], node.input[1]
        if a not in reader.constants and b not in reader.constants:
            if kind not in ("add", "mul"):
                raise NotRead(f"{node.op_type} of two tensors", needed=f"a {kind} merge")
            return reader.add(node, kind, {}, [a, b])
        tensor, number = (a, b) if b in reader.constants else (b, a)
        value = reader.constants[number]
        if value.size != 1:
            raise NotRead(f"{node.op_type} by a tensor of shape {list(value.shape)}",
                          needed="a layer holding that tensor")
        first = number == a                  # `number op x` rather than `x op number`
        number = float(value.reshape(()))
        args = reverse.scale_shift_args(kind, number, first)
        if args is None:
            raise NotRead(reverse.arithmetic_refused(kind, number, first), needed="an op for it in the op table")
        return reader.add(node, "scale_shift", args, [tensor])
    return read



def _concat(reader: _Reader, node, attrs: dict) -> int:
    rank = len(reader.shape_of(node.input[0])) + 1
    if attrs.get("axis", None) is None or attrs["axis"] % rank != 1:
        raise NotRead(f"Concat along axis {attrs.get('axis')}", needed="a concat along another axis than the channels")
    if len(node.input) == 1:
        return reader._tensor(node.input[0])
    return reader.add(node, "concat", {}, list(node.input))


def _reshape(reader: _Reader, node, attrs: dict) -> int:
    source, target = node.input[0], node.input[1]
    before = reader.shape_of(source)
    if target not in reader.constants:
        raise NotRead("a Reshape to a computed shape", needed="a reshape op")
    wanted = [int(v) for v in reader.constants[target].reshape(-1)]
    total = int(np.prod(before))
    if len(wanted) == 2 and wanted[1] in (-1, total) and wanted[0] in (-1, 0, 1):
        return reader.add(node, "flatten", {}, [source]) if len(before) > 1 else reader._tensor(source)
    if wanted[1:] == list(before) or (wanted[0] in (0, -1, 1) and wanted[1:] == list(before)):
        return reader._tensor(source)
    raise NotRead(f"a Reshape of {list(before)} to {wanted}", needed="a reshape op")


def _reduce_mean(reader: _Reader, node, attrs: dict) -> int:
    source = node.input[0]
    shape = reader.shape_of(source)
    rank = len(shape) + 1
    axes = attrs.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1] in reader.constants:
        axes = [int(v) for v in reader.constants[node.input[1]].reshape(-1)]
    if axes is None or sorted(a % rank for a in axes) != list(range(2, rank)) or rank < 3:
        raise NotRead(f"a ReduceMean over axes {axes} of a rank-{rank} tensor",
                      needed="a mean over other axes than all the spatial ones")
    pooled = reader.add(node, "gap", {}, [source])
    if attrs.get("keepdims", 1):
        return pooled
    reader.ids[f"{node.output[0]}:pooled"] = pooled
    return reader.add(node, "flatten", {}, [f"{node.output[0]}:pooled"])


NODES = {
    "Add": _arith("add"), "Mul": _arith("mul"), "Sub": _arith("sub"), "Div": _arith("div"),
    "Concat": _concat, "Reshape": _reshape, "ReduceMean": _reduce_mean,
}


# --------------------------------------------------------------------------- names and scopes

def _node_path(node) -> str:
    """The node's place as `/a/a.0/b/Op`: its name (torch's TorchScript exporter), or the
    module path torch's dynamo exporter keeps in the node's `namespace` metadata
    (`: ResNet/layer1: ...Sequential/layer1.0: ...BasicBlock/add: aten.add.Tensor`)."""
    parts = _namespace(node)
    return "/" + "/".join(p for p, _ in parts[1:]) if parts else node.name


def _namespace(node) -> list[tuple[str, str]]:
    """(module path, class name) of each part of a node's `namespace` metadata, the root first."""
    for prop in node.metadata_props:
        if prop.key == "namespace":
            return [(p.partition(":")[0].strip(), p.partition(":")[2].strip().rpartition(".")[2])
                    for p in prop.value.split("/")]
    return []


def _classes(onnx_graph, graph: ImportedGraph) -> None:
    """The module classes the dynamo exporter names: blocks are then named after them."""
    classes: dict[tuple[str, ...], str] = {}
    for node in onnx_graph.node:
        parts = _namespace(node)
        if parts:
            graph.root_class = graph.root_class or parts[0][1]
            for path, cls in parts[1:-1]:
                classes.setdefault(tuple(path.split(".")), cls)
    for call in graph.calls:
        call.scopes = tuple(Scope(s.path, classes.get(s.path, s.cls)) for s in call.scopes)


def _segments(name: str) -> list[tuple[str, ...]]:
    """The module paths a node's name gives, outermost first: `/layer1/layer1.0/conv1/Conv` ->
    (layer1), (layer1, 0), (layer1, 0, conv1). torch's exporter writes a child of a
    Sequential with its full path (`layer1.0`), other children by their own name."""
    if not name.startswith("/"):
        return []
    out: list[tuple[str, ...]] = []
    parent = ""
    for part in name.split("/")[1:-1]:
        full = part if parent and part.startswith(parent + ".") or not parent else f"{parent}.{part}"
        out.append(tuple(full.split(".")))
        parent = full
    return out


def _scopes(node_name: str, module: tuple[str, ...] | None, is_layer: bool):
    """(scopes, module) of a node: the instances whose forward made it, and, for a layer
    without weights named by its node, its module (the last part of the name)."""
    segments = _segments(node_name)
    if module is not None:
        prefixes = [module[:k] for k in range(1, len(module))]
        return tuple(Scope(p) for p in prefixes), None
    if is_layer and segments:
        if re.fullmatch(r".+_\d+", segments[-1][-1]):  # `relu_1`: the exporter counting a module's calls
            return tuple(Scope(p) for p in segments[:-1]), None
        return tuple(Scope(p) for p in segments[:-1]), segments[-1]
    return tuple(Scope(p) for p in segments), None


def _modules_that_are_scopes(graph: ImportedGraph) -> None:
    """A layer without weights named after a module that made other calls (F.relu in a block's
    forward, named by the block) is no module of its own: it is a call of that block."""
    scopes = {s.path for c in graph.calls for s in c.scopes}
    for call in graph.calls:
        if call.module is not None and not call.state and call.module in scopes:
            call.scopes = (*call.scopes, Scope(call.module))
            call.module = None


def _argument(arg: ops.Arg, attribute: str, value: Any) -> Any:
    """An attribute as an op's argument: pads [1, 1, 1, 1] -> 1; asymmetric pads are refused."""
    if attribute == "pads":
        half = len(value) // 2
        if list(value[:half]) != list(value[half:]):
            raise NotRead(f"asymmetric pads {list(value)}", needed="padding that differs at the two ends")
        value = value[:half]
    if isinstance(value, bytes):
        value = value.decode()
    return reverse.as_kind(arg.kind, value)


def _attribute(attribute, to_array) -> Any:
    from onnx import helper
    value = helper.get_attribute_value(attribute)
    if hasattr(value, "dims") and hasattr(value, "data_type"):
        return to_array(value)
    if isinstance(value, list):
        return [_float32(v) for v in value]
    return _float32(value)


def _float32(value: Any) -> Any:
    """ONNX keeps floats in 32 bits: 1e-05 comes back as 9.999999747378752e-06; its shortest
    float32 spelling is what the model's author wrote."""
    return float(str(np.float32(value))) if isinstance(value, float) else value
