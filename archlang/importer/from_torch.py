"""A PyTorch model as an `ImportedGraph`: traced with torch.fx, each node mapped to the op table.

`load_model("torchvision.models:resnet50")` imports the module and calls the
callable with no arguments (running the user's code is what naming it asks
for). `read_model` traces the model in eval mode with torch.fx's
`symbolic_trace` (the layers of the op table kept whole, a stack trace on
every node for errors). Where fx cannot trace because the forward needs its
sizes as numbers (`if x.size(-1) > 4:`), it traces again with sizes, each
node's value computed on the meta device as it is traced: torch.export's
idea (values without data, control flow specialised to this input), kept at
the level of fx's graph, where layers are still modules with their names;
torch.export's own graph has only aten calls. Shapes come from running the traced
graph on the meta device with the model's parameters swapped for meta
tensors: nothing is computed and the model is untouched.

Each node becomes calls of the op table (`torch_ops` for layers and
functions, `torch_calls` for merges, arithmetic, means and reshapes), with
the module hierarchy that made it (fx's `nn_module_stack`) as its scopes.
Whatever cannot be mapped is an E701 naming the module path and the torch
op, at the Python line that called it; all of them are reported at once.
"""
from __future__ import annotations

import copy
import functools
import importlib
import inspect
import operator
import re
import sys
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from .. import ops
from ..diagnostics import Diagnostic, UsageError
from . import reverse, torch_calls, torch_ops
from .errors import ImportFailure, cannot_import, failure
from .graph import ImportedGraph, Origin, Scope

# fx keeps these modules whole and never traces into them, whatever their class.
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')
_TORCH_INTERNALS = ("torch/fx/", "torch/nn/modules/module.py", "torch/_", "torch/export/", "torch/utils/")


def load_model(source: str) -> nn.Module:
    """`package.module:callable` called with no arguments; a usage error when it is no model."""
    module_name, sep, attr = source.partition(":")
    if not sep or not module_name or not re.fullmatch(r"[A-Za-z_][\w.]*", attr or "") \
            or not re.fullmatch(r"[A-Za-z_][\w.]*", module_name):
        raise UsageError(f"SOURCE {source!r} is neither an .onnx file nor package.module:callable "
                         f"(e.g. torchvision.models:resnet50)")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")           # a model file in the current folder, as `python -m` finds it
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise UsageError(f"{module_name} has no {attr}")
        target = getattr(target, part)
    if isinstance(target, nn.Module):
        return target
    if not callable(target):
        raise UsageError(f"{source} is neither a callable nor an nn.Module")
    try:
        model = target()
    except Exception as exc:  # noqa: BLE001 - the user's code: any failure is theirs, reported in a line
        raise UsageError(f"{source}() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise UsageError(f"{source}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


class _Tracer(fx.Tracer):
    """fx's tracer, keeping whole every layer the op table has a class for, with stack traces."""

    def __init__(self, layer_functions: tuple = ()) -> None:
        super().__init__(autowrap_functions=layer_functions)
        self.record_stack_traces = True

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return torch_ops.is_layer_class(m) or super().is_leaf_module(m, qualname)


def read_model(model: nn.Module, shape: tuple[int, ...], name: str) -> ImportedGraph:
    """The model's calls at an input of `shape` (without the batch). Raises ImportFailure."""
    was_training = model.training
    model.eval()
    try:
        gm = _trace(model, shape)
        run = _meta_run(gm, shape)
        graph = _Converter(gm, run, name, type(model).__name__).convert()
        _refuse_unused_weights(model, graph)
        return graph
    finally:
        model.train(was_training)


def _refuse_unused_weights(model: nn.Module, graph: ImportedGraph) -> None:
    """Modules holding weights that the traced forward never calls (GoogLeNet's auxiliary heads in
    eval mode) would be layers silently dropped: the spec could not load the model's state_dict."""
    used = set(graph.state_keys())
    unused = [k for k in model.state_dict() if k not in used]
    if not unused:
        return
    modules = list(dict.fromkeys(k.rpartition(".")[0] for k in unused))
    shown = ", ".join(modules[:6]) + (f" and {len(modules) - 6} more" if len(modules) > 6 else "")
    raise failure(f"the forward does not use the weights of {shown}: the spec would lack them",
                  help="build the model without the parts its eval forward skips (torchvision: aux_logits=False), "
                       "or import a model whose forward uses every layer")


def _trace(model: nn.Module, shape: tuple[int, ...]) -> fx.GraphModule:
    """The model's graph: symbolic (fx), or, where the forward needs its sizes as numbers
    (`if x.size(-1) > 32:`, `x.view(x.size(0), -1)`), traced at this input's sizes."""
    functions = _layer_functions(model)
    tracer = _Tracer(functions)
    try:
        graph = tracer.trace(model)
    except Exception:  # noqa: BLE001 - fx reports Python control flow and other limits as anything
        tracer = _SizedTracer(functions, shape)
        try:
            graph = tracer.trace(model)
        except Exception as exc:  # noqa: BLE001 - the forward's own failure, or control flow on values
            raise _trace_failure(exc) from None
    return fx.GraphModule(tracer.root, graph)


class _SizedTracer(_Tracer):
    """fx's tracer where tensors have sizes: each node's value is computed as it is traced, on
    the meta device (no data, as torch.export traces with fake tensors), so `x.shape`,
    `x.size()` and `x.dim()` are numbers and a branch on them takes this input's way. A
    branch on values still fails: meta tensors hold none."""

    def __init__(self, layer_functions: tuple, shape: tuple[int, ...]) -> None:
        super().__init__(layer_functions)
        self.shape = shape
        self.meta: dict[fx.Node, Any] = {}
        self.layers: dict[str, nn.Module] = {}          # a layer's copy on the meta device, by path

    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None) -> fx.Node:
        node = super().create_node(kind, target, args, kwargs, name, type_expr)
        self.meta[node] = self._value(node)
        return node

    def _value(self, node: fx.Node) -> Any:
        args, kwargs = fx.node.map_arg((node.args, node.kwargs), lambda n: self.meta[n])
        if node.op == "placeholder":
            return torch.empty((1, *self.shape), device="meta")
        if node.op == "get_attr":
            value = functools.reduce(getattr, node.target.split("."), self.root)
            return torch.empty_like(value, device="meta") if isinstance(value, torch.Tensor) else value
        if node.op == "call_module":       # its forward, not __call__, which the tracer has patched
            if node.target not in self.layers:
                self.layers[node.target] = copy.deepcopy(self.root.get_submodule(node.target)).to("meta")
            layer = self.layers[node.target]
            return type(layer).forward(layer, *args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        return None

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _SizedProxy(node, self)


class _SizedProxy(fx.Proxy):
    """A proxy whose sizes are its fake value's."""

    def __getattr__(self, name: str) -> Any:
        if name in ("shape", "size", "dim", "ndim") and "tracer" in self.__dict__:
            return getattr(self.tracer.meta[self.node], name)
        return super().__getattr__(name)


def _layer_functions(model: nn.Module) -> tuple:
    """The model's own Python functions named after a layer of the op table (torchvision's
    `channel_shuffle`), kept whole by the tracer: their reshapes and transposes say less."""
    found = {}
    for cls in {type(m) for m in model.modules()}:
        space = vars(sys.modules.get(cls.__module__, object()))
        for name, value in space.items():
            if inspect.isfunction(value) and torch_ops.layer_class_of(name) is not None \
                    and not value.__module__.startswith("torch."):
                found[id(value)] = value
    return tuple(found.values())


def _trace_failure(exc: Exception) -> ImportFailure:
    """fx's error at the line of the model that caused it (the innermost frame outside torch)."""
    origin = None
    frames = [f for f in _frames(exc) if not any(part in f[0] for part in _TORCH_INTERNALS)]
    if frames:
        origin = Origin("", "the forward", frames[-1][0], frames[-1][1])
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return failure(f"torch.fx cannot trace the model: {first}", origin,
                   help="archlang reads a model by tracing it: Python control flow that depends on the "
                        "values of tensors cannot become a spec; write that part as a choice made when the "
                        "model is built (a constructor argument), or trace a model without it")


def _frames(exc: BaseException) -> list[tuple[str, int]]:
    import traceback
    return [(f.filename, f.lineno) for f in traceback.extract_tb(exc.__traceback__)]


class _MetaRun(fx.Interpreter):
    """Runs the graph on meta tensors (shapes, no data) and keeps every node's value.

    A layer the op table knows is read here (`torch_ops.read_layer`) and not run:
    its output's shape is the op's own rule's, which is also cheaper than
    PyTorch's meta kernels (batch norm decomposes into a dozen ops on meta).
    """

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.values: dict[fx.Node, Any] = {}
        self.layers: dict[fx.Node, Any] = {}      # node -> torch_ops.Layer, or the NotAnOp it raised
        self.node: fx.Node | None = None

    def run_node(self, n: fx.Node) -> Any:
        self.node = n
        value = super().run_node(n)
        self.values[n] = value
        return value

    def call_module(self, target, args, kwargs) -> Any:
        module = self.fetch_attr(target)
        x = args[0] if len(args) == 1 and not kwargs else None
        if isinstance(x, torch.Tensor) and not isinstance(module, nn.Identity):
            shape = tuple(x.shape[1:])
            try:
                layer = torch_ops.read_layer(module, shape)
                out, _ = ops.infer(layer.op, [shape], reverse.with_defaults(layer.op, layer.args))
            except torch_ops.NotAnOp as exc:
                self.layers[self.node] = exc
            except ops.ShapeFailure as exc:
                self.layers[self.node] = torch_ops.NotAnOp(f"archlang's {layer.op} refuses the input "
                                                           f"[{', '.join(map(str, shape))}]: {exc.message}")
            else:
                self.layers[self.node] = layer
                return torch.empty((x.shape[0], *out), dtype=x.dtype, device="meta")
        return super().call_module(target, args, kwargs)


def _meta_run(gm: fx.GraphModule, shape: tuple[int, ...]) -> _MetaRun:
    """The graph run on the meta device, the model's own tensors swapped for meta ones."""
    state = {k: torch.empty(v.shape, dtype=v.dtype, device="meta")
             for k, v in [*gm.named_parameters(), *gm.named_buffers()]}
    runner = _MetaRun(gm)

    class _Run(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gm = gm

        def forward(self, x):
            return runner.run(x)

    x = torch.empty((1, *shape), device="meta")
    try:
        torch.func.functional_call(_Run(), {f"gm.{k}": v for k, v in state.items()}, (x,))
    except Exception as exc:  # noqa: BLE001 - the model refuses the input: its own message, in a line
        raise failure(f"the model does not run on an input [{', '.join(map(str, shape))}]: "
                      f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                      help="give the input the model expects with --input CxHxW") from None
    return runner


def origin_of(node: fx.Node, module: str, op: str) -> Origin:
    """The module path, the op, and the user's line that made the node (the first frame outside torch)."""
    file = line = None
    for m in _FRAME.finditer(node.stack_trace or ""):
        if not any(part in m["file"] for part in _TORCH_INTERNALS):
            file, line = m["file"], int(m["line"])
            break
    return Origin(module, op, file, line)


def scopes_of(node: fx.Node) -> tuple[Scope, ...]:
    """The module instances whose forward made the node, outermost first (fx's nn_module_stack)."""
    out = []
    for path, cls in (node.meta.get("nn_module_stack") or {}).values():
        name = cls if isinstance(cls, str) else cls.__name__
        out.append(Scope(tuple(path.split(".")) if path else (), name.rpartition(".")[2]))
    return tuple(s for s in out if s.path)


class _ReadsAFailure(torch_ops.NotAnOp):
    """A node that reads one that could not be mapped: reported there, not again."""


class _Converter:
    """fx nodes -> calls; tensors by node, problems collected."""

    def __init__(self, gm: fx.GraphModule, run: _MetaRun, name: str, root_class: str) -> None:
        self.gm = gm
        self.values = run.values
        self.layers = run.layers
        self.graph = ImportedGraph(name, root_class=root_class)
        self.ids: dict[fx.Node, Any] = {}          # node -> call id, a tuple of them, or None (no tensor)
        self.problems: list[Diagnostic] = []
        self.called: dict[str, fx.Node] = {}       # layer path -> the node that called it first
        self.failed: set[fx.Node] = set()          # nodes that could not be mapped, and what reads them

    def convert(self) -> ImportedGraph:
        placeholders = [n for n in self.gm.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise failure(f"the model's forward takes {len(placeholders)} inputs; archlang imports models of one "
                          f"input tensor")
        for node in self.gm.graph.nodes:
            if node.op == "output":
                self._output(node)
                continue
            try:
                self.ids[node] = self._node(node)
            except _ReadsAFailure:
                self.ids[node] = None
                self.failed.add(node)                  # reported where it started
            except torch_ops.NotAnOp as exc:
                self.ids[node] = None
                self.failed.add(node)
                if node.target in (getattr, operator.getitem) and node.all_input_nodes[0] in self.failed:
                    continue                           # a part of a result that could not be mapped
                origin = self._origin(node)
                self.problems.append(cannot_import(origin, exc.reason, exc.needed))
        if self.problems:
            raise ImportFailure(self.problems)
        return self.graph

    # -- one node ------------------------------------------------------------------------
    def _node(self, node: fx.Node) -> Any:
        value = self.values.get(node)
        if node.op == "placeholder":
            return self.graph.add("input", {}, [], tuple(value.shape[1:]), (), Origin("", "the input")).id
        if node.op == "get_attr":
            raise torch_ops.NotAnOp(f"the forward reads the tensor {node.target} itself",
                                    needed="a layer that holds this tensor (a parameter declared in a block)")
        if node.op == "call_module":
            return self._module(node, self.gm.get_submodule(node.target))
        if not _holds_tensor(value):
            return None                                   # sizes and other Python values: read where used
        return torch_calls.convert(self, node)

    def _module(self, node: fx.Node, module: nn.Module) -> int | None:
        (source,) = [a for a in node.args if isinstance(a, fx.Node)] or [None]
        if source is None or len(node.args) != 1 or node.kwargs:
            raise torch_ops.NotAnOp(f"{type(module).__name__} is called with {len(node.args)} arguments",
                                    needed="a layer of one input tensor")
        if isinstance(module, nn.Identity):
            return self.tensor(source)
        layer = self.layers.get(node) or torch_ops.read_layer(module, self.shape(source))
        if isinstance(layer, torch_ops.NotAnOp):
            raise layer
        path = tuple(node.target.split("."))
        if layer.state and node.target in self.called:
            raise torch_ops.NotAnOp(f"{node.target} is called a second time and holds weights",
                                    needed="one layer per call: archlang's layers do not share weights")
        self.called.setdefault(node.target, node)
        return self.add(node, layer.op, layer.args, [self.tensor(source)], module=path, state=layer.state)

    def _output(self, node: fx.Node) -> None:
        (result,) = node.args
        if not isinstance(result, fx.Node) or not isinstance(self.ids.get(result), int):
            if not self.problems:
                self.problems.append(cannot_import(Origin("", "the forward's result"),
                                                   "the model returns no single tensor",
                                                   needed="several outputs"))
            return
        self.graph.output = self.ids[result]

    # -- what torch_calls uses -----------------------------------------------------------
    def tensor(self, node: fx.Node) -> int:
        """The call holding a node's tensor."""
        value = self.ids.get(node)
        if node in self.failed:
            raise _ReadsAFailure(node.name)
        if not isinstance(value, int):
            raise torch_ops.NotAnOp(f"{node.name} is not one tensor archlang knows")
        return value

    def shape(self, node: fx.Node) -> tuple[int, ...]:
        return tuple(self.values[node].shape[1:])

    def value(self, arg: Any) -> Any:
        """An argument with nodes replaced by their (meta) values, as the function received it."""
        return fx.node.map_arg(arg, lambda n: self.values.get(n))

    def add(self, node: fx.Node, op: str, args: dict, inputs: list[int], module: tuple[str, ...] | None = None,
            state: tuple[str, ...] = (), shape: tuple[int, ...] | None = None) -> int:
        scopes = scopes_of(node)
        if node.op == "call_module":
            scopes = scopes[:-1]                          # the innermost entry is the layer itself
        out = shape if shape is not None else tuple(self.values[node].shape[1:])
        return self.graph.add(op, args, inputs, out, scopes, self._origin(node), module, state).id

    def _origin(self, node: fx.Node) -> Origin:
        if node.op == "call_module":
            module = self.gm.get_submodule(node.target)
            op = f"{type(module).__name__}({module.extra_repr()})"
            op = f"nn.{op}" if type(module).__module__.startswith("torch.nn") else op
            return origin_of(node, node.target, op)
        scopes = scopes_of(node)
        owner = scopes[-1].name if scopes else ""
        op = node.target if isinstance(node.target, str) else torch_ops.function_name(node.target)
        return origin_of(node, owner, f"Tensor.{op}" if node.op == "call_method" else op)


def _holds_tensor(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    return isinstance(value, (tuple, list)) and bool(value) and all(isinstance(v, torch.Tensor) for v in value)
