"""The module tree a graph becomes: one nn.Module per block instance, attribute names.

Torch-free, so that every backend names things alike: the PyTorch backends
build their classes from this plan (`torch_common`), and the ONNX backend
names parameters by the same paths, so its tensors are the state_dict's keys
with or without torch installed.

- every block instance (`ir.Scope`) is an nn.Module; the network is the root;
- its attributes are the layers and block instances directly inside it, in
  the order their first node was created (so parameters come in spec order);
- attribute names are the last part of the IR's dotted names, made safe for
  Python and nn.Module (see `safe_attribute`).
"""
from __future__ import annotations

import keyword
from dataclasses import dataclass, field

from ..ir import Graph, Node, Scope

MERGES = ("add", "concat")

# Attributes the generated classes define themselves.
CLASS_ATTRIBUTES = ("arch_params", "arch_inputs", "arch_outputs")
# The public names an nn.Module already uses (methods, `training`...): a layer
# labelled `train` must not shadow Module.train. Written out rather than read
# from torch, so that the ONNX backend names parameters alike without torch;
# tests/test_onnx.py checks the list against the installed torch. Names with a
# leading underscore are renamed anyway.
MODULE_ATTRIBUTES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile",
    "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer",
    "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia",
    "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
    "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter",
    "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_", "set_extra_state",
    "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train", "training", "type", "xpu",
    "zero_grad",
})
_RESERVED = MODULE_ATTRIBUTES | frozenset(CLASS_ATTRIBUTES)


def safe_attribute(name: str) -> str:
    """`name` as an attribute of a generated nn.Module.

    Labels are identifiers already; the few that a Python class or nn.Module
    reserves get a trailing underscore (`train` -> `train_`, `class` ->
    `class_`), leading underscores are dropped (`_modules` -> `modules_`).
    Everything else is kept, so state_dict keys read like the spec.
    """
    if keyword.iskeyword(name) or name in _RESERVED or name.startswith("_"):
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
