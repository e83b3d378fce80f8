"""Graph -> standalone PyTorch source: what `archlang build` prints.

The file depends on torch alone. It holds one nn.Module class per block
(instances that are alike share one class), then the network's class. Each
`__init__` declares its layers in spec order; each `forward` is straight-line
code with the shape after every line and the spec line it came from:

    x = self.conv1(x)  # (N, 6, 24, 24)  specs/lenet_bn.arch:4

The text is a function of the checked graph only (no clock, no paths of this
machine, no dict-order accidents), so it is byte-identical from run to run,
and it is laid out the way black would lay it out. `torch_module` executes
this same text, so the generated classes and `archlang.compile` agree.
"""
from __future__ import annotations

import builtins
import inspect
import json
import keyword
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import ops
from ..ir import Graph, Node, Scope
from . import torch_layers
from .torch_common import MERGES, BlockPlan, Step, constructors, is_attribute, plan, safe_variable

LINE = 88          # black's default line length
_BUILTINS = frozenset(dir(builtins))
INDENT = "    "
KEYWORD_ALWAYS = ("kernel_size",)   # named even where positional would do, as d2l does


@dataclass(frozen=True)
class Emitted:
    source: str
    network_class: str


def generate(graph: Graph) -> str:
    """The standalone source of `graph` (a checked graph)."""
    return emit(graph).source


def emit(graph: Graph) -> Emitted:
    root = plan(graph)
    layers = constructors(graph)
    writer = _FileWriter(graph, layers)
    writer.add_extra_layers()
    network_class = writer.reserve_class_name(graph.name)
    for block_plan in root.blocks():
        writer.add_block(block_plan)
    writer.add_network(root, network_class)
    return Emitted(writer.text(), network_class)


# -- the file ------------------------------------------------------------------

class _FileWriter:
    """Collects the classes of one file; alike block instances share a class."""

    def __init__(self, graph: Graph, layers: dict[int, tuple[str, dict]]) -> None:
        self.graph = graph
        self.layers = layers
        self.classes: list[list[str]] = []          # class texts, in definition order
        self.class_of: dict[int, str] = {}          # id(BlockPlan) -> class name
        self._by_body: dict[tuple, str] = {}        # (block, body text) -> class name
        self._names: set[str] = {"torch", "nn"}
        self.uses_torch = False
        self.extra_layers: list[str] = []           # classes of torch_layers.EXTRA, defined first
        self.roots = storage_roots(graph)              # node id -> the node whose tensor it is
        self.readers = tensor_readers(graph, self.roots)
        self.outside = outside_reads(graph, self.roots)  # id(scope) -> tensors it reads from outside

    def reserve_class_name(self, wanted: str) -> str:
        # No leading underscores (`__init__` would be name-mangled where other classes use it),
        # no keyword or builtin (`None`, `True`, `ValueError`, which __init__ raises).
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in wanted).lstrip("_")  # a label: `block1-0`
        base = base[:1].upper() + base[1:] if base[:1].isalpha() else "Block" + base
        if keyword.iskeyword(base) or base in _BUILTINS:
            base += "_"
        glue = "_" if base[-1].isdigit() else ""  # Stage2, but Block1_2
        name, n = base, 2
        while name in self._names:
            name, n = f"{base}{glue}{n}", n + 1
        self._names.add(name)
        return name

    def add_extra_layers(self) -> None:
        """The layers torch.nn lacks that this network uses, defined at the top of the file
        (as torchvision's convnext.py defines LayerNorm2d), their names reserved first."""
        used = {cls_name for cls_name, _ in self.layers.values() if cls_name in torch_layers.EXTRA}
        self.extra_layers = [name for name in torch_layers.EXTRA if name in used]
        self._names.update(self.extra_layers)
        self.uses_torch = self.uses_torch or bool(self.extra_layers)

    def add_block(self, block_plan: BlockPlan) -> None:
        """Define the class of one block instance, or reuse an identical one.

        Two instances share a class when their bodies are the same text: the
        same layers, shapes and lines. Instances with equal `Scope.key` always
        are; comparing text also guards against a key that misses something.
        """
        scope = block_plan.scope
        # A labelled group may read tensors named outside it (`g: relu concat { | x -> conv(8, k=1) }`):
        # they come in as further arguments, after the tensor it is called on.
        extra = [f"x{i}" for i in range(1, len(self.outside.get(id(scope), [])) + 1)]
        values = {scope.entry: "x", **dict(zip(self.outside.get(id(scope), []), extra))}
        forward_writer = _Forward(self, block_plan, ["x", *extra], values, [scope.exit])
        forward = forward_writer.lines()
        init = self._init_lines(block_plan, forward_writer.inplace)
        key = (scope.block, tuple(init), tuple(extra), tuple(forward))
        name = self._by_body.get(key)
        if name is None:
            name = self._by_body[key] = self.reserve_class_name(scope.block)
            doc = self._block_doc(scope)
            self.classes.append(_class_text(name, doc, [], ["self"], init, ["self", "x", *extra], forward))
        self.class_of[id(block_plan)] = name

    def add_network(self, root: BlockPlan, name: str) -> None:
        g = self.graph
        # `__init__` reads super (and so __class__), nn and the block classes; `forward` reads
        # self and torch. A renamed name must not take another's: `self` and `self_` both.
        params = dict(zip(_variables(g.params, self._names | {"self", "super", "__class__", "ValueError"}),
                          g.params.values()))
        ports = _variables([p.name for p in g.inputs], {"self", "torch", "nn", "getattr"})
        values = {p.node: var for p, var in zip(g.inputs, ports)}
        forward_writer = _Forward(self, root, ports, values, [p.node for p in g.outputs])
        forward = forward_writer.lines()
        attributes = [
            *_layout(_Bracket("{", "}", [f"{_literal(k)}: {_literal(v)}" for k, v in g.params.items()]), 1,
                     "arch_params = ", ""),
            *_layout(_Bracket("[", "]", [_port_literal(g, p) for p in g.inputs]), 1, "arch_inputs = ", ""),
            *_layout(_Bracket("[", "]", [_port_literal(g, p) for p in g.outputs]), 1, "arch_outputs = ", ""),
        ]
        init = self._params_check(name, params) + self._init_lines(root, forward_writer.inplace)
        init_signature = ["self"] + [f"{k}={_literal(v)}" for k, v in params.items()]
        signature = f"{g.name}{_call_args(g.params)}"
        doc = _docstring([f"{signature}: {_ports_summary(g)}.", f"{signature}.", f"{_ports_summary(g)}."], 1)
        self.classes.append(_class_text(name, doc, attributes, init_signature, init, ["self", *ports], forward))

    def _init_lines(self, block_plan: BlockPlan, inplace: set[str]) -> list[str]:
        lines = []
        for step in block_plan.members:
            if step.block is not None:
                value: Any = _call(self.class_of[id(step.block)], [])
            else:
                value = self._constructor(step.node, step.attr in inplace)
            if is_attribute(step.attr):
                lines.extend(_layout(value, 2, f"self.{step.attr} = ", ""))
            else:
                lines.extend(_layout(_call("self.add_module", [_string(step.attr), value]), 2, "", ""))
        return lines

    def _constructor(self, node: Node, inplace: bool) -> _Bracket:
        cls_name, kwargs = self.layers[node.id]
        if inplace:
            kwargs = {**kwargs, "inplace": True}
        qualified = cls_name if cls_name in torch_layers.EXTRA else f"nn.{cls_name}"
        return _call(qualified, _constructor_args(cls_name, kwargs))

    def _params_check(self, name: str, params: dict[str, Any]) -> list[str]:
        """The honest answer to "what if a parameter changes": refuse, say how to rebuild."""
        if not params:
            return []
        # A spec's list arrives as a tuple; `tuple(...)` lets callers pass a list too.
        terms = [f"tuple({k})" if isinstance(v, tuple) else k for k, v in params.items()]
        if len(params) == 1:
            test = _layout(_literal(*params.values()), 2, f"if {terms[0]} != ", ":")
        else:
            values = _Bracket("(", ")", [_literal(v) for v in params.values()])
            test = _layout(values, 2, f"if ({', '.join(terms)}) != ", ":")
        built = ", ".join(f"{k}={_literal(v)}" for k, v in params.items())
        message = f"{name} was generated for {built}; build it again with `archlang build --set NAME=VALUE` for other values"
        pieces = _wrap(message, LINE - len(INDENT * 4) - 3)  # room for the quotes and a space
        pieces = [p + " " for p in pieces[:-1]] + pieces[-1:]   # the spaces the wrap took
        return [
            *test,
            f"{INDENT * 3}raise ValueError(",
            *(f"{INDENT * 4}{_string(p)}" for p in pieces),
            f"{INDENT * 3})",
        ]

    def _block_doc(self, scope: Scope) -> list[str]:
        summary = f"{_inert(scope.call)} on {_spec_shape(self.graph.nodes[scope.entry].shape)}"
        if scope.span is None:
            return _docstring([summary + "."], 1)
        return _docstring([f"{summary}; called at {_location(scope.span)}.", f"{summary}.",
                           f"Called at {_location(scope.span)}."], 1)

    def text(self) -> str:
        g = self.graph
        file = _location(g.span, line=False) if g.span is not None else "SPEC"
        built = ", ".join(f"{k}={_arch_literal(v)}" for k, v in g.params.items())
        about = f"Depends on torch only. Input {_ports_summary(g)}; the shapes in the comments lead with the batch N."
        if built:
            about += (f" Built with {built}: the classes are specialised to these values. To change one, "
                      f"build again with --set, as in")
        command = ["archlang", "build", file, "--network", g.name]
        command += [f"--set {k}={_arch_literal(v)}" for k, v in list(g.params.items())[:1]]
        prose = [
            *_wrap(f"{g.name}: PyTorch source generated by archlang from {file}.", LINE - 4),
            "",
            *_wrap(about, LINE),
            *(["", "    " + " ".join(command)] if built else []),
        ]
        lines = [_quoted(line) for line in prose]
        header = ['"""' + lines[0], *lines[1:], '"""', ""]
        imports = (["import torch"] if self.uses_torch else []) + ["from torch import nn"]
        extra = [torch_layers.class_source(name) for name in self.extra_layers]
        parts = ["\n".join(header + imports)] + extra + ["\n".join(c) for c in self.classes]
        return "\n\n\n".join(parts) + "\n"


# -- forward ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Line:
    """One statement of a forward, before variables are chosen."""

    key: Any                 # the value it computes: a node id, or ("call", i)
    inputs: tuple            # the value keys it reads
    build: Callable[[list[str]], Any]   # input variables -> expression
    comment: str
    op: str                  # the node's op, or "block"
    attr: str | None = None  # the module it calls

    @property
    def droppable(self) -> bool:
        """A merge has no effect besides its value."""
        return self.op in MERGES


# In place, as torchvision writes `out += identity` and `nn.ReLU(inplace=True)`:
# saves an activation per ReLU in training. Only where nothing can tell: the
# tensor is not this block's input (the caller may hold it), the step is the
# only reader of the tensor under any of its names (no other op saved it for
# backward, and no view of it exists), and it was made by an op whose output
# is fresh and unread by its own backward (`OpSpec.fresh_output`). A one-input
# add is its input (`OpSpec.aliases_single_input`): liveness and readers are
# those of the tensor, found through `storage_roots`.


def storage_roots(graph: Graph) -> list[int]:
    """Node id -> the node whose tensor its value is: itself, or through an op whose
    value is its single input (`OpSpec.aliases_single_input`), that input's root."""
    roots: list[int] = []
    for node in graph.nodes:
        spec = ops.OPS.get(node.op)
        alias = spec is not None and spec.aliases_single_input and len(node.inputs) == 1
        roots.append(roots[node.inputs[0]] if alias else node.id)
    return roots


def tensor_readers(graph: Graph, roots: list[int]) -> dict[int, set[int]]:
    """Root -> the nodes that read its tensor under any name (aliases themselves read nothing)."""
    readers: dict[int, set[int]] = {}
    for node in graph.nodes:
        for src in node.inputs:
            if roots[node.id] != roots[src]:
                readers.setdefault(roots[src], set()).add(node.id)
    return readers


def outside_reads(graph: Graph, roots: list[int]) -> dict[int, list[int]]:
    """id(scope) -> the tensors (roots) that nodes inside the scope read but that are made
    outside it, other than the tensor it is called on, in order of first reading.

    Only a labelled group has any: a block's body sees no tensor of its caller, but a
    group's statements (a path starting from a named tensor, `cat(a, b)`) do.
    """
    inside: dict[int, set[int]] = {}   # id(scope) -> ids of the scopes around it, itself included

    def around(scope: Scope) -> set[int]:
        found = inside.get(id(scope))
        if found is None:
            found = inside[id(scope)] = {id(s) for s in scope.ancestors()}
        return found

    reads: dict[int, list[int]] = {}
    for node in graph.nodes:
        for src in node.inputs:
            made_in = around(graph.nodes[src].scope)
            for scope in node.scope.ancestors():
                if scope.parent is None or id(scope) in made_in:
                    break   # the network, or a scope that makes the tensor: no further scope reads it from outside
                if roots[src] != roots[scope.entry] and roots[src] not in reads.setdefault(id(scope), []):
                    reads[id(scope)].append(roots[src])
    return reads


class _Forward:
    """The straight-line `forward` of one class.

    Each tensor gets a variable; a variable is reused once its tensor is dead,
    and a layer's output takes its input's name when that input dies there,
    so chains read `x = self.conv1(x)` and intermediates are freed early.
    Values that are another's tensor (a one-input add, a block that yields
    its input) share its variable. Merges whose result nobody reads are
    dropped; layers always run (their parameters exist and are trained, and
    the spec asked for them). ReLUs and two-way adds work in place where that
    is safe (see `storage_roots`).
    """

    POOL_START = ("x", "y", "z")

    def __init__(self, writer: _FileWriter, block_plan: BlockPlan, params: list[str],
                 values: dict[Any, str], outputs: list[Any]) -> None:
        self.writer = writer
        self.graph = writer.graph
        self.plan = block_plan
        self.params = params
        self.values = {self._tensor(k): v for k, v in values.items()}   # tensor key -> its variable
        self.outputs = outputs
        self.inplace: set[str] = set()  # attributes of ReLUs that run in place
        self._param_keys = set(self.values)

    def _tensor(self, key) -> Any:
        """The key of the tensor a value is: its root node, or the key itself (("call", i))."""
        return self.writer.roots[key] if isinstance(key, int) else key

    def lines(self) -> list[str]:
        steps = _drop_dead_merges([self._describe(i, s) for i, s in enumerate(self.plan.steps)], self.outputs)
        last_use = _last_uses(steps, [self._tensor(k) for k in self.outputs], self._tensor)
        live = set(self.params)
        out: list[str] = []
        for i, step in enumerate(steps):
            inputs = [self._tensor(k) for k in step.inputs]
            outside = [k for k in inputs if k not in self.values]
            if outside:
                raise ValueError(f"block {self.plan.scope.path or self.graph.name!r} reads node {outside[0]}, "
                                 f"which is neither its input nor computed inside it")
            in_vars = [self.values[k] for k in inputs]
            result = self._tensor(step.key)
            if result in inputs:       # the step's value is one of its inputs' tensors
                if step.op != "block":  # a one-input add: no code, the same variable
                    continue
                var = self.values[result]
                out.extend(_statement(step.build(in_vars), f"{var} = ", step.comment))
                continue
            dying = [k for k in dict.fromkeys(inputs) if last_use.get(k) == i]
            for k in dying:
                live.discard(self.values[k])
            if result not in last_use:   # nobody reads it: run it for its effects only
                out.extend(_statement(step.build(in_vars), "", step.comment))
                continue
            overwritable = [k for k in dying if self._overwritable(k, step)]
            writes = ops.OPS[step.op].writes_input if step.op in ops.OPS else None
            if writes == "sum" and len(inputs) == 2 and overwritable:
                var = self.values[overwritable[0]]
                other = in_vars[1] if inputs[0] == overwritable[0] else in_vars[0]
                out.extend(_statement(other, f"{var} += ", step.comment))
            else:
                if writes == "module" and overwritable:
                    self.inplace.add(step.attr)
                var = self.values[dying[0]] if dying else _free_name(live, self.POOL_START)
                out.extend(_statement(step.build(in_vars), f"{var} = ", step.comment))
            live.add(var)
            self.values[result] = var
        out.append(f"{INDENT * 2}return {', '.join(self.values[self._tensor(k)] for k in self.outputs)}")
        return out

    def _overwritable(self, tensor, step: _Line) -> bool:
        """May `step` write into `tensor` (a dying root, see `storage_roots`)?"""
        if tensor in self._param_keys or not isinstance(tensor, int) or not isinstance(step.key, int):
            return False
        spec = ops.OPS.get(self.graph.nodes[tensor].op)
        return spec is not None and spec.fresh_output and self.writer.readers.get(tensor) == {step.key}

    def _describe(self, index: int, step: Step) -> _Line:
        g = self.graph
        if step.kind == "block":
            scope = step.block.scope
            # A block yielding its own input (all its layers unused) still runs.
            key = scope.exit if scope.exit != scope.entry else ("call", index)
            comment = _comment(g.nodes[scope.exit].shape, scope.span)
            inputs = (scope.entry, *self.writer.outside.get(id(scope), []))
            return _Line(key, inputs, _caller(_member(step.attr)), comment, "block", step.attr)
        node = step.node
        comment = _comment(node.shape, node.span)
        if step.kind == "layer":
            return _Line(node.id, node.inputs, _caller(_member(step.attr)), comment, node.op, step.attr)
        expression = ops.OPS[node.op].expression
        if "torch." in expression(["x"] * len(node.inputs), node.args):
            self.writer.uses_torch = True
        return _Line(node.id, node.inputs, lambda variables: expression(variables, node.args), comment, node.op)


def _variables(names, reserved: set[str]) -> list[str]:
    """Safe, distinct Python parameter names for `names`, in order."""
    taken = set(reserved)
    out = []
    for name in names:
        var = safe_variable(name, taken)
        taken.add(var)
        out.append(var)
    return out


def _member(attr: str) -> str:
    """How a forward reads a submodule: `self.conv1`, or `getattr(self, "0")` (see is_attribute)."""
    return f"self.{attr}" if is_attribute(attr) else f"getattr(self, {_string(attr)})"


def _caller(func: str) -> Callable[[list[str]], _Bracket]:
    return lambda variables: _call(func, list(variables))


def _drop_dead_merges(steps: list[_Line], outputs: list) -> list[_Line]:
    """Steps without the merges whose value nobody needs (walked backwards)."""
    needed = set(outputs)
    kept: list[_Line] = []
    for step in reversed(steps):
        if step.droppable and step.key not in needed:
            continue
        kept.append(step)
        needed.update(step.inputs)
    return kept[::-1]


def _last_uses(steps: list[_Line], outputs: list, tensor: Callable[[Any], Any]) -> dict:
    """Tensor key -> index of the last step reading it under any name (len(steps) for outputs)."""
    last: dict = {}
    for i, step in enumerate(steps):
        for k in step.inputs:
            last[tensor(k)] = i
    for k in outputs:
        last[k] = len(steps)
    return last


def _free_name(live: set[str], start: tuple[str, ...]) -> str:
    for name in start:
        if name not in live:
            return name
    n = len(start)
    while f"t{n}" in live:
        n += 1
    return f"t{n}"


# -- layout: black's rules for the few shapes of code we emit ----------------------

@dataclass(frozen=True)
class _Bracket:
    """Items between brackets: `[a, b]`, `{k: v}`; laid out like a call's arguments."""

    open: str
    close: str
    args: list          # each a str (an atom, `name=value`, `k: v`) or a nested bracket
    func: str = ""

    def flat(self) -> str:
        return f"{self.func}{self.open}{', '.join(_flat(a) for a in self.args)}{self.close}"


def _call(func: str, args: list) -> _Bracket:
    return _Bracket("(", ")", args, func)


def _list(items: list) -> _Bracket:
    return _Bracket("[", "]", items)


def _flat(value) -> str:
    return value if isinstance(value, str) else value.flat()


def _layout(value, depth: int, prefix: str, suffix: str) -> list[str]:
    """Lines for `prefix + value + suffix` at `depth` indents, split as black splits.

    One line if it fits; else, for a call, its arguments on one indented line;
    else one item per line with a trailing comma, each laid out the same way.
    """
    pad = INDENT * depth
    one = pad + prefix + _flat(value) + suffix
    if len(one) <= LINE or isinstance(value, str) or not value.args:
        return [one]
    head = pad + prefix + value.func + value.open
    body = ", ".join(_flat(a) for a in value.args)
    # A call's arguments may share a line; a literal collection that is split
    # is split one item per line (black's "magic trailing comma").
    if value.func and len(pad + INDENT + body) <= LINE:
        middle = [pad + INDENT + body]
    else:
        middle = [line for a in value.args for line in _layout(a, depth + 1, "", ",")]
    return [head, *middle, pad + value.close + suffix]


def _statement(value, target: str, comment: str) -> list[str]:
    """A forward line with its comment: trailing if it fits, else on the line above."""
    lines = _layout(value, 2, target, "")
    if not comment:
        return lines
    if len(lines) == 1 and len(lines[0]) + 2 + len(comment) <= LINE:
        return [f"{lines[0]}  {comment}"]
    return [INDENT * 2 + comment, *lines]


def _comment(shape, span) -> str:
    text = "# " + _batch_shape(shape) if shape is not None else "#"
    if span is not None:
        text += f"  {_location(span)}"
    return text if text != "#" else ""


# -- classes -----------------------------------------------------------------------

def _class_text(name: str, doc: list[str], attributes: list[str], init_signature: list[str],
                init: list[str], forward_signature: list[str], forward: list[str]) -> list[str]:
    lines = [f"class {name}(nn.Module):", *doc, ""]
    if attributes:
        lines += [*attributes, ""]
    lines += [*_layout(_call("def __init__", init_signature), 1, "", ":"), f"{INDENT * 2}super().__init__()", *init, ""]
    lines += [*_layout(_call("def forward", forward_signature), 1, "", ":"), *forward]
    return lines


def _constructor_args(cls_name: str, kwargs: dict[str, Any]) -> list[str]:
    """Arguments as d2l writes them: leading sizes positional (`nn.Conv2d(1, 6,
    kernel_size=5)`), the rest by keyword, values equal to torch's defaults
    left out."""
    signature = inspect.signature(torch_layers.layer_class(cls_name))
    unknown = set(kwargs) - set(signature.parameters)
    if unknown:
        raise ValueError(f"{cls_name} has no argument {', '.join(sorted(unknown))}")
    args: list[str] = []
    positional = True
    for name, param in signature.parameters.items():
        if name not in kwargs:
            positional = positional and param.default is not inspect.Parameter.empty
            continue
        value = kwargs[name]
        required = param.default is inspect.Parameter.empty
        if not required and _same(value, param.default):
            positional = False
            continue
        if required and positional and name not in KEYWORD_ALWAYS and param.kind is not inspect.Parameter.KEYWORD_ONLY:
            args.append(_literal(value))
        else:
            positional = False
            args.append(f"{name}={_literal(value)}")
    return args


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type: `bias=1` is not torch's default `True`."""
    return type(a) is type(b) and a == b


# -- text of values ------------------------------------------------------------------

def _literal(value: Any) -> str:
    """A Python literal in black's style (double quotes)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Python literal for {value!r}")


def _string(text: str) -> str:
    return json.dumps(text)


def _arch_literal(value: Any) -> str:
    """A value as `--set` reads it (archlang's literals)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_arch_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _port_literal(g: Graph, port) -> str:
    """`("x", (3, 224, 224))`; symbolic sizes as their text: `("x", (3, "H", "W"))`."""
    shape = tuple(d if isinstance(d, int) else str(d) for d in g.nodes[port.node].shape)
    return _literal((port.name, shape))


def _spec_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _batch_shape(shape) -> str:
    return "(" + ", ".join(["N", *(str(d) for d in shape)]) + ")"


def _location(span, line: bool = True) -> str:
    return _inert(f"{span.file}:{span.line}" if line else span.file)


def _call_args(params: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={_arch_literal(v)}" for k, v in params.items()) + ")" if params else ""


def _ports_summary(g: Graph) -> str:
    ins = ", ".join(f"{p.name} {_spec_shape(g.nodes[p.node].shape)}" for p in g.inputs)
    outs = ", ".join(f"{p.name} {_spec_shape(g.nodes[p.node].shape)}" for p in g.outputs)
    return f"{ins} -> {outs}"


def _docstring(forms: list[str], depth: int) -> list[str]:
    """`forms[0]` on one line if it fits; else `forms[1]` as the summary and the rest as a body."""
    pad = INDENT * depth
    one = f'{pad}"""{_quoted(forms[0])}"""'
    if len(forms) == 1 or len(one) <= LINE:
        return [one]
    return [f'{pad}"""{_quoted(forms[1])}', "", *(pad + _quoted(f) for f in forms[2:]), f'{pad}"""']


def _quoted(text: str) -> str:
    """Text that stays inside a triple-quoted string."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` where possible; paths and commands are never split."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def _inert(text: str) -> str:
    """Spec text (a call as written, a file name) made safe for a comment or a docstring:
    control characters such as a newline become escapes, so they cannot end the comment."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
