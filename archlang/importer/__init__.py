"""`archlang import`: PyTorch models and ONNX files as readable specs.

    text = archlang.import_module(torchvision.models.resnet50(), input=[3, 224, 224])

The modules, in the order the data goes through them:

- `from_torch`: a model traced with torch.fx (at the input's sizes where fx cannot)
  into an `ImportedGraph` of calls of the op table; `torch_ops` reads layers
  and functions through the op table's constructors (`reverse`), and
  `torch_calls` the calls that are merges, arithmetic, pooling or reshapes;
- `from_onnx`: an ONNX file into the same graph, and its weights;
- `graph`: that graph (torch-free);
- `structure`: module instances as regions, bodies as chains and paths;
- `blocks`: blocks with parameters, repeats, optional parts, inlining;
- `emit`: the spec's text, formatted as `archlang fmt` does;
- `errors`: E701, what cannot be imported, located in the model's code.
"""
from __future__ import annotations

from typing import Any

from .errors import ImportFailure

__all__ = ["import_module", "ImportFailure", "Imported"]


class Imported:
    """An imported network: the spec's `text`, its `graph`, and the weights when the source
    held them (`weights`: state_dict key -> numpy array, or None)."""

    def __init__(self, text: str, graph, weights: dict[str, Any] | None = None) -> None:
        self.text = text
        self.graph = graph
        self.weights = weights


def import_module(module, input: list[int] | tuple[int, ...] = (3, 224, 224), network: str | None = None,
                  source: str | None = None) -> str:
    """The spec of a torch.nn.Module, as text: `archlang.import_module(resnet50(), input=[3, 224, 224])`.

    Raises ImportFailure (with `.diagnostics`) for what cannot be imported.
    """
    return from_model(module, input, network, source).text


def from_model(module, input=(3, 224, 224), network: str | None = None, source: str | None = None) -> Imported:
    from . import from_torch
    graph = from_torch.read_model(module, tuple(input), network or _network_name(type(module).__name__))
    return Imported(write(graph, source or type(module).__name__), graph)


def read_onnx(path, input=None, network: str | None = None, source: str | None = None) -> Imported:
    """An ONNX file's spec and its weights (by the spec's state_dict keys)."""
    from pathlib import Path

    from . import from_onnx as reader
    graph, weights = reader.read_file(path, tuple(input) if input else None,
                                      network or _network_name(Path(path).stem.capitalize()))
    return Imported(write(graph, source or Path(path).name), graph, weights)


def write(graph, source: str) -> str:
    """The spec text of an imported graph."""
    from .blocks import recover
    from .emit import spec_text
    from .structure import analyse
    root = analyse(graph)
    rec = recover(root, graph)
    header = [f"Imported from {source} by `archlang import`: {graph.root_class or graph.name}."]
    text = spec_text(rec, graph.name, graph.calls[0].shape, header)
    _check_written(text, graph)
    return text


def _check_written(text: str, graph) -> None:
    """The spec must check clean and name every layer that holds weights by its module's path:
    a structure recovered wrongly is an error here, never a spec that loads no state_dict."""
    from .. import load
    from ..backends.module_plan import module_paths, plan
    from ..diagnostics import SpecError
    from .errors import failure
    try:
        built = load(f"<import of {graph.name}>.arch", text=text).network(graph.name)
    except SpecError as err:
        built = None
        problems = [d.message for d in err.diagnostics]
    else:
        problems = [d.message for d in built.diagnostics if d.is_error]
    if not problems:
        paths = set(module_paths(plan(built)).values())
        problems = [f"no layer is named {'.'.join(c.module)}" for c in graph.calls
                    if c.state and ".".join(c.module) not in paths][:3]
    if problems:
        raise failure(f"the structure recovered for {graph.name} is not the model's: {'; '.join(problems[:3])}",
                      help="this is a limit of archlang import: please report the model")


def _network_name(cls: str) -> str:
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in cls).lstrip("_") or "Imported"
    return name if name[0].isalpha() else "Net" + name
