"""The graph IR: what elaboration produces and every pass and backend reads.

A network elaborates to a `Graph`: a networkx DiGraph whose nodes are layers
(`Node`), created in topological order, each with its op, its bound arguments,
its ordered inputs, its span and the chain of block calls that produced it.
Block instances are `Scope`s; a node's `scope` is the innermost one. Shapes,
parameters and MACs are annotations that the passes write once.

Backends see only this module's objects, never the AST or the text.

Beside the concrete values, elaboration writes what code generators need to
emit one class per block (docs/internals.md, "Terms and traces"): each
node's arguments and channel counts as terms (`terms.py`) over its block's
parameters, and each scope's *trace*, the statements of its body as they
ran: nodes, child scopes, `Loop`s, `Branch`es, `LetItem`s and
`Assumption`s, in order. A node's `sources` say which of them made each of
its inputs, so a code generator can tell "the tensor after this `if`" from
"the tensor before it" even when the `if` made nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from . import terms
from .diagnostics import Diagnostic, Frame
from .shapes import UNKNOWN, Shape, ShapeOrUnknown
from .source import Span


@dataclass(eq=False)
class Scope:
    """One block instance: `Residual(128, s=2)` called at some span.

    `path` is its dotted module path ("" for the network itself). `key` is the
    block name with its bound arguments and input shape: two instances with the
    same key have the same structure, so a code generator may reuse one class.
    `entry` is the node the block was called on; `exit` the node it yields. A
    block that gives several tensors (`output low, high` in its body) has
    `results`, their nodes in order, and no `exit`: its caller binds them
    (`low, high = Backbone()`), each tensor's origin a `Part` of the scope.
    """

    path: str
    block: str
    call: str
    span: Span | None
    parent: "Scope | None"
    key: tuple = ()
    entry: int | None = None
    exit: int | None = None
    children: list["Scope"] = field(default_factory=list)
    # -- terms and the trace (docs/internals.md); a group has no parameters of its own
    kind: str = "block"                 # "block", "group" or "network"
    label: str | None = None            # the label that named it; None: an automatic name
    labels: frozenset = frozenset()     # every label of its body (automatic names skip them)
    definition: tuple | None = None     # what identifies the block's definition: (name, file, offset)
    params: tuple[str, ...] = ()        # the block's (network's) parameters, in declaration order
    defaults: dict[str, Any] = field(default_factory=dict)   # parameter -> its default as a term of earlier ones
    arg_terms: dict[str, Any] = field(default_factory=dict)  # parameter -> its value, a term of the caller's
    in_channels: Any = None             # the entry's channel count, a term of the caller's
    entry_origin: Any = field(default=None, repr=False)   # what made the entry, on the caller's side
    exit_channels: Any = None           # the result's channel count, a term of this scope's
    exit_origin: Any = field(default=None, repr=False)    # what made the result, inside
    results: tuple[int, ...] = ()       # several results (`output a, b`): their nodes; then `exit` is None
    result_names: tuple[str, ...] = ()  # the names its `output` gives them
    result_channels: tuple = ()         # staged: each result's channel count, a term of this scope's
    result_origins: tuple = field(default=(), repr=False)   # staged: what made each result, inside
    body: list = field(default_factory=list, repr=False)      # the trace
    names: "TermNames | None" = field(default=None, repr=False)   # its terms' variables (a group shares its block's)

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    @property
    def local_name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    @property
    def gives(self) -> tuple[int, ...]:
        """The nodes it yields: its `results`, else its `exit` (none where elaboration failed first)."""
        return self.results or (() if self.exit is None else (self.exit,))

    def ancestors(self) -> Iterator["Scope"]:
        """This scope and its parents, innermost first."""
        s: Scope | None = self
        while s is not None:
            yield s
            s = s.parent

    def frames(self) -> tuple[Frame, ...]:
        """The call stack for diagnostics, outermost call first."""
        return tuple(Frame(s.block, s.call, s.span) for s in reversed(list(self.ancestors())) if s.span is not None)


@dataclass(eq=False)
class Node:
    """One layer, merge or input.

    op      a name from the op table (`ops.OPS`), or "input"
    args    bound arguments: canonical names, defaults filled in, values are
            int, float, bool, str, tuples of those, or symbolic dims
    inputs  ids of the nodes it reads, in argument order
    name    dotted module path, unique in the graph ("stage2.residual1.conv1");
            the last part is the label when the spec gave one
    """

    id: int
    op: str
    args: dict[str, Any]
    inputs: tuple[int, ...]
    span: Span
    name: str
    scope: Scope
    label: str | None = None
    # terms (docs/internals.md): each argument, each input's channel count and the
    # output's, over the variables of the node's scope; `sources`: what made each input
    arg_terms: dict[str, Any] = field(default_factory=dict, repr=False)
    in_channels: tuple = field(default=(), repr=False)
    channels: Any = field(default=None, repr=False)
    sources: tuple = field(default=(), repr=False)   # empty: each input's own node made it
    # annotations, written once by the passes
    shape: ShapeOrUnknown = UNKNOWN
    params: int = 0
    trainable_params: int = 0
    macs: int = 0
    flops: int = 0        # floating-point operations of a forward pass (docs/ops.md, "FLOPs")
    failed: bool = False  # its shape rule reported an error

    @property
    def local_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def known(self) -> bool:
        return self.shape is not UNKNOWN


# -- the trace ---------------------------------------------------------------------------------

@dataclass(eq=False)
class TermNames:
    """The variables of one block instance's terms (or the network's): parameters,
    `let`s, loop counters, the input's channel count. Names are unique in the
    instance, so a `let` that shadows a parameter is a variable of its own."""

    taken: set[str] = field(default_factory=set)
    lets: dict[str, Any] = field(default_factory=dict)  # a `let` variable -> its term
    input: str = ""                                      # the variable of `in.c` at the block's entry
    unknown: bool = False    # a value could not be written as a term: nothing here is generic
    let_names: dict[int, str] = field(default_factory=dict, repr=False)   # id of a `let` statement -> its variable

    def fresh(self, base: str) -> str:
        name, n = base, 2
        while name in self.taken:
            name, n = f"{base}_{n}", n + 1
        self.taken.add(name)
        return name

    def of_let(self, statement: Any, name: str) -> str:
        """The variable of a `let` statement: one per statement, so every iteration of a
        `repeat` names its `let` alike."""
        key = id(statement)
        if key not in self.let_names:
            self.let_names[key] = self.fresh(name)
        return self.let_names[key]

    def expand(self, term: Any) -> Any:
        """The term with each `let` variable replaced by what it stands for (a term that
        leaves the body that defined the `let`: the channels after a loop or an `if`)."""
        while self.lets and terms.free_vars(term) & self.lets.keys():
            term = terms.substitute(term, self.lets)
        return term


@dataclass(frozen=True)
class Entry:
    """The tensor a body starts from, as a source: a scope's input inside it, or the
    tensor an iteration of a `Loop` starts from (the loop's input, then the last
    iteration's result)."""

    of: Any   # a Scope or a Loop


@dataclass(frozen=True)
class Part:
    """One of the tensors a block that gives several yields, as a source on the caller's
    side: the scope and the result's index (`low, high = Backbone()`: `high` is Part(scope, 1))."""

    of: Scope
    index: int


@dataclass(eq=False)
class Loop:
    """A `repeat`: its count as a term, and what each iteration did.

    Inside the body, the iteration number is the variable `index` and the
    channel count the iteration starts from is the variable `carried`.
    `carried_value` writes `carried` as a term of `index` (`in_channels + i *
    growth`) when every iteration changes the channels alike, else None.
    """

    count: Any
    index: str
    carried: str
    named: bool                     # the spec named the counter (`repeat n as i`)
    span: Span
    entry_channels: Any             # the channel count before the loop
    entry_origin: Any = None        # what made the tensor the loop starts from
    iterations: list[list] = field(default_factory=list)
    exit_channels: list = field(default_factory=list)   # per iteration, a term of `carried` and `index`
    exit_origins: list = field(default_factory=list)    # per iteration: what made its result
    carried_value: Any = None


@dataclass(eq=False)
class Branch:
    """An `if`: its test as a term, the side taken, and the trace of that side (an
    `else if` is a Branch inside the else side)."""

    test: Any
    taken: bool
    span: Span
    items: list = field(default_factory=list)
    has_else: bool = False
    entry_origin: Any = None       # what made the tensor the `if` starts from
    exit_origin: Any = None        # what made the tensor its side yields (the entry's where it made none)


@dataclass(frozen=True)
class LetItem:
    """A `let` whose value is not a constant: the variable and its term."""

    name: str
    term: Any
    span: Span | None = None


@dataclass(frozen=True)
class Assumption:
    """A condition the elaboration checked and relied on (an `expect`'s channels, the
    paths of an `add` agreeing), as a bool term that held; `what` says which."""

    term: Any
    what: str
    span: Span | None = None


@dataclass(frozen=True)
class Port:
    """A named network input or output.

    An output may have a `key` (`output out: y, aux: a`: the network returns a
    dict, as torchvision's segmentation models do) and may exist only in
    training (`output y, aux if training`: googlenet's and inception_v3's aux
    heads; in eval mode the network returns the other outputs alone).
    """

    name: str
    node: int
    span: Span | None = None
    key: str | None = None
    training: bool = False


@dataclass
class Constraint:
    """A condition on the symbolic input sizes that the network needs.

    `holds(env)` evaluates it for concrete sizes; `text` is what users read
    ("H and W even", "(H - 1) // 2 + 1 == H // 2").
    """

    text: str
    check: Any  # callable env -> bool
    span: Span | None = None
    node: int | None = None     # the layer whose rule recorded it (None: an `expect`)

    def holds(self, env: dict[str, int]) -> bool:
        return bool(self.check(env))


class Graph:
    """One elaborated network: nodes in creation (topological) order."""

    def __init__(self, name: str, params: dict[str, Any], span: Span | None = None) -> None:
        self.name = name
        self.params = params          # the network's parameter values after --set
        self.span = span
        self.nodes: list[Node] = []
        self._users: list[set[int]] = []            # node id -> ids of the nodes that read it
        self._nx = None                             # the networkx view, built on first use
        self.root = Scope(path="", block=name, call=name, span=None, parent=None)
        self.inputs: list[Port] = []
        self.outputs: list[Port] = []
        # The nodes only outputs `if training` need: not run in eval mode, nor exported.
        self.training_nodes: frozenset[int] = frozenset()
        self.symbols: list[str] = []               # symbolic input dims, in order of appearance
        self.constraints: list[Constraint] = []     # conditions on the symbols
        self.diagnostics: list[Diagnostic] = []     # everything found for this network
        self.smallest_input: list[tuple[int, ...]] | None = None  # per input, when symbolic
        # Smaller in eval mode, where the layers only training outputs need do not run; else None.
        self.smallest_eval_input: list[tuple[int, ...]] | None = None
        self.conditions: list[str] = []             # human-readable conditions on the symbols
        # Terms and traces (docs/internals.md) are written only when elaborated `staged`;
        # `restage()` gives the same network elaborated so (the front end sets it).
        self.staged = False
        self.restage: "Callable[[], Graph] | None" = None
        self.tensor_names: dict[Any, str] = {}   # staged: what made a bound tensor (`y = ...`) -> its name
        self.output_origins: list = []           # staged: what made each output (ir's sources)

    # -- building --------------------------------------------------------------
    def add_node(self, op: str, args: dict[str, Any], inputs: tuple[int, ...], span: Span,
                 name: str, scope: Scope, label: str | None = None) -> Node:
        node = Node(len(self.nodes), op, args, tuple(inputs), span, name, scope, label)
        self.nodes.append(node)
        self._users.append(set())
        for src in node.inputs:
            self._users[src].add(node.id)
        return node

    @property
    def nx(self):
        """The graph as a networkx DiGraph (edge attribute `index`: the input's position).

        Built on first use: importing networkx costs about half of the start-up
        time of `archlang shapes`, which never needs it.
        """
        if self._nx is None or self._nx.number_of_nodes() != len(self.nodes):
            import networkx

            g = networkx.DiGraph()
            for node in self.nodes:
                g.add_node(node.id)
                for index, src in enumerate(node.inputs):
                    g.add_edge(src, node.id, index=index)
            self._nx = g
        return self._nx

    # -- reading ----------------------------------------------------------------
    def __getitem__(self, node_id: int) -> Node:
        return self.nodes[node_id]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def layers(self) -> list[Node]:
        """Every node but the inputs."""
        return [n for n in self.nodes if n.op != "input"]

    def users(self, node_id: int) -> list[int]:
        return sorted(self._users[node_id])

    def scopes(self) -> Iterator[Scope]:
        """Every block instance, parents before children."""
        stack = [self.root]
        while stack:
            s = stack.pop()
            yield s
            stack.extend(reversed(s.children))

    def nodes_in(self, scope: Scope) -> list[Node]:
        """Nodes whose innermost scope is `scope` or one of its descendants."""
        prefix = scope.path + "." if scope.path else ""
        return [n for n in self.nodes if scope.path == "" or n.scope is scope or n.scope.path.startswith(prefix)]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def params_total(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def trainable_params_total(self) -> int:
        return sum(n.trainable_params for n in self.nodes)

    @property
    def macs_total(self) -> int:
        """The MACs of inference (eval mode): the layers only training outputs need are left out."""
        return sum(n.macs for n in self.nodes if n.id not in self.training_nodes)

    @property
    def training_macs(self) -> int:
        """The MACs the outputs that exist only in training add."""
        return sum(self.nodes[i].macs for i in self.training_nodes)

    def mark_training_nodes(self) -> None:
        """Find the nodes that only outputs `if training` read (directly or through others):
        a node some other output needs, or none at all (W504: it still runs), is not one."""
        wanted = {False: set(), True: set()}   # by `training`: the outputs' nodes and their ancestors
        for port in self.outputs:
            wanted[port.training].add(port.node)
        for node in reversed(self.nodes):      # creation order is topological
            for training in (False, True):
                if node.id in wanted[training]:
                    wanted[training].update(node.inputs)
        self.training_nodes = frozenset(wanted[True] - wanted[False] - {p.node for p in self.inputs})

    @property
    def returns_dict(self) -> bool:
        """Whether the network returns a dict (`output out: y, aux: a`)."""
        return any(p.key is not None for p in self.outputs)

    @property
    def flops_total(self) -> int:
        return sum(n.flops for n in self.nodes)

    def shape_of(self, node_id: int) -> ShapeOrUnknown:
        return self.nodes[node_id].shape

    def input_shapes(self) -> list[Shape]:
        return [self.nodes[p.node].shape for p in self.inputs]

    def output_shapes(self) -> list[ShapeOrUnknown]:
        return [self.nodes[p.node].shape for p in self.outputs]

    def __repr__(self) -> str:
        """`<Graph LeNet: [1, 28, 28] -> [10]; 12 layers, 61,706 params, 416,520 MACs>` (ports
        named when there are several)."""
        from .shapes import format_shape   # imported here: shapes imports the IR

        def ports(items) -> str:
            return ", ".join((f"{p.name} " if len(items) > 1 else "") + format_shape(self.nodes[p.node].shape)
                             for p in items)
        errors = sum(d.is_error for d in self.diagnostics)
        state = f"; {errors} error{'s' * (errors != 1)}" if errors else ""
        return (f"<Graph {self.name}: {ports(self.inputs)} -> {ports(self.outputs)}; {len(self.layers())} layers, "
                f"{self.params_total:,} params, {self.macs_total:,} MACs{state}>")

    # -- notebooks -----------------------------------------------------------------
    def _repr_svg_(self) -> str | None:
        """Jupyter draws a network as SVG; None (plain repr) without Graphviz's `dot`."""
        from .backends.graphviz import to_svg  # imported here: the IR does not depend on backends

        return to_svg(self)
