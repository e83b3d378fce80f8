"""`archlang.summary(spec, network=..., batch=...)`: the layer table as a Python object
(a module of its own name would hide the function `archlang.summary`).

A `Summary` holds the rows of `archlang shapes` as data (`backends.table.Row`:
name, op, call, shape, params, MACs, FLOPs, receptive field, saved bytes), the
totals and the training estimate at `batch`. Printed it is the table
(`__repr__`), in a notebook an HTML table (`_repr_html_`), and `to_json()` is
what `archlang shapes --format json --train` prints. Torch-free.
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any, Iterator

from . import memory
from .backends import table
from .ir import Graph

COLUMNS = ("flops", "rf", "stride")   # the optional columns a summary shows


@dataclass(frozen=True)
class Summary:
    graph: Graph
    rows: list[table.Row]
    totals: table.Totals
    memory: memory.Estimate
    extras: table.Extras
    depth: int | None = None

    def __iter__(self) -> Iterator[table.Row]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: int | str) -> table.Row:
        """A row by position, or by its dotted name (`layer1.basicblock1.conv1`)."""
        if isinstance(key, str):
            for row in self.rows:
                if row.name == key:
                    return row
            raise KeyError(key)
        return self.rows[key]

    def __repr__(self) -> str:
        return table.render_table(self.graph, self.depth, self.extras)

    def to_json(self) -> dict:
        return table.to_json(self.graph, self.depth, self.extras)

    def _repr_html_(self) -> str:
        cols = table.columns_for("markdown", self.extras)
        head = "".join(f"<th>{html.escape(c.title)}</th>" for c in cols)
        body = []
        for row in self.rows:
            cells = []
            for c in cols:
                text = c.human(row)
                indent = len(text) - len(text.lstrip(" "))
                style = f' style="text-align:{"right" if c.align == ">" else "left"}'
                style += f';padding-left:{indent / 2:g}em"' if indent else '"'
                cells.append(f"<td{style}>{html.escape(text.strip())}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        footer = "".join(f"<li>{html.escape(line)}</li>"
                         for line in table.footer_lines(self.graph, self.extras))
        return (f"<div><b>{html.escape(f'network {self.graph.name}')}</b>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
                f"<ul>{footer}</ul></div>")


def summary(spec: "str | os.PathLike | Graph", network: str | None = None, batch: int = 1, *,
            input: list | None = None, depth: int | None = None, optimizer: str = "sgd",
            dtype: str = "fp32", budget: "int | str | None" = None, **params: Any) -> Summary:
    """The table of one network of `spec` (a path, the text, or a checked `Graph`), with the
    training memory at `batch`. Raises SpecError when the spec has errors."""
    from . import load
    from .diagnostics import SpecError

    if isinstance(spec, Graph):
        graph = spec
    else:
        graph = load(spec).network(network, input=input, **params)
    if not graph.ok:
        raise SpecError([d for d in graph.diagnostics if d.is_error])
    budget_bytes = memory.parse_bytes(budget) if isinstance(budget, str) else budget
    extras = table.Extras.of(graph, COLUMNS, {"batch": batch, "optimizer": optimizer, "dtype": dtype},
                             budget_bytes)
    return Summary(graph, table.rows(graph, depth, extras), table.totals(graph), extras.memory, extras, depth)
