"""Hover, go to definition and document symbols, from an `Analysis`.

Hover on a layer or a block call shows what `archlang shapes` shows for it:
its output shape, parameters and MACs, once per instance (a layer inside a
block has one per call of the block, in every network of the file). The
rows come from `backends.table.rows`, matched to the syntax node by where
they were written.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types

from .. import ops
from .. import syntax as ast
from ..backends import table
from ..shapes import format_shape
from ..source import Span
from .analysis import Analysis
from .positions import span_range

MAX_ROWS = 12   # instances listed in a hover; the rest are counted


# -- hover ------------------------------------------------------------------------------------------
def hover(analysis: Analysis, offset: int) -> types.Hover | None:
    path = analysis.node_at(offset)
    if not path:
        return None
    target = _hover_target(path)
    if target is None:
        return None
    node, span = target
    text = _describe(analysis, node, span)
    if text is None:
        return None
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
                       range=span_range(span))


def _hover_target(path: list):
    """The innermost layer, block call, merge, tensor or definition name under the cursor."""
    for i in range(len(path) - 1, -1, -1):
        node = path[i]
        parent = path[i - 1] if i else None
        if isinstance(node, (ast.Call, ast.Paths, ast.Merge, ast.Residual)):
            return node, node.span
        if isinstance(node, ast.Ident) and isinstance(parent, (ast.Bind, ast.Input, ast.BlockDef, ast.NetworkDef)):
            return parent, node.span
    return None


def _describe(analysis: Analysis, node, span: Span) -> str | None:
    if isinstance(node, ast.BlockDef):
        return _block_def(analysis, node)
    if isinstance(node, ast.NetworkDef):
        return _network(analysis, node)
    if isinstance(node, ast.Bind):
        rows = _rows_at(analysis, node.chain.items[-1].span)
        title = f"tensor `{node.target.name}`"
    elif isinstance(node, ast.Input):
        rows = _rows_at(analysis, node.span)
        title = f"input `{node.name.name}`" if node.name else "input"
    else:
        rows = _rows_at(analysis, node.span)
        title = _title(node)
    if not rows:
        return f"{title}\n\nnot elaborated: the file has errors, or no network reaches it" \
            if isinstance(node, ast.Call) else None
    return _rows_text(title, rows)


def _title(node) -> str:
    if isinstance(node, ast.Call):
        spec = ops.OPS.get(node.callee.name)
        if spec is not None:
            return f"`{node.callee.name}({ops.signature(spec)})`: {spec.summary}"
        return f"block `{node.callee.name}`"
    if isinstance(node, ast.Paths):
        return f"`{node.op}` of {len(node.paths)} paths"
    if isinstance(node, ast.Merge):
        return f"`{node.op}` of {len(node.inputs)} tensors"
    return "`residual`"


@dataclass
class _Instance:
    network: str
    row: table.Row


def _rows_at(analysis: Analysis, span: Span) -> list[_Instance]:
    """Every row (layer or block instance) written at `span`, in every network."""
    return [_Instance(net, row) for net, row in analysis.instances.get(span.location(), [])]


def _rows_text(title: str, instances: list[_Instance]) -> str:
    networks = {i.network for i in instances}
    lines = [title, ""]
    if len(instances) == 1:
        r = instances[0].row
        lines.append(f"**{_shape(r)}** · {_count(r.params)} params · {_count(r.macs)} MACs")
        lines.append("")
        lines.append(f"`{_where(instances[0], len(networks) > 1)}`: {r.call}")
        return "\n".join(lines)
    lines.append(f"{len(instances)} instances")
    lines.append("")
    lines.append("| instance | output | params | MACs |")
    lines.append("|---|---|---|---|")
    for inst in instances[:MAX_ROWS]:
        r = inst.row
        lines.append(f"| `{_where(inst, len(networks) > 1)}` | {_shape(r)} | {_count(r.params)} | {_count(r.macs)} |")
    if len(instances) > MAX_ROWS:
        lines.append(f"| ... and {len(instances) - MAX_ROWS} more | | | |")
    return "\n".join(lines)


def _where(inst: _Instance, with_network: bool) -> str:
    return f"{inst.network}.{inst.row.name}" if with_network else inst.row.name


def _shape(row: table.Row) -> str:
    return format_shape(row.shape) if row.status == "ok" else "unknown (after an error)"


def _count(n) -> str:
    return table.human(n) if n else "0"


def _block_def(analysis: Analysis, block: ast.BlockDef) -> str:
    params = ", ".join(p.name.name if p.default is None else f"{p.name.name} = {ast.expr_text(p.default)}"
                       for p in block.params)
    rows = [i for i in _all_rows(analysis) if i.row.kind == "block" and i.row.op == block.name.name]
    text = f"block `{block.name.name}({params})`\n\n"
    return text + (f"called {len(rows)} times" if rows else "not called by any network of this file")


def _network(analysis: Analysis, net: ast.NetworkDef) -> str | None:
    graph = next((g for g in analysis.graphs if g.name == net.name.name), None)
    if graph is None:
        return None
    ins = ", ".join(format_shape(graph.nodes[p.node].shape) for p in graph.inputs)
    outs = ", ".join(format_shape(graph.nodes[p.node].shape) for p in graph.outputs)
    state = "" if graph.ok else " (has errors)"
    return (f"network `{graph.name}`{state}\n\n**{ins} → {outs}** · {_count(graph.params_total)} params · "
            f"{_count(graph.macs_total)} MACs · {len(graph.layers())} layers")


def _all_rows(analysis: Analysis) -> list[_Instance]:
    return [_Instance(net, row) for rows in analysis.instances.values() for net, row in rows]


# -- go to definition -------------------------------------------------------------------------------
def definition(analysis: Analysis, offset: int) -> Span | Path | None:
    """Where the name under the cursor is defined: a span, or a file (an import)."""
    path = analysis.node_at(offset)
    if not path:
        return None
    node = path[-1]
    parent = path[-2] if len(path) > 1 else None
    if isinstance(node, ast.Str) and isinstance(parent, ast.Import):
        target = (Path(analysis.path).parent / node.value).resolve()
        return target if target.is_file() else None
    if isinstance(node, ast.Ident) and isinstance(parent, ast.Call):
        return _callee(analysis, parent, path)
    if isinstance(node, ast.Ident) and isinstance(parent, ast.Output):
        return _tensor(path, node.name)
    if isinstance(node, ast.Name):
        return _tensor(path, node.id) or _value(analysis, path, node.id)
    return None


def _callee(analysis: Analysis, call: ast.Call, path: list) -> Span | None:
    name = call.callee.name
    if not call.parens:
        tensor = _tensor(path, name)
        if tensor is not None:
            return tensor
    block = analysis.blocks.get(name)
    return block.name.span if block is not None else None


def _enclosing_def(path: list):
    return next((n for n in reversed(path) if isinstance(n, (ast.BlockDef, ast.NetworkDef))), None)


def _tensor(path: list, name: str) -> Span | None:
    """A tensor bound (`name = ...`) or declared (`input name: ...`) in the enclosing definition."""
    owner = _enclosing_def(path)
    if owner is None:
        return None
    for n in ast.walk_layers(owner.body):
        if isinstance(n, ast.Bind) and n.target.name == name:
            return n.target.span
        if isinstance(n, ast.Input) and n.name is not None and n.name.name == name:
            return n.name.span
    return None


def _value(analysis: Analysis, path: list, name: str) -> Span | None:
    """A loop variable, a parameter, a `let` in an enclosing body or at the top of the file."""
    for n in reversed(path):
        if isinstance(n, ast.Repeat) and n.var is not None and n.var.name == name:
            return n.var.span
        if isinstance(n, ast.Body):
            for stmt in n.stmts:
                if isinstance(stmt, ast.Let) and stmt.name.name == name:
                    return stmt.name.span
        if isinstance(n, (ast.BlockDef, ast.NetworkDef)):
            for p in n.params:
                if p.name.name == name:
                    return p.name.span
        if isinstance(n, ast.File):
            for item in n.items:
                if isinstance(item, ast.Let) and item.name.name == name:
                    return item.name.span
    return None


# -- document symbols -------------------------------------------------------------------------------
def symbols(analysis: Analysis) -> list[types.DocumentSymbol]:
    tree = analysis.tree
    if tree is None:
        return []
    out = []
    for item in tree.items:
        if isinstance(item, (ast.BlockDef, ast.NetworkDef)):
            kind = types.SymbolKind.Class if isinstance(item, ast.NetworkDef) else types.SymbolKind.Function
            params = ", ".join(p.name.name for p in item.params)
            out.append(types.DocumentSymbol(
                name=item.name.name, kind=kind, range=span_range(item.span),
                selection_range=span_range(item.name.span),
                detail=("network" if isinstance(item, ast.NetworkDef) else "block") + f"({params})",
                children=_inner_symbols(item.body)))
        elif isinstance(item, ast.Let):
            out.append(types.DocumentSymbol(name=item.name.name, kind=types.SymbolKind.Constant,
                                            range=span_range(item.span), selection_range=span_range(item.name.span),
                                            detail=ast.expr_text(item.value)))
    return out


def _inner_symbols(body: ast.Body) -> list[types.DocumentSymbol]:
    """Inputs, named tensors and labels of a body, at any depth."""
    out = []
    for n in ast.walk_layers(body):
        ident, kind = None, None
        if isinstance(n, ast.Input) and n.name is not None:
            ident, kind = n.name, types.SymbolKind.Variable
        elif isinstance(n, ast.Bind):
            ident, kind = n.target, types.SymbolKind.Variable
        elif isinstance(n, ast.Layers) and n.label is not None:
            ident, kind = n.label, types.SymbolKind.Field
        if ident is not None:
            out.append(types.DocumentSymbol(name=ident.name, kind=kind, range=span_range(n.span),
                                            selection_range=span_range(ident.span)))
    return out
