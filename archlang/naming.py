"""Names in a graph: labels as given, automatic names, and what a label may not be.

A node's name is its dotted module path (docs/internals.md). In each scope,
`Names` hands out the parts: a label as written, or an automatic name, the op
or the block's name and a counter (`conv1`, `residual2`). The labels of a
scope's body are reserved before anything is named, so an automatic name
never takes a label's name, and an automatic name is always a valid module
attribute (it starts with a letter and ends with a digit).

A label is the name of a module in the generated PyTorch code and in the
state_dict, exactly as written: a label that cannot be one (`train`, which
nn.Module already has; `class`, a Python keyword; `_x`, a name of PyTorch's
private space) is an error at `check` time, never a silent rename. This module
must not import torch: `MODULE_ATTRIBUTES` is nn.Module's public attributes
written out, and a test compares it with `dir(torch.nn.Module())`.
"""
from __future__ import annotations

import keyword
import re

from . import syntax as ast
from .source import Span

# `cur` and `in` always mean these tensors: a constant, parameter or tensor of
# either name could never be read, so defining one is an error.
TENSOR_WORDS = {"cur": "the tensor the layer being called receives", "in": "the tensor that entered the body"}


# The public attributes of torch.nn.Module (torch 2.x); the private ones all start with `_`.
MODULE_ATTRIBUTES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile",
    "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer",
    "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia",
    "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
    "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter", "register_state_dict_post_hook",
    "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule", "share_memory",
    "state_dict", "to", "to_empty", "train", "training", "type", "xpu", "zero_grad",
})
# What the generated network classes define besides (backends/torch_source.py).
CLASS_ATTRIBUTES = ("arch_params", "arch_inputs", "arch_outputs")


def module_name_problem(name: str) -> str | None:
    """Why `name` cannot be a module attribute as written, or None."""
    if name.startswith("_"):
        return ("names that start with `_` belong to PyTorch: nn.Module keeps its own state in them "
                "(`_modules`, `_parameters`), and each release adds more")
    if keyword.iskeyword(name):
        return "it is a Python keyword, and the generated code reads each layer as an attribute (`self.name`)"
    if name in MODULE_ATTRIBUTES:
        return f"nn.Module already has `{name}`, which the layer would hide"
    if name in CLASS_ATTRIBUTES:
        return f"the generated module keeps `{name}` for itself"
    return None


def hides_tensor_word(ident: ast.Ident, what: str, report) -> bool:
    """E207 (and True) when `ident` would name a `what` `cur` or `in`."""
    meaning = TENSOR_WORDS.get(ident.name)
    if meaning is None:
        return False
    report.error("E207", f"`{ident.name}` cannot name a {what}: it always means {meaning}", ident.span,
                 label="a name the language keeps", help="choose another name")
    return True


def join(path: str, local: str) -> str:
    """A scope's path and a local name: `stage2` + `conv1` -> `stage2.conv1`."""
    return f"{path}.{local}" if path else local


def automatic_base(name: str) -> str:
    """The start of an automatic name for a call of block `name`: lower case, starting with a letter."""
    base = name.lower().lstrip("_")
    return base if base[:1].isalpha() else "block" + base


def labels_in(node) -> set[str]:
    """The labels written out in a scope's body (or chain), through repeat, if and paths but not
    into block calls; computed labels ("layer{i}") are known only once evaluated."""
    return {n.label.name for n in ast.walk_layers(node) if type(n) in _LABELLED and type(n.label) is ast.Ident}


_LABELLED = frozenset({ast.Layers, ast.Bind, ast.Call, ast.Paths, ast.Residual})
# What a module name may be made of: torchvision's names (`layer1`, `0`, `block1-0`,
# `Conv2d_1a_3x3`). No `.` (it joins the parts of a path), nothing that needs quoting.
LABEL_TEXT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def label_part(value) -> str | None:
    """A computed label part's text: an int or a string; None for any other value."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else None


def bad_label_text(text: str) -> str | None:
    """Why a computed label's text cannot name a module, or None."""
    if not text:
        return "it is empty"
    if "." in text:
        return "it holds a `.`, which joins the parts of a module path"
    if not LABEL_TEXT.fullmatch(text):
        return "a label is made of letters, digits, `_` and `-`, and does not start with `-`"
    return None


class Names:
    """Local names in one scope: labels as given, the rest a base and a counter."""

    def __init__(self, reserved: set[str]) -> None:
        self.reserved = reserved
        self.taken: dict[str, Span | None] = {}
        self.counters: dict[str, int] = {}

    def auto(self, base: str) -> str:
        n = self.counters.get(base, 0)
        while True:
            n += 1
            name = f"{base}{n}"
            if name not in self.taken and name not in self.reserved:
                break
        self.counters[base] = n
        self.taken[name] = None
        return name

    def label(self, ident: ast.Ident, report, module: bool = True, computed: bool = False) -> str | None:
        """Take a label; None (after E207) when the scope already has that name, or when it
        names a module (`module`; an input's name names a tensor) that cannot be called so.

        `computed`: the name came from a label like "layer{i}", which a repeat may
        evaluate again: a name it gives twice is the error, not the repeat.
        """
        name = ident.name
        if name in self.taken:
            first = self.taken[name]
            same_place = first is not None and first.start == ident.span.start and first.source is ident.span.source
            if same_place and computed:
                report.error("E207", f"this label gives `{name}` again", ident.span,
                             label=f"`{name}` names an earlier layer already",
                             help="make each evaluation differ, as in \"layer{i}\" with the repeat's counter i")
            elif same_place:
                report.error("E207", f"label `{name}` is inside a repeat: it would name a layer of every "
                                     f"iteration", ident.span, label="one name for several layers",
                             help="leave the label out (the layers get numbered names), or move it out of the repeat")
            elif first is not None:
                report.error("E207", f"duplicate label `{name}`", ident.span, label="used twice in this scope",
                             related=[(first, f"`{name}` is first used here")])
            else:
                report.error("E207", f"duplicate label `{name}`", ident.span, label="used twice in this scope",
                             notes=[f"`{name}` is already the name of a layer or input here"])
            return None
        why = module_name_problem(name) if module else None
        if why is not None:
            report.error("E207", f"label `{name}` cannot name a layer: {why}", ident.span,
                         label="not a module name", help=f"choose another label, such as `{_suggestion(name)}`")
            return None
        self.taken[name] = ident.span
        return name


def _suggestion(name: str) -> str:
    stripped = name.strip("_") or "layer"
    candidate = f"{stripped}_layer" if stripped[:1].isalpha() else f"layer{stripped}"
    return candidate if module_name_problem(candidate) is None else "layer"
