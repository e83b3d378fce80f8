"""The ONNX model: lowered nodes plus weights, batch norms folded, float16, saved. Torch-free.

`assemble(lowered, state, fold_bn=, fp16=)` turns what `onnx_emit.lower`
wrote and the checked weights (`weights.fit`) into a ModelProto: the
parameters the nodes read become initializers named by their state_dict
keys, the graph is named after the network, and the model carries where it
comes from and, for symbolic sizes, the conditions on them (doc string and
metadata_props `archlang.*`).

Folding batch norm works on the ONNX nodes, by ONNX's semantics: a
BatchNormalization whose input is computed by a layer whose op absorbs batch
norm (`OpSpec.absorbs_bn`), written as a Conv, a ConvTranspose or a Gemm with
transB=1, is folded into it when nothing else reads that layer's output and
it is not a graph output (then the unnormalised value is needed, and folding
would change it). With s = scale / sqrt(var + eps) per output channel, the
weight's output channels are scaled by s and the bias becomes
(b - mean) * s + shift; a layer without bias gains one.

`check(assembled)` runs onnx.checker before anything is written;
`write(assembled, path)` writes the file, streaming the weights from numpy,
and for models past protobuf's 2 GB limit (or when asked) writes them as
ONNX external data in a second file beside it (`model.onnx.data`), named
relative to the model.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import ops
from ..ir import Graph
from .onnx_emit import Lowered

FLOAT16_MAX = float(np.finfo(np.float16).max)
EXTERNAL_DATA_ABOVE = 2**31 - 2**26       # bytes of weights: protobuf's 2 GiB limit, less room for the graph
EXTERNAL_MIN_TENSOR = 1024                # tensors smaller than this stay inside the model file
_ALIGN = 4096                             # external tensors start on page boundaries (mmap-friendly)


class ModelError(Exception):
    """Weights that cannot become this model (float16's range); the message says which."""


@dataclass
class Assembled:
    """A model whose weights are still numpy arrays: `write` streams them into the file."""

    model: onnx.ModelProto                # everything but the initializers' data
    initializers: dict[str, np.ndarray]   # name -> values, in the order the nodes read them
    folded: list[str]                     # the batch norms folded away, by layer name

    @property
    def weight_bytes(self) -> int:
        return sum(a.nbytes for a in self.initializers.values())

    def full_model(self) -> onnx.ModelProto:
        """The model with its initializers inside (a copy: for tests and small models)."""
        model = onnx.ModelProto()
        model.CopyFrom(self.model)
        model.graph.initializer.extend(numpy_helper.from_array(a, name) for name, a in self.initializers.items())
        return model


def assemble(lowered: Lowered, state: dict[str, np.ndarray], *, fold_bn: bool = False, fp16: bool = False,
             version: str = "0+unknown") -> Assembled:
    nodes = [_copy(n) for n in lowered.nodes]
    arrays: dict[str, np.ndarray] = {k: _viewed(v, lowered.params.get(k)) for k, v in state.items()}
    arrays.update({k: c.values for k, c in lowered.constants.items()})
    outputs = {name for name, _ in lowered.outputs}
    folded = _fold_batchnorms(nodes, arrays, outputs, lowered) if fold_bn else []
    compute = np.float16 if fp16 else np.float32
    used = {i for n in nodes for i in n.input if i}
    initializers = {name: _as_type(name, arrays[name], _dtype_of(name, lowered, compute))
                    for name in _in_order(nodes, used, arrays)}
    elem = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, lowered.graph.name,
        [helper.make_tensor_value_info(name, elem, dims) for name, dims in lowered.inputs],
        [helper.make_tensor_value_info(name, elem, dims) for name, dims in lowered.outputs])
    opset = helper.make_opsetid("", lowered.opset)
    model = helper.make_model(graph, opset_imports=[opset], producer_name="archlang", producer_version=version)
    # IR 10 carries node metadata (the spec location of each layer); onnxruntime 1.17 and later read it
    model.ir_version = max(10, helper.find_min_ir_version_for([opset]))
    _describe(model, lowered.graph, fp16)
    return Assembled(model, initializers, folded)


def check(assembled: Assembled) -> None:
    """onnx.checker's full check (with shape inference) of the model, before any byte is written.

    The weights' values are not the checker's business (they are checked
    finite and of the declared shapes when read): each initializer is
    presented to it as a graph input of its type and shape, so a model of any
    size is checked in memory. Raises onnx.checker.ValidationError or
    onnx.shape_inference.InferenceError.
    """
    skeleton = onnx.ModelProto()
    skeleton.CopyFrom(assembled.model)
    skeleton.graph.input.extend(
        helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
        for name, a in assembled.initializers.items())
    onnx.checker.check_model(skeleton, full_check=True)


def _viewed(array: np.ndarray, param) -> np.ndarray:
    return array.reshape(param.view) if param is not None and param.view is not None else array


def _copy(node: onnx.NodeProto) -> onnx.NodeProto:
    out = onnx.NodeProto()
    out.CopyFrom(node)
    return out


def _in_order(nodes, used: set[str], arrays: dict) -> list[str]:
    """Initializer names in the order the nodes read them."""
    seen: dict[str, None] = {}
    for n in nodes:
        for i in n.input:
            if i in arrays and i in used:
                seen.setdefault(i, None)
    return list(seen)


def _dtype_of(name: str, lowered: Lowered, compute) -> type:
    constant = lowered.constants.get(name)
    if constant is not None:
        return {"compute": compute, "float32": np.float32, "int64": np.int64}[constant.dtype]
    param = lowered.params.get(name)
    if param is not None and param.init.dtype == "int64":
        return np.int64
    return compute                                    # parameters, and biases that folding made


def _as_type(name: str, array: np.ndarray, dtype) -> np.ndarray:
    if dtype is np.float16 and array.dtype != np.float16:
        big = np.abs(array[np.isfinite(array)], dtype=np.float64).max(initial=0.0)
        if big > FLOAT16_MAX:
            raise ModelError(f"{name} holds {big:.4g}, beyond float16's largest value {FLOAT16_MAX:g}: "
                             f"--fp16 would make it infinite")
    return np.ascontiguousarray(array, dtype=dtype)


# -- batch-norm folding --------------------------------------------------------------------

def _fold_batchnorms(nodes: list, arrays: dict, outputs: set[str], lowered: Lowered) -> list[str]:
    producer = {o: n for n in nodes for o in n.output}
    readers: dict[str, int] = {}
    for n in nodes:
        for i in n.input:
            readers[i] = readers.get(i, 0) + 1
    folded = []
    for bn in [n for n in nodes if n.op_type == "BatchNormalization"]:
        x = bn.input[0]
        layer = producer.get(x)
        if layer is None or readers.get(x) != 1 or x in outputs or not _absorbs(layer, lowered, arrays):
            continue
        scale, shift, mean, var = (arrays[i].astype(np.float64) for i in bn.input[1:5])
        eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        s = scale / np.sqrt(var + eps)
        weight = layer.input[1]
        arrays[weight] = _scale_outputs(layer, arrays[weight].astype(np.float64), s).astype(np.float32)
        bias = layer.input[2] if len(layer.input) > 2 and layer.input[2] else None
        b = arrays[bias].astype(np.float64) if bias is not None else 0.0
        if bias is None:
            bias = _free_name(weight.removesuffix(".weight") + ".bias", arrays)
            while len(layer.input) < 3:
                layer.input.append("")
            layer.input[2] = bias
        arrays[bias] = ((b - mean) * s + shift).astype(np.float32)
        layer.output[0] = bn.output[0]
        nodes.remove(bn)
        folded.append(lowered.layer_of[bn.name].name)
    return folded


def _absorbs(layer: onnx.NodeProto, lowered: Lowered, arrays: dict) -> bool:
    """The node computes a layer whose op absorbs a batch norm (the op table says which), as
    a Conv, a ConvTranspose or a Gemm computing x W^T (+ b), with a known weight."""
    source = lowered.layer_of.get(layer.name)
    if source is None or not ops.OPS[source.op].absorbs_bn or layer.name != source.name:
        return False
    if layer.op_type == "Gemm":
        attrs = {a.name: a for a in layer.attribute}
        if attrs.get("transB") is None or attrs["transB"].i != 1 or "transA" in attrs and attrs["transA"].i:
            return False
        if any(name in attrs and attrs[name].f != 1.0 for name in ("alpha", "beta")):
            return False
    elif layer.op_type not in ("Conv", "ConvTranspose"):
        return False
    return len(layer.input) > 1 and layer.input[1] in arrays


def _scale_outputs(layer: onnx.NodeProto, w: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The weight with output channel c scaled by s[c]: dim 0 of a Conv's or Gemm's (out, ...)
    weight; dim 1, per group, of a ConvTranspose's (in, out / groups, ...)."""
    if layer.op_type != "ConvTranspose":
        return w * s.reshape(-1, *([1] * (w.ndim - 1)))
    groups = next((a.i for a in layer.attribute if a.name == "group"), 1)
    per_group = s.reshape(groups, 1, -1, *([1] * (w.ndim - 2)))
    return (w.reshape(groups, -1, *w.shape[1:]) * per_group).reshape(w.shape)


def _free_name(wanted: str, arrays: dict) -> str:
    name, n = wanted, 2
    while name in arrays:
        name, n = f"{wanted}_{n}", n + 1
    return name


# -- what the model says about itself ----------------------------------------------------------

def _describe(model: onnx.ModelProto, graph: Graph, fp16: bool) -> None:
    """Doc string and metadata: the spec, the network, and the conditions on symbolic sizes."""
    source = graph.span.file if graph.span is not None else "a spec"
    lines = [f"{graph.name}, exported by archlang from {source}."]
    meta = {"archlang.network": graph.name, "archlang.spec": source,
            "archlang.dtype": "float16" if fp16 else "float32"}
    if graph.symbols:
        conditions = "; ".join(graph.conditions) or "none beyond sizes of at least 1"
        smallest = ", ".join(_shape_text(s) for s in graph.smallest_input or [])
        lines.append(f"Symbolic sizes {', '.join(graph.symbols)}: conditions: {conditions}; "
                     f"smallest valid input: {smallest}. The file does not check them: "
                     f"`archlang check --input` says what another size gives.")
        meta.update({"archlang.symbols": ", ".join(graph.symbols), "archlang.conditions": conditions,
                     "archlang.smallest_input": smallest})
    model.doc_string = "\n".join(lines)
    model.graph.doc_string = lines[0]
    helper.set_model_props(model, meta)


def _shape_text(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


# -- saving ---------------------------------------------------------------------------------
#
# `write` produces the bytes `onnx.save_model` would write for the full model
# (the same protobuf fields, in the same order: tests compare the two), but
# streams each weight from its numpy array into the file, so the weights are
# never copied into a protobuf message and then serialised again (three
# copies of VGG's half gigabyte, most of an export's time).

_LEN = 2                                   # protobuf wire type of length-delimited fields


def write(assembled: Assembled, path: Path, data: Path | None = None) -> None:
    """Write the model to `path`; with `data`, tensors of 1 KiB and more go to that file instead.

    The model records the data file by its name, relative to the model's
    folder; `relocate` renames it there.
    """
    entries: list[list] = []               # per initializer: its serialised TensorProto, in pieces
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(data, "wb")) if data is not None else None
        for name, array in assembled.initializers.items():
            array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
            tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype),
                                 dims=array.shape)
            if sink is not None and array.nbytes >= EXTERNAL_MIN_TENSOR:
                offset = sink.tell()
                sink.write(b"\0" * (-offset % _ALIGN))
                _point_outside(tensor, data.name, sink.tell(), array.nbytes)
                sink.write(memoryview(array).cast("B"))
                entries.append([tensor.SerializeToString()])
            else:   # fields 1 (dims), 2 (data_type), 8 (name), then 9 (raw_data): protobuf's own order
                entries.append([tensor.SerializeToString() + _key(9) + _varint(array.nbytes), array])
        if sink is not None:
            sink.flush()
            os.fsync(sink.fileno())
    model, graph = assembled.model, assembled.model.graph
    graph_head, graph_tail = _split(graph, 5)         # GraphProto: fields before and after `initializer` (5)
    model_head, model_tail = _split(model, 7)         # ModelProto: fields before and after `graph` (7)
    framed = [[_key(5) + _varint(_size(e)), *e] for e in entries]
    graph_size = len(graph_head) + len(graph_tail) + sum(_size(f) for f in framed)
    with open(path, "wb") as f:
        f.write(model_head + _key(7) + _varint(graph_size) + graph_head)
        for pieces in framed:
            for piece in pieces:
                f.write(piece if isinstance(piece, bytes) else memoryview(piece).cast("B"))
        f.write(graph_tail + model_tail)


def _split(message, number: int) -> tuple[bytes, bytes]:
    """The serialised fields of `message` numbered below `number`, and above it (field `number` left out)."""
    parts = []
    for keep in (lambda n: n < number, lambda n: n > number):
        part = type(message)()
        part.CopyFrom(message)
        for descriptor, _ in part.ListFields():
            if not keep(descriptor.number):
                part.ClearField(descriptor.name)
        parts.append(part.SerializeToString())
    return parts[0], parts[1]


def _size(pieces: list) -> int:
    return sum(len(p) if isinstance(p, bytes) else p.nbytes for p in pieces)


def _key(field_number: int) -> bytes:
    return _varint(field_number << 3 | _LEN)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def relocate(path: Path, data_name: str) -> None:
    """Rewrite the data file's name recorded in the model at `path` (after checking under a temporary name)."""
    model = onnx.load_model(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = data_name
    onnx.save_model(model, str(path))


def _point_outside(tensor: onnx.TensorProto, location: str, offset: int, length: int) -> None:
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
