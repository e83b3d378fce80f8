"""`archlang train FILE --data SRC [...]`: the notes' `train_ch6` as a command.

Checks the spec (exit 1 with its diagnostics), then everything about the data
and the run folder (exit 2 with one line), then trains. Ctrl-C saves a
checkpoint and exits 130; a loss that is not finite stops with exit 1 and the
last good checkpoint kept. `--nproc N` runs the same command as N processes
with torchrun's environment; in a job of several processes (ours or
torchrun's) only rank 0 prints and writes.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

from ..diagnostics import SpecError, UsageError, unique
from ..limits import Limits
from ..program import TRAINING_PARAMETERS
from .common import add_spec_args, choose_networks, elaborate, load_program, parse_sets, print_diagnostics


@dataclass(frozen=True)
class Option:
    flag: str
    default: Any = None
    type: Any = str
    help: str = ""
    metavar: str | None = None
    switch: bool = False      # a flag without a value

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


COMMAND_ENV = "ARCHLANG_TRAIN_COMMAND"   # the launcher's command line, for its children's command.txt

# One table for the parser and for rebuilding the command line (`--nproc`, command.txt).
OPTIONS = (
    Option("--data", "digits", str, "digits (default, offline), synthetic[:N], mnist:DIR, fashion-mnist:DIR "
           "or folder:DIR", "SRC"),
    Option("--epochs", 10, int, "epochs to train, counting earlier ones on --resume (default 10)", "N"),
    Option("--lr", None, float, "learning rate (default 0.9 for sgd, as the notes' LeNet; 0.001 for adam/adamw)",
           "LR"),
    Option("--batch-size", 256, int, "global batch size, split across processes (default 256)", "N"),
    Option("--optimizer", "sgd", str, "sgd (default, as the notes), adam or adamw", "NAME"),
    Option("--momentum", 0.0, float, "SGD momentum (default 0, as the notes)", "M"),
    Option("--weight-decay", None, float, "weight decay (default: the optimizer's, 0.01 for adamw, else 0)", "WD"),
    Option("--resize", None, str, "resize images to N x N (or HxW), as the notes' resize=96", "N"),
    Option("--device", "auto", str, "auto (default: cuda when available), cpu, cuda or cuda:N", "DEV"),
    Option("--amp", False, help="mixed precision (float16 on GPUs, bfloat16 on CPUs)", switch=True),
    Option("--channels-last", False, help="channels-last memory format (faster convs on recent GPUs)",
           switch=True),
    Option("--compile", False, help="torch.compile the model", switch=True),
    Option("--seed", 0, int, "seed for the weights, the batch order and dropout (default 0)", "S"),
    Option("--init", "xavier", str, "xavier (default: the notes' Xavier-uniform conv/linear weights) or torch",
           "NAME"),
    Option("--out", None, str, "run folder (default runs/NETWORK, then runs/NETWORK-2, ...)", "DIR"),
    Option("--resume", False, help="continue the run in --out (or the latest runs/NETWORK*) from last.pt",
           switch=True),
    Option("--export-onnx", False, help="also write model.onnx of the final weights", switch=True),
    Option("--workers", None, int, "DataLoader workers for folder: data (default: from the CPU count)", "N"),
    Option("--quiet", False, help="no progress bar or per-epoch lines; the summary only", switch=True),
)


# Settings a spec may state as network parameters (`network ResNet20(classes = 10, lr = 0.05,
# epochs = 30)`): the run's defaults for that network, which `--set` changes and the flag overrides.
SPEC_SETTINGS = {"--" + name.replace("_", "-"): name for name in TRAINING_PARAMETERS}


def register(sub) -> None:
    parser = sub.add_parser(
        "train", help="train a network (the notes' train_ch6): metrics, curves, checkpoints",
        description="Train the network on --data with the notes' loop (SGD, cross-entropy, Xavier init), "
                    "print the notes' lines, and keep metrics, curves, checkpoints, the spec and the command "
                    "in the run folder. Exit 0: trained; 1: the spec has errors or the loss diverged; "
                    "2: usage error (bad data, shapes that disagree, unwritable folder); 130: interrupted "
                    "(checkpoint saved; --resume continues).")
    add_spec_args(parser)
    for opt in OPTIONS:
        if opt.switch:
            parser.add_argument(opt.flag, action="store_true", help=opt.help)
        else:
            # None: not given, so that a setting the spec states is not hidden by the flag's default
            default = None if opt.flag in SPEC_SETTINGS else opt.default
            parser.add_argument(opt.flag, type=opt.type, default=default, metavar=opt.metavar, help=opt.help)
    parser.add_argument("--nproc", type=int, default=None, metavar="N",
                        help="data-parallel on N processes of this machine (gloo on CPUs, NCCL on GPUs); "
                             "torchrun -m archlang train ... works too, across machines")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..train import distributed

    world = distributed.from_env()
    if args.nproc is not None:
        return _launch(args, world)
    try:
        return _train(args, world.main)
    except UsageError:
        if world.main:
            raise
        return 2   # rank 0 says it; the others leave quietly


def _train(args: argparse.Namespace, main: bool) -> int:
    from ..train import train
    from ..train.errors import Diverged

    source = spec_source(args, main)
    if source is None:
        return 1
    try:
        result = train(source, config_from(args, source.graph.params, main))
    except SpecError as err:   # a symbolic spec that cannot take the data's size
        if main:
            print_diagnostics(err.diagnostics)
        return 1
    except Diverged as exc:
        if main:
            print(f"archlang: training stopped: {exc}", file=sys.stderr)
        return 1
    return result.exit_code


def spec_source(args: argparse.Namespace, main: bool = True):
    """The checked network as a model source; None after printing its errors (rank 0)."""
    from ..train.spec_source import SpecModel

    program, load_diags = load_program(args.file, args)
    if program is None:
        if main:
            print_diagnostics(load_diags)
        return None
    (name,) = choose_networks(program, args.file, args.network)
    graph = elaborate(program, name, args)
    diags = unique(load_diags + list(graph.diagnostics))
    if main:
        print_diagnostics(diags)    # errors, or warnings before training
    if not graph.ok:
        return None
    return SpecModel(program, graph, args.file, parse_sets(args.sets))


def config_from(args: argparse.Namespace, spec_params: dict | None = None, main: bool = False):
    """The run's settings: a flag given on the command line, else the network parameter of the
    setting's name (SPEC_SETTINGS), else the notes' default."""
    from pathlib import Path

    from ..train import TrainConfig
    from ..train.config import INITS, OPTIMIZERS

    settings = spec_settings(args, spec_params or {})
    if settings and main and not args.quiet:
        print("settings from the spec: " + ", ".join(f"{k} {v}" for k, v in settings.items()) + " (a flag overrides)")
    value = {opt.dest: settings.get(opt.dest, getattr(args, opt.dest, None)) for opt in OPTIONS}
    value = {k: v if v is not None or k in ("lr", "weight_decay") else _option(k).default for k, v in value.items()}
    return TrainConfig(
        data=args.data, epochs=value["epochs"], lr=value["lr"], batch_size=value["batch_size"],
        optimizer=_choice(value["optimizer"], OPTIMIZERS, "--optimizer"),
        momentum=value["momentum"], weight_decay=value["weight_decay"], resize=parse_resize(args.resize),
        device=args.device, amp=args.amp, channels_last=args.channels_last, compile=args.compile,
        seed=args.seed, init=_choice(args.init, INITS, "--init"),
        out=Path(args.out) if args.out else None, resume=args.resume, export_onnx=args.export_onnx,
        quiet=args.quiet, workers=args.workers, command=_command(args))


def spec_settings(args: argparse.Namespace, spec_params: dict) -> dict[str, Any]:
    """The settings the network's parameters state and no flag overrides, checked for type."""
    out: dict[str, Any] = {}
    for flag, name in SPEC_SETTINGS.items():
        if name not in spec_params or getattr(args, _option(name).dest, None) is not None:
            continue
        value, kind = spec_params[name], _option(name).type
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) or \
                (kind is int and not isinstance(value, int)) or (kind is float and isinstance(value, str)) or \
                (kind is str and not isinstance(value, str)):
            raise UsageError(f"the network parameter {name} = {value!r} is a training setting ({flag}); "
                             f"it must be {'an integer' if kind is int else 'a number' if kind is float else 'a string'}")
        out[name] = kind(value)
    return out


def _option(dest: str) -> Option:
    return next(opt for opt in OPTIONS if opt.dest == dest)


def _command(args: argparse.Namespace) -> list[str]:
    """What the user typed, for command.txt: under --nproc, the launcher's command line."""
    launched = os.environ.get(COMMAND_ENV)
    return json.loads(launched) if launched else ["archlang", *to_argv(args)]


def parse_resize(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(?:[x,]\s*(\d+)\s*)?", text)
    if not m or int(m.group(1)) < 1 or (m.group(2) and int(m.group(2)) < 1):
        raise UsageError(f"--resize expects N or HxW with positive sizes, got {text!r}")
    h = int(m.group(1))
    return (h, int(m.group(2)) if m.group(2) else h)


def _choice(value: str, choices: tuple[str, ...], flag: str) -> str:
    if value.lower() not in choices:
        raise UsageError(f"{flag} expects one of {', '.join(choices)}, got {value!r}")
    return value.lower()


def to_argv(args: argparse.Namespace, **overrides) -> list[str]:
    """The command line that gives these arguments: `train FILE ...`."""
    values = {**vars(args), **overrides}
    argv = ["train", values["file"]]
    for flag, dest in (("--network", "network"), ("--input", "input")):
        if values.get(dest) is not None:
            argv += [flag, str(values[dest])]
    for item in values.get("sets") or []:
        argv += ["--set", item]
    for flag, dest in Limits.FLAGS.items():
        if values.get(dest) is not None:
            argv += [flag, str(values[dest])]
    for opt in OPTIONS:
        value = values.get(opt.dest)
        if value == opt.default or value is None:
            continue
        argv += [opt.flag] if opt.switch else [opt.flag, str(value)]
    if values.get("nproc") is not None:
        argv += ["--nproc", str(values["nproc"])]
    return argv


def _launch(args: argparse.Namespace, world) -> int:
    """--nproc N: check everything here, once, then run the same command as N processes."""
    from ..train import distributed
    from ..train.runlock import INHERITED_ENV
    from ..train.session import Session

    if world.parallel:
        raise UsageError("--nproc starts a job; this process is already one process of a job")
    if args.nproc < 1:
        raise UsageError(f"--nproc must be at least 1, got {args.nproc}")
    source = spec_source(args)
    if source is None:
        return 1
    config = config_from(args, source.graph.params, main=True)
    session = Session(source, config)
    try:
        out = session.preflight()   # locks the run folder for the whole job
        # the children must agree on the folder this process chose (runs/NAME-2 ...), and its
        # rank 0 works under this process's lock
        os.environ[COMMAND_ENV] = json.dumps(config.command)
        os.environ[INHERITED_ENV] = str(os.getpid())
        try:
            return distributed.launch(args.nproc, to_argv(args, out=str(out), nproc=None))
        finally:
            del os.environ[COMMAND_ENV], os.environ[INHERITED_ENV]
    finally:
        session.release()

