"""The classes a generated PyTorch file defines: one per block definition, where that is exact.

Built from a staged graph (ir.py's terms and traces; docs/internals.md,
"Generated classes"), torch-free like module_plan, whose attribute names
(and so state_dict keys) it keeps:

- every scope (block instance, labelled group, the network) first becomes an
  *instance template*: its layers, merges, calls, `let`s, loops and `if`s as
  they ran, each argument a term of the scope's variables (its parameters,
  its input's channels), each input a reference to what made it;
- instances of one definition whose templates agree share a class; where
  they differ only in the side of an `if` they took, the class holds both
  sides (an `if` in Python); otherwise they are variants of the block;
- a `repeat` whose count is a term stays a loop where the class is a chain
  of modules (an nn.Sequential: its forward is the order of its modules),
  the iterations agree and so do the numbers elaboration gave their names;
  elsewhere it is written out, and its count becomes a condition
  (`Plan.unrolled`).

Nothing here guesses: a template is the trace of an instance with its terms,
so a class computes for any arguments what elaboration computed for each of
its instances; `tests/test_classes.py` checks it differentially.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from .. import ops, terms
from ..shapes import Expr
from ..ir import Assumption, Branch as IRBranch, Entry, Graph, LetItem, Loop as IRLoop, Node, Part, Scope
from .module_plan import MERGES, plan as module_plan

Ref = tuple   # ("in", k): an input; ("item", path): what an item made; ("iter", path): an iteration's input;
#               ("part", path, k): the k-th tensor a call of a block that gives several made

# nn.Sequential's own public names: a member named so would hide the method, so such a class is no Sequential.
SEQUENTIAL_ATTRIBUTES = frozenset({"append", "extend", "insert", "pop"})


# -- template items -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Auto:
    """A name elaboration numbered (`conv3`, `denselayer2`) inside or after a loop kept as a
    loop: `base` and the number as a term of the loop counters (`i + 2`) and counts."""

    base: str
    number: Any


# A `parameter` is a Layer of this class: no module, but an nn.Parameter its block declares
# (kwargs: its shape and fill), which forward reads as `self.<attr>`.
PARAMETER = "Parameter"


@dataclass(eq=False)
class Layer:
    attr: "str | Auto"
    op: str
    cls: str                      # torch class: "Conv2d", one of torch_layers.EXTRA, or PARAMETER
    kwargs: dict                  # keyword -> term
    inputs: tuple
    nodes: list                   # the nodes it stands for: one per instance and iteration
    channels: Any = None          # its output's channels, a term (for the comments)

    def key(self) -> tuple:
        return ("layer", self.attr, self.op, self.cls, _key(self.kwargs), self.inputs)


@dataclass(eq=False)
class Merge:
    attr: "str | Auto"            # no module, but a name: it counts among its scope's automatic names
    op: str
    inputs: tuple
    nodes: list
    channels: Any = None

    def key(self) -> tuple:   # its arguments too: chunk's index, resize's mode
        return ("merge", self.attr, self.op, self.inputs, _key(self.nodes[0].args))


@dataclass(eq=False)
class Call:
    attr: "str | Auto"
    cls: "ClassPlan"
    args: dict                    # the callee's variables (parameters, input channels) -> terms of the caller's
    inputs: tuple
    scopes: list
    channels: Any = None
    group_subst: dict | None = None   # a group's: the substitution its variables are read under here

    def key(self) -> tuple:
        return ("call", self.attr, id(self.cls), _key(self.args), self.inputs)


@dataclass(eq=False)
class Let:
    var: str
    term: Any

    def key(self) -> tuple:
        return ("let", self.var, _key(self.term))


@dataclass(eq=False)
class Loop:
    count: Any
    index: str
    counter: str                  # the variable standing for the count in names after the loop
    body: list | None             # None: no instance ran an iteration
    loops: list
    entry: Ref | None = None      # what the first iteration reads
    result: Ref | None = None     # what an iteration yields to the next (a ref into the body, or its entry)

    def key(self) -> tuple:
        return ("loop", _key(self.count), self.index, self.counter)


@dataclass(eq=False)
class Branch:
    test: Any
    entry: Ref
    then: list | None             # None: no instance took that side
    orelse: list | None
    then_result: Ref | None
    else_result: Ref | None
    branches: list

    def key(self) -> tuple:
        return ("if", _key(self.test), self.entry)


Item = "Layer | Merge | Call | Let | Loop | Branch"


def _key(value) -> Any:
    """A hashable stand-in for a term or a dict of terms, equal when they are equal terms."""
    if isinstance(value, dict):
        return tuple((k, _key(v)) for k, v in value.items())
    if isinstance(value, (tuple, list)):
        return ("tuple", tuple(_key(v) for v in value))
    return (type(value).__name__, value)


def walk(items: list | None) -> Iterator:
    """Every item, those inside loops and `if`s included, in order."""
    for item in items or ():
        yield item
        if isinstance(item, Loop):
            yield from walk(item.body)
        elif isinstance(item, Branch):
            yield from walk(item.then)
            yield from walk(item.orelse)


def used_variables(items: list | None) -> set[str]:
    """The variables the constructor reads to build these items: each layer's arguments, the
    arguments a callee takes (a group's are its block's variables, read as they are), the
    count of a loop, the test of an `if` both of whose sides exist, and what the `let`s
    among them that these read are computed from."""
    used: set[str] = set()
    lets: dict[str, Any] = {}
    for item in walk(items):
        if isinstance(item, Layer):
            used |= _vars(item.kwargs.values())
        elif isinstance(item, Call):
            callee = item.cls.variables()
            used |= _vars(item.args[v] for v in callee)
        elif isinstance(item, Loop):
            used |= terms.free_vars(item.count)
        elif isinstance(item, Branch) and item.then is not None and item.orelse is not None:
            used |= terms.free_vars(item.test)
        elif isinstance(item, Let):
            lets[item.var] = item.term
    pending = [v for v in used if v in lets]
    while pending:
        var = pending.pop()
        for read in terms.free_vars(lets[var]):
            if read not in used:
                used.add(read)
                if read in lets:
                    pending.append(read)
    return used


def _vars(values) -> set[str]:
    out: set[str] = set()
    for value in values:
        out |= terms.free_vars(value)
    return out


# -- classes ------------------------------------------------------------------------------------------

@dataclass(eq=False)
class ClassPlan:
    """One class of the file: what its instances have in common."""

    kind: str                     # "block", "group" or "network"
    block: str                    # the block's name (a group's label, the network's name)
    definition: tuple
    items: list
    result: tuple                 # the refs it returns (one; a network, one per output; a block whose
                                  # body says `output a, b`, one per tensor it gives)
    inputs: int                   # tensors its forward takes
    params: tuple                 # the declared parameters, in order (a network's too)
    input_var: str                # the variable of its input's channels ("" for a network)
    defaults: dict                # parameter -> its default, a term of earlier ones
    scopes: list = field(default_factory=list)
    sequential: bool = False      # a chain of modules: an nn.Sequential, no forward of its own
    lets: dict = field(default_factory=dict)   # its `let` variables -> their terms
    loop_indexes: set = field(default_factory=set)
    constants: dict = field(default_factory=dict)   # variables written as the one value its instances give (specialise.py)

    def variables(self) -> list[str]:
        """What its constructor takes: the input's channels, the parameters in order, and (a
        group's) the variables of its block it reads; only those its terms use."""
        used = used_variables(self.items) - set(self.lets) - self.loop_indexes
        order = [self.input_var, *self.params]
        return [v for v in order if v in used] + sorted(used - set(order))


@dataclass
class Plan:
    classes: list[ClassPlan]                 # in definition order: a class before those that call it
    network: ClassPlan
    class_of: dict[int, ClassPlan]           # id(scope) -> its class
    unrolled: list[IRLoop]                   # loops with a symbolic count that were written out
    extras: dict[int, list] = field(default_factory=dict)   # id(group scope) -> origins it reads from outside


def build(graph: Graph) -> Plan:
    """The classes of a staged graph (`graph.staged`), children first."""
    return _Planner(graph).run()


class _Planner:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.attrs = _attribute_names(graph)
        self.classes: list[ClassPlan] = []
        self.by_definition: dict[tuple, list[ClassPlan]] = {}
        self.class_of: dict[int, ClassPlan] = {}
        self.unrolled: list[IRLoop] = []
        self.extras: dict[int, list] = {}
        self.has_nodes = _scopes_with_nodes(graph)

    def run(self) -> Plan:
        for scope in _post_order(self.graph.root):
            if scope is self.graph.root or id(scope) in self.has_nodes:  # an empty block is no module
                self.class_of[id(scope)] = self._place(scope)
        _complete_group_arguments(self.classes)
        network = self.class_of[id(self.graph.root)]
        return Plan(self.classes, network, self.class_of, self.unrolled, self.extras)

    def _place(self, scope: Scope) -> ClassPlan:
        unroll = scope.kind == "network" or (scope.names is not None and scope.names.unknown)
        built = _InstanceBuilder(self, scope, unroll).build()
        self.unrolled.extend(built.unrolled)
        self.extras[id(scope)] = built.extra
        definition = built.plan.definition
        for existing in self.by_definition.get(definition, []):
            # Two chains merge into a chain; a chain merged with an instance that is none (the other side
            # of an `if` holds a merge) is none, which a class whose loops stayed loops cannot be.
            chain = existing.sequential and built.plan.sequential
            if not chain and (existing.loop_indexes or built.plan.loop_indexes):
                continue
            if existing.inputs == built.plan.inputs and existing.result == built.plan.result \
                    and _unify(existing.items, built.plan.items):
                existing.sequential = chain
                existing.scopes.append(scope)
                existing.lets.update(built.plan.lets)
                existing.loop_indexes |= built.plan.loop_indexes
                return existing
        made = built.plan
        made.scopes.append(scope)
        self.by_definition.setdefault(definition, []).append(made)
        self.classes.append(made)
        return made


@dataclass
class _Built:
    plan: ClassPlan
    unrolled: list        # ir loops with a symbolic count written out
    extra: list           # a group's tensors read from outside


class _InstanceBuilder:
    """One scope's trace as template items."""

    def __init__(self, planner: _Planner, scope: Scope, unroll: bool) -> None:
        self.planner = planner
        self.graph = planner.graph
        self.scope = scope
        self.unroll = unroll
        self.refs: dict[Any, Ref] = {}
        self.extra: list[Any] = []
        self.kept: list[Loop] = []
        self.unrolled: list[IRLoop] = []
        self.lets: dict[str, Any] = {}
        self.in_loop = False              # building a kept loop's body: no loop or `if` keeps inside

    def build(self) -> _Built:
        scope, graph = self.scope, self.graph
        if scope.kind == "network":
            for k, port in enumerate(graph.inputs):
                self.refs[graph.nodes[port.node]] = ("in", k)
        elif scope.kind == "group":
            self.refs[scope.entry_origin] = ("in", 0)
        else:
            self.refs[Entry(scope)] = ("in", 0)
        items: list = []
        self.items(scope.body, items, (), {})
        if scope.kind == "network":
            result = tuple(self.ref(origin) for origin in graph.output_origins)
            inputs = len(graph.inputs)
        elif scope.results:
            result = tuple(self.ref(origin) for origin in scope.result_origins)
            inputs = 1 + len(self.extra)
        else:
            result = (self.ref(scope.exit_origin),)
            inputs = 1 + len(self.extra)
        names = scope.names
        plan = ClassPlan(scope.kind, scope.block, (scope.kind, scope.definition or scope.block), items, result,
                         inputs, scope.params, names.input if names is not None else "", dict(scope.defaults),
                         lets=self.lets, loop_indexes={loop.index for loop in self.kept})
        plan.sequential = scope.kind != "network" and _is_chain(plan)
        if self.kept and not (plan.sequential and _number_names(plan, scope)):
            # A loop stays a loop only in an nn.Sequential whose names follow its counter.
            return _InstanceBuilder(self.planner, scope, True).build()
        if not self.kept:  # every name is the one elaboration gave
            for item in walk(items):
                if isinstance(getattr(item, "attr", None), Auto):
                    made = item.nodes[0] if isinstance(item, (Layer, Merge)) else item.scopes[0]
                    item.attr = made.local_name if isinstance(item, Merge) else self.planner.attrs[id(made)]
        return _Built(plan, self.unrolled, self.extra)

    # -- references --------------------------------------------------------------------------------
    def ref(self, origin) -> Ref:
        found = self.refs.get(origin)
        if found is not None:
            return found
        if isinstance(origin, Scope) and id(origin) not in self.planner.has_nodes:
            return self.ref(origin.entry_origin)   # an empty block yields its input
        if self.scope.kind == "group":  # a tensor named outside a group comes in as an argument
            self.extra.append(origin)
            self.refs[origin] = ("in", len(self.extra))
            return self.refs[origin]
        raise ValueError(f"{self.scope.path or 'the network'} reads a tensor made neither inside it nor before it")

    def sources(self, node: Node) -> list:
        return list(node.sources) if node.sources else [self.graph.nodes[i] for i in node.inputs]

    # -- items -------------------------------------------------------------------------------------
    def items(self, trace: list, out: list, path: tuple, subst: dict) -> None:
        """Append the items of a trace to `out` (whose items' paths are `path` + their index)."""
        for entry in trace:
            here = path + (len(out),)
            if isinstance(entry, Node):
                self.node(entry, out, here, subst)
            elif isinstance(entry, Scope):
                self.call(entry, out, here, subst)
            elif isinstance(entry, IRLoop):
                self.loop(entry, out, path, subst)
            elif isinstance(entry, IRBranch):
                self.branch(entry, out, path, subst)
            elif isinstance(entry, LetItem):
                term = _sub(entry.term, subst)
                self.lets[entry.name] = term
                out.append(Let(entry.name, term))
            elif not isinstance(entry, Assumption):
                raise TypeError(f"unknown trace item {entry!r}")

    def node(self, node: Node, out: list, here: tuple, subst: dict) -> None:
        if node.op == "input":
            return
        inputs = tuple(self.ref(s) for s in self.sources(node))
        spec = ops.OPS[node.op]
        if node.op in MERGES:
            if len(inputs) == 1 and spec.aliases_single_input:   # a one-input add is its input
                self.refs[node] = inputs[0]
                return
            out.append(Merge(self.name(node), node.op, inputs, [node], _sub(node.channels, subst)))
        elif spec.parameter:   # no module: the block's nn.Parameter, its shape and fill as terms
            kwargs = {k: _sub(v, subst) for k, v in node.arg_terms.items()}
            out.append(Layer(self.name(node), node.op, PARAMETER, kwargs, inputs, [node], _sub(node.channels, subst)))
        else:
            shapes = [(_sub(c, subst), *self.graph.nodes[i].shape[1:]) for c, i in zip(node.in_channels, node.inputs)]
            cls, kwargs = spec.torch(shapes, {k: _sub(v, subst) for k, v in node.arg_terms.items()})
            out.append(Layer(self.name(node), node.op, cls, kwargs, inputs, [node], _sub(node.channels, subst)))
        self.refs[node] = ("item", here)

    def call(self, child: Scope, out: list, here: tuple, subst: dict) -> None:
        if id(child) not in self.planner.has_nodes:   # an empty block gives its input, however many times
            self.refs[child] = self.ref(child.entry_origin)
            for k in range(len(child.results)):
                self.refs[Part(child, k)] = self.refs[child]
            return
        cls = self.planner.class_of[id(child)]
        inputs = (self.ref(child.entry_origin),)
        if child.kind == "group":
            inputs += tuple(self.ref(o) for o in self.planner.extras[id(child)])
            # A group reads its block's variables as they are here: a loop's, written out, as this iteration's.
            args = {v: _sub(_variable(v, cls), subst) for v in cls.variables()}
        else:
            args = {p: _sub(child.arg_terms[p], subst) for p in child.params}
            args[child.names.input] = _sub(child.in_channels, subst)
        outside = {**child.arg_terms, child.names.input: child.in_channels} if child.kind != "group" else {}
        if child.results:   # several tensors: each read as a part of the call (the comment shows their shapes)
            out.append(Call(self.name(child), cls, args, inputs, [child], None))
            for k in range(len(child.results)):
                self.refs[Part(child, k)] = ("part", here, k)
            return
        channels = terms.substitute(child.names.expand(child.exit_channels), outside)
        out.append(Call(self.name(child), cls, args, inputs, [child], _sub(channels, subst),
                        subst if child.kind == "group" else None))
        self.refs[child] = ("item", here)

    def name(self, made) -> "str | Auto":
        """The attribute, as module_plan names it: numbered later where it is automatic."""
        if isinstance(made, Node) and made.op in MERGES:
            local = made.local_name
            if made.label:
                return local
            return Auto("residual" if local.startswith("residual") else made.op, None)
        attr = self.planner.attrs[id(made)]
        if made.label is not None:
            return attr
        return Auto(made.op if isinstance(made, Node) else made.block.lower(), None)

    def loop(self, loop: IRLoop, out: list, path: tuple, subst: dict) -> None:
        count = _sub(loop.count, subst)
        entry = self.ref(loop.entry_origin) if loop.entry_origin is not None else None
        # A loop of no iteration stays a loop too: the class's other instances give its body.
        uniform = loop.carried_value is not None or not loop.iterations
        if terms.is_symbolic(count) and not self.unroll and not self.in_loop and uniform:
            if self.kept_loop(loop, count, out, path, subst):
                return
        if terms.is_symbolic(count):
            self.unrolled.append(loop)
        carried = _sub(loop.entry_channels, subst)
        for i, iteration in enumerate(loop.iterations):
            self.refs[Entry(loop)] = entry if i == 0 else self.ref(loop.exit_origins[i - 1])
            inner = {**subst, loop.index: i, loop.carried: carried}
            self.items(iteration, out, path, inner)
            carried = _sub(loop.exit_channels[i], inner)
        self.refs[loop] = self.ref(loop.exit_origins[-1]) if loop.iterations else entry

    def kept_loop(self, loop: IRLoop, count, out: list, path: tuple, subst: dict) -> bool:
        here = path + (len(out),)
        inner = {**subst, loop.carried: _sub(loop.carried_value, subst)}
        bodies, results = [], []
        self.in_loop = True
        try:
            for i, iteration in enumerate(loop.iterations):
                self.refs[Entry(loop)] = ("iter", here)
                body: list = []
                self.items(iteration, body, here + ("body",), inner)
                bodies.append(body)
                results.append(self.ref(loop.exit_origins[i]))
        finally:
            self.in_loop = False
        body = bodies[0] if bodies else None
        if any(isinstance(item, (Loop, Branch)) for item in body or ()):
            return False
        if not all(_unify(body, other) for other in bodies[1:]) or len(set(results)) > 1:
            return False
        entry = self.ref(loop.entry_origin) if loop.entry_origin is not None else None
        made = Loop(count, loop.index, f".count{len(self.kept)}", body, [loop], entry,
                    results[0] if results else None)
        out.append(made)
        self.kept.append(made)
        self.refs[loop] = ("item", here)
        return True

    def branch(self, branch: IRBranch, out: list, path: tuple, subst: dict) -> None:
        test = _sub(branch.test, subst)
        if not terms.is_symbolic(test) or self.in_loop:
            # Decided by constants (or, inside a kept loop, left to fail the loop: see kept_loop).
            self.items(branch.items, out, path, subst)
            self.refs[branch] = self.ref(branch.exit_origin)
            if self.in_loop and terms.is_symbolic(test):
                out.append(Branch(test, self.ref(branch.entry_origin), None, None, None, None, [branch]))
            return
        here = path + (len(out),)
        entry = self.ref(branch.entry_origin)
        side: list = []
        self.items(branch.items, side, here + ("then" if branch.taken else "else",), subst)
        result = self.ref(branch.exit_origin)
        made = Branch(test, entry, None, None, None, None, [branch])
        if branch.taken:
            made.then, made.then_result = side, result
        else:
            made.orelse, made.else_result = side, result
        out.append(made)
        self.refs[branch] = ("item", here)


def _complete_group_arguments(classes: list[ClassPlan]) -> None:
    """A group reads its block's variables, as many as its class reads once every instance has
    merged: a class it calls may have come to read one more (an `if` on the input channels, both
    of whose sides a later instance took) after the call was made. Until none is missing."""
    missing = True
    while missing:
        missing = False
        for cls in classes:
            for item in walk(cls.items):
                if isinstance(item, Call) and item.group_subst is not None:
                    for v in item.cls.variables():
                        if v not in item.args:
                            item.args[v] = _sub(_variable(v, item.cls), item.group_subst)
                            missing = True


def _variable(name: str, cls: ClassPlan):
    """The term of a class's variable: an int symbol, unless its terms read it as a Name."""
    for item in walk(cls.items):
        for term in _item_terms(item):
            found = _find_name(term, name)
            if found is not None:
                return found
    return terms.symbol(name)


def _item_terms(item) -> list:
    if isinstance(item, Layer):
        return list(item.kwargs.values())
    if isinstance(item, Call):
        return list(item.args.values())
    if isinstance(item, Let):
        return [item.term]
    if isinstance(item, Loop):
        return [item.count]
    if isinstance(item, Branch):
        return [item.test]
    return []


def _find_name(term, name: str):
    if isinstance(term, terms.Name):
        return term if term.name == name else None
    if isinstance(term, Expr):   # a Name inside a polynomial sits in an Opaque atom (`blocks[0] * growth`)
        parts = [atom.term for mono, _ in term.terms for atom in mono if isinstance(atom, terms.Opaque)]
        return next((f for f in (_find_name(p, name) for p in parts) if f is not None), None)
    if isinstance(term, (tuple, terms.Apply)):
        for part in (term if isinstance(term, tuple) else term.args):
            found = _find_name(part, name)
            if found is not None:
                return found
    return None


def _sub(term, subst: dict):
    return terms.substitute(term, subst) if subst and terms.is_symbolic(term) else term


# -- merging instances ----------------------------------------------------------------------------------

def _unify(a: list | None, b: list | None) -> bool:
    """Merge template `b` into `a` where they agree (sides of an `if`, a loop's body may be missing
    from one); False, leaving `a` alone, where they do not."""
    if not _compatible(a, b):
        return False
    _merge(a, b)
    return True


def _compatible(a: list | None, b: list | None) -> bool:
    if a is None or b is None:
        return True
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if type(x) is not type(y) or x.key() != y.key():
            return False
        if isinstance(x, Loop) and not _compatible(x.body, y.body):
            return False
        if isinstance(x, Branch):
            if not (_compatible(x.then, y.then) and _compatible(x.orelse, y.orelse)):
                return False
            if None not in (x.then_result, y.then_result) and x.then_result != y.then_result:
                return False
            if None not in (x.else_result, y.else_result) and x.else_result != y.else_result:
                return False
    return True


def _merge(a: list | None, b: list | None) -> None:
    if a is None or b is None:
        return
    for x, y in zip(a, b):
        if isinstance(x, (Layer, Merge)):
            x.nodes.extend(y.nodes)
        elif isinstance(x, Call):
            x.scopes.extend(y.scopes)
        elif isinstance(x, Loop):
            x.loops.extend(y.loops)
            if x.body is None:
                x.body = y.body
            else:
                _merge(x.body, y.body)
        elif isinstance(x, Branch):
            x.branches.extend(y.branches)
            if x.then is None:
                x.then, x.then_result = y.then, y.then_result
            else:
                _merge(x.then, y.then)
            if x.orelse is None:
                x.orelse, x.else_result = y.orelse, y.else_result
            else:
                _merge(x.orelse, y.orelse)


# -- chains: classes that are an nn.Sequential --------------------------------------------------------

def _is_chain(plan: ClassPlan) -> bool:
    """Each module reads what the one before it made, the first reads the input, the last is
    the result: the order of its modules is its forward."""
    if plan.kind == "network" or plan.inputs != 1:
        return False
    if any(isinstance(item, (Layer, Call)) and isinstance(item.attr, str) and item.attr in SEQUENTIAL_ATTRIBUTES
           for item in walk(plan.items)):
        return False
    last = _chain(plan.items, ("in", 0), ())
    return last is not None and plan.result == (last,)


def _chain(items: list | None, current: Ref, path: tuple) -> Ref | None:
    for index, item in enumerate(items or ()):
        here = path + (index,)
        if isinstance(item, Let):
            continue
        if isinstance(item, (Layer, Call)):
            if item.inputs != (current,):
                return None
            current = ("item", here)
        elif isinstance(item, Loop):
            if item.entry is not None and item.entry != current:   # it starts from another tensor
                return None
            end = _chain(item.body, ("iter", here), here + ("body",))
            if end is None or (item.body and _first_input(item.body) != ("iter", here)):
                return None
            if item.result is not None and item.result != end:   # an iteration yields what its last module made
                return None
            current = ("item", here)
        elif isinstance(item, Branch):
            for side, name, result in ((item.then, "then", item.then_result), (item.orelse, "else", item.else_result)):
                if side is not None and _chain(side, current, here + (name,)) != result:
                    return None
            current = ("item", here)
        else:
            return None
    return current


def _first_input(items: list) -> Ref | None:
    for item in items:
        if isinstance(item, (Layer, Call)):
            return item.inputs[0]
    return None


# -- names in and after loops ---------------------------------------------------------------------------

def _number_names(plan: ClassPlan, scope: Scope) -> bool:
    """Give every automatic name its number as a term (elaboration's counter per base, run over
    the template: inside a loop, a term of its index; after it, of its count) and check each
    against the names elaboration gave; False where one differs, or where a label of the body
    could be skipped over by a number that depends on a count (the front end skips labels)."""
    counters: dict[str, Any] = {}
    symbolic: set[str] = set()

    def number(items: list) -> None:
        for item in items:
            if isinstance(item, Loop):
                if item.body is not None:
                    number_loop(item)
            elif isinstance(item, Branch):
                number(item.then or [])
                number(item.orelse or [])
            elif isinstance(getattr(item, "attr", None), Auto):
                base = item.attr.base
                counters[base] = terms.arith("+", counters.get(base, 0), 1)
                item.attr = Auto(base, counters[base])

    def number_loop(loop: Loop) -> None:
        each = _autos_per_base(loop.body)
        start = dict(counters)
        index, seen = terms.symbol(loop.index), {}
        for item in loop.body:
            attr = getattr(item, "attr", None)
            if isinstance(attr, Auto):
                seen[attr.base] = seen.get(attr.base, 0) + 1
                offset = terms.arith("*", index, each[attr.base])
                item.attr = Auto(attr.base, terms.arith("+", start.get(attr.base, 0), offset + seen[attr.base]))
        for base, k in each.items():
            counters[base] = terms.arith("+", start.get(base, 0), terms.arith("*", terms.symbol(loop.counter), k))
            symbolic.add(base)

    number(plan.items)
    if any(re.fullmatch(re.escape(base) + r"\d+", label) for base in symbolic for label in scope.labels):
        return False
    counts = {loop.counter: len(loop.loops[0].iterations) for loop in walk(plan.items) if isinstance(loop, Loop)}
    return all(_name_holds(item, loop, counts) for item, loop in _with_loops(plan.items, None))


def _autos_per_base(items: list) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        attr = getattr(item, "attr", None)
        if isinstance(attr, Auto):
            out[attr.base] = out.get(attr.base, 0) + 1
    return out


def _with_loops(items: list, loop: Loop | None) -> Iterator[tuple]:
    for item in items:
        if isinstance(item, Loop):
            yield from _with_loops(item.body or [], item)
        elif isinstance(item, Branch):
            yield from _with_loops(item.then or [], loop)
            yield from _with_loops(item.orelse or [], loop)
        elif isinstance(getattr(item, "attr", None), Auto):
            yield item, loop


def _name_holds(item, loop: Loop | None, counts: dict) -> bool:
    """Each name the item stands for (one per iteration of `loop`) is its base and number."""
    made = item.nodes if isinstance(item, (Layer, Merge)) else item.scopes
    for i, thing in enumerate(made):
        values = {**counts, loop.index: i} if loop is not None else counts
        try:
            number = terms.evaluate(item.attr.number, values)
        except KeyError:
            return False
        if thing.local_name != f"{item.attr.base}{number}":
            return False
    return True


# -- helpers ------------------------------------------------------------------------------------------

def _attribute_names(graph: Graph) -> dict[int, str]:
    """id(node or scope) -> its attribute, as module_plan names it (so keys agree with ONNX's)."""
    names: dict[int, str] = {}

    def walk_plan(block_plan) -> None:
        for step in block_plan.members:
            if step.block is not None:
                names[id(step.block.scope)] = step.attr
                walk_plan(step.block)
            else:
                names[id(step.node)] = step.attr

    walk_plan(module_plan(graph))
    return names


def _scopes_with_nodes(graph: Graph) -> set[int]:
    found: set[int] = set()
    for node in graph.nodes:
        if node.op == "input":
            continue
        for scope in node.scope.ancestors():
            if id(scope) in found:
                break
            found.add(id(scope))
    return found


def _post_order(root: Scope) -> list[Scope]:
    out: list[Scope] = []

    def visit(scope: Scope) -> None:
        for child in scope.children:
            visit(child)
        out.append(scope)

    visit(root)
    return out
