"""`archlang check FILE...`: parse and check every network; print diagnostics and a summary.

Every file is loaded and every network elaborated (or only --network's), so
one run reports every independent error. A one-line summary per clean network
goes to stdout, then the diagnostics to stderr (pretty, coloured on a tty, or
`short`, one line each); `--format json` prints one object on stdout instead.
Exit 0 when nothing is wrong, 1 when a spec has errors, 2 when a file cannot
be read or an argument is wrong (checked files still report).
"""
from __future__ import annotations

import argparse
import sys

from ..diagnostics import Diagnostic, UsageError, render_json, unique
from ..source import shown_name
from ..watch import add_flag as add_watch_flag
from .common import add_spec_args, choose_networks, elaborate, load_program, print_diagnostics

FORMATS = ("text", "short", "json")


def register(sub) -> None:
    parser = sub.add_parser(
        "check", help="parse and check specs: diagnostics, and a summary per network",
        description="Parse and check every network of each FILE (or only --network's). "
                    "Exit 0: no errors; 1: a spec has errors; 2: usage error or unreadable file.")
    add_spec_args(parser, many_files=True)
    parser.add_argument("--format", "-f", choices=FORMATS, default="text",
                        help="text (default; coloured on a terminal), short (one line per diagnostic) "
                             "or json (one object on stdout)")
    add_watch_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    diags: list[Diagnostic] = []
    summaries: list[str] = []
    problems: list[str] = []  # usage errors: unreadable files, unknown --network
    for path in args.files:
        try:
            summaries.extend(_check_file(path, args, diags))
        except UsageError as err:
            problems.append(str(err))
    diags = unique(diags)
    _report(args.format, diags, summaries, problems)
    if problems:
        return 2
    return 1 if any(d.is_error for d in diags) else 0


def _check_file(path: str, args: argparse.Namespace, diags: list[Diagnostic]) -> list[str]:
    """Check one file, appending its diagnostics; returns the summaries of its clean networks."""
    program, load_diags = load_program(path, args)
    diags.extend(load_diags)
    if program is None:
        return []
    names = choose_networks(program, path, args.network, all_of_them=True)
    if not names:
        return [f"{shown_name(path)}: no network (blocks only)"]
    summaries = []
    for name in names:
        graph = elaborate(program, name, args)
        diags.extend(graph.diagnostics)
        if graph.ok:
            summaries.append(f"{shown_name(path)}: {summary(graph)}")
    return summaries


def summary(graph) -> str:
    """`LeNet: [1, 28, 28] -> [10], 61.7K params, 429.5K MACs`."""
    from ..backends.table import human, smallest_input_text
    from ..shapes import format_shape

    ins = _ports(graph, graph.inputs, format_shape)
    outs = _ports(graph, graph.outputs, format_shape)
    text = f"{graph.name}: {ins} -> {outs}, {human(graph.params_total)} params, {human(graph.macs_total)} MACs"
    if graph.symbols and graph.smallest_input is not None:
        # MACs depend on the sizes; the passes count them at the smallest valid input.
        text += " at the smallest input " + smallest_input_text(graph)
    return text


def _ports(graph, ports, format_shape) -> str:
    """`[10]`; `(a: [10], b: [5])`; a dict's keys (`{out: [21, H, W]}`); `aux ... if training`."""
    shapes = [format_shape(graph.nodes[p.node].shape) for p in ports]
    if len(ports) == 1 and ports[0].key is None:
        return shapes[0]
    items = [f"{p.key or p.name}: {s}" + (" if training" if p.training else "") for p, s in zip(ports, shapes)]
    dict_like = any(p.key is not None for p in ports)
    return ("{" if dict_like else "(") + ", ".join(items) + ("}" if dict_like else ")")


def _report(fmt: str, diags: list[Diagnostic], summaries: list[str], problems: list[str]) -> None:
    if fmt == "json":
        print(render_json(diags))
    else:
        # The clean networks first, so the diagnostics and their count end the output.
        if summaries:
            print("\n".join(summaries))
            sys.stdout.flush()
        print_diagnostics(diags, "short" if fmt == "short" else "pretty")
    for problem in problems:
        print(problem if problem.startswith("archlang") else f"archlang: {problem}", file=sys.stderr)
