"""The module tree a graph becomes: one nn.Module per block instance, attribute names.

Torch-free, so that every backend names things alike: the PyTorch backends
build their classes from this plan (`torch_common`), and the ONNX backend
names parameters by the same paths, so its tensors are the state_dict's keys
with or without torch installed.

- every block instance (`ir.Scope`) is an nn.Module; the network is the root;
- its attributes are the layers and block instances directly inside it, in
  the order their first node was created (so parameters come in spec order),
  after the parameters it declares (`parameter`), which nn.Module's
  state_dict lists before its submodules;
- attribute names are the last part of the IR's dotted names, as they are:
  a label is a valid module name or an error at check time, and automatic
  names are valid by construction (`naming.py`).
"""
from __future__ import annotations

import keyword
from dataclasses import dataclass, field

from .. import ops
from ..ir import Graph, Node, Scope

# The ops that are no module but an expression in `forward` (OpSpec.expression): merges, chunk.
MERGES = tuple(name for name, spec in ops.OPS.items() if spec.expression is not None)

def is_attribute(name: str) -> bool:
    """Whether generated code can write `self.<name>`; else it registers the module with
    `add_module("0", ...)` and reads it with `getattr(self, "0")`, as nn.Sequential's
    children are named."""
    return name.isidentifier()


def safe_variable(name: str, reserved: set[str]) -> str:
    """`name` as a parameter of `forward` or `__init__`, clear of keywords and the
    names that method's body uses (`self`, `nn`, `torch`, the classes...)."""
    while keyword.iskeyword(name) or name in reserved:
        name += "_"
    return name


@dataclass(eq=False)
class Step:
    """One line of a block's forward: a layer, a merge or a block call."""

    kind: str                      # "layer", "merge", "parameter" or "block"
    node: Node | None = None       # the layer, merge or parameter
    block: BlockPlan | None = None     # the block instance called
    attr: str | None = None        # the attribute holding the module (layers, blocks)


@dataclass(eq=False)
class BlockPlan:
    """One nn.Module of the tree: the network or a block instance."""

    scope: Scope
    steps: list[Step] = field(default_factory=list)

    @property
    def members(self) -> list[Step]:
        """The steps that own a module or a parameter, in state_dict order: nn.Module lists its
        own parameters first, then its submodules in declaration order."""
        return ([s for s in self.steps if s.kind == "parameter"] +
                [s for s in self.steps if s.kind not in ("merge", "parameter")])

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
        kind = "merge" if node.op in MERGES else "parameter" if ops.OPS[node.op].parameter else "layer"
        target.steps.append(Step(kind, node=node))
    for block_plan in plans.values():
        _name_members(block_plan)
    return plans[id(graph.root)]


def _name_members(block_plan: BlockPlan) -> None:
    """Each member's attribute is its IR name's last part: the label, or the automatic name."""
    for step in block_plan.members:
        step.attr = step.node.local_name if step.node is not None else step.block.scope.local_name


def module_paths(root: BlockPlan) -> dict[int, str]:
    """Node id -> its module's dotted path in the built nn.Module (layers only): `node.name`;
    for a parameter, its own state_dict key."""
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
