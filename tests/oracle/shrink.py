"""A disagreement made small: delete what does not matter, keep what still disagrees.

`shrink(case, kind, workdir)` edits the program tree greedily (delete a
statement or a layer, keep one branch of an `if`, unroll a `repeat` into
its body, drop a path, a shortcut, a block nobody calls) and keeps an edit
when the check still reports a disagreement of the same kind. It stops
when no edit keeps it, or after `budget` checks. The result is a `Case`
whose `describe()` is the spec to paste into a regression test.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable, Iterator

from .differential import check
from .generator import Case
from .model import Bind, If, Input, Layers, MergeStmt, Paths, Program, Repeat, Residual, execute


def rebuild(case: Case, program: Program) -> Case:
    """The case for an edited program: its text and what the model now says it means."""
    program = copy.deepcopy(program)
    program.drop_unused_blocks()
    outcome = execute(program)
    symbolic = execute(program, symbolic=True) if case.symbolic is not None else None
    return Case(case.seed, program, program.files(), program.net_name, case.input, dict(program.settings), outcome,
                symbolic, case.fault)


def shrink(case: Case, kind: str, workdir: Path, budget: int = 300, **paths) -> Case:
    """The smallest case this greedy search finds that still shows a disagreement of `kind`."""
    checks = 0

    def still_fails(candidate: Case) -> bool:
        nonlocal checks
        checks += 1
        where = workdir / f"shrink{checks}"
        where.mkdir(parents=True, exist_ok=True)
        return any(d.kind == kind for d in check(candidate, where, **paths))

    best = case
    progress = True
    while progress and checks < budget:
        progress = False
        for edit in _edits(best.program):
            if checks >= budget:
                break
            try:
                candidate = rebuild(best, edit())
            except Exception:  # noqa: BLE001 - an edit the model cannot run: not a smaller case
                continue
            if still_fails(candidate):
                best, progress = candidate, True
                break
    return best


def _edits(program: Program) -> Iterator[Callable[[], Program]]:
    """Each edit, as a function returning an edited copy (edits never touch the inputs)."""
    for i in range(len(program.constants)):
        yield _change(program, lambda p, i=i: p.constants.pop(i))
    for i in range(len(program.net_params)):
        yield _change(program, lambda p, i=i: p.settings.pop(p.net_params.pop(i).name, None))
    if program.settings:
        yield _change(program, lambda p: p.settings.clear())
    lists = list(_lists(program))
    for index, (path, items) in enumerate(lists):
        for i, item in enumerate(items):
            if isinstance(item, Input):
                continue
            yield _editor(program, index, lambda xs, i=i: xs.pop(i))
            if isinstance(item, Repeat):
                yield _editor(program, index, lambda xs, i=i: xs.__setitem__(slice(i, i + 1), xs[i].body))
            if isinstance(item, If):
                yield _editor(program, index, lambda xs, i=i: xs.__setitem__(slice(i, i + 1), xs[i].then))
                if isinstance(item.orelse, list):
                    yield _editor(program, index, lambda xs, i=i: xs.__setitem__(slice(i, i + 1), xs[i].orelse))
            if isinstance(item, Paths) and len(item.paths) > 1:
                for p in range(len(item.paths)):
                    yield _editor(program, index, lambda xs, i=i, p=p: xs[i].paths.pop(p))
            if isinstance(item, Residual) and item.shortcut is not None:
                yield _editor(program, index, lambda xs, i=i: setattr(xs[i], "shortcut", None))


def _change(program: Program, change: Callable[[Program], object]) -> Callable[[], Program]:
    def apply() -> Program:
        copied = copy.deepcopy(program)
        change(copied)
        return copied
    return apply


def _editor(program: Program, index: int, change: Callable[[list], object]) -> Callable[[], Program]:
    def apply() -> Program:
        copied = copy.deepcopy(program)
        change(list(_lists(copied))[index][1])
        return copied
    return apply


def _lists(program: Program) -> Iterator[tuple[str, list]]:
    """Every list of statements or layers in the tree, in a fixed order."""
    def walk(node, path: str):
        if isinstance(node, list):
            if node and all(hasattr(n, "exec") for n in node):
                yield path, node
            for i, n in enumerate(node):
                yield from walk(n, f"{path}[{i}]")
        elif isinstance(node, tuple):
            for i, n in enumerate(node):
                yield from walk(n, f"{path}({i})")
        elif isinstance(node, (Layers, Bind, MergeStmt, Repeat, If, Paths, Residual)):
            for f in node.__dataclass_fields__:
                yield from walk(getattr(node, f), f"{path}.{f}")

    yield from walk(program.body, "body")
    for blk in program.blocks:
        yield from walk(blk.body, f"block {blk.name}")
