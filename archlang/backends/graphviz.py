"""Drawings of a graph: DOT text, and SVG, PNG or PDF through Graphviz's `dot`.

`to_dot(graph, depth, direction)` lays a graph out as Graphviz clusters: a
block instance is a cluster labelled with its call, a layer is a node showing
its call, name and parameters, and every edge carries the shape that flows
along it. `depth` follows `archlang shapes --depth`: blocks nested in more
than `depth` block instances are drawn as one box, and consecutive boxes of
the same block with the same arguments and input shape fold into one box
marked "x N". A graph with errors draws up to the failure: the node where the
error is is red, the nodes that depend on it are dashed.

`write(graph, path, ...)` picks the format from the suffix; without `dot` on
the machine it writes the .dot file and says how to install Graphviz.

Torch-free: `archlang render` imports this and nothing heavier.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import graphviz

from .. import fsutil, ops
from ..ir import Graph, Node, Scope
from ..shapes import format_shape

FORMATS = ("svg", "png", "pdf", "dot")
# Graphviz's own 96 dpi draws LeNet 149 px wide, its 10-point labels 13 px high: too small to
# read on a screen or a slide. At 192 they are 27 px, and LeNet about 300 px wide.
PNG_DPI = 192
DIRECTIONS = ("TB", "LR")
INSTALL_HINT = "install Graphviz to draw it: apt-get install graphviz (macOS: brew install graphviz)"

# A layer's fill is its op's colour (ops.OPS[op].colour); these are the rest.
_FILL_OTHER = ops.PLAIN_COLOUR
_FILL_BLOCK = "#f3f3f3"
_FILL_PORT = "#ffffff"
_FAILED = {"color": "#cc0000", "fontcolor": "#cc0000", "fillcolor": "#f4cccc", "penwidth": "2"}
_BLAMED = {"color": "#cc0000", "penwidth": "2"}
_UNKNOWN = {"color": "#999999", "fontcolor": "#999999", "fillcolor": "#ffffff", "style": "rounded,dashed,filled"}


class RenderError(Exception):
    """`dot` ran and failed; the message is its own last words."""


@dataclass(frozen=True)
class Written:
    """What `write` produced: the file and whether it is a drawing or only DOT text."""

    path: Path
    format: str
    drawn: bool  # False when `dot` was missing and the DOT text was written instead


# -- the public entry points -------------------------------------------------------------

def to_dot(graph: Graph, depth: int | None = None, direction: str = "TB", dpi: int | None = None) -> str:
    """The DOT text of `graph` (deterministic: golden files compare it); `dpi` for a PNG."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    drawing = _Drawing(graph, depth, direction).build()
    if dpi is not None:
        drawing.attr(dpi=str(dpi))
    return drawing.source


def dot_available() -> bool:
    return shutil.which("dot") is not None


def to_bytes(dot_text: str, fmt: str) -> bytes:
    """Run `dot` on DOT text; raises graphviz.ExecutableNotFound without it."""
    try:
        return graphviz.pipe("dot", fmt, dot_text.encode("utf-8"), quiet=True)
    except graphviz.CalledProcessError as exc:
        words = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"dot -T{fmt} failed: {words[-1] if words else exc}") from None


def format_for(path: str | Path) -> str:
    """The output format a file name asks for: its suffix (.gv counts as dot)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    return "dot" if suffix == "gv" else suffix


def write(graph: Graph, path: str | Path, depth: int | None = None, direction: str = "TB",
          dpi: int | None = None) -> Written:
    """Draw `graph` into `path` (atomically); the suffix chooses the format. A PNG is drawn at
    `dpi` (default PNG_DPI); vector formats have none.

    Without `dot` on the machine a drawing cannot be made: the DOT text goes
    to `path` with the suffix .dot instead, and `Written.drawn` is False.
    """
    path = Path(path)
    fmt = format_for(path)
    if fmt not in FORMATS:
        raise ValueError(f"{path}: unknown format {fmt!r}; use one of .{', .'.join(FORMATS)}")
    text = to_dot(graph, depth, direction, (dpi or PNG_DPI) if fmt == "png" else None)
    if fmt == "dot":
        fsutil.atomic_write(path, text)
        return Written(path, fmt, drawn=True)
    if not dot_available():
        fallback = fallback_path(path)
        fsutil.atomic_write(fallback, text)
        return Written(fallback, "dot", drawn=False)
    fsutil.atomic_write(path, to_bytes(text, fmt))
    return Written(path, fmt, drawn=True)


def fallback_path(path: str | Path) -> Path:
    """Where the DOT text goes when `dot` is missing: the drawing's name with .dot."""
    return Path(path) if format_for(path) == "dot" else Path(path).with_suffix(".dot")


def to_svg(graph: Graph, depth: int | None = None, direction: str = "TB") -> str | None:
    """SVG text for notebooks; None without `dot`, so they fall back to text."""
    if not dot_available():
        return None
    return to_bytes(to_dot(graph, depth, direction), "svg").decode("utf-8")


# -- layout -----------------------------------------------------------------------------

class _Drawing:
    """One drawing: which scopes are clusters, which are boxes, what is drawn where.

    Every graph node is drawn by a "representative": itself, or the box of the
    outermost block instance around it that is nested too deep to open. Edges
    join representatives, so edges inside a box disappear and edges into or out
    of it attach to the box.
    """

    def __init__(self, graph: Graph, depth: int | None, direction: str) -> None:
        self.graph = graph
        self.depth = depth
        self.direction = direction
        self.inside = _members(graph)
        self.direct = _direct_nodes(graph)
        self.broken = _broken_scopes(graph)
        self.failing = _failing_scopes(graph)
        self.params = _scope_params(graph)
        self.first = _first_nodes(graph)
        self.blame = _blame(graph)
        self.box_of: dict[int, str] = {}          # id(scope) -> box id, for every collapsed scope
        self.boxes: dict[str, list[Scope]] = {}    # box id -> the scopes folded into it
        self._plan_boxes()

    # which scopes are boxes, and which consecutive boxes fold together
    def _plan_boxes(self) -> None:
        if self.depth is None:
            return
        for parent in self.graph.scopes():
            if parent.depth != self.depth:
                continue
            run: list[Scope] = []
            for scope in parent.children:
                if run and self._folds(run[-1], scope):
                    run.append(scope)
                    continue
                self._add_box(run)
                run = [scope]
            self._add_box(run)

    def _add_box(self, run: list[Scope]) -> None:
        if not run:
            return
        box = f"b{len(self.boxes)}"
        self.boxes[box] = run
        for scope in run:
            self.box_of[id(scope)] = box

    def _folds(self, prev: Scope, scope: Scope) -> bool:
        """`scope` continues `prev`'s box: same block, arguments and input, chained, nothing leaks."""
        if not prev.key or prev.key != scope.key or prev.exit is None or scope.entry != prev.exit:
            return False
        if self._failed(prev) or self._failed(scope):
            return False
        if any(port.node == prev.exit for port in self.graph.outputs):
            return False
        readers = self.graph.users(prev.exit)
        return all(id(scope) in self.inside[r] for r in readers)

    def _failed(self, scope: Scope) -> bool:
        return id(scope) in self.broken

    def rep(self, node: Node) -> str:
        """The DOT id that draws `node`: its own, or its box's."""
        for scope in _chain(node.scope):
            box = self.box_of.get(id(scope))
            if box is not None:
                return box
        return f"n{node.id}"

    # emitting
    def build(self) -> graphviz.Digraph:
        g = graphviz.Digraph(name=_dot_id(self.graph.name))
        g.attr(rankdir=self.direction, label=f"{self.graph.name}", labelloc="t", fontname="Helvetica",
               fontsize="14", nodesep="0.25", ranksep="0.35")
        g.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="10",
               fillcolor=_FILL_OTHER, color="#666666", margin="0.12,0.04", height="0.3")
        g.attr("edge", fontname="Helvetica", fontsize="9", color="#555555", fontcolor="#333333",
               arrowsize="0.6")
        self._emit_scope(g, self.graph.root)
        self._emit_edges(g)
        self._emit_outputs(g)
        return g

    def _emit_scope(self, g: graphviz.Digraph, scope: Scope) -> None:
        """The nodes directly in `scope` and its children (clusters or boxes), in graph order."""
        items: list[tuple[int, Node | Scope]] = [(n.id, n) for n in self.direct.get(id(scope), ())]
        items += [(self.first[id(c)], c) for c in scope.children if id(c) in self.first]
        for _, item in sorted(items, key=lambda pair: pair[0]):
            if isinstance(item, Node):
                self._emit_node(g, item)
            else:
                self._emit_child(g, item)
        self._order_paths(g, scope)

    def _order_paths(self, g: graphviz.Digraph, scope: Scope) -> None:
        """The paths of each merge in `scope` left to right (top to bottom with LR) as written:
        their first layers on one rank, joined by invisible edges in path order (dot alone puts
        them wherever its crossing minimisation likes: an inception's p1, p4, p3, p2)."""
        for node in self.direct.get(id(scope), ()):
            heads = [h for h in _path_heads(self.graph, node) if h.scope is scope]
            if len(heads) < 2:
                continue
            with g.subgraph() as same:
                same.attr(rank="same")
                for a, b in zip(heads, heads[1:]):
                    same.edge(f"n{a.id}", f"n{b.id}", style="invis")

    def _emit_child(self, g: graphviz.Digraph, child: Scope) -> None:
        box = self.box_of.get(id(child))
        if box is not None:
            if self.boxes[box][0] is child:
                self._emit_box(g, box)
            return
        with g.subgraph(name=f"cluster_{_dot_id(child.path)}") as c:
            c.attr(label=_label(_scope_title(child)), labeljust="l", style="rounded,dashed",
                   color=_FAILED["color"] if id(child) in self.failing else "#888888", fontname="Helvetica",
                   fontsize="10", fontcolor="#333333")
            self._emit_scope(c, child)

    def _emit_node(self, g: graphviz.Digraph, node: Node) -> None:
        if node.op == "input":
            port = next((p.name for p in self.graph.inputs if p.node == node.id), node.local_name)
            shape = format_shape(node.shape) if node.known else "?"
            g.node(f"n{node.id}", _label(f"input {port}", shape), shape="oval", fillcolor=_FILL_PORT)
            return
        lines = [ops.format_call(node.op, node.args), node.local_name]
        if node.params:
            lines.append(_params(node.params))
        attrs = {"fillcolor": ops.OPS[node.op].colour}
        if ops.OPS[node.op].merge:
            attrs["shape"] = "oval"
            lines = [node.op, node.local_name]
        status = _status(self.graph, node)
        codes = self.blame.get(node.id, [])
        lines.extend(f"error[{code}]" for code in dict.fromkeys(codes))
        if status == "failed":
            attrs.update(_FAILED)
        elif status == "unknown":
            attrs.update(_UNKNOWN)
        elif codes:  # its shape is known, but an error points here (a failed expect after it, a path to blame)
            attrs.update(_BLAMED)
        elif node.id in self.graph.training_nodes:   # runs only in training (an aux head)
            attrs["style"] = "rounded,dashed,filled"
        g.node(f"n{node.id}", _label(*lines), tooltip=_label(f"{node.name} ({_where(node)})"), **attrs)

    def _emit_box(self, g: graphviz.Digraph, box: str) -> None:
        run = self.boxes[box]
        first = run[0]
        params = sum(self.params.get(id(s), 0) for s in run)
        title = first.call if len(run) == 1 else f"{first.call} x {len(run)}"
        names = first.local_name if len(run) == 1 else f"{first.local_name} .. {run[-1].local_name}"
        lines = [title, names] + ([_params(params)] if params else [])
        attrs = {"fillcolor": _FILL_BLOCK, "tooltip": _label(f"{first.path} ({_where_span(first.span)})")}
        if len(run) > 1:
            attrs["peripheries"] = "2"
        if any(id(s) in self.failing for s in run):
            attrs.update(_FAILED)
        elif any(self._failed(s) for s in run):
            attrs.update(_UNKNOWN)
        g.node(box, _label(*lines), shape="box3d" if len(run) == 1 else "box", **attrs)

    def _emit_edges(self, g: graphviz.Digraph) -> None:
        seen: set[tuple[str, str]] = set()
        for node in self.graph.nodes:
            dst = self.rep(node)
            sized = ops.size_inputs(node.op)   # `crop(like=u4)`: u4 gives only its size: a dashed edge
            for index, src_id in enumerate(node.inputs):
                src = self.rep(self.graph.nodes[src_id])
                if src == dst or (src, dst) in seen:
                    continue
                seen.add((src, dst))
                style = {"style": "dashed"} if 0 < index <= sized else {}
                g.edge(src, dst, label=_edge_label(self.graph.nodes[src_id]), **style)

    def _emit_outputs(self, g: graphviz.Digraph) -> None:
        for index, port in enumerate(self.graph.outputs):
            node = self.graph.nodes[port.node]
            title = f"output {port.key}: {port.name}" if port.key is not None else f"output {port.name}"
            # An output only in training (an aux head) is dashed, as are the layers only it needs.
            extra = {"style": "dashed,filled"} if port.training else {}
            g.node(f"out{index}", _label(title + (" (training)" if port.training else "")), shape="oval",
                   fillcolor=_FILL_PORT, **extra)
            g.edge(self.rep(node), f"out{index}", label=_edge_label(node), **({"style": "dashed"} if port.training
                                                                              else {}))


# -- helpers ----------------------------------------------------------------------------

def _chain(scope: Scope) -> list[Scope]:
    """The block instances around a node, outermost first (the root left out)."""
    return [s for s in reversed(list(scope.ancestors())) if s.parent is not None]


# The longest path walked back to find its first layer: paths are a few layers; a merge of two
# long chains (thousands of layers) is left to dot, so that drawing stays linear in the layers.
MAX_PATH_WALK = 64


def _path_heads(graph: Graph, merge: Node) -> list[Node]:
    """The first layer of each path of a merge (concat, add) in path order: walking back from
    the path's end, within the merge's scope, while the layer before has no other reader. A
    path that is the split itself (`identity`), starts in another scope or is longer than
    MAX_PATH_WALK has no head here."""
    if len(merge.inputs) < 2 or not ops.OPS[merge.op].merge:
        return []
    heads = []
    for end in merge.inputs:
        node = graph[end]
        if node.op == "input" or node.scope is not merge.scope or len(graph.users(node.id)) > 1:
            continue
        for _ in range(MAX_PATH_WALK):
            before = graph[node.inputs[0]] if node.inputs else None
            if before is None or before.op == "input" or before.scope is not merge.scope \
                    or len(graph.users(before.id)) > 1:
                heads.append(node)
                break
            node = before
    return heads


def _members(graph: Graph) -> dict[int, set[int]]:
    """Per node id, the ids (`id()`) of every block instance that encloses it."""
    return {n.id: {id(s) for s in n.scope.ancestors()} for n in graph.nodes}


def _direct_nodes(graph: Graph) -> dict[int, list[Node]]:
    """Per block instance (`id()`), the nodes whose innermost scope it is, in graph order."""
    out: dict[int, list[Node]] = {}
    for node in graph.nodes:
        out.setdefault(id(node.scope), []).append(node)
    return out


def _broken_scopes(graph: Graph) -> set[int]:
    """The block instances (`id()`) holding a node whose shape is unknown."""
    return {id(s) for n in graph.nodes if not n.known for s in n.scope.ancestors()}


def _first_nodes(graph: Graph) -> dict[int, int]:
    """Per block instance (`id()`) that holds nodes, the id of its first node."""
    out: dict[int, int] = {}
    for node in graph.nodes:
        for scope in node.scope.ancestors():
            out.setdefault(id(scope), node.id)
    return out


def _scope_params(graph: Graph) -> dict[int, int]:
    """Per block instance (`id()`), the parameters of every layer inside it."""
    out: dict[int, int] = {}
    for node in graph.nodes:
        for scope in node.scope.ancestors():
            out[id(scope)] = out.get(id(scope), 0) + node.params
    return out


def _failing_scopes(graph: Graph) -> set[int]:
    """The block instances (`id()`) holding the node where an error is (not only its dependents)."""
    return {id(s) for n in graph.nodes if _status(graph, n) == "failed" for s in n.scope.ancestors()}


def _status(graph: Graph, node: Node) -> str:
    """"failed" where the error is, "unknown" downstream of it, else "ok"."""
    if node.known and not node.failed:
        return "ok"
    if any(not graph.nodes[i].known for i in node.inputs):
        return "unknown"
    return "failed" if node.failed else "unknown"


def _scope_title(scope: Scope) -> str:
    """`stage2: Stage(128, 2)`; just `stem` when the instance is named like its argument-less call."""
    return scope.call if scope.local_name == scope.call else f"{scope.local_name}: {scope.call}"


def _blame(graph: Graph) -> dict[int, list[str]]:
    """Node id -> the codes of the errors that point at it.

    An error points at the layers whose span holds its span, in the same
    block instance (a block's body has one span but many instances: the call
    stacks must agree). An error on a statement that made no layer (a failed
    `expect`) points at the layer just before it, whose output it checked.
    """
    out: dict[int, list[str]] = {}
    frames = {n.id: _stack(n.scope.frames()) for n in graph.nodes}
    for d in graph.diagnostics:
        if not d.is_error or d.span is None:
            continue
        mine = [n for n in graph.nodes if n.span is not None and n.span.source is d.span.source
                and frames[n.id] == _stack(d.call_stack)]
        inside = [n for n in mine if n.span.start <= d.span.start and d.span.end <= max(n.span.end, n.span.start + 1)]
        before = [n for n in mine if n.span.end <= d.span.start and n.op != "input"]
        for node in inside or before[-1:]:
            out.setdefault(node.id, []).append(d.code)
    return out


def _stack(frames) -> tuple:
    return tuple(f.span.location() for f in frames if f.span is not None)


def _edge_label(node: Node) -> str:
    return f" {format_shape(node.shape)} " if node.known else " ? "


def _params(count: int) -> str:
    return f"{count:,} params"


def _where(node: Node) -> str:
    return _where_span(node.span)


def _where_span(span) -> str:
    return span.location() if span is not None else "no source"


def _label(*lines: str) -> str:
    """A multi-line label: user text escaped, lines joined by DOT's centred newline.

    Spec text (a string argument in a block call, a file name) reaches labels
    and tooltips: backslashes are doubled (no `\\N` or `\\l` escapes of DOT's),
    control characters become visible escapes (a NUL ends DOT's input), and
    the quoting of the graphviz package does the rest.
    """
    return "\\n".join(graphviz.escape(_printable(line)) for line in lines)


def _printable(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _dot_id(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text) or "root"
