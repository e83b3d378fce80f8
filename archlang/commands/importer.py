"""`archlang import SOURCE -o OUT.arch [--input CxHxW] [--network NAME] [--weights-out FILE.safetensors]`.

SOURCE is `package.module:callable` (called with no arguments, e.g.
`torchvision.models:resnet50`; an nn.Module instance there is taken as it
is) or an `.onnx` file. The spec is written only when the whole model could
be imported, atomically (fsutil); what cannot be is reported as E701, every
place at once, and nothing is written (exit 1). --weights-out writes the
ONNX file's weights by the spec's state_dict keys, so the spec can be
trained or exported again with them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..diagnostics import UsageError
from ..source import shown_name
from .common import parse_input_shape, print_diagnostics


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "import", help="turn a PyTorch model or an ONNX file into a readable spec",
        description="Import a PyTorch model (package.module:callable, e.g. torchvision.models:resnet50) "
                    "or an ONNX file as an .arch spec: layers become ops, the module hierarchy becomes "
                    "labels, repeated parts become blocks and repeats.")
    parser.add_argument("source", metavar="SOURCE", help="package.module:callable, or a file.onnx")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.arch", help="the spec to write (- is stdout)")
    parser.add_argument("--input", metavar="CxHxW",
                        help="the input's shape without the batch (default: 3x224x224 for a PyTorch model, "
                             "the file's own for ONNX)")
    parser.add_argument("--network", "-n", metavar="NAME", help="the network's name in the spec")
    parser.add_argument("--weights-out", metavar="FILE.safetensors",
                        help="write the ONNX file's weights, by the spec's state_dict keys")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    shape = _shape(args.input)
    is_onnx = args.source.lower().endswith(".onnx")
    _refuse_clashes(args, is_onnx)
    from ..importer import ImportFailure
    try:
        imported = _import_onnx(args, shape) if is_onnx else _import_torch(args, shape)
    except ImportFailure as exc:
        print_diagnostics(exc.diagnostics)
        return 1
    from ..fsutil import atomic_path, atomic_write
    if args.weights_out:
        from safetensors.numpy import save_file
        with atomic_path(args.weights_out, ".safetensors") as tmp:
            save_file({k: _contiguous(v) for k, v in imported.weights.items()}, str(tmp))
    atomic_write(args.output, imported.text)
    calls = sum(1 for c in imported.graph.calls[1:])
    out = sys.stderr if args.output == "-" else sys.stdout
    where = "the spec to stdout" if args.output == "-" else shown_name(args.output)
    print(f"wrote {where} ({imported.graph.name}: {calls} layers and merges, "
          f"{sum(1 for line in imported.text.splitlines() if line.strip() and not line.lstrip().startswith('#'))} "
          f"lines)", file=out)
    if args.weights_out:
        print(f"wrote its weights to {shown_name(args.weights_out)} ({len(imported.weights)} tensors)", file=out)
    return 0


def _shape(text: str | None) -> tuple[int, ...] | None:
    shape = parse_input_shape(text)
    if shape is not None and not all(isinstance(d, int) for d in shape):
        raise UsageError("--input: an import needs sizes that are numbers, e.g. 3x224x224")
    return tuple(shape) if shape is not None else None


def _refuse_clashes(args: argparse.Namespace, is_onnx: bool) -> None:
    from ..fsutil import first_clash
    if args.weights_out and not is_onnx:
        raise UsageError("--weights-out is for an ONNX source: a PyTorch model's state_dict already has "
                         "the spec's keys (torch.save(model.state_dict(), ...))")
    inputs = [args.source] if is_onnx else []
    outputs = [("-o", args.output)] + ([("--weights-out", args.weights_out)] if args.weights_out else [])
    for flag, path in outputs:
        if first_clash([path], inputs) is not None:
            raise UsageError(f"{flag} {shown_name(path)} is the ONNX file being imported: choose another file")
    if args.weights_out and first_clash([args.weights_out], [args.output]) is not None:
        raise UsageError("-o and --weights-out name the same file")


def _import_onnx(args: argparse.Namespace, shape):
    if not Path(args.source).is_file():
        raise UsageError(f"cannot read {shown_name(args.source)}: no such file")
    from ..importer import read_onnx
    return read_onnx(args.source, shape, args.network)


def _import_torch(args: argparse.Namespace, shape):
    from ..importer import from_model
    from ..importer.from_torch import load_model
    model = load_model(args.source)
    return from_model(model, shape or (3, 224, 224), args.network, args.source)


def _contiguous(array):
    """The array in C order, its shape kept (np.ascontiguousarray makes a 0-d counter 1-d)."""
    import numpy as np
    return np.require(array, requirements="C")
