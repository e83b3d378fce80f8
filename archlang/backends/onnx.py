"""ONNX export, checked by onnx.checker and verified in onnxruntime against PyTorch.

`export(graph, path, ...)` builds the network's nn.Module (the torch backend),
optionally loads weights and folds batch norm, exports it with PyTorch's
torch.export-based exporter (the `dynamo=True` path, PyTorch's default and
the one that is maintained; the TorchScript exporter is deprecated), and
writes the file atomically: the model is written to a temporary file beside
the target, checked (`onnx.checker`, full check), run in onnxruntime at two
batch sizes and compared with PyTorch, and only then renamed over the target.
A failure at any step leaves no file, or the previous one intact.

The exported graph reads like the spec: inputs and outputs carry the spec's
names, the batch dimension is a named dynamic dimension (`batch`) and so are
the spec's symbolic sizes (`H`, `W`; see onnx_inputs.py), each node
is named after the layer it comes from (`stage2.residual1.conv1`, merges
`stage2.residual1.add1`) and carries its spec location (`archlang.source`
metadata), and the graph is named after the network. Batch norm stays a
node, as the spec wrote it, unless `fold_bn` folds it into the convolution
or linear layer before it (onnxruntime fuses it at load time anyway; the
folded file is for runtimes that do not).

`session(path)` opens an onnxruntime session with the provider choice used
here: CUDA when a GPU is usable, else CPU, with onnxruntime's logging kept
to errors so a machine without a GPU prints nothing.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import onnx
import torch
from torch import nn

from .. import fsutil
from ..ir import Graph
from . import onnx_graph, onnx_inputs
from .onnx_inputs import Probe
from .torch_inference import WeightsError, fold_batchnorm, load_weights
from .torch_module import build_module

MIN_OPSET = 18        # the torch.export-based exporter writes opset 18 and later only
DEFAULT_OPSET = 20    # PyTorch's default; onnxruntime 1.17 and later run it
ATOL = 1e-4           # verification tolerance: ATOL + RTOL * (largest PyTorch output magnitude)
RTOL = 1e-4
ORT_LOG_ERRORS_ONLY = 3
SEED = 0


class ExportError(Exception):
    """An export that did not produce a valid, verified file; the message says why."""


@dataclass(frozen=True)
class Verification:
    provider: str
    probes: tuple[Probe, ...]       # the input shapes it ran at, batch first
    max_abs_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance

    @property
    def batches(self) -> tuple[int, ...]:
        return tuple(p.batch for p in self.probes)

    def where(self) -> str:
        """`batch 1 and 3`, or the input shapes when sizes other than the batch vary too."""
        if len({p.shapes[0][1:] for p in self.probes}) == 1:
            return "batch " + " and ".join(str(b) for b in self.batches)
        return " and ".join(p.describe() for p in self.probes)


@dataclass
class Exported:
    """What `export` wrote and checked."""

    path: Path
    opset: int
    nodes: int
    batch: int | None                 # None: dynamic
    weights: str | None               # the weights file loaded, or None (freshly initialised)
    folded: list[str] = field(default_factory=list)   # the batch norms folded away
    verification: Verification | None = None


# -- runtime: providers and sessions ----------------------------------------------------------

def choose_providers() -> list[str]:
    """CUDA first when a GPU is usable, then the CPU.

    onnxruntime-gpu lists CUDAExecutionProvider even on machines without a
    GPU, and asking for it there prints errors; so it is asked for only when
    torch sees a CUDA device.
    """
    import onnxruntime as ort

    chosen = []
    if torch.cuda.is_available() and "CUDAExecutionProvider" in ort.get_available_providers():
        chosen.append("CUDAExecutionProvider")
    chosen.append("CPUExecutionProvider")
    return chosen


def session(path: str | Path, providers: Sequence[str] | None = None, threads: int | None = None,
            exact: bool = False):
    """An onnxruntime InferenceSession on `path` with archlang's provider choice, quietly.

    `exact` turns off TF32 on CUDA (onnxruntime's default there), for
    comparing with PyTorch's float32 results to float32 precision.
    """
    import onnxruntime as ort

    ort.set_default_logger_severity(ORT_LOG_ERRORS_ONLY)
    options = ort.SessionOptions()
    options.log_severity_level = ORT_LOG_ERRORS_ONLY
    if threads:
        options.intra_op_num_threads = threads
    chosen: list = list(providers or choose_providers())
    if exact:
        chosen = [(p, {"use_tf32": "0"}) if p == "CUDAExecutionProvider" else p for p in chosen]
    return ort.InferenceSession(str(path), options, providers=chosen)


# -- export ----------------------------------------------------------------------------

def export(graph: Graph, path: str | Path, *, weights: str | Path | None = None, opset: int | None = None,
           batch: int | None = None, fold_bn: bool = False, verify: bool = True,
           module: nn.Module | None = None) -> Exported:
    """Export a checked graph to `path`; checked, verified, written atomically.

    batch None keeps the batch dimension dynamic (verified at batch 1 and 3);
    an int fixes it. Raises ExportError when the file would not be valid or
    would not match PyTorch; then nothing is written.
    """
    opset = _check_opset(opset)
    if batch is not None and batch < 1:
        raise ExportError(f"--batch must be 'dynamic' or at least 1, not {batch}")
    model = (module if module is not None else build_module(graph)).eval()
    if weights is not None:
        try:
            load_weights(model, weights)
        except WeightsError as exc:
            raise ExportError(str(exc)) from None
    reference = model
    folded: list[str] = []
    if fold_bn:
        model = copy.deepcopy(model)
        folded = fold_batchnorm(model, graph)
    result = Exported(Path(path), opset, 0, batch, str(weights) if weights is not None else None, folded)
    with fsutil.atomic_path(path) as tmp:
        proto = _to_onnx(model, graph, opset, batch)
        onnx.save(proto, str(tmp))
        _check(tmp)
        result.nodes = len(proto.graph.node)
        if verify:
            result.verification = verify_file(tmp, reference, onnx_inputs.probes(graph, batch))
            if not result.verification.ok:
                v = result.verification
                raise ExportError(f"onnxruntime and PyTorch disagree: largest difference {v.max_abs_diff:.3g} "
                                  f"exceeds the tolerance {v.tolerance:.3g} (at {v.where()}); nothing was written")
    return result


def _check_opset(opset: int | None) -> int:
    if opset is None:
        return DEFAULT_OPSET
    newest = min(onnx.defs.onnx_opset_version(), torch.onnx._constants.ONNX_MAX_OPSET)
    if not MIN_OPSET <= opset <= newest:
        raise ExportError(f"--opset {opset}: the exporter writes opsets {MIN_OPSET} to {newest}")
    return opset


def _check(path: Path) -> None:
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected the model: {str(exc).splitlines()[0]}") from None


def _to_onnx(model: nn.Module, graph: Graph, opset: int, batch: int | None) -> onnx.ModelProto:
    """The exported, cleaned and named model."""
    import onnx_ir as ir

    example = tuple(torch.randn(shape) for shape in onnx_inputs.trace_shapes(graph, batch))
    with _quiet():
        try:
            program = torch.onnx.export(
                model, example, dynamo=True, optimize=False, verbose=False, external_data=False,
                opset_version=opset, input_names=[p.name for p in graph.inputs],
                output_names=[p.name for p in graph.outputs], dynamic_shapes=_dynamic_shapes(graph, batch))
        except Exception as exc:  # noqa: BLE001 - only where symbolic sizes are the likely cause
            if not graph.symbols:
                raise
            raise ExportError(f"the exporter could not keep the sizes {', '.join(graph.symbols)} symbolic "
                              f"({type(exc).__name__}: {str(exc).strip().splitlines()[0]}); give concrete "
                              f"sizes with --input") from None
        ir_model = program.model
        onnx_graph.clean(ir_model)
    onnx_graph.name_nodes(ir_model, graph)
    ir_model.graph.name = graph.name
    ir_model.producer_name = "archlang"
    ir_model.producer_version = _version()
    ir_model.graph.doc_string = f"{graph.name}, exported by archlang from {_spec_file(graph)}"
    proto = ir.serde.serialize_model(ir_model)
    _name_output_sizes(proto, graph)
    if proto.opset_import and _default_opset(proto) != opset:
        raise ExportError(f"--opset {opset}: the exporter could not convert the model to it "
                          f"(it wrote opset {_default_opset(proto)})")
    return proto


def _name_output_sizes(proto: onnx.ModelProto, graph: Graph) -> None:
    """Symbolic output sizes named as archlang writes them (`H`, `(H - 1) // 2 + 1`), not as traced."""
    for value, shape in zip(proto.graph.output, graph.output_shapes()):
        for dim, size in zip(value.type.tensor_type.shape.dim[1:], shape):
            if dim.dim_param and not isinstance(size, int):
                dim.dim_param = str(size)


def _dynamic_shapes(graph: Graph, batch: int | None) -> tuple | None:
    """torch.export's dynamic_shapes: one named Dim per dynamic axis, shared by name across inputs."""
    axes = onnx_inputs.dynamic_axes(graph, batch)
    if not any(axes):
        return None
    dims = {a.name: torch.export.Dim(a.name, min=a.min) for per_input in axes for a in per_input}
    return tuple({a.position: dims[a.name] for a in per_input} or None for per_input in axes)


def _default_opset(proto: onnx.ModelProto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("archlang")
    except PackageNotFoundError:
        return "0+unknown"


def _spec_file(graph: Graph) -> str:
    return graph.span.file if graph.span is not None else "a spec"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's progress logs and warnings are not the user's business.

    What goes wrong is reported by archlang itself (an opset the converter
    could not reach, a check or verification that failed), in one line.
    """
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript", "onnx_ir",
                                                     "torch._dynamo", "torch.fx.experimental.symbolic_shapes")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


# -- verification ------------------------------------------------------------------------

@torch.no_grad()
def verify_file(path: str | Path, reference: nn.Module, probes: Sequence[Probe]) -> Verification:
    """Run the ONNX file in onnxruntime and `reference` in PyTorch on the same random inputs.

    `probes` are the input shapes to run at (`onnx_inputs.probes(graph, batch)`);
    the largest absolute difference over all outputs of all runs is reported.
    """
    sess = session(path, exact=True)
    names = [i.name for i in sess.get_inputs()]
    generator = torch.Generator().manual_seed(SEED)
    worst, scale = 0.0, 0.0
    for probe in probes:
        inputs = [torch.randn(shape, generator=generator) for shape in probe.shapes]
        expected = _as_list(reference(*inputs))
        got = sess.run(None, {n: t.numpy() for n, t in zip(names, inputs)})
        for e, g in zip(expected, got):
            e = e.detach().cpu().numpy()
            if e.shape != g.shape:
                raise ExportError(f"onnxruntime gave shape {g.shape} where PyTorch gives {e.shape} "
                                  f"(at {probe.describe()})")
            worst = max(worst, _largest_difference(e, g))
            scale = max(scale, float(np.max(np.abs(np.nan_to_num(e)), initial=0.0)))
    return Verification(sess.get_providers()[0], tuple(probes), worst, ATOL + RTOL * scale)


def _largest_difference(expected: np.ndarray, got: np.ndarray) -> float:
    """max |expected - got|; infinite where one side is NaN or infinite and the other is not."""
    same_nonfinite = (~np.isfinite(expected) & ~np.isfinite(got)
                      & ((expected == got) | (np.isnan(expected) & np.isnan(got))))
    if (~np.isfinite(expected) | ~np.isfinite(got))[~same_nonfinite].any():
        return float("inf")
    with np.errstate(invalid="ignore"):
        diff = np.abs(np.where(same_nonfinite, 0.0, expected - got))
    return float(np.max(diff, initial=0.0))


def _as_list(output) -> list[torch.Tensor]:
    return list(output) if isinstance(output, (tuple, list)) else [output]
