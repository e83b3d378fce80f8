"""The structure of an imported network: module instances as regions, bodies as chains and paths.

The module hierarchy is the first hint of the blocks a person would write:
each module instance whose forward made calls (a torchvision `Bottleneck`,
a `Sequential`) is an `Instance`, a region of the graph. One that reads one
tensor and yields one can be a block call or a labelled group; its body is
then written in the language's terms:

- a chain of calls is a sequence of statements;
- where the data flow forks and joins again at a merge (`add`, `concat`,
  `mul`), the merge becomes paths: each path from the fork (found as the
  merge's immediate dominator, networkx) to one input of the merge, an
  empty path where the fork itself is the input (`residual`, DenseNet's
  `concat { | identity | ... }`).

Before that, the graph is normalised where torch code hides the structure:
a `torch.cat` of a list that grows (DenseNet's `torch.cat(features, 1)`)
becomes a concat of the previous concat and the new tensor, and a merge that
torch code does in the next module (the next dense layer's `torch.cat`) moves
into the module whose input and output it joins, so every instance of a
class has the same body.

A region that is not one tensor in and one out (a module with two outputs)
is dissolved into its parent: its calls are written there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from .graph import MERGES, Call, ImportedGraph, Scope


@dataclass(eq=False)
class Instance:
    """A module instance whose forward made calls, or the network itself (the root)."""

    scope: Scope
    parent: "Instance | None" = None
    children: list["Instance"] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)       # the calls its own forward made, in order
    members: set[int] = field(default_factory=set)        # every call of its region (its subtree)
    entry: int | None = None                              # the one tensor it reads from outside
    exit: int | None = None                               # the one call it yields
    body: list["Item"] = field(default_factory=list)
    dissolved: bool = False

    @property
    def label(self) -> str:
        return self.scope.path[-1] if self.scope.path else ""

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(eq=False)
class Item:
    """One statement of a body: a call of the graph, a child instance, or a merge of paths."""

    kind: str                                     # "op", "sub" or "merge"
    call: Call | None = None                      # op, merge
    sub: Instance | None = None                   # sub
    paths: list[list["Item"]] = field(default_factory=list)   # merge: one list per input, in order


class NotStructured(Exception):
    """A region whose data flow is no chain of forks and joins (written with named tensors)."""


def analyse(graph: ImportedGraph) -> Instance:
    """The instance tree of `graph`, normalised, each instance with its body."""
    _normalise_concats(graph)
    root = _tree(graph)
    _regions(root, graph)
    _move_boundary_merges(root, graph)
    _regions(root, graph)
    _move_joins_like_siblings(root, graph)
    _regions(root, graph)
    _dissolve_open_regions(root, graph)
    for inst in reversed(list(root.walk())):
        inst.body = _body(inst, graph)
    return root


# --------------------------------------------------------------------------- normalising the graph

def _normalise_concats(graph: ImportedGraph) -> None:
    """cat(a, b, c) after cat(a, b) is cat(cat(a, b), c): the same values, and DenseNet's structure."""
    seen: dict[tuple[int, ...], int] = {}
    for call in graph.calls:
        if call.op != "concat":
            continue
        written = tuple(call.inputs)                 # as torch code wrote it, before rewriting
        for k in range(len(written) - 1, 1, -1):
            prefix = seen.get(written[:k])
            if prefix is not None:
                call.inputs = [prefix, *written[k:]]
                break
        seen.setdefault(written, call.id)


def _tree(graph: ImportedGraph) -> Instance:
    root = Instance(Scope((), graph.root_class))
    by_scope: dict[Scope, Instance] = {}
    for call in graph.calls[1:]:
        parent = root
        for scope in call.scopes:
            inst = by_scope.get(scope)
            if inst is None:
                inst = by_scope[scope] = Instance(scope, parent)
                parent.children.append(inst)
            parent = inst
        parent.calls.append(call.id)
    return root


def _regions(root: Instance, graph: ImportedGraph) -> None:
    """Members, entry and exit of every instance (None where there is not exactly one)."""
    consumers = graph.consumers()
    for inst in reversed(list(root.walk())):
        inst.members = set(inst.calls).union(*(c.members for c in inst.children))
        if inst is root:
            inst.entry, inst.exit = 0, graph.output
            continue
        reads = {i for c in inst.members for i in graph.calls[c].inputs if i not in inst.members}
        yields = {c for c in inst.members if c == graph.output or any(u not in inst.members for u in consumers[c])}
        inst.entry = next(iter(reads)) if len(reads) == 1 else None
        inst.exit = next(iter(yields)) if len(yields) == 1 else None


def _owners(root: Instance) -> dict[int, Instance]:
    return {c: inst for inst in root.walk() for c in inst.calls}


def _move(call_id: int, to: Instance, owners: dict[int, Instance]) -> None:
    owners[call_id].calls.remove(call_id)
    to.calls.append(call_id)
    to.calls.sort()
    owners[call_id] = to


def _move_boundary_merges(root: Instance, graph: ImportedGraph) -> None:
    """A merge that reads nothing of its own region, in a region of several inputs, moves into
    the region that made its last input, when that region or its input makes every other one.

    DenseNet's dense layer `k` concatenates, first thing, what layer `k - 1` read and made:
    that concat belongs to layer `k - 1`, whose result it is.
    """
    owners = _owners(root)
    for call in graph.calls:
        if call.op not in MERGES:
            continue
        home = owners[call.id]
        if home is root or home.entry is not None or any(i in home.members for i in call.inputs):
            continue
        target = _region_joining(call, owners, home)
        if target is not None:
            _move(call.id, target, owners)
            _regions(root, graph)


def _region_joining(call: Call, owners: dict[int, Instance], home: Instance) -> Instance | None:
    """The outermost region holding `call`'s last input but not `call`, if its members and its
    entry make all of `call`'s inputs."""
    last = max(call.inputs)
    chain = []
    inst = owners.get(last)
    while inst is not None and inst.scope.path and not _contains(inst, home):
        chain.append(inst)
        inst = inst.parent
    for region in reversed(chain):
        if all(i in region.members or i == region.entry for i in call.inputs) and region.entry is not None:
            return region
    return None


def _contains(outer: Instance, inner: Instance) -> bool:
    while inner is not None:
        if inner is outer:
            return True
        inner = inner.parent
    return False


def _move_joins_like_siblings(root: Instance, graph: ImportedGraph) -> None:
    """A merge of a child region's entry and exit moves into that child when the other
    instances of the child's class end with such a merge (the last dense layer of a block)."""
    owners = _owners(root)
    ends = {}
    for inst in root.walk():
        if inst.exit is not None and graph.calls[inst.exit].op in MERGES and inst.scope.cls:
            ends.setdefault(inst.scope.cls, set()).add(graph.calls[inst.exit].op)
    for call in graph.calls:
        if call.op not in MERGES or len(call.inputs) != 2:
            continue
        home = owners[call.id]
        for child in home.children:
            if child.entry in call.inputs and child.exit in call.inputs and child.entry != child.exit \
                    and call.op in ends.get(child.scope.cls, ()) and graph.calls[child.exit].op not in MERGES:
                _move(call.id, child, owners)
                _regions(root, graph)
                break


def _dissolve_open_regions(root: Instance, graph: ImportedGraph) -> None:
    """An instance that is not one tensor in and one out writes its calls into its parent."""
    for inst in list(root.walk())[1:]:
        if inst.entry is not None and inst.exit is not None and inst.entry != inst.exit:
            continue
        inst.dissolved = True
    changed = True
    while changed:
        changed = False
        for inst in list(root.walk())[1:]:
            if inst.dissolved and inst.parent is not None:
                parent = inst.parent
                at = parent.children.index(inst)
                parent.children[at:at + 1] = inst.children
                for child in inst.children:
                    child.parent = parent
                parent.calls = sorted(parent.calls + inst.calls)
                changed = True
                break
    _regions(root, graph)


# --------------------------------------------------------------------------- bodies

def _units(inst: Instance, graph: ImportedGraph) -> tuple[dict[int, object], nx.DiGraph]:
    """The region's level graph: its own calls and its children (each one unit), from its entry.

    Node -1 is the entry tensor; a unit is named by the call it yields (a child by its exit).
    """
    unit_of: dict[int, object] = {}
    for c in inst.calls:
        unit_of[c] = graph.calls[c]
    for child in inst.children:
        for c in child.members:
            unit_of[c] = child
    g = nx.DiGraph()
    g.add_node(-1)
    out_of = {}                                       # unit -> the call id that holds its result
    for c, unit in unit_of.items():
        key = unit.exit if isinstance(unit, Instance) else c
        out_of[id(unit)] = key
        g.add_node(key)
    for c, unit in unit_of.items():
        if isinstance(unit, Instance) and c != unit.exit:
            continue
        call = graph.calls[c]
        reads = [unit.entry] if isinstance(unit, Instance) else call.inputs
        for i in reads:
            g.add_edge(-1 if i == inst.entry else out_of[id(unit_of[i])], c)
    return {out_of[id(u)]: u for u in unit_of.values()}, g


def _body(inst: Instance, graph: ImportedGraph) -> list[Item]:
    units, g = _units(inst, graph)
    dominators = nx.immediate_dominators(g, -1)
    used: list[int] = []

    def inputs(key: int) -> list[int]:
        unit = units[key]
        reads = [unit.entry] if isinstance(unit, Instance) else unit.inputs
        return [-1 if i == inst.entry else _unit_key(units, i) for i in reads]

    def sequence(start: int, end: int) -> list[Item]:
        items: list[Item] = []
        key = end
        while key != start:
            if key == -1:
                raise NotStructured(f"a path of {inst.scope.name or 'the network'} does not start at its fork")
            used.append(key)
            unit = units[key]
            ins = inputs(key)
            if isinstance(unit, Instance):
                items.append(Item("sub", sub=unit))
                key = ins[0]
            elif unit.op in MERGES and len(ins) > 1:
                fork = dominators[key]
                items.append(Item("merge", call=unit, paths=[sequence(fork, i) for i in ins]))
                key = fork
            else:
                items.append(Item("op", call=unit))
                key = ins[0]
        return items[::-1]

    body = sequence(-1, _unit_key(units, inst.exit))
    if sorted(used) != sorted(units) or not _consistent(body, g, inst, units):
        raise NotStructured(f"the data flow of {inst.scope.name or 'the network'} is not a chain of forks and joins")
    return body


def _unit_key(units: dict[int, object], call_id: int) -> int:
    if call_id in units:
        return call_id
    for key, unit in units.items():
        if isinstance(unit, Instance) and call_id in unit.members:
            return key
    raise KeyError(call_id)


def _consistent(body: list[Item], g: nx.DiGraph, inst: Instance, units: dict) -> bool:
    """True when the items say exactly the level graph's edges: nothing read from elsewhere."""
    edges: set[tuple[int, int]] = set()

    def key_of(item: Item) -> int:
        if item.kind == "sub":
            return item.sub.exit
        return item.call.id

    def walk(items: list[Item], start: int) -> int:
        current = start
        for item in items:
            if item.kind == "merge":
                ends = [walk(p, current) for p in item.paths]
                for e in ends:
                    edges.add((e, item.call.id))
                current = item.call.id
            else:
                edges.add((current, key_of(item)))
                current = key_of(item)
        return current

    walk(body, -1)
    return edges == set(g.edges)
