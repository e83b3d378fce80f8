"""`archlang render FILE [-o graph.svg|png|pdf|dot] [--depth N] [--direction TB|LR]`.

Draws the network with Graphviz. A spec with errors still draws up to the
failure, the failing layer in red, and the command exits 1 after printing the
diagnostics. Without Graphviz's `dot` the DOT text is written instead, with a
note on how to install it. Torch is never imported.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..diagnostics import UsageError
from ..source import shown_name
from ..watch import add_flag as add_watch_flag
from .common import add_spec_args, load_network, print_diagnostics

DEFAULT_FORMAT = "svg"
MAX_DPI = 1200   # a LeNet at 1200 dpi is already 1,900 px wide; beyond, dot's memory grows fast


def register(sub: argparse._SubParsersAction) -> None:
    from ..backends.graphviz import DIRECTIONS, FORMATS, PNG_DPI

    parser = sub.add_parser(
        "render", help="draw the network with Graphviz (SVG, PNG, PDF or DOT)",
        description="Draw the network: blocks as clusters, layers with their arguments and parameters, "
                    "shapes on the edges. A spec with errors is drawn up to the failure, marked in red.")
    add_spec_args(parser)
    parser.add_argument("-o", "--output", metavar="FILE",
                        help=f"the drawing; its suffix picks the format ({', '.join('.' + f for f in FORMATS)}); "
                             f"default NETWORK.{DEFAULT_FORMAT}")
    parser.add_argument("--depth", type=int, metavar="N",
                        help="open blocks nested at most N deep; deeper ones are one box each, and "
                             "consecutive equal ones fold into one box marked 'x N' (default: all)")
    parser.add_argument("--direction", type=str.upper, choices=DIRECTIONS, default="TB",
                        help="top to bottom (TB, the default) or left to right (LR)")
    parser.add_argument("--dpi", type=int, metavar="N", default=None,
                        help=f"resolution of a PNG (default {PNG_DPI}; Graphviz's own 96 is hard to read)")
    add_watch_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..backends import graphviz as backend

    if args.depth is not None and args.depth < 0:
        raise UsageError("--depth must be 0 or more")
    if args.output is not None and backend.format_for(args.output) not in backend.FORMATS:
        raise UsageError(f"-o {args.output}: the suffix picks the format; use one of "
                         f"{', '.join('.' + f for f in backend.FORMATS)}")
    if args.dpi is not None and not 1 <= args.dpi <= MAX_DPI:
        raise UsageError(f"--dpi must be between 1 and {MAX_DPI}")
    if args.dpi is not None and backend.format_for(_target(args, "x")) != "png":
        raise UsageError("--dpi sets the resolution of a PNG; give -o NAME.png (SVG and PDF are vector drawings)")
    graph, diagnostics = load_network(args, outputs=lambda name: _outputs(args, backend, name))
    print_diagnostics(diagnostics)
    if graph is None:  # nothing elaborated: syntax or import errors
        return 1
    target = _target(args, graph.name)
    try:
        written = backend.write(graph, target, depth=args.depth, direction=args.direction, dpi=args.dpi)
    except OSError as exc:
        raise UsageError(f"cannot write {shown_name(target)}: {exc.strerror or exc}") from None
    except backend.RenderError as exc:
        raise UsageError(str(exc)) from None
    shown = shown_name(written.path)
    if written.drawn:
        print(f"wrote {shown} ({graph.name}, {len(graph.layers())} layers)")
    else:
        print(f"wrote {shown}: Graphviz's `dot` is not installed, so this is the DOT text; "
              f"{backend.INSTALL_HINT}, then run `dot -T{backend.format_for(target)} {shown} "
              f"-o {shown_name(target)}`", file=sys.stderr)
    return 0 if graph.ok else 1


def _target(args: argparse.Namespace, network: str) -> Path:
    return Path(args.output) if args.output else Path(f"{network}.{DEFAULT_FORMAT}")


def _outputs(args: argparse.Namespace, backend, network: str) -> dict[str, Path]:
    """The drawing, and the DOT text written instead of it where `dot` is missing."""
    target = _target(args, network)
    flag = "-o" if args.output else "the default output"
    return {flag: target, f"{flag} (its DOT fallback)": backend.fallback_path(target)}
