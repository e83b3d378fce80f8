"""`archlang shapes FILE`: the layer table of one network, then its totals.

Prints the table (or json, csv, markdown) on stdout. On a broken spec the
table still comes, with the failed layer and the ones after it marked, and
the errors follow on stderr: exit 1.
"""
from __future__ import annotations

import argparse
import sys

from ..backends import table
from ..diagnostics import UsageError
from ..watch import add_flag as add_watch_flag
from .common import add_spec_args, load_network, print_diagnostics


def register(sub) -> None:
    parser = sub.add_parser(
        "shapes", help="the layer table: output shape, params and MACs of every layer",
        description="Print name, op, output shape, parameters and multiply-accumulates of every layer "
                    "of one network, then the totals. Exit 0: ok; 1: the spec has errors "
                    "(the table up to the failure is printed first); 2: usage error.")
    add_spec_args(parser)
    parser.add_argument("--depth", "-d", type=int, metavar="N", default=None,
                        help="fold blocks nested deeper than N into their block row (0: top level only)")
    parser.add_argument("--format", "-f", choices=table.FORMATS, default="table",
                        help="table (default), json, csv or markdown")
    add_watch_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.depth is not None and args.depth < 0:
        raise UsageError("--depth must be 0 or more")
    graph, diags = load_network(args)
    if graph is not None:
        print(table.render(graph, args.format, depth=args.depth))
        sys.stdout.flush()  # the table first, then the errors that explain its marks
    print_diagnostics(diags)
    return 0 if graph is not None and graph.ok else 1
