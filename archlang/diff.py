"""Compare two networks: per-layer and total deltas of shape, params, MACs and memory.

`compare(a, b)` aligns the rows of the two layer tables (`backends.table.rows`,
block rows included) by name and position: difflib's longest matching runs of
equal names fix the alignment, then the rows left between two runs are paired
in order (a renamed or replaced layer is one changed row) and the rest are
added or removed. A block added whole is one row; its layers are not repeated
below it. Each side's memory is the training estimate at the same batch.
Text, markdown and JSON renderings share `Change` rows. Torch-free.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from . import memory
from .backends import table
from .ir import Graph
from .shapes import UNKNOWN, format_shape, shape_json

FORMATS = ("text", "markdown", "json")


@dataclass(frozen=True)
class Side:
    """One network to compare: its graph, what to call it, its rows and its memory."""

    title: str          # "specs/tv_resnet18.arch:TVResNet18" or with the --set values
    graph: Graph
    rows: list[table.Row]
    memory: memory.Estimate

    @staticmethod
    def of(title: str, graph: Graph, batch: int = 1, depth: int | None = None) -> "Side":
        extras = table.Extras.of(graph, (), {"batch": batch, "optimizer": "sgd", "dtype": "fp32"})
        return Side(title, graph, table.rows(graph, depth, extras), extras.memory)


@dataclass(frozen=True)
class Change:
    kind: str                    # "same", "changed", "added" or "removed"
    a: table.Row | None
    b: table.Row | None

    @property
    def row(self) -> table.Row:
        return self.b if self.b is not None else self.a

    def delta(self, field: str) -> int:
        return _value(self.b, field) - _value(self.a, field)


def _value(row: table.Row | None, field: str) -> int:
    return 0 if row is None else getattr(row, field) or 0


FIELDS = ("params", "macs", "saved")


@dataclass(frozen=True)
class Diff:
    a: Side
    b: Side
    changes: list[Change]

    def totals(self) -> dict[str, tuple[int, int]]:
        """name -> (A's, B's) for the whole networks."""
        ma, mb = self.a.memory, self.b.memory
        ga, gb = self.a.graph, self.b.graph
        return {"params": (ga.params_total, gb.params_total), "macs": (ga.macs_total, gb.macs_total),
                "flops": (ga.flops_total, gb.flops_total),
                "activations_saved": (ma.activations_saved, mb.activations_saved),
                "peak_estimate": (ma.peak_estimate, mb.peak_estimate)}


def compare(a: Side, b: Side) -> Diff:
    names_a, names_b = [r.name for r in a.rows], [r.name for r in b.rows]
    changes: list[Change] = []
    matcher = difflib.SequenceMatcher(None, names_a, names_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            changes.extend(_paired(a.rows[i], b.rows[j]) for i, j in zip(range(i1, i2), range(j1, j2)))
            continue
        left, right = a.rows[i1:i2], b.rows[j1:j2]
        paired = _pair_by_position(left, right)
        changes.extend(paired)
    return Diff(a, b, _fold_whole_blocks(changes))


def _paired(ra: table.Row, rb: table.Row) -> Change:
    same = (ra.name == rb.name and ra.call == rb.call and _shape(ra) == _shape(rb)
            and all(_value(ra, f) == _value(rb, f) for f in FIELDS))
    return Change("same" if same else "changed", ra, rb)


def _pair_by_position(left: list[table.Row], right: list[table.Row]) -> list[Change]:
    """Rows between two matching runs: the same kind at the same level pair up in order
    (a layer that was replaced), the others are removed or added."""
    out: list[Change] = []
    j = 0
    for ra in left:
        k = next((k for k in range(j, len(right))
                  if (right[k].kind, right[k].level) == (ra.kind, ra.level)), None)
        if k is None:
            out.append(Change("removed", ra, None))
            continue
        out.extend(Change("added", None, rb) for rb in right[j:k])
        out.append(_paired(ra, right[k]))
        j = k + 1
    out.extend(Change("added", None, rb) for rb in right[j:])
    return out


def _fold_whole_blocks(changes: list[Change]) -> list[Change]:
    """Leave out the rows inside a block row that was added or removed whole."""
    out: list[Change] = []
    whole: tuple[str, str] | None = None     # (kind, name prefix) of the block being skipped
    for change in changes:
        name = change.row.name
        if whole is not None and change.kind == whole[0] and name.startswith(whole[1]):
            continue
        whole = (change.kind, name + ".") if change.kind in ("added", "removed") and change.row.kind == "block" \
            else None
        out.append(change)
    return out


def _shape(row: table.Row | None) -> str:
    if row is None:
        return ""
    return "?" if row.shape is UNKNOWN else format_shape(row.shape)


# -- renderings --------------------------------------------------------------------------

MARKS = {"same": " ", "changed": "~", "added": "+", "removed": "-"}


def _signed(n: int, bytes_: bool = False) -> str:
    if n == 0:
        return "--"
    text = table.human_bytes(abs(n)) if bytes_ else table.human(abs(n))
    return ("+" if n > 0 else "-") + text


def _arrow(a: str, b: str) -> str:
    if not a:
        return b
    if not b:
        return a
    return a if a == b else f"{a} -> {b}"


def _cells(change: Change) -> list[str]:
    row = change.row
    name = "  " * row.level + (row.local_name if change.a is None or change.b is None or change.a.name == change.b.name
                               else f"{change.a.local_name} -> {change.b.local_name}")
    return [MARKS[change.kind], name,
            _arrow(change.a.call if change.a else "", change.b.call if change.b else ""),
            _arrow(_shape(change.a), _shape(change.b)),
            _signed(change.delta("params")), _signed(change.delta("macs")),
            _signed(change.delta("saved"), bytes_=True)]


HEADER = ["", "Layer", "Op", "Output", "dParams", "dMACs", "dSaved"]
ALIGN = "<<<<>>>"


def _shown(diff: Diff, every: bool) -> list[Change]:
    return [c for c in diff.changes if every or c.kind != "same"]


def total_lines(diff: Diff) -> list[str]:
    names = {"params": "Params", "macs": "MACs per sample", "flops": "FLOPs per sample",
             "activations_saved": "Saved activations", "peak_estimate": "Training peak estimate"}
    out = []
    for key, (va, vb) in diff.totals().items():
        is_bytes = key in ("activations_saved", "peak_estimate")
        show = table.human_bytes if is_bytes else table.exact
        delta = vb - va
        sign = "+" if delta > 0 else "-" if delta < 0 else "±"
        ratio = f", x{vb / va:.2f}" if va else ""
        out.append(f"{names[key]}: {show(va)} -> {show(vb)} ({sign}{show(abs(delta))}{ratio})")
    counts = {k: sum(c.kind == k for c in diff.changes) for k in ("added", "removed", "changed")}
    out.append(f"Rows: {counts['added']} added, {counts['removed']} removed, {counts['changed']} changed "
               f"(a block added or removed whole is one row)")
    settings = diff.a.memory
    out.append(f"Memory: training estimate at batch {settings.batch}, {settings.optimizer}, {settings.dtype}")
    return out


def render_text(diff: Diff, every: bool = False) -> str:
    cells = [_cells(c) for c in _shown(diff, every)]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(HEADER)]

    def line(values: list[str]) -> str:
        return "  ".join(f"{v:{a}{w}}" for v, a, w in zip(values, ALIGN, widths)).rstrip()

    rule = "=" * (sum(widths) + 2 * (len(widths) - 1))
    out = [f"--- {diff.a.title}", f"+++ {diff.b.title}", rule, line(HEADER), rule]
    out.extend(line(r) for r in cells)
    if not cells:
        out.append("(no layer differs)")
    out.append(rule)
    out.extend(total_lines(diff))
    out.append(rule)
    return "\n".join(out)


def render_markdown(diff: Diff, every: bool = False) -> str:
    def cell(text: str) -> str:
        stripped = text.lstrip(" ")
        return "&nbsp;" * (len(text) - len(stripped)) + stripped.replace("|", "\\|")

    out = [f"**{diff.a.title}** -> **{diff.b.title}**", "",
           "| " + " | ".join(h or "Change" for h in HEADER) + " |",
           "|" + "|".join("---:" if a == ">" else ":---" for a in ALIGN) + "|"]
    for c in _shown(diff, every):
        values = _cells(c)
        values[0] = c.kind
        out.append("| " + " | ".join(cell(v) for v in values) + " |")
    out.append("")
    out.extend(f"- {line}" for line in total_lines(diff))
    return "\n".join(out)


def _row_json(row: table.Row | None) -> dict | None:
    if row is None:
        return None
    return {"name": row.name, "kind": row.kind, "op": row.op, "call": row.call, "output": shape_json(row.shape),
            "params": row.params, "macs": row.macs, "flops": row.flops, "saved": row.saved}


def to_json(diff: Diff, every: bool = False) -> dict[str, Any]:
    return {
        "a": {"title": diff.a.title, "network": diff.a.graph.name},
        "b": {"title": diff.b.title, "network": diff.b.graph.name},
        "memory_settings": {"batch": diff.a.memory.batch, "optimizer": diff.a.memory.optimizer,
                            "dtype": diff.a.memory.dtype},
        "totals": {k: {"a": va, "b": vb, "delta": vb - va} for k, (va, vb) in diff.totals().items()},
        "rows": [{"change": c.kind, "a": _row_json(c.a), "b": _row_json(c.b),
                  "delta": {f: c.delta(f) for f in FIELDS}} for c in _shown(diff, every)],
    }


def render(diff: Diff, fmt: str = "text", every: bool = False) -> str:
    if fmt == "text":
        return render_text(diff, every)
    if fmt == "markdown":
        return render_markdown(diff, every)
    if fmt == "json":
        return table.dump_json(to_json(diff, every), rows_key="rows")
    raise ValueError(f"unknown diff format {fmt!r}; expected one of {', '.join(FORMATS)}")
