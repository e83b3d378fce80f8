"""Rewrites of a generated program that must not change what it means (metamorphic relations).

Each takes a `model.Program` and returns an edited copy:

- `keyword_calls`: every positional argument of an op or block call written by name;
- `positional_calls`: every call's arguments in declared order, positional as far as possible;
- `inline_calls`: a block call that is a statement of its own becomes its body, in an
  `if true { }` whose `let`s bind the parameters (the call's values, else the defaults);
- `unroll_repeats`: `repeat n as i { body }` with a literal n becomes n copies of
  `if true { let i = k; body }`;
- `rename_labels`: every label gets a suffix;
- `with_expects`: after each statement of the network, `expect` the shape archlang computed
  there (written as archlang prints it, symbols and all).
"""
from __future__ import annotations

import copy
from typing import Callable

from archlang import ops

from .model import (Arg, Bind, BlockCall, Expect, If, Labelled, Layers, Let, Lit, Name, OpCall, Output, Program, Repeat,
                    Stmt)


def _calls(program: Program, visit: Callable[[object, str], None]) -> None:
    """Call `visit(node, file)` on every op and block call, knowing which file it is written in."""
    def walk(node, file: str) -> None:
        if isinstance(node, (OpCall, BlockCall)):
            visit(node, file)
        if isinstance(node, (list, tuple)):
            for n in node:
                walk(n, file)
        elif hasattr(node, "__dataclass_fields__") and not isinstance(node, (Arg, Lit, Name)):
            for f in node.__dataclass_fields__:
                walk(getattr(node, f), file)

    walk(program.body, "main")
    for blk in program.blocks:
        walk(blk.body, blk.file)


def _formals(program: Program, call, file: str) -> list[str] | None:
    if isinstance(call, OpCall):
        spec = ops.OPS.get(call.op)
        return [a.name for a in spec.args] if spec is not None else None
    block = program.resolve(call.name, file)
    return [p.name for p in block.params] if block is not None else None


def keyword_calls(program: Program) -> Program:
    out = copy.deepcopy(program)

    def visit(call, file: str) -> None:
        formals = _formals(out, call, file)
        if formals is None or len([a for a in call.args if a.name is None]) > len(formals):
            return
        call.args = [Arg(formals[i], a.value) if a.name is None else a for i, a in enumerate(call.args)]

    _calls(out, visit)
    return out


def positional_calls(program: Program) -> Program:
    out = copy.deepcopy(program)

    def visit(call, file: str) -> None:
        formals = _formals(out, call, file)
        if formals is None:
            return
        canonical = {}
        for i, a in enumerate(call.args):
            name = formals[i] if a.name is None and i < len(formals) else a.name
            if isinstance(call, OpCall) and name is not None:
                decl = ops.OPS[call.op].arg(name)
                name = decl.name if decl is not None else name
            if name in canonical or name not in formals:
                return   # a call the language refuses: leave it as written
            canonical[name] = a.value
        args, positional = [], True
        for name in formals:
            if name not in canonical:
                positional = False
                continue
            args.append(Arg(None if positional else name, canonical[name]))
        call.args = args

    _calls(out, visit)
    return out


def inline_calls(program: Program) -> Program:
    """Each block call that is a statement by itself, replaced by the block's body."""
    out = copy.deepcopy(program)

    sites = iter(range(1, 1_000_000))

    def rewrite(stmts: list, file: str) -> None:
        i = 0
        while i < len(stmts):
            stmt = stmts[i]
            for child in _bodies(stmt):
                rewrite(child, file)
            if (isinstance(stmt, Layers) and stmt.label is None and stmt.start is None and len(stmt.items) == 1
                    and isinstance(stmt.items[0], BlockCall)):
                block = out.resolve(stmt.items[0].name, file)
                if block is not None and block.file == file:
                    inlined = _inlined(block, stmt.items[0], next(sites))
                    stmts[i:i + 1] = inlined
                    i += len(inlined)
                    continue
            i += 1

    rewrite(out.body, "main")
    return out


def _inlined(block, call: BlockCall, site: int) -> list[Stmt]:
    """`let _s1_0 = <argument>` ... in the caller (arguments read the caller's names, `in` and
    `cur`), then `if true { let <param> = _s1_0 ... <body> }` (defaults read the parameters before)."""
    values: dict[str, Name] = {}
    outside: list[Stmt] = []
    for index, arg in enumerate(call.args):   # positional arguments come first: index is the position
        temp = f"_s{site}_{index}"
        outside.append(Let(temp, arg.value))
        values[block.params[index].name if arg.name is None else arg.name] = Name(temp)
    lets: list[Stmt] = [Let(p.name, values.get(p.name, p.default)) for p in block.params]
    body = copy.deepcopy(block.body)
    _drop_labels(body)       # a block's labels are its instance's; inlined, they would meet the caller's
    return outside + [If(Lit(True), lets + body, None)]


def _drop_labels(stmts: list) -> None:
    """Every label of these statements: of a chain, of a binding, and along chains (`x -> fc1: conv`)."""
    for stmt in stmts:
        if isinstance(stmt, (Layers, Bind)):
            stmt.label = None
        for child in _bodies(stmt):
            _drop_labels(child)
        items = getattr(stmt, "items", None) or []
        items[:] = [_unlabelled(item) for item in items]
        for item in items:
            for child in _item_bodies(item):
                _drop_labels(child)


def _unlabelled(item):
    while isinstance(item, Labelled):
        item = item.item
    return item


def _bodies(stmt) -> list[list]:
    """The statement lists directly inside a statement (not inside its layers)."""
    if isinstance(stmt, Repeat):
        return [stmt.body]
    if isinstance(stmt, If):
        rest = [stmt.orelse] if isinstance(stmt.orelse, list) else _bodies(stmt.orelse) if stmt.orelse else []
        return [stmt.then, *rest]
    return []


def _item_bodies(item) -> list[list]:
    paths = getattr(item, "paths", None)
    if paths is not None:
        return list(paths)
    body = getattr(item, "body", None)
    if isinstance(body, list):
        shortcut = getattr(item, "shortcut", None)
        return [body] + ([shortcut] if shortcut is not None else [])
    return []


def unroll_repeats(program: Program) -> Program:
    out = copy.deepcopy(program)

    def rewrite(stmts: list) -> None:
        i = 0
        while i < len(stmts):
            stmt = stmts[i]
            for child in _bodies(stmt):
                rewrite(child)
            if isinstance(stmt, Repeat) and isinstance(stmt.count, Lit):
                copies = [If(Lit(True), ([Let(stmt.var, Lit(k))] if stmt.var else []) + copy.deepcopy(stmt.body))
                          for k in range(stmt.count.v)]
                stmts[i:i + 1] = copies
                i += len(copies)
                continue
            i += 1

    rewrite(out.body)
    for blk in out.blocks:
        rewrite(blk.body)
    return out


def rename_labels(program: Program, suffix: str = "_r") -> Program:
    out = copy.deepcopy(program)

    def walk(node) -> None:
        # a computed label (a Template) is left as it is: its text is evaluated
        if isinstance(node, (Layers, Bind, Labelled)) and isinstance(node.label, str) and node.label:
            # a number label (`10:`) becomes a name (`r_10`): `10_r` is neither
            node.label = f"{suffix[1:]}_{node.label}" if node.label.isdigit() else node.label + suffix
        if isinstance(node, (list, tuple)):
            for n in node:
                walk(n)
        elif hasattr(node, "__dataclass_fields__") and not isinstance(node, (Arg, Lit, Name)):
            for f in node.__dataclass_fields__:
                walk(getattr(node, f))

    walk(out.body)
    for blk in out.blocks:
        walk(blk.body)
    return out


def with_expects(program: Program, shape_text: Callable[[int], list[str]]) -> Program:
    """After each network statement, `expect` the shape of the current tensor.

    `shape_text(node index)` gives the dims as archlang prints them; which node is
    current after each statement comes from the model (its layers are archlang's
    nodes one for one, as the differential test checks).
    """
    out = copy.deepcopy(program)
    body: list[Stmt] = []
    for stmt, current in zip(out.body, _currents(program)):
        body.append(stmt)
        if current is not None and not isinstance(stmt, Output):
            body.append(Expect([_Raw(d) for d in shape_text(current)]))
    out.body = body
    return out


def _currents(program: Program) -> list[int | None]:
    """The current tensor's node after each statement of the network body."""
    from collections import ChainMap

    from .model import Body, Run

    run = Run(program)
    consts: dict = {}
    program.constant_values = consts
    scratch = Body(run, ChainMap(consts), ChainMap(), None, None, set(), "network", "main")
    for let in program.constants:
        consts[let.name] = let.value.value(scratch)
    values = {p.name: program.settings.get(p.name, p.default.value(None)) for p in program.net_params}
    b = Body(run, ChainMap(values, consts), ChainMap({}), None, None, set(), "network", "main")
    currents = []
    for stmt in program.body:
        stmt.exec(b)
        currents.append(b.cur.node if b.cur is not None else None)
    return currents


class _Raw(Lit):
    """A dim written as archlang printed it (`(H - 1) // 2 + 1`)."""

    def text(self) -> str:
        return str(self.v)
