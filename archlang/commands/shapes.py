"""`archlang shapes FILE`: the layer table of one network, then its totals.

Prints the table (or json, csv, markdown) on stdout. On a broken spec the
table still comes, with the failed layer and the ones after it marked, and
the errors follow on stderr: exit 1. `--columns` adds FLOPs, receptive
fields and strides; `--train` the memory one training step needs.
"""
from __future__ import annotations

import argparse
import sys

from ..backends import table
from ..diagnostics import UsageError, suggest
from ..memory import DTYPES, OPTIMIZER_STATES, parse_bytes
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
    parser.add_argument("--columns", "-c", metavar="LIST", default="",
                        help=f"more columns, comma-separated: {', '.join(table.OPTIONAL)} "
                             "(rf: receptive field; stride: cumulative stride; saved: with --train)")
    train = parser.add_argument_group("training memory")
    train.add_argument("--train", action="store_true",
                       help="add the memory a training step needs: each layer's saved activations, "
                            "params, grads, optimizer state, peak")
    train.add_argument("--batch", "-b", type=int, metavar="B", default=None, help="batch size (default 1)")
    train.add_argument("--optimizer", choices=tuple(OPTIMIZER_STATES), default=None,
                       help="sgd (default), sgd-momentum, adam or adamw")
    train.add_argument("--dtype", choices=tuple(DTYPES), default=None,
                       help="fp32 (default); bf16 or fp16: mixed precision as torch.autocast runs it")
    train.add_argument("--budget", metavar="SIZE", default=None,
                       help="memory to fit in, e.g. 24GB (decimal) or 24GiB: the footer says whether it fits")
    add_watch_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.depth is not None and args.depth < 0:
        raise UsageError("--depth must be 0 or more")
    columns = parse_columns(args.columns)
    train = training_settings(args)
    if "saved" in columns and train is None:
        raise UsageError("the saved column needs --train")
    budget = _budget(args.budget)
    graph, diags = load_network(args)
    if graph is not None:
        extras = table.Extras.of(graph, columns, train, budget)
        print(table.render(graph, args.format, depth=args.depth, extras=extras))
        sys.stdout.flush()  # the table first, then the errors that explain its marks
    print_diagnostics(diags)
    return 0 if graph is not None and graph.ok else 1


def parse_columns(text: str) -> tuple[str, ...]:
    """`rf,stride` -> ("rf", "stride"); a usage error, with a did-you-mean, for an unknown one."""
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    for name in names:
        if name not in table.OPTIONAL:
            close = suggest(name, table.OPTIONAL)
            hint = f" (did you mean {close!r}?)" if close else ""
            raise UsageError(f"--columns: no column {name!r}{hint}; choose from {', '.join(table.OPTIONAL)}")
    return names


def training_settings(args: argparse.Namespace) -> dict | None:
    """`memory.estimate`'s settings from --train and its flags; None without --train."""
    given = [flag for flag, value in (("--batch", args.batch), ("--optimizer", args.optimizer),
                                      ("--dtype", args.dtype), ("--budget", args.budget)) if value is not None]
    if not args.train:
        if given:
            raise UsageError(f"{given[0]} is for the training estimate: add --train")
        return None
    if args.batch is not None and args.batch < 1:
        raise UsageError("--batch must be at least 1")
    return {"batch": args.batch or 1, "optimizer": args.optimizer or "sgd", "dtype": args.dtype or "fp32"}


def _budget(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_bytes(text)
    except ValueError as exc:
        raise UsageError(f"--budget: {exc}") from None
