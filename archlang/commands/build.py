"""`archlang build FILE [-o model.py]`: standalone PyTorch source for one network.

Prints the source on stdout, or writes it atomically with -o (`-o -`: stdout;
a FIFO or a device is written into, never replaced). An output that is the
spec or a file it imports is refused before any work. The file needs torch
and nothing else. Exit 0: written; 1: the spec has errors (printed on
stderr, nothing written); 2: usage error.
"""
from __future__ import annotations

import argparse
import sys

from ..diagnostics import SpecError, UsageError
from ..fsutil import STDOUT, atomic_write
from ..source import shown_name
from .common import add_spec_args, load_network, print_diagnostics


def register(sub) -> None:
    parser = sub.add_parser(
        "build", help="standalone PyTorch source (one nn.Module class per block)",
        description="Write the network as PyTorch source that depends on torch only: one nn.Module "
                    "class per block, the network's class last, a straight-line forward with the "
                    "shape and the spec line of every step. Exit 0: ok; 1: the spec has errors; "
                    "2: usage error.")
    add_spec_args(parser)
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write here (atomically) instead of stdout; - is stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    graph, diags = load_network(args, outputs=lambda name: {"-o": args.output})
    if graph is None or not graph.ok:
        print_diagnostics(diags)
        return 1
    from ..backends import torch_source  # torch is imported only when something is built

    try:
        source = torch_source.generate(graph)
    except SpecError as err:  # a layer argument that depends on a symbolic size
        print_diagnostics(diags + err.diagnostics)
        return 1
    print_diagnostics(diags)  # warnings
    if args.output is None or args.output == STDOUT:
        sys.stdout.write(source)
        return 0
    _write(args.output, source)
    print(f"archlang: wrote {shown_name(args.output)} ({graph.name}, {graph.params_total:,} parameters)",
          file=sys.stderr)
    return 0


def _write(path: str, source: str) -> None:
    try:
        atomic_write(path, source)
    except OSError as exc:
        raise UsageError(f"cannot write {shown_name(path)}: {exc.strerror or exc}") from None
