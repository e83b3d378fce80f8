"""`archlang diff A.arch [B.arch]`: what changes from one network to another.

The two sides: two files; or two networks of one file (`-n A -n B`); or one
network with a `--set` key given twice (`--set width=32 --set width=64`: the
first value for A, the second for B; a key given once applies to both).
Prints per-layer and total deltas of shape, params, MACs and saved-activation
memory (archlang/diff.py). Exit 0: compared; 1: a spec has errors; 2: usage.
"""
from __future__ import annotations

import argparse

from .. import diff
from ..diagnostics import UsageError
from ..limits import DEFAULT_LIMITS, Limits
from ..source import shown_name
from .common import (choose_networks, load_program, parse_input_shape, parse_sets, print_diagnostics)


def register(sub) -> None:
    parser = sub.add_parser(
        "diff", help="per-layer and total deltas of shape, params, MACs and memory between two networks",
        description="Compare two networks: two files, two networks of one file (-n A -n B), or one network "
                    "with a --set key given twice (the first value for A, the second for B). Rows are "
                    "aligned by name and position. Exit 0: compared; 1: a spec has errors; 2: usage error.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="one or two .arch spec files")
    parser.add_argument("--network", "-n", dest="networks", action="append", default=[], metavar="NAME",
                        help="the network; given twice: A's, then B's")
    parser.add_argument("--input", metavar="SHAPE", help="override both input shapes, e.g. 3x224x224")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="K=V",
                        help="override a network parameter on both sides; a key given twice: A's value, "
                             "then B's")
    parser.add_argument("--depth", "-d", type=int, metavar="N", default=None,
                        help="compare blocks nested deeper than N as their block row (0: top level only)")
    parser.add_argument("--format", "-f", choices=diff.FORMATS, default="text", help="text (default), markdown "
                        "or json")
    parser.add_argument("--all", "-a", dest="every", action="store_true", help="show the rows that do not "
                        "change too")
    parser.add_argument("--batch", "-b", type=int, metavar="B", default=1,
                        help="batch size of the training memory estimate (default 1)")
    limits = parser.add_argument_group("resource limits")
    for flag, field in Limits.FLAGS.items():
        limits.add_argument(flag, dest=field, type=int, metavar="N", default=None,
                            help=f"default {getattr(DEFAULT_LIMITS, field):,}")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if len(args.files) > 2:
        raise UsageError("diff compares two networks: give one or two FILEs")
    if args.depth is not None and args.depth < 0:
        raise UsageError("--depth must be 0 or more")
    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    sets_a, sets_b = split_sets(args.sets)
    path_a, path_b = args.files[0], args.files[-1]
    programs = {}
    for path in dict.fromkeys(args.files):
        program, diags = load_program(path, args)
        if program is None:
            print_diagnostics(diags)
            return 1
        programs[path] = program
    name_a, name_b = _networks(args, programs, path_a, path_b)
    if path_a == path_b and name_a == name_b and sets_a == sets_b:
        raise UsageError("nothing to compare: give a second FILE, a second --network, or a --set key twice "
                         "(--set width=32 --set width=64)")
    shape = parse_input_shape(args.input)
    sides = []
    for path, name, sets in ((path_a, name_a, sets_a), (path_b, name_b, sets_b)):
        graph = programs[path].elaborate(name, input=shape, **sets)
        if not graph.ok:
            print_diagnostics(graph.diagnostics)
            return 1
        sides.append(diff.Side.of(_title(path, name, sets, args.sets), graph, args.batch, args.depth))
    print(diff.render(diff.compare(*sides), args.format, args.every))
    return 0


def split_sets(items: list[str]) -> tuple[dict, dict]:
    """`--set` values: a key given once goes to both sides, a key given twice A's then B's."""
    a: dict = {}
    b: dict = {}
    seen: dict[str, int] = {}
    for item in items:
        ((key, value),) = parse_sets([item]).items()
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 2:
            raise UsageError(f"--set {key} is given {seen[key]} times; diff takes it once (both sides) or twice "
                             f"(A's value, then B's)")
        if seen[key] == 1:
            a[key] = b[key] = value
        else:
            b[key] = value
    return a, b


def _networks(args, programs: dict, path_a: str, path_b: str) -> tuple[str, str]:
    names = args.networks
    if len(names) > 2:
        raise UsageError("--network is given at most twice: A's network, then B's")
    if len(names) == 2:
        (a,) = choose_networks(programs[path_a], path_a, names[0])
        (b,) = choose_networks(programs[path_b], path_b, names[1])
        return a, b
    chosen = names[0] if names else None
    (a,) = choose_networks(programs[path_a], path_a, chosen)
    (b,) = choose_networks(programs[path_b], path_b, chosen)
    return a, b


def _title(path: str, name: str, sets: dict, items: list[str]) -> str:
    """`specs/x.arch:Net`, with the --set values that differ between the sides."""
    split = [k for k in sets if sum(i.partition("=")[0].strip() == k for i in items) == 2]
    shown = ", ".join(f"{k}={sets[k]!r}" for k in split)
    return f"{shown_name(path)}:{name}" + (f" ({shown})" if shown else "")
