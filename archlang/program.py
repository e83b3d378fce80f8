"""Files, imports and the prelude: a spec as a whole, ready to elaborate.

`load` reads the main file and follows its imports (relative to the importing
file). A block name resolves in the file where it is written: that file's
blocks, those of the files it imports (and theirs), then the prelude's
(`prelude.arch`: dense, transition, inception). A user block of the same
name as a prelude block replaces it there, without a warning: the prelude
must never stop a user from naming a block. The user's files share one
namespace for the definitions themselves (a name defined twice is E207). Then come the checks that need
the whole program and no network: duplicate names (E207), recursion among
blocks (E208), the constants' values; and the warnings about the main
file: blocks no network uses (W501), parameters nothing reads (W502).

Networks are those of the main file; imported files contribute blocks and
constants only.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import syntax as ast
from .diagnostics import Collector, Diagnostic, SpecError, UsageError, suggest
from .elaborate import Definitions, elaborate_network
from .expressions import EvalContext, Evaluator, let_value
from .ir import Graph
from .limits import DEFAULT_LIMITS, Limits
from .naming import TENSOR_WORDS, hides_tensor_word
from .parser import parse
from .reporter import Reporter
from .source import Source, SourceError, Span, shown_name
from .values import Env

PRELUDE_PATH = Path(__file__).with_name("prelude.arch")
PRELUDE_NAME = "archlang/prelude.arch"
# Network parameters that state a training setting (`network ResNet20(classes = 10, lr = 0.05)`):
# `archlang train` reads them (its flag of that name overrides), so no layer need read them (no W502).
TRAINING_PARAMETERS = ("lr", "epochs", "batch_size", "optimizer", "momentum", "weight_decay")


@dataclass
class Program:
    """A loaded spec: its networks, by name in file order, and what loading found."""

    name: str                                   # the main file as shown in diagnostics
    definitions: Definitions
    network_defs: dict[str, ast.NetworkDef]
    limits: Limits
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[Path, str] = field(default_factory=dict)   # resolved path -> text compiled; main file first

    @property
    def networks(self) -> list[str]:
        return list(self.network_defs)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def elaborate(self, name: str | None = None, /, input: list | None = None, **params: Any) -> Graph:
        """The checked graph of one network; never raises: errors are in `graph.diagnostics`.

        `name` is positional-only, so that a network parameter may be called
        `name` (or `self`): `--set name=3` reaches `params`.
        """
        chosen = self._choose(name)
        if isinstance(chosen, Graph):
            return chosen
        return elaborate_network(self.definitions, chosen, params, input, self.limits)

    def network(self, name: str | None = None, /, input: list | None = None, **params: Any) -> Graph:
        """Like `elaborate`, but raises SpecError when the network has errors."""
        graph = self.elaborate(name, input, **params)
        if not graph.ok:
            raise SpecError(graph.diagnostics)
        return graph

    def _choose(self, name: str | None) -> "ast.NetworkDef | Graph":
        names = self.networks
        if name is None and len(names) == 1:
            return self.network_defs[names[0]]
        if name is not None and name in self.network_defs:
            return self.network_defs[name]
        if name is None:
            message = (f"{self.name} holds several networks; name one of {', '.join(names)}" if names
                       else f"{self.name} holds no network")
        else:
            close = suggest(name, names)
            message = f"no network {name} in {self.name}" + (f"; did you mean {close}?" if close else
                                                              f"; it holds {', '.join(names) or 'none'}")
        graph = Graph(name or "?", {})
        collector = Collector()
        collector.error("E216", message)
        graph.diagnostics = collector.items
        return graph


def load(path_or_text: "str | os.PathLike", limits: Limits | None = None, *, text: str | None = None) -> Program:
    """Parse a spec and resolve its imports; SpecError when that finds errors.

    A Path, or a str naming an existing file, is read from disk; any other
    str is the spec's text (shown as "<string>"). A main file that cannot be
    read is a UsageError: there is nothing to point at. `text`, with a path,
    is that file's text as an editor holds it (unsaved): the path names it
    and places its imports, the text is compiled.
    """
    program = build(path_or_text, limits, text=text)
    if not program.ok:
        raise SpecError(program.diagnostics)
    return program


def build(path_or_text: "str | os.PathLike", limits: Limits | None = None, *, text: str | None = None) -> Program:
    """`load` without the raise: a program that may carry errors (no network of it should then be elaborated)."""
    limits = limits or DEFAULT_LIMITS
    collector = Collector()
    loader = _Loader(limits, collector)
    main = loader.main(path_or_text, text)
    program = Program(main.name if main else str(path_or_text), Definitions(), {}, limits)
    if main is not None and not collector.has_errors:
        _Linker(loader, main, program, collector).link()
    program.diagnostics = collector.sorted()
    program.sources = loader.sources
    return program


# -- reading files ------------------------------------------------------------------------------
@dataclass
class _File:
    name: str                # as shown in diagnostics
    path: Path | None        # resolved, for files on disk
    tree: ast.File
    main: bool = False
    prelude: bool = False
    imports: list[Path] = field(default_factory=list)   # the files it imports, resolved

    @property
    def source(self) -> Source:
        return self.tree.span.source


_PRELUDE_CACHE: dict[str, ast.File] = {}


class _Loader:
    """Reads the main file and its imports, depth first; each file once."""

    def __init__(self, limits: Limits, collector: Collector) -> None:
        self.limits = limits
        self.collector = collector
        self.files: list[_File] = []        # imports before their importer
        self.by_path: dict[Path, _File] = {}
        self.sources: dict[Path, str] = {}  # the texts parsed from disk, in the order read
        self.done: set[Path] = set()
        self.stack: list[Path] = []          # the chain of imports being read
        self.stack_names: list[str] = []

    def main(self, path_or_text, text: str | None = None) -> _File | None:
        self._prelude()
        source = self._given_source(str(path_or_text), text) if text is not None else self._main_source(path_or_text)
        if source is None:
            return None
        path = Path(path_or_text).resolve() if source.name != "<string>" else None
        return self._parse(source, path, main=True)

    def _main_source(self, path_or_text) -> Source | None:
        if isinstance(path_or_text, os.PathLike) or _names_a_file(path_or_text):
            path = Path(path_or_text)
            try:
                size = path.stat().st_size
            except OSError:
                size = 0
            why = _not_a_file(path)
            if why not in (None, "is a directory", "no such file"):  # /dev/zero, a pipe (never ends), a bad name
                raise UsageError(f"{shown_name(path_or_text)}: {why}")
            if size > self.limits.max_file_bytes and path.is_file():
                source = Source(str(path_or_text), _head_of(path))
                self._too_large(source.span(0, 0), str(path_or_text), size)
                return None
            try:
                return Source.from_path(path, display=str(path_or_text))
            except SourceError as exc:
                raise UsageError(str(exc)) from None
        text = str(path_or_text)
        if "\n" not in text and text.strip().endswith(".arch"):
            raise UsageError(f"{text}: no such file")
        size = len(text.encode("utf-8"))
        source = Source("<string>", text)
        if size > self.limits.max_file_bytes:
            self._too_large(source.span(0, 0), "<string>", size)
            return None
        return source

    def _given_source(self, name: str, text: str) -> Source | None:
        """A file's text given with its path (an editor's buffer), not read from disk."""
        source = Source(name, text)
        size = len(text.encode("utf-8"))
        if size > self.limits.max_file_bytes:
            self._too_large(source.span(0, 0), name, size)
            return None
        return source

    def _too_large(self, span: Span, name: str, size: int) -> None:
        self.collector.error("E405", f"{name} is {size:,} bytes, more than the limit of "
                                     f"{self.limits.max_file_bytes:,}", span,
                             help="raise the bound with --max-file-bytes")

    def _prelude(self) -> None:
        tree = _PRELUDE_CACHE.get("tree")
        if tree is None:
            collector = Collector()
            tree = parse(Source.from_path(PRELUDE_PATH, display=PRELUDE_NAME), collector)
            assert tree is not None, collector.items  # the prelude ships with the compiler
            _PRELUDE_CACHE["tree"] = tree
        self.files.append(_File(PRELUDE_NAME, PRELUDE_PATH, tree, prelude=True))

    def _parse(self, source: Source, path: Path | None, main: bool = False) -> _File | None:
        tree = parse(source, self.collector)
        if tree is None:
            return None
        file = _File(source.name, path, tree, main=main)
        if path is not None:
            self.sources[path] = source.text
            self.stack.append(path)
            self.stack_names.append(source.name)
        try:
            for item in tree.items:
                if isinstance(item, ast.Import):
                    self._import(item, file)
        finally:
            if path is not None:
                self.stack.pop()
                self.stack_names.pop()
        self.files.append(file)
        if path is not None:
            self.done.add(path)
            self.by_path[path] = file
        return file

    def _import(self, imp: ast.Import, importer: _File) -> None:
        base = importer.path.parent if importer.path is not None else Path.cwd()
        try:
            target = (base / imp.path.value).resolve()
        except (OSError, ValueError, RuntimeError) as exc:  # a NUL byte; a symlink loop (RuntimeError before 3.13)
            self.collector.error("E205", f"cannot import {imp.path.value!r}: not a usable path ({exc})",
                                 imp.path.span)
            return
        shown = os.path.normpath(os.path.join(os.path.dirname(importer.name), imp.path.value)) \
            if importer.path is not None else imp.path.value
        span = imp.path.span
        if target in self.stack:
            chain = self.stack_names[self.stack.index(target):] + [shown]
            self.collector.error("E206", f"import cycle: {' -> '.join(chain)}", span,
                                 label="imports a file that is still being read",
                                 help="move what both files need into a third file that imports neither")
            return
        importer.imports.append(target)
        if target in self.done:
            return
        if len(self.stack) > self.limits.max_import_depth:
            self.collector.error("E406", f"imports nested more than {self.limits.max_import_depth} deep",
                                 span, notes=[" -> ".join(self.stack_names + [shown])],
                                 help="raise the bound with --max-import-depth")
            return
        why = _not_a_file(target)
        if why is not None:
            self.collector.error("E205", f"cannot import {imp.path.value}: {why}", span,
                                 label=f"looked for {target}")
            return
        size = target.stat().st_size
        if size > self.limits.max_file_bytes:
            self._too_large(span, shown, size)
            return
        try:
            source = Source.from_path(target, display=shown)
        except SourceError as exc:
            self.collector.error("E205", f"cannot import {imp.path.value}: {exc}", span)
            return
        self._parse(source, target)


def _not_a_file(path: Path) -> str | None:
    """Why `path` is not a regular file to read, or None. Never raises: a name too
    long for the file system is a reason like any other."""
    try:
        if path.is_file():
            return None
        return "is a directory" if path.is_dir() else "not a regular file" if path.exists() else "no such file"
    except OSError as exc:
        return exc.strerror or str(exc)


def _names_a_file(text: str) -> bool:
    if "\n" in text or "{" in text:
        return False
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def _head_of(path: Path) -> str:
    """The start of a file too large to read, for the diagnostic's excerpt."""
    with open(path, "rb") as f:
        return f.read(4096).decode("utf-8", errors="replace")


# -- linking: names across files, recursion, constants, warnings --------------------------------
class _Linker:
    """Names across files. A block name resolves in the file where it is written: that
    file's blocks and those of the files it imports (through their imports too), then
    the prelude's. So a main file's own `dense` replaces the prelude's in the main
    file, and a library that calls `dense` still gets the prelude's."""

    def __init__(self, loader: _Loader, main: _File, program: Program, collector: Collector) -> None:
        self.files = loader.files
        self.by_path = loader.by_path
        self.main = main
        self.program = program
        self.collector = collector
        self.report = Reporter(collector)
        self.user_blocks: dict[str, tuple[ast.BlockDef, _File]] = {}   # one namespace for the user's files
        self.prelude_blocks: dict[str, ast.BlockDef] = {}

    def link(self) -> None:
        defs = self.program.definitions
        for file in self.files:
            for item in file.tree.items:
                if isinstance(item, ast.BlockDef):
                    self._block(item, file)
                elif isinstance(item, ast.Let):
                    self._constant(item, defs)
                elif isinstance(item, ast.NetworkDef) and file.main:
                    self._network(item)
        for file in self.files:
            defs.visible[file.source] = self._visible_in(file)
        defs.main = self.main.source
        for item in self.main.tree.items:
            if isinstance(item, (ast.BlockDef, ast.NetworkDef)):
                self._duplicate_params(item)
        calls = {id(block): _calls(block.body, defs) for view in defs.visible.values() for block in view.values()}
        self._recursion(calls)
        self._unused_blocks(calls)
        self._unused_params()

    def _block(self, block: ast.BlockDef, file: _File) -> None:
        name = block.name.name
        if file.prelude:
            self.prelude_blocks[name] = block
            return
        first = self.user_blocks.get(name)
        if first is not None:
            self.collector.error("E207", f"block {name} is defined twice", block.name.span,
                                 label="defined again here", related=[(first[0].name.span, "first defined here")])
            return
        self.user_blocks[name] = (block, file)

    def _visible_in(self, file: _File) -> dict[str, ast.BlockDef]:
        """The blocks a call written in `file` can name: its own and its imports' over the prelude's."""
        if file.prelude:
            return dict(self.prelude_blocks)
        reach: set[int] = set()
        todo = [file]
        while todo:
            current = todo.pop()
            if id(current) in reach:
                continue
            reach.add(id(current))
            todo.extend(self.by_path[p] for p in current.imports if p in self.by_path)
        view = dict(self.prelude_blocks)
        view.update({name: block for name, (block, owner) in self.user_blocks.items() if id(owner) in reach})
        return view

    def _constant(self, let: ast.Let, defs: Definitions) -> None:
        name = let.name.name
        if hides_tensor_word(let.name, "constant", self.collector):
            return
        if name in defs.constants:
            self.collector.error("E207", f"constant {name} is defined twice", let.name.span, label="defined again here")
            return
        env = Env(None, defs.constants)  # a function sees the constants, its own name included
        value = let_value(let, env, Evaluator(), EvalContext(Env(None, dict(defs.constants)), self.report))
        defs.constants[name] = value

    def _network(self, net: ast.NetworkDef) -> None:
        networks = self.program.network_defs
        name = net.name.name
        if name in networks:
            self.collector.error("E207", f"network {name} is defined twice", net.name.span, label="defined again here",
                                 related=[(networks[name].name.span, "first defined here")])
            return
        networks[name] = net

    def _duplicate_params(self, item) -> None:
        seen: dict[str, Span] = {}
        for param in item.params:
            hides_tensor_word(param.name, "parameter", self.collector)
            if param.name.name in seen:
                self.collector.error("E207", f"parameter {param.name.name} of {item.name.name} is named twice",
                                     param.name.span, label="named again here")
            seen.setdefault(param.name.name, param.name.span)

    # -- recursion -------------------------------------------------------------------------------
    def _recursion(self, calls: dict[int, list[tuple[ast.BlockDef, Span]]]) -> None:
        """E208 once per cycle of block calls, at the call in the cycle's first-defined block.

        A depth-first search with its own stack: a chain of thousands of
        blocks, each calling the next, is no recursion, and must not make one.
        Blocks are told apart by identity: a main file's `dense` and the
        prelude's are two blocks.
        """
        blocks = {id(b): b for view in self.program.definitions.visible.values() for b in view.values()}
        order = [i for i in blocks]
        position = {i: n for n, i in enumerate(order)}
        state: dict[int, int] = {}   # 1: on the stack, 2: done
        reported: set[frozenset] = set()
        for root in order:
            if root in state:
                continue
            state[root] = 1
            stack: list[int] = [root]
            todo = [iter(calls[root])]  # per block on the stack, the calls still to follow
            while todo:
                step = next(todo[-1], None)
                if step is None:
                    state[stack.pop()] = 2
                    todo.pop()
                    continue
                callee = id(step[0])
                if state.get(callee) == 1:
                    cycle = stack[stack.index(callee):]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        self._report_cycle([blocks[i] for i in cycle], calls, position)
                elif callee not in state:
                    state[callee] = 1
                    stack.append(callee)
                    todo.append(iter(calls[callee]))

    def _report_cycle(self, cycle: list[ast.BlockDef], calls: dict, position: dict[int, int]) -> None:
        start = min(range(len(cycle)), key=lambda i: position[id(cycle[i])])
        cycle = cycle[start:] + cycle[:start]
        first, nxt = cycle[0], cycle[1 % len(cycle)]
        span = next(s for callee, s in calls[id(first)] if callee is nxt)
        chain = " -> ".join([b.name.name for b in cycle] + [first.name.name])
        name = first.name.name
        message = f"block {name} calls itself" if len(cycle) == 1 else f"blocks call each other without end: {chain}"
        self.collector.error("E208", message, span, label="this call recurses", notes=[chain] if len(cycle) == 1 else [],
                             help="a block cannot call itself, even through others; use repeat for repetition")

    # -- warnings about the main file ---------------------------------------------------------------
    def _unused_blocks(self, calls: dict[int, list[tuple[ast.BlockDef, Span]]]) -> None:
        networks = self.program.network_defs
        if not networks:
            return  # a library: its blocks are for others
        defs = self.program.definitions
        used: set[int] = set()
        todo = [block for net in networks.values() for block, _ in _calls(net.body, defs)]
        while todo:
            block = todo.pop()
            if id(block) not in used:
                used.add(id(block))
                todo.extend(callee for callee, _ in calls[id(block)])
        for name, (block, owner) in self.user_blocks.items():
            if owner is self.main and id(block) not in used:
                self.collector.warning("W501", f"block {name} is never used", block.name.span,
                                       label="no network calls it", help="call it, or remove it")

    def _unused_params(self) -> None:
        for item in self.main.tree.items:
            if not isinstance(item, (ast.BlockDef, ast.NetworkDef)):
                continue
            read = {n.id for n in ast.walk(item) if isinstance(n, ast.Name)}
            kind = "block" if isinstance(item, ast.BlockDef) else "network"
            defined = _defined_names(item) | set(self.program.definitions.constants) | {"in", "cur", "_"}
            undefined = read - defined
            for param in item.params:
                # `chanels` for `channels` is one mistake: E209 says so, with a did-you-mean.
                misspelt = any(suggest(name, [param.name.name]) for name in undefined)
                setting = kind == "network" and param.name.name in TRAINING_PARAMETERS   # archlang train reads it
                if param.name.name not in read and not misspelt and param.name.name not in TENSOR_WORDS \
                        and not setting:
                    self.collector.warning("W502", f"parameter {param.name.name} of {kind} {item.name.name} is "
                                                   f"never used", param.name.span, label="nothing reads it")


def _calls(body: ast.Body, defs: Definitions) -> list[tuple[ast.BlockDef, Span]]:
    """The block calls in a body, in source order: (the block called, the call's span)."""
    found = ((defs.block(n.callee.name, n.span), n.span) for n in ast.walk_layers(body) if isinstance(n, ast.Call))
    return [(block, span) for block, span in found if block is not None]


def _defined_names(item) -> set[str]:
    """Names a block or network defines for its body: parameters, `let`s, loop variables."""
    names = {p.name.name for p in item.params}
    for node in ast.walk_layers(item.body):
        if isinstance(node, ast.Let):
            names.add(node.name.name)
            names.update(p.name.name for p in node.params or ())
        elif isinstance(node, ast.Repeat) and node.var is not None:
            names.add(node.var.name)
    return names
