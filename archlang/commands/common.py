"""What every command shares: the spec arguments, loading, diagnostics output.

`add_spec_args` declares FILE, --network, --input, --set and the limit flags;
`load_network` turns them into a checked graph or prints the diagnostics. The
commands stay a few lines each.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

from ..diagnostics import Diagnostic, SpecError, UsageError, render_pretty, render_short, unique
from ..limits import DEFAULT_LIMITS, MAX_EXPRESSION_DEPTH, MAX_INT, Limits
from ..source import shown_name

MAX_DIGITS = len(str(MAX_INT))


def add_spec_args(parser: argparse.ArgumentParser, many_files: bool = False) -> None:
    if many_files:
        parser.add_argument("files", nargs="+", metavar="FILE", help=".arch spec files")
    else:
        parser.add_argument("file", metavar="FILE", help="an .arch spec file")
    parser.add_argument("--network", "-n", metavar="NAME", help="the network to use when a file holds several")
    parser.add_argument("--input", metavar="SHAPE", help="override the input shape, e.g. 3x224x224 or 3xHxW")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="K=V",
                        help="override a network parameter, e.g. --set classes=100 (repeatable)")
    limits = parser.add_argument_group("resource limits")
    for flag, field in Limits.FLAGS.items():
        limits.add_argument(flag, dest=field, type=int, metavar="N", default=None,
                            help=f"default {getattr(DEFAULT_LIMITS, field):,}")


def limits_from(args: argparse.Namespace) -> Limits:
    overrides = {f: getattr(args, f) for f in Limits.FLAGS.values() if getattr(args, f, None) is not None}
    for field, value in overrides.items():
        if value < 1:
            raise UsageError(f"--{field.replace('_', '-')} must be at least 1")
    try:
        return Limits(**{**DEFAULT_LIMITS.__dict__, **overrides})
    except ValueError as exc:  # over a ceiling
        raise UsageError(str(exc)) from None


def parse_sets(items: list[str]) -> dict[str, Any]:
    """`--set k=v` values, read as archlang literals: ints, floats, bools, lists, strings."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise UsageError(f"--set expects NAME=VALUE, got {item!r}")
        out[key] = parse_literal(raw.strip())
    return out


def parse_literal(raw: str, depth: int = 0) -> Any:
    if raw in ("true", "false"):
        return raw == "true"
    if re.fullmatch(r"[+-]?\d+", raw):
        if len(raw.lstrip("+-").lstrip("0")) > MAX_DIGITS:  # int() refuses 4,300 digits; E211 wants no more than 19
            raise UsageError(f"--set: {raw[:24]}... is too large (integers are at most 2**63 - 1)")
        return int(raw)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", raw):
        return float(raw)
    if raw.startswith("[") and raw.endswith("]"):
        if depth >= MAX_EXPRESSION_DEPTH:
            raise UsageError(f"--set: lists nested more than {MAX_EXPRESSION_DEPTH} deep")
        inner = raw[1:-1].strip()
        return [parse_literal(p.strip(), depth + 1) for p in inner.split(",")] if inner else []
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    return raw


def parse_input_shape(text: str | None) -> list[int | str] | None:
    """`3x224x224`, `3,224,224` or `[3, H, W]` -> [3, 224, 224] / [3, "H", "W"]."""
    if text is None:
        return None
    parts = [p for p in re.split(r"[x,\s\[\]]+", text.strip()) if p]
    if not parts:
        raise UsageError(f"--input expects a shape like 3x224x224, got {text!r}")
    shape: list[int | str] = []
    for p in parts:
        if p.isascii() and p.isdigit() and len(p.lstrip("0")) > MAX_DIGITS:
            raise UsageError(f"--input: {p[:24]}... is too large for a size")
        if p.isascii() and p.isdigit() and int(p) > 0:
            shape.append(int(p))
        elif re.fullmatch(r"[A-Z][A-Za-z0-9_]*", p):
            shape.append(p)
        else:
            raise UsageError(f"--input: {p!r} is not a positive size or a symbol (symbols start upper-case)")
    return shape


def color_enabled(stream=None) -> bool:
    stream = stream or sys.stderr
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def print_diagnostics(diags: list[Diagnostic], fmt: str = "pretty", stream=None) -> None:
    """`short`: one line each; anything else ("pretty", "text"): the excerpts, coloured on a tty."""
    stream = stream or sys.stderr
    if not diags:
        return
    if fmt == "short":
        print(render_short(diags), file=stream)
    else:
        print(render_pretty(diags, color=color_enabled(stream)), file=stream)


def load_program(path: str, args: argparse.Namespace):
    """Parse FILE and resolve its imports. Returns (program, diagnostics).

    The program is None when the file has syntax, import or name errors (its
    diagnostics say why). A file that cannot be read at all (missing, a
    directory, not UTF-8) is a usage error: there is nothing to locate.
    """
    from .. import load  # the front end; torch-free
    from ..source import SourceError

    try:
        program = load(Path(path), limits=limits_from(args))
    except SpecError as err:
        return None, list(err.diagnostics)
    except SourceError as err:
        raise UsageError(str(err)) from None
    return program, list(getattr(program, "diagnostics", []))


def choose_networks(program, path: str, name: str | None, all_of_them: bool = False) -> list[str]:
    """The networks a command works on: --network's, the only one, or (for check) all of them."""
    names = list(program.networks)
    if name is not None:
        if name not in names:
            raise UsageError(f"no network {name!r} in {shown_name(path)}; it holds: {', '.join(names) or 'none'}")
        return [name]
    if all_of_them:
        return names
    if len(names) > 1:
        raise UsageError(f"{shown_name(path)} holds several networks; choose one with --network: "
                         f"{', '.join(names)}")
    if not names:
        raise UsageError(f"{shown_name(path)} holds no network")
    return names


def elaborate(program, name: str, args: argparse.Namespace):
    """The graph of one network with --input and --set applied; it may carry errors."""
    return program.elaborate(name, input=parse_input_shape(args.input), **parse_sets(args.sets))


Outputs = Callable[[str], dict[str, Any]]   # network name -> {flag: the path it writes}


def load_network(args: argparse.Namespace, path: str | None = None, outputs: Outputs | None = None,
                 reads: dict[str, Any] | None = None):
    """Load FILE and elaborate the chosen network. Returns (graph, diagnostics).

    The graph is None when the spec could not be elaborated at all; it may
    carry errors (graph.ok is False), which the caller prints its own way.
    Several networks without --network is a usage error that lists them.
    A command that writes names its outputs (and the other files it reads):
    one that would write over the spec, an import or such a file is refused
    here, before the network is elaborated.
    """
    path = path or args.file
    program, load_diags = load_program(path, args)
    if program is None:
        return None, load_diags
    (name,) = choose_networks(program, path, args.network)
    if outputs is not None:
        refuse_overwriting(program, path, outputs(name), reads or {})
    graph = elaborate(program, name, args)
    return graph, unique(load_diags + list(graph.diagnostics))


def refuse_overwriting(program, path: str, outputs: dict[str, Any], reads: dict[str, Any]) -> None:
    """A usage error when an output is one of the files the command reads.

    The files: the spec, every file it imports (as the program read them),
    and those other flags name (`--weights`). Compared as files, not as
    strings (`fsutil.first_clash`): `./sub/../a.arch`, a symlink and a hard
    link to the spec are the spec.
    """
    from ..fsutil import first_clash, spec_inputs

    inputs = spec_inputs(path, getattr(program, "sources", {}))
    inputs.update({Path(p): f"the file {flag} reads" for flag, p in reads.items() if p is not None})
    for flag, output in outputs.items():
        clash = first_clash([output], inputs) if output is not None else None
        if clash is not None:
            raise UsageError(f"{flag} {shown_name(output)} would write over {inputs[clash[1]]}; "
                             f"choose another output")
