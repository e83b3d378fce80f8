"""onnxruntime against PyTorch: the exported file and the module, run on the same random inputs.

`reference(graph, state)` is the module `archlang.compile` builds, holding
the very weights written to the file (loaded strictly: the names and shapes
the emitter declared must be the module's state_dict, or this fails).
`verify_file(path, module, probes)` runs both at each probe and reports the
largest difference over all outputs and runs, with the tolerance it is
judged by. With float16 files the inputs are rounded to float16 for both
sides, and the tolerance is float16's (see `onnx.FP16_RTOL`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..ir import Graph
from .onnx import ATOL, FP16_ATOL, FP16_RTOL, RTOL, ExportError, Verification, session
from .onnx_inputs import Probe
from .torch_module import build_module

SEED = 0


def reference(graph: Graph, state: dict[str, np.ndarray]) -> nn.Module:
    """The PyTorch module with `state` loaded (strictly), in eval mode."""
    module = build_module(graph).eval()
    # no copy where numpy allows it (load_state_dict copies anyway): VGG's weights are half a gigabyte
    tensors = {k: torch.from_numpy(v) if v.flags.writeable else torch.tensor(v) for k, v in state.items()}
    module.load_state_dict(tensors, strict=True)
    return module


@torch.no_grad()
def verify_file(path: str | Path, module: nn.Module, probes: Sequence[Probe], fp16: bool = False) -> Verification:
    """Run the ONNX file in onnxruntime and `module` in PyTorch on the same random inputs."""
    sess = session(path, exact=True)
    names = [i.name for i in sess.get_inputs()]
    generator = torch.Generator().manual_seed(SEED)
    worst, scale = 0.0, 0.0
    for probe in probes:
        inputs = [torch.randn(shape, generator=generator) for shape in probe.shapes]
        if fp16:
            inputs = [t.half().float() for t in inputs]     # the values the float16 file sees
        expected = _as_list(module(*inputs))
        feeds = {n: t.numpy().astype(np.float16 if fp16 else np.float32) for n, t in zip(names, inputs)}
        got = sess.run(None, feeds)
        for e, g in zip(expected, got):
            e = e.detach().cpu().numpy()
            if e.shape != g.shape:
                raise ExportError(f"onnxruntime gave shape {g.shape} where PyTorch gives {e.shape} "
                                  f"(at {probe.describe()})")
            worst = max(worst, _largest_difference(e, g.astype(np.float32)))
            scale = max(scale, float(np.max(np.abs(np.nan_to_num(e)), initial=0.0)))
    atol, rtol = (FP16_ATOL, FP16_RTOL) if fp16 else (ATOL, RTOL)
    return Verification(sess.get_providers()[0], tuple(probes), worst, atol + rtol * scale, fp16)


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
    """A module's outputs in the order of the file's: a dict's values in key order (`out`, `aux`)."""
    if isinstance(output, dict):
        return list(output.values())
    return list(output) if isinstance(output, (tuple, list)) else [output]
