"""Blocks, parameters and repeats: the structure a person would write.

Every module instance has a body (`structure`). Here the bodies become
statements (`Stmt`) and the instances become block calls:

1. Runs of equal statements become `repeat` (`repeat n as i { "{i + 1}": Bottleneck(...) }`):
   equal but for labels that count up, so nn.Sequential's `layer1.1`,
   `layer1.2` and DenseNet's `denselayer2`, `denselayer3` keep their names.
2. Instances of one class at one height of the tree are one block when
   their bodies line up: statements are matched by their skeleton (kind,
   op or block, paths) through a longest common subsequence; whatever
   differs between the instances (channels, stride, a repeat count, a
   label) is a parameter, a statement some instances lack is an `if` on a
   flag (ResNet's `downsample`). Candidates are bucketed by a
   Weisfeiler-Lehman hash of their statement graph (networkx), so only
   bodies of one shape are compared statement by statement.
3. A block with one call in the whole text whose body is one chain (the
   `downsample` inside Bottleneck, a classifier) is written where it is
   called, as a labelled group.

Each instance's call reproduces its own statements exactly: whatever the
alignment chooses, the network is the one imported.
"""
from __future__ import annotations

import keyword
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from .. import ops
from .graph import ImportedGraph
from .structure import Instance, Item

CONTAINERS = ("Sequential", "ModuleList", "ModuleDict", "")
# A parameter's name after the argument it feeds.
PARAM_NAMES = {"out": "c"}


@dataclass(frozen=True)
class Param:
    """A block parameter used as a value."""

    name: str


@dataclass(frozen=True)
class Counted:
    """A label that counts with a repeat's variable: f"{prefix}{step * i + start}{suffix}"."""

    prefix: str
    start: int
    step: int
    suffix: str
    var: str = "i"


@dataclass(eq=False)
class Stmt:
    """One statement of a body, as it will be written."""

    kind: str                                     # "op", "call", "merge", "repeat", "if"
    name: str = ""                                # op, block or merge kind ("add", "concat", "mul")
    args: dict[str, Any] = field(default_factory=dict)   # non-default arguments; values may be Params
    label: Any = None                             # str, Param or Counted
    paths: list[list["Stmt"]] = field(default_factory=list)   # merge paths; repeat and if: [body]
    count: Any = None                             # repeat: how many times (int or Param)
    var: str = "i"                                # repeat: its variable
    cond: Any = None                              # if: the flag (Param)


@dataclass(eq=False)
class Block:
    """A block of the spec: its parameters (with defaults) and its body."""

    name: str
    params: list[tuple[str, Any]]                 # (name, default or ops.REQUIRED)
    body: list[Stmt]
    sites: int = 0                                # calls in the text (a template counts once)


@dataclass(eq=False)
class Recovered:
    """What the spec says: its blocks (callees first) and the network's body."""

    blocks: list[Block]
    body: list[Stmt]


def recover(root: Instance, graph: ImportedGraph) -> Recovered:
    """Blocks and the network's body for the instance tree of `graph`."""
    calls: dict[int, Stmt] = {}                   # id(instance) -> the statement that calls it
    blocks: list[Block] = []
    taken: set[str] = set(ops.OPS)
    defaults: dict[str, dict[str, Any]] = {}
    for group in _groups(root):
        for block, members in _unify(group, calls, defaults):
            block.name = _unique(block.name, taken)
            for inst in members:
                calls[id(inst)].name = block.name
            defaults[block.name] = dict(block.params)
            blocks.append(block)
    body = _compact(_statements(root, calls))
    _count_sites(blocks, body)
    blocks, body = _inline(blocks, body)
    return Recovered(blocks, body)


# --------------------------------------------------------------------------- statements of one instance

def _statements(inst: Instance, calls: dict[int, Stmt]) -> list[Stmt]:
    names = Counter(item.call.module for item in _items(inst.body) if item.kind == "op" and item.call.module)
    once = {m for m, n in names.items() if n == 1}
    return [_statement(item, calls, once) for item in inst.body]


def _items(items: list[Item]):
    for item in items:
        yield item
        for p in item.paths:
            yield from _items(p)


def _statement(item: Item, calls: dict[int, Stmt], once: set) -> Stmt:
    """A body's item as a statement. A layer is labelled with its module's name when it has
    state, or when its module is called once here (resnet's one `relu` module is called
    three times: its calls are not labelled, as it holds nothing)."""
    if item.kind == "sub":
        return calls[id(item.sub)]
    call = item.call
    if item.kind == "merge":
        return Stmt("merge", call.op, paths=[[_statement(i, calls, once) for i in p] for p in item.paths])
    named = call.module is not None and (call.state or (call.module in once and call.module[-1] != call.op))
    return Stmt("op", call.op, dict(call.args), call.module[-1] if named else None)


# --------------------------------------------------------------------------- repeats

def _compact(stmts: list[Stmt], keep_head: bool = False) -> list[Stmt]:
    """Runs of equal statements (labels counting up) as `repeat`, in paths too; with
    `keep_head`, the first statement stays out of any run (torchvision's first block of a
    stage differs in most stages: the stage reads alike when it does in all of them)."""
    stmts = [replace(s, paths=[_compact(p) for p in s.paths]) if s.kind == "merge" else s for s in stmts]
    out: list[Stmt] = stmts[:1] if keep_head else []
    at = len(out)
    while at < len(stmts):
        best = None
        for width in range(1, (len(stmts) - at) // 2 + 1):
            copies = _copies(stmts, at, width)
            if copies >= 2 and (best is None or copies * width > best[0] * best[1]):
                best = (copies, width)
        if best is None:
            out.append(stmts[at])
            at += 1
            continue
        copies, width = best
        unit = [_counted(stmts[at + k], [stmts[at + k + j * width] for j in range(copies)]) for k in range(width)]
        out.append(Stmt("repeat", count=copies, paths=[unit]))
        at += copies * width
    return out


def _copies(stmts: list[Stmt], at: int, width: int) -> int:
    """How many times stmts[at:at + width] repeats from `at`, labels counting up."""
    n = 1
    while at + (n + 1) * width <= len(stmts):
        if not all(_counts_on(stmts[at + k], stmts[at + n * width + k], n) for k in range(width)):
            break
        if n == 1 and not all(_label_step(stmts[at + k], stmts[at + width + k]) is not None for k in range(width)):
            break
        n += 1
    if n > 1:   # every copy's labels must follow the first step
        steps = [_label_step(stmts[at + k], stmts[at + width + k]) for k in range(width)]
        for j in range(2, n):
            if any(_label_step(stmts[at + k], stmts[at + j * width + k]) not in (None, steps[k] * j)
                   and not (steps[k] == 0 and _label_step(stmts[at + k], stmts[at + j * width + k]) == 0)
                   for k in range(width)):
                return j
    return n


_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<n>\d+)(?P<suffix>\D*)$")


def _label_step(a: Stmt, b: Stmt) -> int | None:
    """How much b's label counts on from a's: 0 for two unlabelled statements, None when they
    are not one label counting (`conv1`, `conv2` is 1; `0`, `2` is 2; `a`, `b` is None)."""
    if a.label is None and b.label is None:
        return 0
    if not (isinstance(a.label, str) and isinstance(b.label, str)):
        return None
    ma, mb = _NUMBERED.match(a.label), _NUMBERED.match(b.label)
    if not ma or not mb or ma["prefix"] != mb["prefix"] or ma["suffix"] != mb["suffix"]:
        return None
    if len(ma["n"]) > 1 and ma["n"].startswith("0"):
        return None                                 # `01`: not a number as a repeat counts
    step = int(mb["n"]) - int(ma["n"])
    return step if step > 0 else None


def _counts_on(a: Stmt, b: Stmt, copy: int) -> bool:
    """b is a, `copy` steps further: equal but for a label that counts."""
    if _label_step(a, b) is None:
        return False
    return _same_but_labels(a, b)


def _same_but_labels(a: Stmt, b: Stmt) -> bool:
    if a.kind != b.kind or a.name != b.name or a.args != b.args or a.count != b.count or a.cond != b.cond:
        return False
    if len(a.paths) != len(b.paths):
        return False
    return all(len(p) == len(q) and all(_same(x, y) for x, y in zip(p, q)) for p, q in zip(a.paths, b.paths))


def _same(a: Stmt, b: Stmt) -> bool:
    return _same_but_labels(a, b) and a.label == b.label


def _counted(first: Stmt, copies: list[Stmt]) -> Stmt:
    """The statement of a repeat's body: the first copy, its label counting with the variable."""
    if first.label is None:
        return first
    if len(copies) < 2:
        return first
    m = _NUMBERED.match(first.label)
    step = _label_step(first, copies[1])
    return replace(first, label=Counted(m["prefix"], int(m["n"]), step, m["suffix"]))


# --------------------------------------------------------------------------- blocks from instances

def _height(inst: Instance) -> int:
    return 1 + max((_height(c) for c in inst.children), default=-1)


def _groups(root: Instance) -> list[list[Instance]]:
    """Instances that may share a block, callees' groups first: one class (a container, such
    as nn.Sequential, at one height of the tree: a container holds anything)."""
    def key(inst: Instance, by_height: bool) -> tuple:
        if by_height:
            return (inst.scope.cls, _height(inst))
        return (inst.scope.cls, _role(inst) if inst.scope.cls in CONTAINERS else "")

    for by_height in (False, True):
        groups: dict[tuple, list[Instance]] = {}
        needs = nx.DiGraph()
        for inst in root.walk():
            if inst is root:
                continue
            groups.setdefault(key(inst, by_height), []).append(inst)
            needs.add_node(key(inst, by_height))
            for child in inst.children:
                needs.add_edge(key(child, by_height), key(inst, by_height))
        if nx.is_directed_acyclic_graph(needs):
            order = nx.lexicographical_topological_sort(needs, key=str)
            return [groups[k] for k in order]
    raise AssertionError("instances grouped by height always nest")


def _role(inst: Instance) -> str:
    """What a container is for, by its name: `layer1` and `layer2` are layers, `downsample` a
    downsampling; a numbered one (`features.3`) is a part of its parent's role."""
    word = re.sub(r"\d+$", "", inst.label)
    if word:
        return word
    return "#" + (_role(inst.parent) if inst.parent is not None and inst.parent.scope.path else "")


def _unify(group: list[Instance], calls: dict[int, Stmt], defaults: dict) -> list[tuple[Block, list[Instance]]]:
    """One block per set of instances whose bodies line up; each instance's call made."""
    statements = {id(inst): _statements(inst, calls) for inst in group}
    variants = []
    for keep_head in (False, True):
        bodies = {k: _compact(v, keep_head) for k, v in statements.items()}
        buckets: dict[str, list[Instance]] = {}
        for inst in group:
            buckets.setdefault(_shape_hash(bodies[id(inst)]), []).append(inst)
        variants.append((len(buckets), keep_head, bodies, buckets))
    _, _, bodies, buckets = min(variants, key=lambda v: v[:2])
    sets: list[tuple[_Template, list[Instance]]] = []
    for members in buckets.values():
        template = _Template.first(bodies[id(members[0])])
        for inst in members[1:]:
            template.add(bodies[id(inst)])
        for done_template, done_members in sets:
            if done_template.absorb(template):
                done_members.extend(members)
                break
        else:
            sets.append((template, list(members)))
    out = []
    for template, members in sets:
        try:
            block, args_of = template.block(_block_name(members), len(members), defaults)
        except _Unlike:                                  # bodies alike but for computed labels
            out.extend(_unify_apart(members, bodies, calls, defaults))
            continue
        for k, inst in enumerate(members):
            calls[id(inst)] = Stmt("call", block.name, args_of[k], inst.label)
        out.append((block, members))
    return out


def _unify_apart(members: list[Instance], bodies: dict, calls: dict[int, Stmt], defaults: dict) -> list[tuple[Block, list[Instance]]]:
    """One block per instance (their bodies line up but cannot share parameters)."""
    out = []
    for inst in members:
        block, args_of = _Template.first(bodies[id(inst)]).block(_block_name([inst]), 1, defaults)
        calls[id(inst)] = Stmt("call", block.name, args_of[0], inst.label)
        out.append((block, [inst]))
    return out


def _shape_hash(body: list[Stmt]) -> str:
    """A Weisfeiler-Lehman hash of the body's statement graph, arguments left out."""
    g = nx.DiGraph()

    def add(stmts: list[Stmt], parent: str, start: str) -> str:
        previous = start
        for k, s in enumerate(stmts):
            node = f"{parent}/{k}"
            g.add_node(node, kind=f"{s.kind}:{s.name}")
            g.add_edge(previous, node)
            for j, p in enumerate(s.paths):
                end = add(p, f"{node}.{j}", previous)
                g.add_edge(end, node)
            previous = node
        return previous

    g.add_node("in", kind="in")
    add(body, "", "in")
    with warnings.catch_warnings():   # networkx 3.5 says its directed hashes changed: ours are compared in a run
        warnings.simplefilter("ignore", UserWarning)
        return nx.weisfeiler_lehman_graph_hash(g, node_attr="kind", iterations=3)


def _skeleton(s: Stmt) -> tuple:
    return (s.kind, s.name, tuple(tuple(_skeleton(x) for x in p) for p in s.paths))


class _Template:
    """Statements lined up across instances: per slot, each instance's statement or None."""

    def __init__(self, slots: list["_Slot"], n: int) -> None:
        self.slots = slots
        self.n = n

    @classmethod
    def first(cls, body: list[Stmt]) -> "_Template":
        return cls([_Slot.of(s) for s in body], 1)

    def add(self, body: list[Stmt]) -> bool:
        merged = _align(self.slots, self.n, [_Slot.of(s) for s in body], 1)
        if merged is None:
            return False
        self.slots, self.n = merged, self.n + 1
        return True

    def absorb(self, other: "_Template") -> bool:
        merged = _align(self.slots, self.n, other.slots, other.n)
        if merged is None:
            return False
        self.slots, self.n = merged, self.n + other.n
        return True

    def block(self, name: str, n: int, defaults: dict[str, dict[str, Any]]) -> tuple[Block, list[dict[str, Any]]]:
        return _Parameters(self.slots, n, defaults).block(name)


@dataclass(eq=False)
class _Slot:
    """One statement position of a template: each instance's statement there (None: absent),
    and, for merges, repeats and ifs, the slots of its paths."""

    kind: str
    name: str
    stmts: list[Stmt | None]
    paths: list[list["_Slot"]]

    @classmethod
    def of(cls, s: Stmt) -> "_Slot":
        return cls(s.kind, s.name, [s], [[cls.of(x) for x in p] for p in s.paths])

    def skeleton(self) -> tuple:
        return (self.kind, self.name, tuple(tuple(x.skeleton() for x in p) for p in self.paths))

    def padded(self, before: int, after: int) -> "_Slot":
        return _Slot(self.kind, self.name, [None] * before + self.stmts + [None] * after,
                     [[x.padded(before, after) for x in p] for p in self.paths])


def _align(a: list[_Slot], na: int, b: list[_Slot], nb: int) -> list[_Slot] | None:
    """The slots of two templates lined up (a's instances first), or None when they do not
    line up. Slots match by kind and name (a merge's paths are lined up in turn) through a
    longest common subsequence; the slots left over are optional."""
    matched: dict[tuple[int, int], _Slot | None] = {}

    def match(i: int, j: int) -> _Slot | None:
        if (i, j) not in matched:
            matched[(i, j)] = _matched(a[i], na, b[j], nb)
        return matched[(i, j)]

    lcs = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            same = match(i, j) is not None
            lcs[i][j] = lcs[i + 1][j + 1] + 1 if same else max(lcs[i + 1][j], lcs[i][j + 1])
    if lcs[0][0] == 0 and a and b:
        return None
    out: list[_Slot] = []
    i = j = 0
    while i < len(a) or j < len(b):
        if i < len(a) and j < len(b) and match(i, j) is not None and lcs[i][j] == lcs[i + 1][j + 1] + 1:
            out.append(match(i, j))
            i, j = i + 1, j + 1
        elif j >= len(b) or (i < len(a) and lcs[i + 1][j] >= lcs[i][j + 1]):
            out.append(a[i].padded(0, nb))
            i += 1
        else:
            out.append(b[j].padded(na, 0))
            j += 1
    optional = sum(1 for s in out if None in s.stmts)
    if optional > max(2, len(out) // 3):
        return None                                  # too unlike: two blocks read better
    return out


def _matched(x: _Slot, na: int, y: _Slot, nb: int) -> _Slot | None:
    """One slot for x and y, or None: same kind and name, and paths that line up."""
    if x.kind != y.kind or x.name != y.name or len(x.paths) != len(y.paths):
        return None
    paths = []
    for p, q in zip(x.paths, y.paths):
        if not p and not q:
            paths.append([])
            continue
        lined = _align(p, na, q, nb)
        if lined is None:
            return None
        paths.append(lined)
    return _Slot(x.kind, x.name, x.stmts + y.stmts, paths)


@dataclass(eq=False)
class _P:
    """A parameter being made: its values per instance (_ANY where an instance does not use
    it), the name it was made for, and whether a default may spare writing it."""

    name: str
    values: list[Any]
    base: str
    may_default: bool


class _Parameters:
    """Turns lined-up slots into a block: what differs between instances becomes a parameter."""

    def __init__(self, slots: list[_Slot], n: int, defaults: dict[str, dict[str, Any]]) -> None:
        self.slots = slots
        self.n = n
        self.defaults = defaults                     # block -> its parameters' defaults (callees)
        self.params: list[_P] = []

    def block(self, name: str) -> tuple[Block, list[dict[str, Any]]]:
        body = self._body(self.slots)
        params, args = self._signature()
        return Block(name, params, body), args

    # -- body with parameters ---------------------------------------------------------
    def _body(self, slots: list[_Slot], within: tuple | None = None) -> list[Stmt]:
        """Statements of the slots; those some instances lack under an `if`, unless the
        statement around them (`within`: which instances it holds) is already one."""
        out: list[Stmt] = []
        run: list[Stmt] = []
        run_presence: tuple | None = None
        for slot in slots:
            presence = tuple(s is not None for s in slot.stmts)
            stmt = self._stmt(slot, presence)
            if run and presence != run_presence:
                out.append(self._optional(run, run_presence))
                run, run_presence = [], None
            if all(presence) or presence == within:
                out.append(stmt)
            else:
                run.append(stmt)
                run_presence = presence
        if run:
            out.append(self._optional(run, run_presence))
        return out

    def _optional(self, stmts: list[Stmt], presence: tuple) -> Stmt:
        first = stmts[0].label
        base = first if isinstance(first, str) and first.isidentifier() else f"with_{stmts[0].name}"
        return Stmt("if", cond=self._param(list(presence), base, True), paths=[stmts])

    def _stmt(self, slot: _Slot, presence: tuple) -> Stmt:
        present = [s for s in slot.stmts if s is not None]
        first = present[0]
        stmt = Stmt(slot.kind, slot.name, var=first.var)
        stmt.paths = [self._body(p, presence) for p in slot.paths]
        stmt.label = self._value(slot.stmts, lambda s: s.label, "at", False)
        if slot.kind == "repeat":
            stmt.count = self._value(slot.stmts, lambda s: s.count, "n", False)
        if slot.kind == "if":
            stmt.cond = first.cond
        if slot.kind == "call":                   # every argument of a block call is given
            defaults = self.defaults.get(slot.name, {})
            for arg in first.args:
                stmt.args[arg] = self._value(slot.stmts, lambda s: s.args[arg], arg,
                                             defaults.get(arg, ops.REQUIRED) is not ops.REQUIRED)
        if slot.kind == "op":
            names = [a for s in present for a in s.args]
            for arg in dict.fromkeys(names):
                spec = ops.OPS[slot.name].arg(arg)
                value = self._value(slot.stmts, lambda s: _explicit(s, arg), PARAM_NAMES.get(arg, arg),
                                    not spec.required)
                if not (value == spec.default and type(value) is type(spec.default)):
                    stmt.args[arg] = value
        return stmt

    def _value(self, stmts: list[Stmt | None], get, base: str, may_default: bool) -> Any:
        """The value all instances share, or a parameter for the ones that differ."""
        values = [get(s) if s is not None else _ANY for s in stmts]
        known = [v for v in values if v is not _ANY]
        if all(_equal(v, known[0]) for v in known):
            return known[0]
        if any(isinstance(v, (Param, Counted)) for v in known):
            raise _Unlike()                       # a value that is itself computed cannot vary here
        return self._param(values, base, may_default)

    def _param(self, values: list[Any], base: str, may_default: bool) -> Param:
        """The parameter for these values: one already made with the same values (or, for
        the same kind of argument, the same where both are used), or a new one."""
        for p in self.params:
            if all(_equal(a, b) for a, b in zip(values, p.values)) or (p.base == base and _agree(values, p.values)):
                p.values = [b if b is not _ANY else a for a, b in zip(values, p.values)]
                p.may_default = p.may_default and may_default
                return Param(p.name)
        p = _P(_fresh(base, {q.name for q in self.params}), list(values), base, may_default)
        self.params.append(p)
        return Param(p.name)

    def _signature(self) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
        """Parameters (those with a default last) and each instance's arguments (all of them)."""
        declared = []
        for p in self.params:
            known = [v for v in p.values if v is not _ANY]
            common, count = Counter(map(_key, known)).most_common(1)[0]
            typical = next(v for v in known if _key(v) == common)
            default = typical if p.may_default and count > 1 else ops.REQUIRED
            declared.append((p.name, default, [typical if v is _ANY else v for v in p.values]))
        declared.sort(key=lambda d: d[1] is not ops.REQUIRED)
        args = [{name: values[k] for name, _, values in declared} for k in range(self.n)]
        return [(name, default) for name, default, _ in declared], args


def _agree(a: list[Any], b: list[Any]) -> bool:
    """Equal wherever both are known, and both known somewhere."""
    both = [(x, y) for x, y in zip(a, b) if x is not _ANY and y is not _ANY]
    return bool(both) and all(_equal(x, y) for x, y in both)


class _Unlike(Exception):
    pass


_ANY = object()


def _key(v: Any) -> Any:
    return (type(v).__name__, tuple(v) if isinstance(v, (list, tuple)) else v)


def _equal(a: Any, b: Any) -> bool:
    return _key(a) == _key(b)


def _explicit(s: Stmt, arg: str) -> Any:
    """An op's argument as written, its default filled in; a pool's stride that is its
    window (the default, None) spelled out, so that it can differ from another's."""
    default = ops.OPS[s.name].arg(arg).default
    value = s.args.get(arg, default)
    if value is None and arg == "s":
        return s.args["k"]
    return value


def _fresh(base: str, taken: set[str]) -> str:
    base = base if base.isidentifier() and not keyword.iskeyword(base) and base not in ("in", "cur", "i") else "v"
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}{k}"
    return name


def _block_name(members: list[Instance]) -> str:
    cls = members[0].scope.cls
    if cls not in CONTAINERS:
        return cls.lstrip("_") or "Block"
    words = Counter(re.sub(r"\d+$", "", m.label) for m in members if not m.label.isdigit())
    word = words.most_common(1)[0][0] if words else "stage"
    word = re.sub(r"[^A-Za-z0-9]", "_", word) or "stage"
    return "".join(part[:1].upper() + part[1:] for part in word.split("_") if part) or "Stage"


def _unique(name: str, taken: set[str]) -> str:
    if not name[:1].isalpha():
        name = "B" + name
    candidate, k = name, 1
    while candidate in taken or keyword.iskeyword(candidate):
        k += 1
        candidate = f"{name}{k}"
    taken.add(candidate)
    return candidate


# --------------------------------------------------------------------------- inlining

def _count_sites(blocks: list[Block], body: list[Stmt]) -> None:
    by_name = {b.name: b for b in blocks}

    def walk(stmts: list[Stmt]) -> None:
        for s in stmts:
            if s.kind == "call" and s.name in by_name:
                by_name[s.name].sites += 1
            for p in s.paths:
                walk(p)

    for b in blocks:
        walk(b.body)
    walk(body)


def _inline(blocks: list[Block], body: list[Stmt]) -> tuple[list[Block], list[Stmt]]:
    """Blocks called once whose body is one chain, written at the call as a labelled group."""
    inlined: dict[str, Block] = {}
    for b in blocks:                               # callees first: a group cannot hold a group
        if b.sites == 1 and _chain(b.body) and not any(s.name in inlined for s in b.body if s.kind == "call"):
            inlined[b.name] = b

    def walk(stmts: list[Stmt]) -> list[Stmt]:
        out = []
        for s in stmts:
            s.paths = [walk(p) for p in s.paths]
            block = inlined.get(s.name) if s.kind == "call" else None
            if block is not None and s.label is not None:
                s = Stmt("group", label=s.label, paths=[_substitute(block, s.args)])
            out.append(s)
        return out

    kept = [b for b in blocks if b.name not in inlined]
    for b in kept:
        b.body = walk(b.body)
    return kept, walk(body)


def _chain(stmts: list[Stmt]) -> bool:
    """A body short enough to read on one line as a group: a few layers, or two block calls
    (a group cannot span lines: DenseNet's fourteen `features` stay a block)."""
    if not stmts or not all(s.kind in ("op", "call") for s in stmts):
        return False
    return len(stmts) <= (5 if all(s.kind == "op" for s in stmts) else 2)


def _substitute(block: Block, args: dict[str, Any]) -> list[Stmt]:
    values = {name: args.get(name, default) for name, default in block.params}

    def value(v: Any) -> Any:
        return values[v.name] if isinstance(v, Param) else v

    return [replace(s, args={k: value(v) for k, v in s.args.items()}, label=value(s.label)) for s in block.body]
