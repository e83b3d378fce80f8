"""ONNX export straight from the IR: lowered, checked by onnx.checker, verified in onnxruntime.

`export(graph, path, ...)` runs the stages in order, each module doing one:

1. `onnx_emit.lower`: the nodes, from the op table's lowerings; a layer that
   cannot be exported as asked is a located error (E601) here, before any
   file is read;
2. `weights`: the weights, from `module`'s state_dict, a `--weights` file
   (.safetensors without torch; torch.save files and `archlang train`
   checkpoints with it), or freshly drawn as PyTorch draws them; checked to
   fit, finite, floating point;
3. `onnx_model.assemble`: the ModelProto, batch norms folded (`fold_bn`),
   float16 (`fp16`);
4. checked with `onnx.checker` (full check), then written to a temporary
   file beside the target (with the weights in a second file, ONNX external
   data, past protobuf's 2 GB) and, with `verify`, run in onnxruntime and
   compared with the PyTorch module holding the same weights
   (`onnx_verify`; needs torch) at two batch sizes and, for symbolic inputs,
   two sizes; renamed over the target only when all of it passed.

Nothing here imports torch: `verify=False` exports without it.

`session(path)` opens an onnxruntime session with the provider choice used
here: CUDA when a GPU is usable, else CPU, with onnxruntime's logging kept
to errors so a machine without a GPU prints nothing.
"""
from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import onnx

from .. import fsutil
from ..diagnostics import SpecError
from ..ir import Graph
from ..source import shown_name
from . import onnx_emit, onnx_inputs, onnx_model, weights as weights_
from .onnx_emit import MIN_OPSET
from .onnx_inputs import Probe

DEFAULT_OPSET = 20    # onnxruntime 1.17 and later run it; Gelu needs 20
ATOL = 1e-4           # verification tolerance: ATOL + RTOL * (largest PyTorch output magnitude)
RTOL = 1e-4
FP16_ATOL = 1e-3      # float16 keeps 11 significant bits (3 decimal digits): each layer rounds to 5e-4
FP16_RTOL = 1e-2      # relative, and a deep network's roundings add up
ORT_LOG_ERRORS_ONLY = 3


class ExportError(Exception):
    """An export that did not produce a valid, verified file; the message says why."""


@dataclass(frozen=True)
class Verification:
    provider: str
    probes: tuple[Probe, ...]       # the input shapes it ran at, batch first
    max_abs_diff: float
    tolerance: float
    fp16: bool = False

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
    weights: str | None               # where the weights came from: a file, "module", or None (fresh)
    folded: list[str] = field(default_factory=list)   # the batch norms folded away
    verification: Verification | None = None
    fp16: bool = False
    data: Path | None = None          # the external data file, for models past 2 GB


# -- runtime: providers and sessions ----------------------------------------------------------

def choose_providers() -> list[str]:
    """CUDA first when a GPU is usable, then the CPU.

    onnxruntime-gpu lists CUDAExecutionProvider even on machines without a
    GPU, and asking for it there prints errors; so it is asked for only when
    torch is installed and sees a CUDA device.
    """
    import onnxruntime as ort

    chosen = []
    if "CUDAExecutionProvider" in ort.get_available_providers() and _torch_sees_cuda():
        chosen.append("CUDAExecutionProvider")
    chosen.append("CPUExecutionProvider")
    return chosen


def _torch_sees_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch
    return torch.cuda.is_available()


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

def export(graph: Graph, path: str | Path, *, weights: str | Path | None = None, module: Any = None,
           opset: int | None = None, batch: int | None = None, fold_bn: bool = False, fp16: bool = False,
           verify: bool = True, external_data: bool | None = None) -> Exported:
    """Export a checked graph to `path`; checked, verified, written atomically.

    Weights: `module`'s state_dict, else the `weights` file, else fresh.
    batch None keeps the batch dimension dynamic (verified at batch 1 and 3);
    an int fixes it. external_data None writes the weights beside the model
    only past 2 GB. Raises SpecError for layers that cannot be exported
    (located), ExportError when the file would not be valid or would not
    match PyTorch; then nothing is written.
    """
    opset = check_opset(opset)
    if batch is not None and batch < 1:
        raise ExportError(f"--batch must be 'dynamic' or at least 1, not {batch}")
    if not graph.ok:
        raise SpecError([d for d in graph.diagnostics if d.is_error])
    lowered = onnx_emit.lower(graph, opset, batch)
    if verify and importlib.util.find_spec("torch") is None:
        raise ExportError("verifying against PyTorch needs torch, which is not installed; "
                          "export with --no-verify, or install torch")
    state, source = _weights(lowered, weights, module)
    try:
        assembled = onnx_model.assemble(lowered, state, fold_bn=fold_bn, fp16=fp16, version=_version())
    except onnx_model.ModelError as exc:
        raise ExportError(str(exc)) from None
    _check(assembled)
    path = Path(path)
    result = Exported(path, opset, len(assembled.model.graph.node), batch, source, assembled.folded, fp16=fp16,
                      data=_data_file(path, assembled, external_data))
    with _staged(path, result.data) as (tmp, tmp_data):
        onnx_model.write(assembled, tmp, tmp_data)
        del assembled                                        # the weights, once written
        if verify:
            result.verification = _verify(tmp, graph, batch, state, module, fp16)
        if tmp_data is not None:
            onnx_model.relocate(tmp, result.data.name)
    return result


def _data_file(path: Path, assembled: onnx_model.Assembled, external_data: bool | None) -> Path | None:
    """Where the weights go when they leave the model file (past 2 GB, or asked): beside it."""
    external = external_data if external_data is not None else assembled.weight_bytes > onnx_model.EXTERNAL_DATA_ABOVE
    if not external:
        return None
    if fsutil.is_streamed(path):
        raise ExportError(f"the model's weights ({assembled.weight_bytes / 1e9:.1f} GB) need a file of their own "
                          f"beside the model (ONNX external data): write it to a file, not to {shown_name(path)}")
    landing = fsutil.through_links(path)          # beside the file a symlink names: the model is written there
    return landing.with_name(landing.name + ".data")


def check_opset(opset: int | None) -> int:
    """The opset to write; ExportError outside what onnx knows and the lowerings assume."""
    if opset is None:
        return DEFAULT_OPSET
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ExportError(f"--opset {opset}: archlang writes opsets {MIN_OPSET} to {newest}")
    return opset


def _weights(lowered: onnx_emit.Lowered, path: str | Path | None, module: Any) -> tuple[dict, str | None]:
    declared = {k: (p.shape, p.init) for k, p in lowered.params.items()}
    try:
        if module is not None:
            return weights_.fit(module.state_dict(), declared, "the module's state_dict"), "module"
        if path is not None:
            return weights_.fit(weights_.read(path), declared, shown_name(path)), str(path)
        return weights_.fresh(declared), None
    except weights_.WeightsError as exc:
        raise ExportError(str(exc)) from None


@contextlib.contextmanager
def _staged(path: Path, data: Path | None) -> Iterator[tuple[Path, Path | None]]:
    """Temporary files beside the targets, renamed over them only if the block succeeds.

    The model is renamed first, then its data file: a crash between the two
    renames leaves the new model beside the old data, never a half-written file.
    """
    if data is None:
        with fsutil.atomic_path(path) as tmp:
            yield tmp, None
        return
    with fsutil.atomic_path(data) as tmp_data, fsutil.atomic_path(path) as tmp:
        yield tmp, tmp_data


def _check(assembled: onnx_model.Assembled) -> None:
    try:
        onnx_model.check(assembled)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"onnx.checker rejected the model: {str(exc).splitlines()[0]}") from None


def _verify(path: Path, graph: Graph, batch: int | None, state: dict, module: Any, fp16: bool) -> Verification:
    from . import onnx_verify   # torch: only when verifying

    reference = module.eval() if module is not None else onnx_verify.reference(graph, state)
    try:
        verification = onnx_verify.verify_file(path, reference, onnx_inputs.probes(graph, batch), fp16=fp16)
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own refusals (an opset it does not run...)
        raise ExportError(f"onnxruntime could not run the model: {str(exc).strip().splitlines()[0]}") from None
    if not verification.ok:
        raise ExportError(f"onnxruntime and PyTorch disagree: largest difference {verification.max_abs_diff:.3g} "
                          f"exceeds the tolerance {verification.tolerance:.3g} (at {verification.where()}); "
                          f"nothing was written")
    return verification


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("archlang")
    except PackageNotFoundError:
        return "0+unknown"
