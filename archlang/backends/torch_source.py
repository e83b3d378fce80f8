"""Graph -> standalone PyTorch source: what `archlang build` prints.

The file depends on torch alone. It holds one class per block definition
(`class_plan`: its instances' differences are its constructor's arguments,
named after the block's parameters), the network's class last. Constructors
compute what the spec computes (`nn.Conv2d(in_channels, bn_size * growth,
kernel_size=1)`); a chain of modules is an nn.Sequential whose `repeat`s are
loops; every other `forward` is straight-line code with the shape after each
line, channels as the constructor's terms, and the spec line it came from:

    out = self.conv1(x)  # (N, c, H, W)  specs/resnet18.arch:16

The text is a function of the checked graph only (no clock, no paths of this
machine, no dict-order accidents), so it is byte-identical from run to run,
and it is laid out the way black would lay it out. `torch_module` executes
this same text, so the generated classes and `archlang.compile` agree.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import keyword
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .. import ops, terms
from ..ir import Graph, Part
from ..shapes import Expr
from . import class_plan, network_params, specialise, torch_layers
from .network_params import arch_literal
from .class_plan import Auto, Branch, Call, ClassPlan, Layer, Let, Loop, Merge, walk
from .pylayout import (INDENT, LINE, Bracket, call, docstring, inert, layout, list_of, literal, quoted, statement,
                       string, wrap)
from ..naming import module_name_problem
from .torch_common import constructors, safe_variable

_BUILTINS = frozenset(dir(builtins))
KEYWORD_ALWAYS = ("kernel_size",)
LONGEST_COMMENT_TERM = 30   # characters of a channel count in a shape comment   # named even where positional would do, as d2l does
# Names the generated methods read: a parameter of one of these names is renamed.
_METHOD_NAMES = frozenset({"self", "super", "__class__", "nn", "torch", "range", "ValueError", "tuple", "isinstance"})


@dataclass(frozen=True)
class Emitted:
    source: str
    network_class: str


def generate(graph: Graph) -> str:
    """The standalone source of `graph` (a checked graph)."""
    return emit(graph).source


def emit(graph: Graph) -> Emitted:
    constructors(graph)   # a layer whose argument depends on a symbolic size: a located E211
    staged = graph if graph.staged or graph.restage is None else graph.restage()
    plan = class_plan.build(staged)
    specialise.specialise(plan, staged)
    params = network_params.analyse(staged, plan)
    writer = _FileWriter(staged, plan, params)
    return Emitted(writer.text(), writer.class_names[id(plan.network)])


# -- the file ------------------------------------------------------------------------------------

class _FileWriter:
    def __init__(self, graph: Graph, plan: class_plan.Plan, params: network_params.NetworkParams) -> None:
        self.graph = graph
        self.plan = plan
        self.params = params
        self.uses_torch = False
        used = {item.cls for cls in plan.classes for item in walk(cls.items) if isinstance(item, Layer)}
        self.extra_layers = [name for name in torch_layers.EXTRA if name in used]
        self.uses_torch = bool(self.extra_layers)
        self.taken: set[str] = {"torch", "nn", *self.extra_layers}
        self.spec_file = _location(graph.span, line=False) if graph.span is not None else "SPEC"
        self.command = f"archlang build {self.spec_file} --network {graph.name}"
        self.class_names: dict[int, str] = {}
        self.class_names[id(plan.network)] = self._class_name(graph.name)
        for cls in plan.classes:
            if cls is not plan.network:
                self.class_names[id(cls)] = self._class_name(_variant_name(cls, plan, self.class_names))
        self.python_names: dict[int, dict[str, str]] = {}   # id(class) -> its variables' Python names
        self.texts = [_ClassWriter(self, cls).lines() for cls in _definition_order(plan)]

    def _class_name(self, wanted: str) -> str:
        # No leading underscores (`__init__` would be name-mangled where other classes use it),
        # no keyword or builtin (`None`, `True`, `ValueError`, which __init__ raises).
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in wanted).lstrip("_")   # a label: `block1-0`
        base = base[:1].upper() + base[1:] if base[:1].isalpha() else "Block" + base
        if keyword.iskeyword(base) or base in _BUILTINS:
            base += "_"
        glue = "_" if base[-1].isdigit() else ""  # Stage2, but Block1_2
        name, n = base, 2
        while name in self.taken:
            name, n = f"{base}{glue}{n}", n + 1
        self.taken.add(name)
        return name

    def text(self) -> str:
        g = self.graph
        about = f"Depends on torch only. Input {_ports_summary(g)}; the shapes in the comments lead with the batch N."
        prose = [*wrap(f"{g.name}: PyTorch source generated by archlang from {self.spec_file}.", LINE - 4), "",
                 *wrap(about, LINE)]
        fixed = list(self.params.fixed)
        if fixed:
            built = ", ".join(f"{k}={arch_literal(g.params[k])}" for k in fixed)
            network = self.class_names[id(self.plan.network)]
            free = self.params.free(g)
            takes = f"{network} takes any {_and(free)}, but" if free else network
            prose += ["", *wrap(f"Built for {built}: {takes} refuses other values of {_and(fixed)} (its __init__ "
                                f"says why). To change one, build again with --set, as in", LINE)]
            prose += ["", f"    {self.command} --set {fixed[0]}={arch_literal(g.params[fixed[0]])}"]
        lines = [quoted(line) for line in prose]
        header = ['"""' + lines[0], *lines[1:], '"""', ""]
        imports = (["import torch"] if self.uses_torch else []) + ["from torch import nn"]
        extra = [torch_layers.class_source(name) for name in self.extra_layers]
        parts = ["\n".join(header + imports)] + extra + ["\n".join(c) for c in self.texts]
        return "\n\n\n".join(parts) + "\n"


def _definition_order(plan: class_plan.Plan) -> list[ClassPlan]:
    """Each class after the classes it calls, in the order they are first called."""
    order: list[ClassPlan] = []
    seen: set[int] = set()

    def visit(cls: ClassPlan) -> None:
        if id(cls) in seen:
            return
        seen.add(id(cls))
        for item in walk(cls.items):
            if isinstance(item, Call):
                visit(item.cls)
        order.append(cls)

    visit(plan.network)
    return order


def _variant_name(cls: ClassPlan, plan: class_plan.Plan, class_names: dict[int, str]) -> str:
    """A block's name; a variant's says what distinguishes it from the first class of its
    block (a layer only it has, one it lacks, a variant it calls), never an ordinal."""
    first = next(c for c in plan.classes if c.definition == cls.definition)
    if first is cls:
        return cls.block
    mine, theirs = Counter(_members(cls.items)), Counter(_members(first.items))
    extra, missing = [m for m in mine if m not in theirs], [m for m in theirs if m not in mine]
    if extra:   # a kind of layer (or merge) only it has
        return cls.block + _camel(extra[0])
    if missing:
        return cls.block + "No" + _camel(missing[0])
    calls = zip((i for i in walk(cls.items) if isinstance(i, Call)), (i for i in walk(first.items) if isinstance(i, Call)))
    for a, b in calls:   # the same members, but one calls a variant of what the other calls
        name = class_names.get(id(a.cls), "")
        if a.cls is not b.cls and name.startswith(a.cls.block) and len(name) > len(a.cls.block):
            return cls.block + name[len(a.cls.block):]
    more, fewer = list(mine - theirs), list(theirs - mine)   # as many kinds, in other numbers
    if more:
        return cls.block + _camel(more[0])
    if fewer:
        return cls.block + "Fewer" + _camel(fewer[0])
    return cls.block + _camel(cls.scopes[0].local_name)


def _members(items: list) -> list[str]:
    """The layers, merges and calls of a class by kind: an automatic name without its number."""
    kinds = [item.attr.base if isinstance(item.attr, Auto) else re.sub(r"[\d_-]+$", "", item.attr)
             for item in walk(items) if isinstance(item, (Layer, Merge, Call))]
    return [kind for kind in kinds if kind]   # a label that is a number (`0:`) names no kind


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\d]+", name) if part) or "Variant"


# -- one class -------------------------------------------------------------------------------------

class _ClassWriter:
    def __init__(self, file: _FileWriter, cls: ClassPlan) -> None:
        self.file = file
        self.graph = file.graph
        self.cls = cls
        self.name = file.class_names[id(cls)]
        self.network = cls.kind == "network"
        # The network's parameters that are built in are constants in its class.
        self.fixed = {k: file.graph.params[k] for k in file.params.fixed} if self.network else {}
        for item in walk(cls.items):   # a `let` of built-in values is one too (forward's comments read it)
            if isinstance(item, Let) and self.fixed and not self.symbolic(item.term):
                self.fixed[item.var] = terms.substitute(item.term, self.fixed)
        self.names = file.python_names[id(cls)] = self._python_names()
        self.used = class_plan.used_variables(cls.items)
        self.guards: dict[int, tuple] = {}       # id(branch) -> how forward tells its sides apart
        self.inplace = _InPlace(cls, file.plan)

    # -- names ---------------------------------------------------------------------------------------
    def _python_names(self) -> dict[str, str]:
        """Variable -> Python name: the spec's, clear of keywords and of what methods use."""
        reserved = set(_METHOD_NAMES) | set(self.file.class_names.values()) | set(self.file.extra_layers)
        out: dict[str, str] = {}
        wanted = self.signature_variables() + sorted(self.cls.lets) + sorted(self.cls.loop_indexes)
        for var in wanted:
            base = var.lstrip(".")
            if var == self.cls.input_var:
                base = "in_channels"
            name = safe_variable(base, reserved)
            if not name.isidentifier():
                name = "v_" + re.sub(r"\W", "_", name)
            while name in reserved:
                name += "_"
            reserved.add(name)
            out[var] = name
        return out

    def signature_variables(self) -> list[str]:
        if self.network:
            return list(self.graph.params)
        return self.cls.variables()

    def text(self, term: Any) -> str:
        """A term as Python, in this class's names (the network: built-in parameters as constants)."""
        if self.fixed:
            term = terms.substitute(term, self.fixed)
        if not terms.is_symbolic(term):
            return literal(term)
        return terms.python(term, self.names)

    # -- the class -----------------------------------------------------------------------------------
    def lines(self) -> list[str]:
        cls = self.cls
        base = "nn.Sequential" if cls.sequential else "nn.Module"
        out = [f"class {self.name}({base}):", *self.docstring(), ""]
        attributes = self.attributes()
        if attributes:
            out += [*attributes, ""]
        forward = [] if cls.sequential else self.forward()
        init = self.init_body()
        out += [*layout(call("def __init__", ["self", *self.init_signature()]), 1, "", ":"),
                f"{INDENT * 2}super().__init__()", *init]
        if forward:
            out += ["", *layout(call("def forward", ["self", *self.forward_inputs()]), 1, "", ":"), *forward]
        return out

    def init_signature(self) -> list[str]:
        if self.network:
            return [f"{self.names[k]}={literal(v)}" for k, v in self.graph.params.items()]
        params = self.signature_variables()
        defaults = {v: self.cls.defaults.get(v) for v in params}
        out, optional = [], True
        for var in reversed(params):  # defaults only on a tail of the parameters, as Python wants
            default = defaults.get(var)
            optional = optional and var in self.cls.defaults and not terms.is_symbolic(default)
            out.append(f"{self.names[var]}={literal(default)}" if optional else self.names[var])
        return out[::-1]

    def forward_inputs(self) -> list[str]:
        if self.network:
            return [self.port_names[k] for k in range(len(self.graph.inputs))]
        return ["x", *(f"x{k}" for k in range(1, self.cls.inputs))]

    def docstring(self) -> list[str]:
        g, cls = self.graph, self.cls
        if self.network:
            signature = f"{g.name}{_call_args(g.params)}"
            return docstring([f"{signature}: {_ports_summary(g)}.", f"{signature}.", f"{_ports_summary(g)}."], 1)
        scopes = cls.scopes
        head = self._block_signature()
        sites = _sites(scopes)
        called = f"called at {sites}" if sites else ""
        if len(scopes) == 1:
            on = f"on {_spec_shape(g.nodes[scopes[0].entry].shape)}"
            return docstring([f"{head} {on}" + (f"; {called}." if called else "."), f"{head} {on}.",
                              f"Called at {sites}." if sites else ""], 1)
        calls = [f"{s.path} {_spec_shape(g.nodes[s.entry].shape)} -> "
                 + ", ".join(_spec_shape(g.nodes[i].shape) for i in s.gives) for s in scopes[:3]]
        more = len(scopes) - len(calls)
        text = f"{len(scopes)} instances" + (f" ({called})" if called else "") + ": " + "; ".join(calls) + \
            (f"; and {more} more." if more else ".")
        return docstring([f"{head}.", f"{head}."], 1, wrap(text, LINE - 4))

    def _block_signature(self) -> str:
        cls = self.cls
        if cls.kind == "group":
            return f"The layers labelled {inert(cls.block)}"
        shown = []
        for p in cls.params:
            default = cls.defaults.get(p)
            shown.append(f"{p}={arch_literal(default)}" if default is not None and not terms.is_symbolic(default) else p)
        return inert(f"{cls.block}({', '.join(shown)})")

    def attributes(self) -> list[str]:
        if not self.network:
            return []
        g = self.graph
        self.port_names = _variables([p.name for p in g.inputs], {"self", "torch", "nn", "getattr"})
        return [
            *layout(Bracket("{", "}", [f"{literal(k)}: {literal(v)}" for k, v in g.params.items()]), 1,
                    "arch_params = ", ""),
            *layout(Bracket("[", "]", [_port_literal(g, p) for p in g.inputs]), 1, "arch_inputs = ", ""),
            *layout(Bracket("[", "]", [_port_literal(g, p) for p in g.outputs]), 1, "arch_outputs = ", ""),
        ]

    # -- __init__ ------------------------------------------------------------------------------------
    def init_body(self) -> list[str]:
        if not self.network:
            return self.init_items(self.cls.items, 2)
        lines = network_params.refusals(self.file.params, self.graph, self.names, self.file.command)
        return lines + self.instance_attributes() + self.init_items(self.cls.items, 2)

    def instance_attributes(self) -> list[str]:
        """`arch_params` (and the ports, where their sizes follow a parameter) of this instance, where
        the class takes parameters for any value: the class attributes say what it was built for."""
        g = self.graph
        free = self.file.params.free(g)
        if not free:
            return []
        values = [f"{literal(k)}: {self.param_text(k) if k in free else literal(v)}" for k, v in g.params.items()]
        lines = layout(Bracket("{", "}", values), 2, "self.arch_params = ", "")
        # The ports' terms over the parameters alone: a `let` they read is assigned only further down.
        lets = {item.var: item.term for item in walk(self.cls.items) if isinstance(item, Let)}
        channels = [_inline(t, lets) for t in self.port_channels()]
        for attr, ports, terms_ in (("arch_inputs", g.inputs, channels[:len(g.inputs)]),
                                    ("arch_outputs", g.outputs, channels[len(g.inputs):])):
            if any(self.symbolic(t) for t in terms_):
                items = [_port_text(g, p, self.text(t)) for p, t in zip(ports, terms_)]
                lines += layout(Bracket("[", "]", items), 2, f"self.{attr} = ", "")
        return lines

    def param_text(self, name: str) -> str:
        value = self.graph.params[name]
        return f"tuple({self.names[name]})" if isinstance(value, tuple) else self.names[name]

    def port_channels(self) -> list:
        """The channel term of each input, then of each output."""
        g = self.graph
        ins = [terms.index(tuple(g.nodes[p.node].arg_terms.get("shape", ())) or (0,), 0) for p in g.inputs]
        outs = []
        for ref, port in zip(self.cls.result, g.outputs):
            item = self.inplace.items.get(ref)
            channels = getattr(item, "channels", None)   # an `if`'s result has none: its number stands
            outs.append(ins[ref[1]] if ref[0] == "in" else channels if channels is not None else
                        g.nodes[port.node].shape[0])
        return ins + outs

    def init_items(self, items: list | None, depth: int) -> list[str]:
        out: list[str] = []
        for item in items or ():
            if isinstance(item, Let):
                if not self.symbolic(item.term):   # the network's, of built-in parameters: a constant
                    self.fixed[item.var] = terms.substitute(item.term, self.fixed)
                    continue
                # A variable a written-out loop made constant in one iteration (`d = 1`) and computes in
                # a later one (`d = 2 if dilated else 1`) is that computation from here on.
                self.fixed.pop(item.var, None)
                if item.var in self.used:
                    out += layout(self.text(item.term), depth, f"{self.names[item.var]} = ", "")
            elif isinstance(item, Layer):
                method = "self.register_parameter" if item.cls == class_plan.PARAMETER else "self.add_module"
                out += self.register(item.attr, self.constructor(item), depth, method)
            elif isinstance(item, Call):
                out += self.register(item.attr, self.call_of(item), depth)
            elif isinstance(item, Loop):
                body = self.init_items(item.body, depth + 1)
                if body:
                    out.append(f"{INDENT * depth}for {self.names[item.index]} in range({self.text(item.count)}):")
                    out += body
            elif isinstance(item, Branch):
                out += self.init_branch(item, depth)
        return out

    def init_branch(self, item: Branch, depth: int) -> list[str]:
        if item.then is None or item.orelse is None or not self.symbolic(item.test):
            taken = item.then if item.then is not None and (item.orelse is None or self.decided(item.test)) \
                else item.orelse
            return self.init_items(taken, depth)
        then = self.init_items(item.then, depth + 1)
        orelse = self.init_items(item.orelse, depth + 1)
        guard = self.guards.get(id(item))
        if guard is not None and guard[0] == "attribute":  # the side without the module says so
            (orelse if guard[2] == "else" else then).extend(self.register(guard[1], "None", depth + 1))
        head: list[str] = []
        if guard is not None and guard[0] == "flag":
            head = layout(self.text(item.test), depth, f"self.{guard[1]} = ", "")
        # Statements both sides start or end with do not depend on the test. Whole statements:
        # two calls that differ only in their middle lines share their first and last lines.
        then, orelse = _statements(then, depth + 1), _statements(orelse, depth + 1)
        before: list[str] = []
        while then and orelse and then[0] == orelse[0]:
            before += [line[len(INDENT):] for line in then.pop(0)]
            orelse.pop(0)
        after: list[str] = []
        while then and orelse and then[-1] == orelse[-1]:
            after[:0] = [line[len(INDENT):] for line in then.pop()]
            orelse.pop()
        then, orelse = [line for st in then for line in st], [line for st in orelse for line in st]
        middle: list[str] = []
        test = f"self.{guard[1]}" if guard is not None and guard[0] == "flag" else self.text(item.test)
        if then:
            middle = [f"{INDENT * depth}if {test}:", *then]
            if orelse:
                middle += [f"{INDENT * depth}else:", *orelse]
        elif orelse:
            middle = [f"{INDENT * depth}if not {_parenthesised(test)}:", *orelse]
        return head + before + middle + after

    def decided(self, test) -> bool:
        """The value of an `if`'s test that no parameter of the class decides (the network's, with
        its built-in parameters)."""
        return bool(terms.substitute(test, self.fixed)) if self.fixed else bool(test)

    def symbolic(self, term) -> bool:
        if self.fixed:
            term = terms.substitute(term, self.fixed)
        return terms.is_symbolic(term)

    def register(self, attr, value, depth: int, method: str = "self.add_module") -> list[str]:
        if isinstance(attr, Auto):
            number = attr.number
            if not terms.is_symbolic(number):
                return layout(value, depth, f"self.{attr.base}{number} = ", "")
            counts = self.counts()
            text = terms.python(terms.substitute(number, counts), self.names)
            return layout(call(method, [f'f"{attr.base}{{{text}}}"', value]), depth, "", "")
        if not _plain_attribute(attr):   # a label no Python name can be (`0`): as torchvision's Sequential names it
            return layout(call(method, [literal(attr), value]), depth, "", "")
        return layout(value, depth, f"self.{attr} = ", "")

    def counts(self) -> dict:
        return {loop.counter: loop.count for loop in walk(self.cls.items) if isinstance(loop, Loop)}

    def constructor(self, item: Layer):
        if item.cls == class_plan.PARAMETER:   # torchvision's layer_scale: nn.Parameter(torch.full(...))
            self.file.uses_torch = True
            sizes, fill = item.kwargs["shape"], item.kwargs["fill"]
            sizes = (sizes,) if isinstance(sizes, int) else sizes   # `parameter(5)`: a shape of one size
            shape = "(" + ", ".join(self.text(d) for d in sizes) + ("," if len(sizes) == 1 else "") + ")"
            fill = self.text(fill if terms.is_symbolic(fill) else float(fill))
            return call("nn.Parameter", [call("torch.full", [shape, fill])])
        kwargs = dict(item.kwargs)
        if self.inplace.module(item):
            kwargs["inplace"] = True
        qualified = item.cls if item.cls in torch_layers.EXTRA else f"nn.{item.cls}"
        return call(qualified, _constructor_args(item.cls, kwargs, self.text))

    def call_of(self, item: Call):
        callee = item.cls
        name = self.file.class_names[id(callee)]
        callee_writer_vars = callee.variables() if callee.kind != "network" else []
        if callee.kind == "group":   # a group's variables are its block's: ours, as they are here
            return call(name, [self.text(item.args[v]) for v in callee_writer_vars])
        args: list[str] = []
        keyword_only = False
        tail_defaults = _tail_defaults(callee)
        for var in callee_writer_vars:
            term = item.args[var]
            default = tail_defaults.get(var, _NO_DEFAULT)
            if default is not _NO_DEFAULT and _same_term(term, default):
                keyword_only = True
                continue
            if default is not _NO_DEFAULT or keyword_only:
                keyword_only = True
                args.append(f"{self.file.python_names[id(callee)][var]}={self.text(term)}")
            else:
                args.append(self.text(term))
        return call(name, args)

    # -- forward -------------------------------------------------------------------------------------
    def forward(self) -> list[str]:
        return _Forward(self).lines()

    def guard_for(self, item: Branch, graph: Graph) -> tuple[str, str]:
        """How forward tells the sides of an `if` apart, (test, negated test), as torchvision does:
        `self.downsample is not None` where one side has a module the other lacks (__init__ sets
        it to None there), else an attribute __init__ sets to the test."""
        then = [i.attr for i in walk(item.then) if isinstance(i, (Layer, Call))]
        orelse = [i.attr for i in walk(item.orelse) if isinstance(i, (Layer, Call))]
        # An attribute another `if` also sets (`branch2` on both of shufflenet's sides) says
        # nothing about this one: its None could come from, or be overwritten by, the other.
        everywhere = Counter(i.attr for i in walk(self.cls.items) if isinstance(i, (Layer, Call)))
        elsewhere = everywhere - Counter(then) - Counter(orelse)
        only_then = [a for a in then if a not in orelse and a not in elsewhere]
        only_else = [a for a in orelse if a not in then and a not in elsewhere]
        if only_then:
            self.guards[id(item)] = ("attribute", only_then[0], "else")
            return f"{_member(only_then[0])} is not None", f"{_member(only_then[0])} is None"
        if only_else:
            self.guards[id(item)] = ("attribute", only_else[0], "then")
            return f"{_member(only_else[0])} is None", f"{_member(only_else[0])} is not None"
        flag = self._flag_name(item)
        self.guards[id(item)] = ("flag", flag)
        return f"self.{flag}", f"not self.{flag}"

    def _flag_name(self, item: Branch) -> str:
        """An attribute for an `if`'s test: the parameter it reads alone, else what only its
        then-side has (a merge: `residual`), else `condition`."""
        taken = {i.attr for i in walk(self.cls.items) if isinstance(i, (Layer, Call, Merge)) and isinstance(i.attr, str)}
        taken |= {guard[1] for guard in self.guards.values()}   # another `if`'s attribute
        if isinstance(item.test, terms.Name):
            wanted = self.names.get(item.test.name, item.test.name)
        else:
            then = [re.sub(r"\d+$", "", i.attr) for i in walk(item.then) if isinstance(i, Merge)]
            orelse = [re.sub(r"\d+$", "", i.attr) for i in walk(item.orelse) if isinstance(i, Merge)]
            extra = [m for m in then if m not in orelse]
            wanted = extra[0] if extra else "condition"
        name = wanted.lstrip("_") or "condition"
        while name in taken or module_name_problem(name) is not None:   # `train` would hide nn.Module's
            name += "_"
        return name


def _statements(lines: list[str], depth: int) -> list[list[str]]:
    """Lines at `depth` grouped into statements: a statement goes on through its bracketed
    continuation lines, its deeper-indented body and its `else:`/`elif` parts."""
    out: list[list[str]] = []
    open_brackets = 0
    start = INDENT * depth
    for line in lines:
        begins = line.startswith(start) and not line[len(start):len(start) + 1].isspace()
        continues = line[len(start):].startswith(("else:", "elif ")) if begins else True
        if open_brackets == 0 and begins and not continues or not out:
            out.append([line])
        else:
            out[-1].append(line)
        code = re.sub(r'#.*', "", re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', "", line))
        open_brackets += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
    return out


_NO_DEFAULT = object()


def _tail_defaults(cls: ClassPlan) -> dict:
    """The parameters a generated signature gives defaults: the constant ones at its end."""
    out: dict = {}
    for var in reversed(cls.variables()):
        default = cls.defaults.get(var, _NO_DEFAULT)
        if default is _NO_DEFAULT or terms.is_symbolic(default):
            break
        out[var] = default
    return out


def _same_term(a, b) -> bool:
    return type(a) is type(b) and a == b


def _plain_attribute(attr: str) -> bool:
    return attr.isidentifier() and not keyword.iskeyword(attr)


def _member(attr: str) -> str:
    """How forward reads a module: `self.conv1`, or `getattr(self, "0")` for a name Python cannot spell."""
    return f"self.{attr}" if _plain_attribute(attr) else f"getattr(self, {literal(attr)})"


def _parenthesised(text: str) -> str:
    return text if text.isidentifier() or text.startswith("self.") and text[5:].isidentifier() else f"({text})"


# -- in place, as torchvision writes `out += identity` and `nn.ReLU(inplace=True)` ----------------------

class _InPlace:
    """Where a ReLU or a two-input add may write into its input: only where nothing can tell.

    The input is not the class's own (the caller may hold it), the step is
    its only reader in the class (no other step saved it for backward, and no
    view of it exists), and what made it gives a tensor of its own that its
    backward does not read (`OpSpec.fresh_output`; a call, where the callee's
    result is such a tensor that only its return reads). A one-input add is
    its input: class_plan gives it the input's reference, so its readers are
    the tensor's.
    """

    def __init__(self, cls: ClassPlan, plan: class_plan.Plan) -> None:
        self.cls = cls
        self.items = {}
        self.readers: dict[tuple, int] = {}
        self._index(cls.items, ())
        for ref in cls.result:
            self.readers[ref] = self.readers.get(ref, 0) + 1

    def _index(self, items: list | None, path: tuple) -> None:
        for i, item in enumerate(items or ()):
            here = path + (i,)
            self.items[("item", here)] = item
            for ref in getattr(item, "inputs", ()):
                self.readers[ref] = self.readers.get(ref, 0) + 1
            if isinstance(item, Loop):
                self._index(item.body, here + ("body",))
                self.items[("iter", here)] = item
            elif isinstance(item, Branch):
                self.readers[item.entry] = self.readers.get(item.entry, 0)
                for side, name, result in ((item.then, "then", item.then_result), (item.orelse, "else", item.else_result)):
                    self._index(side, here + (name,))
                    if side is not None and result is not None:
                        self.readers[result] = self.readers.get(result, 0) + 1

    def fresh(self, ref: tuple) -> bool:
        item = self.items.get(ref)
        if ref[0] == "in" or item is None:
            return False
        if ref[0] == "iter":   # a loop's iteration: what came before, then what the body made
            return False
        if isinstance(item, Layer):
            return ops.OPS[item.op].fresh_output
        if isinstance(item, Merge):
            return ops.OPS[item.op].fresh_output
        if isinstance(item, Call):
            return _returns_fresh(item.cls)
        if isinstance(item, Branch):
            sides = [(s, r) for s, r in ((item.then, item.then_result), (item.orelse, item.else_result)) if s is not None]
            return all(r is not None and self.fresh(r) and self.readers.get(r, 0) == 1 for _, r in sides)
        return False

    def writable(self, ref: tuple) -> bool:
        return self.fresh(ref) and self.readers.get(ref, 0) == 1

    def module(self, item: Layer) -> bool:
        spec = ops.OPS[item.op]
        return spec.writes_input == "module" and len(item.inputs) == 1 and self.writable(item.inputs[0])

    def sum_target(self, item: Merge) -> int | None:
        """The input a two-input add writes into (`a += b`), or None."""
        spec = ops.OPS[item.op]
        if spec.writes_input != "sum" or len(item.inputs) != 2 or item.inputs[0] == item.inputs[1]:
            return None
        for k, ref in enumerate(item.inputs):
            if self.writable(ref):
                return k
        return None


def _returns_fresh(cls: ClassPlan) -> bool:
    """Does the class return a tensor of its own that nothing in it reads again?"""
    checker = _InPlace(cls, None)
    return len(cls.result) == 1 and checker.writable(cls.result[0])


# -- forward ---------------------------------------------------------------------------------------------

class _Forward:
    """The `forward` of a class that is no chain: straight-line code, an `if` where its
    instances took both sides of one.

    Each tensor gets a variable; a variable is reused once its tensor is dead,
    and a step's output takes its input's variable when that input dies there,
    so chains read `x = self.conv1(x)` and intermediates are freed early. A
    new variable is named after the tensor's binding in the spec, the network
    output it is, or its role in the merge it flows into (`out` on the main
    path, `identity` beside it, `branch2` of a concat). Merges whose result
    nobody reads are left out; layers always run (their parameters exist and
    are trained, and the spec asked for them).
    """

    def __init__(self, writer: _ClassWriter) -> None:
        self.w = writer
        self.cls = writer.cls
        self.graph = writer.graph
        self.inplace = writer.inplace
        self.var: dict[tuple, str] = {}
        names = writer.forward_inputs()
        for k, name in enumerate(names):
            self.var[("in", k)] = name
        self.live: set[str] = set(names)
        self.reserved = {"self", "torch", "nn", "getattr", *names}
        self.roles = _roles(self.cls, self.inplace, self.graph)
        self.shapes = _Shapes(self.graph, self.cls)
        self.parameters: set[str] = set()   # how forward reads the class's parameters: never reassigned

    def lines(self) -> list[str]:
        out = self.block(self.cls.items, (), 2, set(self.cls.result))
        return out + self.returns()

    def returns(self) -> list[str]:
        """`return x`, `return x, y`, `return {"out": x, "aux": y}`; with outputs `if training`,
        all of them in training and the others in eval mode (as googlenet's `eager_outputs`)."""
        variables = [self.var[r] for r in self.cls.result]
        ports = self.graph.outputs if self.w.network else []
        keyed = bool(ports) and ports[0].key is not None

        def value(chosen: list[int]) -> str:
            if keyed:
                return "{" + ", ".join(f"{literal(ports[i].key)}: {variables[i]}" for i in chosen) + "}"
            return ", ".join(variables[i] for i in chosen)

        every = list(range(len(variables)))
        evaluated = [i for i in every if not (ports and ports[i].training)]
        if evaluated == every:
            return [f"{INDENT * 2}return {value(every)}"]
        return [f"{INDENT * 2}if self.training:", f"{INDENT * 3}return {value(every)}",
                f"{INDENT * 2}return {value(evaluated)}"]

    def training(self, item, path: tuple) -> bool:
        """Whether a step of the network's own body makes only what outputs `if training` need
        (torchvision's aux heads): it goes under `if self.training:`, so eval mode skips it."""
        only = self.graph.training_nodes
        if path or not self.w.network or not only:
            return False
        if isinstance(item, (Layer, Merge)):
            return all(n.id in only for n in item.nodes)
        if isinstance(item, Call):
            return all(i in only for s in item.scopes for i in s.gives)
        return False

    # -- liveness ---------------------------------------------------------------------------------
    def reads(self, item, here: tuple) -> set:
        """The tensors an item reads that were made before it."""
        if isinstance(item, Branch):
            inside: set = {item.entry}
            for side, name, result in ((item.then, "then", item.then_result), (item.orelse, "else", item.else_result)):
                if side is None:
                    continue
                for j, sub in enumerate(side):
                    inside |= self.reads(sub, here + (name, j))
                if result is not None:
                    inside.add(result)
            return {r for r in inside if not _within(r, here)}
        return set(getattr(item, "inputs", ()))

    def block(self, items: list, path: tuple, depth: int, live_after: set) -> list[str]:
        reads = [self.reads(item, path + (i,)) for i, item in enumerate(items)]
        needed = self._needed(items, path, live_after)
        out: list[str] = []
        group = _TrainingGroup(out, depth)
        for i, item in enumerate(items):
            here = path + (i,)
            later = set().union(*reads[i + 1:], live_after)
            if isinstance(item, (Let, Loop)):
                continue
            if isinstance(item, Merge) and ("item", here) not in needed:
                continue
            training = self.training(item, path)
            group.enter(training)
            depth_here = depth + 1 if training else depth
            # A tensor dies here when nothing after reads it; its variable is free once no tensor
            # read later has it too (an `if` that made nothing yields its input's variable).
            held = {self.var[r] for r in later if r in self.var}
            # A parameter (`self.layer_scale`) never dies: its variable is no one else's to take.
            dying = [r for r in dict.fromkeys(getattr(item, "inputs", ())) if r not in later
                     and self.var[r] not in held and self.var[r] not in self.parameters]
            if isinstance(item, Branch):
                out += self.branch(item, here, depth_here, later)
            elif isinstance(item, Call) and _gives_several(item):
                wanted = needed | later
                out += self.unpack(item, here, depth_here, dying, [r in wanted for r in _parts(item, here)])
            else:
                out += self.step(item, here, depth_here, dying, ("item", here) in needed or ("item", here) in later)
        group.close()
        return out

    def _needed(self, items: list, path: tuple, live_after: set) -> set:
        """The values some later step (or the return) reads: a merge nobody reads is left out."""
        needed = set(live_after)
        for i in range(len(items) - 1, -1, -1):
            here = ("item", path + (i,))
            item = items[i]
            if isinstance(item, Merge) and here not in needed:
                continue
            needed |= self.reads(item, path + (i,))
        return needed

    # -- steps ------------------------------------------------------------------------------------
    def step(self, item, here: tuple, depth: int, dying: list, used: bool) -> list[str]:
        ref = ("item", here)
        in_vars = [self.var[r] for r in item.inputs]
        for r in dying:
            self.live.discard(self.var[r])
        comment = self.shapes.comment(item, self.w)
        if isinstance(item, Merge):
            target = self.inplace.sum_target(item)
            if target is not None and item.inputs[target] in dying:
                var = in_vars[target]
                other = in_vars[1 - target]
                self.var[ref] = var
                self.live.add(var)
                return statement(other, f"{var} += ", comment, depth)
            # An op that is no module (merges, chunk, resize): the expression the op table writes.
            expression = ops.OPS[item.op].expression(in_vars, item.nodes[0].args)
            if "torch." in expression:
                self.w.file.uses_torch = True
            value: Any = _as_call(expression)
        elif item.cls == class_plan.PARAMETER:   # read where it is used, as `self.layer_scale`
            self.var[ref] = _member(self.w_attr(item))
            self.parameters.add(self.var[ref])
            return []
        else:
            value = call(_member(self.w_attr(item)), in_vars)
        if not used:
            return statement(value, "", comment, depth)
        var = self.var[dying[0]] if dying else self.fresh(ref)
        self.var[ref] = var
        self.live.add(var)
        return statement(value, f"{var} = ", comment, depth)

    def unpack(self, item: Call, here: tuple, depth: int, dying: list, used: list[bool]) -> list[str]:
        """`low, high = self.backbone(x)`: a call of a block that gives several tensors, each part
        a variable of its own (`_` for one nothing reads)."""
        in_vars = [self.var[r] for r in item.inputs]
        for r in dying:
            self.live.discard(self.var[r])
        names = []
        for ref, wanted in zip(_parts(item, here), used):
            if not wanted:
                names.append("_")
                continue
            self.var[ref] = self.fresh(ref)
            self.live.add(self.var[ref])
            names.append(self.var[ref])
        comment = self.shapes.comment(item, self.w)
        return statement(call(_member(self.w_attr(item)), in_vars), f"{', '.join(names)} = ", comment, depth)

    def w_attr(self, item) -> str:
        return item.attr if isinstance(item.attr, str) else f"{item.attr.base}{item.attr.number}"

    def fresh(self, ref: tuple) -> str:
        role = self.roles.get(ref, "out")
        name, n = role, 2
        while name in self.live or name in self.reserved:
            name, n = f"{role}{n}", n + 1
        return name

    def branch(self, item: Branch, here: tuple, depth: int, later: set) -> list[str]:
        """An `if` both of whose sides some instance took: each side assigns the tensor it yields
        to one variable (the input's, where the input dies here)."""
        ref = ("item", here)
        if item.then is None or item.orelse is None or not self.w.symbolic(item.test):
            # Every instance takes one side: it is the code, without an `if`.
            side, name, result = (item.then, "then", item.then_result) if item.then is not None and \
                (item.orelse is None or self.w.decided(item.test)) else (item.orelse, "else", item.else_result)
            lines = self.block(side, here + (name,), depth, later | {result})
            self.var[ref] = self.var[result]
            return lines
        entry_var = self.var[item.entry]
        entry_dies = item.entry not in later
        saved_var, saved_live = dict(self.var), set(self.live)
        phi = entry_var if entry_dies else None
        sides = []
        for side, name, result in ((item.then, "then", item.then_result), (item.orelse, "else", item.else_result)):
            self.var, self.live = dict(saved_var), set(saved_live)
            if phi is None:
                phi = self.fresh(ref)
            lines = self.block(side or [], here + (name,), depth + 1, later | {result})
            if self.var[result] != phi:
                lines.append(f"{INDENT * (depth + 1)}{phi} = {self.var[result]}")
            sides.append(lines)
        self.var, self.live = saved_var, saved_live
        held = {self.var[r] for r in later if r in self.var}
        for r in self.reads(item, here):
            if r not in later and self.var[r] not in held:
                self.live.discard(self.var[r])
        self.var[ref] = phi
        self.live.add(phi)
        then, orelse = sides
        if then == orelse:
            return then and [line[len(INDENT):] for line in then]
        test, negated = self.w.guard_for(item, self.graph)
        if then:
            return [f"{INDENT * depth}if {test}:", *then, *([f"{INDENT * depth}else:", *orelse] if orelse else [])]
        return [f"{INDENT * depth}if {negated}:", *orelse]


class _TrainingGroup:
    """`if self.training:` around a run of steps only training outputs need, written before the
    run's first line once the run ends (a run that wrote nothing needs no `if`)."""

    def __init__(self, out: list[str], depth: int) -> None:
        self.out = out
        self.depth = depth
        self.open = False
        self.opened_at = -1

    def enter(self, training: bool) -> None:
        if training and not self.open:
            self.opened_at = len(self.out)
        elif not training and self.open:
            self._close()
        self.open = training

    def _close(self) -> None:
        if len(self.out) > self.opened_at:
            self.out.insert(self.opened_at, f"{INDENT * self.depth}if self.training:")

    def close(self) -> None:
        if self.open:
            self._close()
        self.open = False


def _as_call(text: str) -> Any:
    """An op table's expression, a call made a Bracket where it is one, so that a line too long
    is wrapped as black wraps it (`F.interpolate(...)` at a deep indent)."""
    tree = ast.parse(text, mode="eval").body
    if not isinstance(tree, ast.Call) or any(isinstance(a, ast.Starred) for a in tree.args):
        return text

    def segment(node) -> str:
        return ast.get_source_segment(text, node)

    args = [segment(a) for a in tree.args]
    args += [f"{k.arg}={segment(k.value)}" if k.arg else f"**{segment(k.value)}" for k in tree.keywords]
    return call(segment(tree.func), args)


def _gives_several(item: Call) -> bool:
    return len(item.cls.result) > 1


def _parts(item: Call, here: tuple) -> list[tuple]:
    """The refs of the tensors a call of a block that gives several made."""
    return [("part", here, k) for k in range(len(item.cls.result))]


def _within(ref: tuple, path: tuple) -> bool:
    return ref[0] in ("item", "iter", "part") and ref[1][:len(path)] == path and len(ref[1]) > len(path)


def _roles(cls: ClassPlan, inplace: _InPlace, graph: Graph) -> dict:
    """Ref -> the name a new variable for it takes: its binding in the spec, the output it is,
    or its role in the merge it flows into; propagated back along the chain that makes it."""
    roles: dict = {}
    items = inplace.items
    for ref, item in items.items():
        origin = _origin(item)
        if origin is not None and origin in graph.tensor_names and ref[0] == "item":
            roles[ref] = graph.tensor_names[origin]
        if isinstance(item, Call) and _gives_several(item) and ref[0] == "item":   # `low, high = ...`: their names
            for k, part in enumerate(_parts(item, ref[1])):
                named = graph.tensor_names.get(Part(item.scopes[0], k))
                if named is not None:
                    roles[part] = named
    if cls.kind == "network":
        for port, ref in zip(graph.outputs, cls.result):
            roles.setdefault(ref, port.name)
    for ref, item in items.items():
        if not isinstance(item, Merge):
            continue
        paths = [r for r in item.inputs if r[0] != "in"]
        for k, r in enumerate(item.inputs):
            if r[0] == "in":
                continue
            if item.op == "add":
                role = "out" if k == 0 else "identity"
            else:
                role = "out" if len(paths) == 1 else f"branch{k + 1}"
            _assign_back(roles, r, role, items, inplace)
    return roles


def _assign_back(roles: dict, ref: tuple, role: str, items: dict, inplace: _InPlace) -> None:
    while ref not in roles:
        roles[ref] = role
        item = items.get(ref)
        if not isinstance(item, (Layer, Call)) or len(item.inputs) != 1:
            return
        ref = item.inputs[0]
        if ref[0] != "item" or inplace.readers.get(ref, 0) != 1:
            return


def _origin(item):
    if isinstance(item, (Layer, Merge)):
        return item.nodes[0]
    if isinstance(item, Call):
        return item.scopes[0]
    if isinstance(item, Branch):
        return item.branches[0]
    return None


# -- shape comments -------------------------------------------------------------------------------------

class _Shapes:
    """The shape after each step, as its comment shows it: the channels as the constructor's
    term, each spatial size as a formula of the class's input sizes (H, W) where every
    instance agrees on one, else as the number they agree on."""

    AXES = {2: ("L",), 3: ("H", "W"), 4: ("D", "H", "W")}

    def __init__(self, graph: Graph, cls: ClassPlan) -> None:
        self.graph = graph
        self.cls = cls
        self.symbolic: dict[int, Any] = {}
        if cls.kind != "network":
            for scope in cls.scopes:
                self._infer(scope)

    def _infer(self, scope) -> None:
        """The instance's shapes again, from its input's sizes as symbols (the op table's rules)."""
        g = self.graph
        entry = g.nodes[scope.entry].shape
        names = self.AXES.get(len(entry))
        if names is None:
            return
        known = {scope.entry: (entry[0], *(Expr.symbol(n) for n in names))}
        for node in g.nodes_in(scope):
            if node.op == "input" or not node.known:
                continue
            inputs = [known.get(i, g.nodes[i].shape) for i in node.inputs]
            try:
                shape, _ = ops.infer(node.op, inputs, node.args)
            except Exception:  # noqa: BLE001 - a rule that needs the numbers: the comment shows them
                continue
            known[node.id] = shape
            self.symbolic[node.id] = shape

    def comment(self, item, writer: _ClassWriter) -> str:
        if isinstance(item, Call) and _gives_several(item):
            return self._several(item)
        made = item.nodes if isinstance(item, (Layer, Merge)) else [self.graph.nodes[s.exit] for s in item.scopes]
        first = made[0]
        if not first.known:
            return ""
        channels = writer.text(item.channels) if item.channels is not None else str(first.shape[0])
        if len(channels) > LONGEST_COMMENT_TERM:   # a formula no one reads: the number, where the instances agree
            counts = {n.shape[0] for n in made}
            channels = str(first.shape[0]) if len(counts) == 1 else "C"
        spatial = self._spatial(made)
        span = first.span if isinstance(item, (Layer, Merge)) else item.scopes[0].span
        text = "# (" + ", ".join(["N", channels, *spatial]) + ")"
        return text + (f"  {_location(span)}" if span is not None else "")

    def _several(self, item: Call) -> str:
        """The shapes a call of a block that gives several tensors made: `# (N, 40, 4, 4), (N, 960, 2, 2)`,
        the numbers its instances agree on."""
        texts = []
        for k in range(len(item.cls.result)):
            made = [self.graph.nodes[s.results[k]] for s in item.scopes]
            if not all(n.known for n in made):
                return ""
            spec = ops.OPS.get(made[0].op)   # none for an input: a block may give its `in`
            batch = [] if spec is not None and spec.parameter else ["N"]   # a parameter has no batch
            texts.append("(" + ", ".join([*batch, *self._numbers([tuple(n.shape) for n in made])]) + ")")
        span = item.scopes[0].span
        return "# " + ", ".join(texts) + (f"  {_location(span)}" if span is not None else "")

    @staticmethod
    def _numbers(shapes: list) -> list[str]:
        return [str(d) for d in shapes[0]] if len(set(shapes)) == 1 else ["..."]

    def _spatial(self, made: list) -> list[str]:
        forms = {tuple(str(d) for d in self.symbolic[n.id][1:]) if n.id in self.symbolic else None for n in made}
        if len(forms) == 1 and None not in forms:
            return list(next(iter(forms)))
        values = {tuple(n.shape[1:]) for n in made}
        if len(values) == 1:
            return [str(d) for d in next(iter(values))]
        return ["..."]


# -- constructor arguments ------------------------------------------------------------------------------

def _constructor_args(cls_name: str, kwargs: dict[str, Any], text) -> list[str]:
    """Arguments as d2l writes them: leading sizes positional (`nn.Conv2d(1, 6,
    kernel_size=5)`), the rest by keyword, values equal to torch's defaults
    left out. `text` writes a term."""
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
        if not required and _same_term(value, param.default):
            positional = False
            continue
        if required and positional and name not in KEYWORD_ALWAYS and param.kind is not inspect.Parameter.KEYWORD_ONLY:
            args.append(text(value))
        else:
            positional = False
            args.append(f"{name}={text(value)}")
    return args


# -- text of values -------------------------------------------------------------------------------------

def _port_text(g: Graph, port, channels: str) -> str:
    """`("y", (classes,))`: a port whose channels follow a parameter; its other sizes are numbers."""
    sizes = [channels, *(literal(d if isinstance(d, int) else str(d)) for d in g.nodes[port.node].shape[1:])]
    return f"({literal(port.name)}, ({', '.join(sizes)}{',' if len(sizes) == 1 else ''}))"


def _inline(term: Any, lets: dict[str, Any]) -> Any:
    """The term with each `let` it reads replaced by what the let computes, to the parameters."""
    for _ in range(len(lets) + 1):
        reads = terms.free_vars(term) & lets.keys() if terms.is_symbolic(term) else set()
        if not reads:
            return term
        term = terms.substitute(term, {v: lets[v] for v in reads})
    return term


def _port_literal(g: Graph, port) -> str:
    """`("x", (3, 224, 224))`; symbolic sizes as their text: `("x", (3, "H", "W"))`."""
    shape = tuple(d if isinstance(d, int) else str(d) for d in g.nodes[port.node].shape)
    return literal((port.name, shape))


def _spec_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _location(span, line: bool = True) -> str:
    return inert(f"{span.file}:{span.line}" if line else span.file)


def _call_args(params: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={arch_literal(v)}" for k, v in params.items()) + ")" if params else ""


def _ports_summary(g: Graph) -> str:
    ins = ", ".join(f"{p.name} {_spec_shape(g.nodes[p.node].shape)}" for p in g.inputs)
    outs = ", ".join(f"{p.key or p.name} {_spec_shape(g.nodes[p.node].shape)}" + (" (training)" if p.training else "")
                     for p in g.outputs)
    return f"{ins} -> {outs}"


def _variables(names, reserved: set[str]) -> list[str]:
    """Safe, distinct Python parameter names for `names`, in order."""
    taken = set(reserved)
    out = []
    for name in names:
        var = safe_variable(name, taken)
        taken.add(var)
        out.append(var)
    return out


def _sites(scopes: list) -> str:
    """`specs/resnet18.arch:26, 27`: where the instances were called, each file once."""
    lines: dict[str, list[int]] = {}
    for scope in scopes:
        if scope.span is not None:
            lines.setdefault(inert(scope.span.file), [])
            if scope.span.line not in lines[inert(scope.span.file)]:
                lines[inert(scope.span.file)].append(scope.span.line)
    return "; ".join(f"{file}:{', '.join(str(n) for n in sorted(numbers))}" for file, numbers in lines.items())


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""
