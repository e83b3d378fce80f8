"""Layer tables: one row per layer and per block instance, then the totals.

`rows(graph, depth)` flattens a checked graph into `Row`s: a block instance is
a row carrying its totals, with its layers one level deeper below it; `depth`
folds blocks nested deeper into their block row. The columns are data
(`COLUMNS`), shared by the text table, markdown, CSV and JSON, as in torchinfo;
every format shows the same rows. Optional columns (`OPTIONAL`: FLOPs,
receptive field, cumulative stride, saved activations) come with `Extras`.
Sizes are humanised (11.2M) for people and exact for tools (JSON, CSV).

Torch-free: `archlang shapes` imports this and nothing heavier.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any, Callable

from .. import memory, ops, passes, receptive
from ..ir import Graph, Node, Scope
from ..shapes import UNKNOWN, format_shape, numel, shape_json

BYTES_FP32 = 4
FORMATS = ("table", "json", "csv", "markdown")


# -- rows -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    kind: str       # "input", "layer" or "block"
    name: str       # dotted module path, unique in the graph
    level: int      # how many block instances enclose it
    op: str         # the op, or the block's name
    call: str       # what the Op column shows: "conv(64, k=3, p=1)", "Residual(128, s=2)"
    shape: Any      # a Shape, or UNKNOWN
    params: int
    trainable: int
    macs: int       # at the smallest valid input when the input has symbols
    source: str     # "file:line:col", or "" when the node has no span
    status: str     # "ok"; "failed" where the error is; "unknown" downstream of it
    flops: int = 0
    rf: receptive.Summary | None = None      # its receptive field and stride (the rf, stride columns)
    saved: int | None = None                   # bytes its backward keeps (with Extras.memory)
    training: bool = False   # only outputs `if training` need it (not run in eval mode)
    results: tuple = ()      # a block that gives several tensors: (name, shape) of each; `shape` is the last's

    @property
    def local_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Extras:
    """What the optional columns show, computed only when asked for.

    `columns`: names from OPTIONAL; `memory`: a training estimate (the "saved"
    column and the memory footer); `budget`: bytes the peak is compared with.
    """

    columns: tuple[str, ...] = ()
    memory: memory.Estimate | None = None
    budget: int | None = None

    @staticmethod
    def of(graph: Graph, columns=(), train: dict | None = None, budget: int | None = None) -> "Extras":
        """`train`: `memory.estimate`'s keyword arguments (batch, optimizer, dtype), or None."""
        columns = tuple(columns)
        estimate = None
        if train is not None:
            estimate = memory.estimate(graph, **train)
            columns = tuple(dict.fromkeys(columns + ("saved",)))
        return Extras(columns, estimate, budget)


NO_EXTRAS = Extras()


def rows(graph: Graph, depth: int | None = None, extras: Extras = NO_EXTRAS) -> list[Row]:
    """Every input, layer and block instance in graph order; blocks before their layers.

    `depth=None` shows every level; `depth=N` hides rows nested in more than
    N block instances, so their enclosing block row stands for them.
    """
    fields = receptive.summaries(graph) if {"rf", "stride"} & set(extras.columns) else {}
    saved = extras.memory.per_node if extras.memory is not None else None
    totals = _scope_totals(graph, saved)
    out: list[Row] = []
    open_scopes: list[Scope] = []
    for node in graph.nodes:
        chain = _chain(node.scope)
        keep = 0
        while keep < min(len(chain), len(open_scopes)) and chain[keep] is open_scopes[keep]:
            keep += 1
        del open_scopes[keep:]
        for level in range(keep, len(chain)):
            open_scopes.append(chain[level])
            out.append(_block_row(graph, chain[level], level, totals[id(chain[level])], fields))
        out.append(_node_row(graph, node, len(chain), fields, saved))
    if depth is not None:
        out = [r for r in out if r.level <= depth]
    return out


def _chain(scope: Scope) -> list[Scope]:
    """The block instances around a node, outermost first (the network's root left out)."""
    return [s for s in reversed(list(scope.ancestors())) if s.parent is not None]


@dataclass
class _Sums:
    """What a block row shows of the layers inside it."""

    params: int = 0
    trainable: int = 0
    macs: int = 0
    flops: int = 0
    saved: int | None = None          # None without a memory estimate
    failed: bool = False
    members: list[str] | None = None   # a labelled chain's layers, as its Op column
    first: Node | None = None
    training: bool = True              # every layer inside runs only in training


def _scope_totals(graph: Graph, saved: dict[int, int] | None = None) -> dict[int, _Sums]:
    sums: dict[int, _Sums] = {}
    for node in graph.nodes:
        chain = _chain(node.scope)
        for i, scope in enumerate(chain):
            t = sums.get(id(scope))
            if t is None:
                t = sums[id(scope)] = _Sums(members=[] if _is_group(scope) else None, first=node)
                if i and chain[i - 1].span is None:  # a block called inside a labelled chain
                    sums[id(chain[i - 1])].members.append(scope.call)
            t.params += node.params
            t.trainable += node.trainable_params
            t.macs += node.macs
            t.flops += node.flops
            if saved is not None:
                t.saved = (t.saved or 0) + saved.get(node.id, 0)
            t.failed = t.failed or node.failed
            t.training = t.training and node.id in graph.training_nodes
        if chain and _is_group(chain[-1]):
            sums[id(chain[-1])].members.append(call_text(node))
    return sums


def _is_group(scope: Scope) -> bool:
    """A labelled chain (`c1: conv(6, k=5) sigmoid`): a scope that no block call made."""
    return scope.span is None


def _node_row(graph: Graph, node: Node, level: int, fields: dict, saved: dict[int, int] | None) -> Row:
    kind = "input" if node.op == "input" else "layer"
    return Row(kind=kind, name=node.name, level=level, op=node.op, call=call_text(node),
               shape=node.shape, params=node.params, trainable=node.trainable_params, macs=node.macs,
               source=node.span.location() if node.span is not None else "", status=_status(graph, node),
               flops=node.flops, rf=fields.get(node.id),
               saved=None if saved is None else saved.get(node.id, 0),
               training=node.id in graph.training_nodes)


def _block_row(graph: Graph, scope: Scope, level: int, sums: _Sums, fields: dict) -> Row:
    gives = [i for i in scope.gives if i is not None and i < len(graph.nodes)]
    exit_node = graph.nodes[gives[-1]] if gives and len(gives) == len(scope.gives) else None
    results = tuple(zip(scope.result_names, (graph.nodes[i].shape for i in gives))) if scope.results else ()
    shape = exit_node.shape if exit_node is not None else UNKNOWN
    status = "ok" if exit_node is not None and exit_node.known and not sums.failed else "unknown"
    call = " ".join(sums.members) if sums.members is not None else scope.call
    where = scope.span if scope.span is not None else sums.first.span
    return Row(kind="block", name=scope.path, level=level, op=scope.block, call=call,
               shape=shape, params=sums.params, trainable=sums.trainable, macs=sums.macs,
               source=where.location() if where is not None else "", status=status, flops=sums.flops,
               rf=fields.get(exit_node.id) if exit_node is not None else None, saved=sums.saved, training=sums.training,
               results=results)


def _status(graph: Graph, node: Node) -> str:
    """"failed" marks the root cause; the layers that depend on it are "unknown"."""
    if node.known and not node.failed:
        return "ok"
    if any(not graph.nodes[i].known or graph.nodes[i].failed for i in node.inputs):
        return "unknown"
    return "failed" if node.failed else "unknown"


def call_text(node: Node) -> str:
    """The layer as a spec would write it, key arguments only: `conv(64, k=3, p=1)`."""
    return "input" if node.op == "input" else ops.format_call(node.op, node.args)


# -- totals ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Totals:
    """The network's sums. With symbolic inputs, MACs and activations are counted
    at the smallest valid input (as the passes count them); `activations_expr`
    gives the activations as an expression of the symbols."""

    params: int
    trainable: int
    macs: int
    flops: int
    activations: int         # output elements per sample over all layers
    activations_expr: Any    # the same as an expression; None without symbols
    incomplete: bool         # some layer's shape is unknown: the sums leave it out

    @property
    def non_trainable(self) -> int:
        return self.params - self.trainable

    @property
    def param_bytes(self) -> int:
        return self.params * BYTES_FP32

    @property
    def activation_bytes(self) -> int:
        return self.activations * BYTES_FP32


def totals(graph: Graph) -> Totals:
    expr: Any = 0
    incomplete = False
    for node in graph.layers():
        if node.known:
            expr = expr + numel(node.shape)
        else:
            incomplete = True
    return Totals(graph.params_total, graph.trainable_params_total, graph.macs_total, graph.flops_total,
                  passes.activations(graph), expr if graph.symbols else None, incomplete)


# -- numbers for people -----------------------------------------------------------------

def human(n: Any) -> str:
    """11178378 -> "11.2M"; symbolic counts print as their expression."""
    if not isinstance(n, int):
        return str(n)
    if abs(n) < 1000:
        return str(n)
    for unit, scale in (("K", 10**3), ("M", 10**6), ("G", 10**9)):
        if abs(round(n / scale, 1)) < 1000:  # 999,999 is "1.0M", not "1000.0K"
            return f"{n / scale:.1f}{unit}"
    return f"{n / 10**12:.1f}T"


def human_bytes(n: int) -> str:
    """Decimal units, as torchinfo prints them: 44.7 MB."""
    if n < 1000:
        return f"{n} B"
    for unit, scale in (("kB", 10**3), ("MB", 10**6), ("GB", 10**9)):
        if round(n / scale, 1) < 1000:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 10**12:.1f} TB"


def exact(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


# -- columns ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    title: str
    align: str                      # "<" left, ">" right
    human: Callable[[Row], str]     # the cell for people (table, markdown)
    exact: Callable[[Row], str]     # the cell for tools (csv)
    width: int | None = None        # the most characters a human cell may take
    formats: tuple[str, ...] = ("table", "markdown", "csv")
    key: str = ""                   # an optional column's name (--columns); "" for the usual ones


def _shape_cell(row: Row) -> str:
    if row.status == "failed":
        return "error"
    if row.shape is UNKNOWN:
        return "?"
    return _shape_text(row)


def _shape_text(row: Row) -> str:
    """`[4, 8, 8]`; a block that gives several tensors, each by name: `low [4, 8, 8], high [8, 4, 4]`."""
    if row.results:
        return ", ".join(f"{name} {format_shape(shape)}" for name, shape in row.results)
    return format_shape(row.shape)


def _count_cell(value: Any, row: Row) -> str:
    if row.kind == "input":
        return ""
    return "--" if value == 0 else human(value)


def _rf_cell(row: Row, text) -> str:
    return "" if row.rf is None else text(row.rf)


def _saved_cell(row: Row) -> str:
    return "" if row.saved is None or row.kind == "input" else "--" if row.saved == 0 else human_bytes(row.saved)


COLUMNS: tuple[Column, ...] = (
    Column("Layer", "<", lambda r: "  " * r.level + r.local_name + (" (training)" if r.training else ""),
           lambda r: r.name),
    Column("Kind", "<", lambda r: r.kind, lambda r: r.kind, formats=("csv",)),
    Column("Op", "<", lambda r: r.call, lambda r: r.call, width=40),
    Column("Output", "<", _shape_cell, lambda r: "" if r.shape is UNKNOWN else _shape_text(r)),
    Column("Params", ">", lambda r: _count_cell(r.params, r), lambda r: str(r.params)),
    Column("MACs", ">", lambda r: _count_cell(r.macs, r), lambda r: str(r.macs)),
    Column("FLOPs", ">", lambda r: _count_cell(r.flops, r), lambda r: str(r.flops), key="flops"),
    Column("RF", ">", lambda r: _rf_cell(r, lambda f: f.rf_text), lambda r: _rf_cell(r, lambda f: f.rf_text),
           key="rf"),
    Column("Stride", ">", lambda r: _rf_cell(r, lambda f: f.stride_text),
           lambda r: _rf_cell(r, lambda f: f.stride_text), key="stride"),
    Column("Saved", ">", _saved_cell, lambda r: "" if r.saved is None else str(r.saved), key="saved"),
    Column("Status", "<", lambda r: r.status, lambda r: r.status, formats=("csv",)),
    Column("Source", "<", lambda r: r.source, lambda r: r.source, formats=("csv",)),
)
# The optional columns, by the name --columns takes.
OPTIONAL = tuple(c.key for c in COLUMNS if c.key)


def columns_for(fmt: str, extras: "Extras" = NO_EXTRAS) -> list[Column]:
    return [c for c in COLUMNS if fmt in c.formats and (not c.key or c.key in extras.columns)]


def _fit(text: str, width: int | None) -> str:
    if width is not None and len(text) > width:
        return text[: width - 1] + "\u2026"
    return text


# -- renderings -------------------------------------------------------------------------

def render(graph: Graph, fmt: str = "table", depth: int | None = None, extras: Extras = NO_EXTRAS) -> str:
    if fmt == "table":
        return render_table(graph, depth, extras)
    if fmt == "markdown":
        return render_markdown(graph, depth, extras)
    if fmt == "csv":
        return render_csv(graph, depth, extras)
    if fmt == "json":
        return dump_json(to_json(graph, depth, extras))
    raise ValueError(f"unknown table format {fmt!r}; expected one of {', '.join(FORMATS)}")


def render_table(graph: Graph, depth: int | None = None, extras: Extras = NO_EXTRAS) -> str:
    cols = columns_for("table", extras)
    cells = [[_fit(c.human(r), c.width) for c in cols] for r in rows(graph, depth, extras)]
    widths = [max([len(c.title)] + [len(line[i]) for line in cells]) for i, c in enumerate(cols)]

    def line(values: list[str]) -> str:
        return "  ".join(f"{v:{c.align}{w}}" for v, c, w in zip(values, cols, widths)).rstrip()

    rule_width = sum(widths) + 2 * (len(widths) - 1)
    out = [_title(graph), "=" * rule_width, line([c.title for c in cols]), "=" * rule_width]
    out.extend(line(values) for values in cells)
    out.append("=" * rule_width)
    out.extend(footer_lines(graph, extras))
    out.append("=" * rule_width)
    return "\n".join(out)


def _title(graph: Graph) -> str:
    where = f"  ({graph.span.location()})" if graph.span is not None else ""
    return f"network {graph.name}{where}"


def footer_lines(graph: Graph, extras: Extras = NO_EXTRAS) -> list[str]:
    t = totals(graph)
    out = []
    if t.incomplete:
        out.append("Totals leave out the layers whose shape is unknown.")
    if graph.symbols:
        out.append(_symbolic_line(graph))
    at = " at the smallest input" if graph.symbols else ""
    out.append(f"Params: {_both(t.params)}; trainable {exact(t.trainable)}, non-trainable {exact(t.non_trainable)}")
    out.append(f"Multiply-accumulates per sample (conv + linear){at}: {_both(t.macs)}")
    out.append(f"FLOPs per sample (2 per MAC, bias, norms, activations, pooling, adds){at}: {_both(t.flops)}")
    if graph.training_nodes:
        out.append(f"Outputs only in training: {_training_outputs(graph)}; their layers add "
                   f"{_both(graph.training_macs)} MACs in training")
    if t.activations_expr is not None:
        out.append(f"Activations per sample: {t.activations_expr} elements")
    out.append(f"Activations per sample{at}: {exact(t.activations)} elements, "
               f"{human_bytes(t.activation_bytes)} in fp32")
    out.append(f"Parameter memory: {human_bytes(t.param_bytes)} in fp32")
    if extras.memory is not None:
        out.extend(memory_lines(extras.memory, extras.budget, at))
    return out


def memory_lines(m: memory.Estimate, budget: int | None, at: str = "") -> list[str]:
    """The training estimate: its parts, the peak, and whether it fits the budget."""
    settings = f"batch {m.batch}, {m.optimizer}, {m.dtype}"
    out = [f"Training memory ({settings}){at}: params {human_bytes(m.params)}, grads {human_bytes(m.grads)}, "
           f"optimizer {human_bytes(m.optimizer_state)}, saved activations {human_bytes(m.activations_saved)}; "
           f"total {human_bytes(m.total)}, peak estimate {human_bytes(m.peak_estimate)}"]
    if m.incomplete:
        out.append("The training estimate leaves out the layers whose shape is unknown.")
    if budget is not None:
        share = f"{100 * m.peak_estimate / budget:.0f}%"
        largest = m.largest_batch(budget)
        if m.fits(budget):
            out.append(f"Fits in the budget of {human_bytes(budget)} ({share} of it at the peak); "
                       f"the largest batch that fits: about {exact(largest)}")
        elif largest > 0:
            out.append(f"Does NOT fit in the budget of {human_bytes(budget)} ({share} of it at the peak); "
                       f"a batch of about {exact(largest)} would")
        else:
            out.append(f"Does NOT fit in the budget of {human_bytes(budget)} ({share} of it at the peak), "
                       f"not even at batch 1")
    return out


def _training_outputs(graph: Graph) -> str:
    return ", ".join(p.key or p.name for p in graph.outputs if p.training)


def _symbolic_line(graph: Graph) -> str:
    """The sizes a symbolic network accepts; counts that depend on them are taken at the smallest."""
    if graph.smallest_input is None:
        return "No input size makes every layer valid: counts that depend on the size are 0."
    needs = "; needs " + "; ".join(graph.conditions) if graph.conditions else ""
    return f"Smallest input: {smallest_input_text(graph)}{needs}"


def smallest_input_text(graph: Graph) -> str:
    """`[3, 299, 299] (in eval mode [3, 75, 75])`: the smallest input, and eval mode's where smaller."""
    text = ", ".join(format_shape(s) for s in graph.smallest_input)
    if graph.smallest_eval_input is not None:
        text += " (in eval mode " + ", ".join(format_shape(s) for s in graph.smallest_eval_input) + ")"
    return text


def _both(n: int) -> str:
    """`11,178,378 (11.2M)`; small numbers once."""
    short = human(n)
    return exact(n) if short == str(n) else f"{exact(n)} ({short})"


def render_markdown(graph: Graph, depth: int | None = None, extras: Extras = NO_EXTRAS) -> str:
    cols = columns_for("markdown", extras)

    def cell(text: str) -> str:
        # Leading spaces are the nesting; markdown would swallow them.
        stripped = text.lstrip(" ")
        return "&nbsp;" * (len(text) - len(stripped)) + stripped.replace("|", "\\|")

    out = [f"**{_title(graph)}**", "",
           "| " + " | ".join(c.title for c in cols) + " |",
           "|" + "|".join("---:" if c.align == ">" else ":---" for c in cols) + "|"]
    for r in rows(graph, depth, extras):
        out.append("| " + " | ".join(cell(_fit(c.human(r), c.width)) for c in cols) + " |")
    out.append("")
    out.extend(f"- {line}" for line in footer_lines(graph, extras))
    return "\n".join(out)


def render_csv(graph: Graph, depth: int | None = None, extras: Extras = NO_EXTRAS) -> str:
    cols = columns_for("csv", extras)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.title.lower() for c in cols])
    for r in rows(graph, depth, extras):
        writer.writerow([c.exact(r) for c in cols])
    return buf.getvalue().rstrip("\n")


def to_json(graph: Graph, depth: int | None = None, extras: Extras = NO_EXTRAS) -> dict:
    """The network, its ports, totals and one entry per row of the table (inputs, blocks
    and layers, as CSV and the table show them, `depth` folding alike)."""
    t = totals(graph)
    out: dict[str, Any] = {
        "network": graph.name,
        "inputs": [_port_json(graph, p) for p in graph.inputs],
        "outputs": [_port_json(graph, p) for p in graph.outputs],
        "params": t.params,
        "trainable_params": t.trainable,
        "macs": t.macs,
        "flops": t.flops,
        "activations": t.activations,
    }
    if graph.symbols:
        out["smallest_input"] = ([list(s) for s in graph.smallest_input]
                                 if graph.smallest_input is not None else None)
        out["conditions"] = list(graph.conditions)
        if graph.smallest_eval_input is not None:   # the layers only training outputs need set the other
            out["smallest_eval_input"] = [list(s) for s in graph.smallest_eval_input]
    if extras.memory is not None:
        out["memory"] = extras.memory.to_json(extras.budget)
    out["layers"] = [_row_json(r, extras) for r in rows(graph, depth, extras)]
    return out


def dump_json(data: dict, rows_key: str = "layers") -> str:
    """One key per line and one row per line: readable, and a changed layer is a one-line diff."""
    def item(key: str, value: Any) -> str:
        if key == rows_key and value:
            inner = ",\n".join("    " + json.dumps(layer) for layer in value)
            return f'  "{key}": [\n{inner}\n  ]'
        return f"  {json.dumps(key)}: {json.dumps(value)}"
    return "{\n" + ",\n".join(item(k, v) for k, v in data.items()) + "\n}"


def _port_json(graph: Graph, port) -> dict:
    shape = graph.nodes[port.node].shape
    out = {"name": port.name, "shape": shape_json(shape)}
    if port.key is not None:      # the network returns a dict
        out["key"] = port.key
    if port.training:
        out["training"] = True
    return out


def _row_json(row: Row, extras: Extras) -> dict:
    out: dict[str, Any] = {
        "kind": row.kind,
        "name": row.name,
        "level": row.level,
        "op": row.op,
        "call": row.call,
        "output": shape_json(row.shape),
        **({"results": [{"name": n, "shape": shape_json(s)} for n, s in row.results]} if row.results else {}),
        "params": row.params,
        "macs": row.macs,
        "flops": row.flops,
    }
    if "rf" in extras.columns:
        out["rf"] = row.rf.rf_json() if row.rf is not None else None
    if "stride" in extras.columns:
        out["stride"] = row.rf.stride_json() if row.rf is not None else None
    if row.saved is not None:
        out["saved"] = row.saved
    out["source"] = row.source or None
    out["status"] = row.status
    if row.training:              # only outputs `if training` need it; "macs" of the totals leaves it out
        out["training"] = True
    return out
