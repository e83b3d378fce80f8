"""What the two PyTorch backends share: the module tree a graph becomes.

`torch_source` (the text users read) and `torch_module` (the module they run)
follow one plan, so their state_dict keys agree by construction:

- every block instance (`ir.Scope`) is an nn.Module; the network is the root;
- its attributes are the layers and block instances directly inside it, in
  the order their first node was created (so parameters come in spec order);
- attribute names are the last part of the IR's dotted names, made safe for
  Python and nn.Module (see `safe_attribute`).

Layers are built from the op table's torch constructor; an argument that is
still symbolic (it depends on the input's size symbols) cannot become a module
and is reported as a located diagnostic.
"""
from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .. import ops
from ..diagnostics import Diagnostic, SpecError
from ..ir import Graph, Node, Scope
from . import torch_layers

MERGES = ("add", "concat")

# Attributes the generated classes define themselves.
CLASS_ATTRIBUTES = ("arch_params", "arch_inputs", "arch_outputs")
# Names an nn.Module already uses (methods, `training`, `_modules`...): a layer
# labelled `train` must not shadow Module.train.
_MODULE_ATTRIBUTES = frozenset(dir(nn.Module())) | frozenset(CLASS_ATTRIBUTES)


def safe_attribute(name: str) -> str:
    """`name` as an attribute of a generated nn.Module.

    Labels are identifiers already; the few that a Python class or nn.Module
    reserves get a trailing underscore (`train` -> `train_`, `class` ->
    `class_`), leading underscores are dropped (`_modules` -> `modules_`).
    Everything else is kept, so state_dict keys read like the spec.
    """
    if keyword.iskeyword(name) or name in _MODULE_ATTRIBUTES or name.startswith("_"):
        stripped = name.lstrip("_")
        return (stripped if stripped[:1].isalpha() else "m" + stripped) + "_"   # `_1` -> `m1_`, not `1_`
    return name


def safe_variable(name: str, reserved: set[str]) -> str:
    """`name` as a parameter of `forward` or `__init__`, clear of keywords and the
    names that method's body uses (`self`, `nn`, `torch`, the classes...)."""
    while keyword.iskeyword(name) or name in reserved:
        name += "_"
    return name


@dataclass(eq=False)
class Step:
    """One line of a block's forward: a layer, a merge or a block call."""

    kind: str                      # "layer", "merge" or "block"
    node: Node | None = None       # the layer or merge
    block: BlockPlan | None = None     # the block instance called
    attr: str | None = None        # the attribute holding the module (layers, blocks)


@dataclass(eq=False)
class BlockPlan:
    """One nn.Module of the tree: the network or a block instance."""

    scope: Scope
    steps: list[Step] = field(default_factory=list)

    @property
    def members(self) -> list[Step]:
        """The steps that own a module, in declaration order."""
        return [s for s in self.steps if s.kind != "merge"]

    def blocks(self) -> list[BlockPlan]:
        """Every block instance below this one, children before their parents."""
        out: list[BlockPlan] = []
        for step in self.steps:
            if step.block is not None:
                out.extend(step.block.blocks())
                out.append(step.block)
        return out


def plan(graph: Graph) -> BlockPlan:
    """The module tree of `graph`: one BlockPlan per non-empty scope.

    Each node is placed in the innermost scope holding it; a block instance
    becomes a step of its parent at the place of its first node. One pass,
    linear in nodes times nesting depth.
    """
    plans: dict[int, BlockPlan] = {id(graph.root): BlockPlan(graph.root)}

    def plan_of(scope: Scope) -> BlockPlan:
        found = plans.get(id(scope))
        if found is None:
            found = plans[id(scope)] = BlockPlan(scope)
            parent = plan_of(scope.parent)
            parent.steps.append(Step("block", block=found))
        return found

    for node in graph.nodes:
        if node.op == "input":
            continue
        target = plan_of(node.scope)
        target.steps.append(Step("merge" if node.op in MERGES else "layer", node=node))
    for block_plan in plans.values():
        _name_members(block_plan)
    return plans[id(graph.root)]


def _name_members(block_plan: BlockPlan) -> None:
    taken: set[str] = set()
    for step in block_plan.members:
        raw = step.node.local_name if step.node is not None else step.block.scope.local_name
        name = safe_attribute(raw)
        base, n = name, 2
        while name in taken:  # only reachable through renaming; IR names are unique
            name, n = f"{base}{n}", n + 1
        taken.add(name)
        step.attr = name


def module_paths(root: BlockPlan) -> dict[int, str]:
    """Node id -> its module's dotted path in the built nn.Module (layers only).

    Equal to `node.name` except where `safe_attribute` renamed a part.
    """
    paths: dict[int, str] = {}

    def walk(block_plan: BlockPlan, prefix: str) -> None:
        for step in block_plan.members:
            path = prefix + step.attr
            if step.block is not None:
                walk(step.block, path + ".")
            else:
                paths[step.node.id] = path

    walk(root, "")
    return paths


def constructors(graph: Graph) -> dict[int, tuple[str, dict[str, Any]]]:
    """Node id -> (class name, keyword arguments) for every layer: a torch.nn class or
    one of `torch_layers.EXTRA`.

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
