"""What the two PyTorch backends share: the module tree a graph becomes.

`torch_source` (the text users read) and `torch_module` (the module they run)
follow one plan (`module_plan`, re-exported here), so their state_dict keys
agree by construction.

Layers are built from the op table's torch constructor; an argument that is
still symbolic (it depends on the input's size symbols) cannot become a module
and is reported as a located diagnostic.
"""
from __future__ import annotations

from typing import Any

from .. import ops
from ..diagnostics import Diagnostic, SpecError
from ..ir import Graph, Node
from . import torch_layers
# The plan both PyTorch backends follow, re-exported for them (it lives in module_plan, torch-free,
# because the ONNX backend names parameters by it too).
from .module_plan import MERGES, BlockPlan, Step, is_attribute, module_paths, plan, safe_variable  # noqa: F401


def constructors(graph: Graph) -> dict[int, tuple[str, dict[str, Any]]]:
    """Node id -> (class name, keyword arguments) for every layer: a torch.nn class or
    one of `torch_layers.EXTRA` (a parameter is no module: the block holds it).

    Raises SpecError when a layer's argument depends on a size symbol: a
    module needs numbers, so the input must be given concrete sizes.
    """
    out: dict[int, tuple[str, dict[str, Any]]] = {}
    problems: list[Diagnostic] = []
    for node in graph.nodes:
        if node.op == "input" or node.op in MERGES:
            continue
        spec = ops.OPS[node.op]
        symbolic = _symbolic_argument(node.args)
        if symbolic is None and spec.parameter:
            continue
        if symbolic is None:
            cls_name, kwargs = spec.torch([graph.nodes[i].shape for i in node.inputs], node.args)
            symbolic = _symbolic_argument(kwargs)
        if symbolic is not None:
            problems.append(_symbolic_diagnostic(node, *symbolic))
            continue
        torch_layers.layer_class(cls_name)  # an op that names no class is a bug of the table: fail here
        out[node.id] = (cls_name, kwargs)
    if problems:
        raise SpecError(problems)
    return out


def _symbolic_argument(args: dict[str, Any]) -> tuple[str, Any] | None:
    for name, value in args.items():
        if not is_plain(value):
            return name, value
    return None


def is_plain(value: Any) -> bool:
    """True for a value a constructor accepts: numbers, strings, None, and sequences of them.

    Anything else is a symbolic dim (an `Expr` of the input's size symbols).
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (tuple, list)):
        return all(is_plain(v) for v in value)
    return False


def _symbolic_diagnostic(node: Node, arg: str, value: Any) -> Diagnostic:
    return Diagnostic(
        "E211",
        f"`{node.op}` argument `{arg}` is {value}, which depends on the input's size; "
        f"a PyTorch module needs a number",
        node.span,
        label=f"layer {node.name}",
        help="give the input concrete sizes, e.g. `--input 3x224x224` (or input=[3, 224, 224] in the API)",
        call_stack=node.scope.frames(),
    )
