"""One version of a document, checked: what every request of the server reads.

`analyse(path, text)` does what `archlang check` does, on the editor's text
under the document's path (imports resolve beside it): load, then elaborate
every network. The syntax tree and the index of what sits where are built
only when a request needs them (a hover, a definition), so a keystroke pays
for the check alone.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .. import syntax as ast
from ..diagnostics import Collector, Diagnostic, SpecError, UsageError, unique
from ..ir import Graph
from ..parser import parse
from ..source import Source

if TYPE_CHECKING:  # pragma: no cover
    from ..backends import table


@dataclass(eq=False)
class Analysis:
    path: str                     # the document's file path: the name its spans carry
    text: str
    version: int | None
    program: object | None = None             # archlang.Program, when the spec loads
    graphs: list[Graph] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    crashed: str | None = None   # an internal error of the compiler, reported as such

    @cached_property
    def source(self) -> Source:
        return Source(self.path, self.text)

    @cached_property
    def tree(self) -> ast.File | None:
        """The document's syntax tree (None when it does not parse)."""
        return parse(self.source, Collector())

    @property
    def blocks(self) -> dict[str, ast.BlockDef]:
        """Every block the document can call (its own, imported, the prelude's)."""
        return dict(self.program.definitions.blocks) if self.program is not None else {}

    @cached_property
    def instances(self) -> dict[str, list[tuple[str, "table.Row"]]]:
        """The rows of `archlang shapes` (inputs, layers, block instances) of every network,
        as (network, row), by where they were written (`file:line:col`)."""
        from ..backends import table

        index: dict[str, list] = {}
        for graph in self.graphs:
            for row in table.rows(graph):
                index.setdefault(row.source, []).append((graph.name, row))
        return index

    def node_at(self, offset: int) -> list:
        """The syntax nodes that contain `offset`, outermost first."""
        tree = self.tree
        if tree is None:
            return []
        # Preorder: the nodes containing the offset form one root-to-leaf path.
        return [n for n in ast.walk(tree) if n.span is not None and n.span.start <= offset <= n.span.end]

    def owns(self, span) -> bool:
        """Whether a span lies in this document (not in an import or the prelude)."""
        return span is not None and span.file == self.path


def analyse(path: str, text: str, version: int | None = None) -> Analysis:
    """Check `text` as the file at `path`. Never raises."""
    from .. import load

    result = Analysis(path, text, version)
    try:
        program = load(path, text=text)
    except SpecError as err:
        result.diagnostics = list(err.diagnostics)
        return result
    except UsageError as err:
        result.crashed = str(err)
        return result
    except Exception as exc:  # noqa: BLE001 - a compiler bug must not take the editor's server down
        result.crashed = f"internal error: {type(exc).__name__}: {exc}"
        return result
    result.program = program
    diags = list(program.diagnostics)
    try:
        for name in program.networks:
            graph = program.elaborate(name)
            result.graphs.append(graph)
            diags.extend(graph.diagnostics)
    except Exception as exc:  # noqa: BLE001
        result.crashed = f"internal error: {type(exc).__name__}: {exc}"
    result.diagnostics = unique(diags)
    return result


def path_for(uri_path: str | None, uri: str) -> str:
    """A file path for a document: its own, or (an unsaved, untitled buffer) one in the
    working directory, so that its imports resolve there."""
    if uri_path:
        return os.path.normpath(uri_path)
    name = uri.rsplit("/", 1)[-1].split(":")[-1] or "untitled"
    return str(Path.cwd() / (name if name.endswith(".arch") else name + ".arch"))
