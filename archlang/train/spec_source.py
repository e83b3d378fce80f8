"""A checked .arch network as the model source of a training run.

The module comes from the runtime backend (`backends.torch_module.build_module`,
what `archlang.compile` returns), built from the same graph the command
checked, so `--input`, `--set` and the limits apply to training exactly as to
`check` and `shapes`. A spec with symbolic sizes (`input [1, H, W]`) is
elaborated again at the data's size, so a size the network cannot take is a
located error before training, not a shape error in the middle of it.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..diagnostics import SpecError
from ..fsutil import spec_inputs
from ..ir import Graph
from ..source import shown_name
from .errors import SetupError


class SpecModel:
    def __init__(self, program, graph: Graph, file: str, params: dict) -> None:
        self.program, self.graph, self.file, self.params = program, graph, Path(file), params
        self.name = graph.name
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise SetupError(f"train needs one input and one output; {self.name} has {len(graph.inputs)} "
                             f"input(s) and {len(graph.outputs)} output(s)")
        self.input_shape = tuple(graph.input_shapes()[0])
        self.classes = self._classes(graph)
        span = graph.inputs[0].span or graph.nodes[graph.inputs[0].node].span
        self.where = span.location() if span is not None else ""
        # the texts the program compiled, main file first: what trains is what is copied
        self.files = _spec_files(program.sources)
        self.identity = _identity(list(program.sources.values()), self.name, params)
        self.inputs = spec_inputs(file, program.sources)

    def _classes(self, graph: Graph) -> int:
        (out,) = graph.output_shapes()
        if len(out) != 1 or not isinstance(out[0], int):
            shape = "[" + ", ".join(map(str, out)) + "]"
            raise SetupError(f"train needs a classifier: {self.name} outputs {shape}, not [classes]; "
                             f"end the network with `flatten linear(classes)` or `gap flatten linear(classes)`")
        return out[0]

    def build(self, shape: tuple[int, int, int]):
        from ..backends.torch_module import build_module

        graph = self.graph
        if tuple(self.input_shape) != tuple(shape):   # symbolic sizes: check the network at the data's size
            graph = self.program.elaborate(self.name, input=list(shape), **self.params)
            if not graph.ok:
                raise SpecError([d for d in graph.diagnostics if d.is_error])
        self.built = graph
        return build_module(graph)

    def run_files(self) -> dict[str, str]:
        return self.files

    def export_onnx(self, module, path: Path) -> tuple[bool, str]:
        """The trained weights through the ONNX backend (`archlang export`): checked and
        verified in onnxruntime. Returns (ok, what to tell the user)."""
        import copy

        import torch

        later = f"the weights are in {shown_name(path.parent / 'final.pt')} for `archlang export {shown_name(self.file)} --weights`"
        try:
            from ..backends import onnx as backend
        except ImportError as exc:
            return False, f"--export-onnx: the ONNX backend is not available ({exc}); {later}"
        plain = copy.deepcopy(module).cpu().to(memory_format=torch.contiguous_format)
        try:
            result = backend.export(self.built, path, module=plain)
        except backend.ExportError as exc:
            return False, f"--export-onnx failed: {exc}; {later}"
        except OSError as exc:   # a full disk
            return False, f"--export-onnx: cannot write {shown_name(path)}: {exc.strerror or exc}; {later}"
        v = result.verification
        checked = f", matches PyTorch within {v.max_abs_diff:.1e} in onnxruntime" if v is not None else ""
        return True, f"wrote {shown_name(path)} (opset {result.opset}, {result.nodes} nodes{checked})"


def _spec_files(sources: dict[Path, str]) -> dict[str, str]:
    """The spec and every file it imports, by their paths in the run folder.

    They keep their places relative to one another, so the copy compiles on
    its own: the main file at the top, imports beside or below it as they are
    now. A spec that imports from outside its own folder is copied from the
    files' common folder down, so the main file lands in a subfolder.
    """
    top = Path(os.path.commonpath([p.parent for p in sources]))
    return {path.relative_to(top).as_posix(): text for path, text in sources.items()}


def _identity(texts: list[str], name: str, params: dict) -> str:
    import hashlib

    key = "\0".join([*texts, name, repr(sorted(params.items()))])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
