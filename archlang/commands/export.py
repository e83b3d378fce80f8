"""`archlang export FILE --onnx OUT.onnx [--weights W] [--opset N] [--batch dynamic|N] [--fold-bn] [--fp16] [--verify]`.

Exports the network to ONNX, written straight from the checked graph. Every
export is checked by onnx.checker; when torch is installed it is also run in
onnxruntime at batch 1 and 3 and compared with PyTorch (unless --no-verify),
and the file is written only when both agree (atomically: a failed export
leaves no file, or the previous one intact). --no-verify needs no torch.
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys

from ..diagnostics import UsageError
from ..fsutil import STDOUT
from ..limits import MAX_INT
from ..source import shown_name
from .common import MAX_DIGITS, add_spec_args, load_network, print_diagnostics


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export", help="export the network to ONNX, checked and verified in onnxruntime",
        description="Export the network to ONNX. The file is checked with onnx.checker and, unless "
                    "--no-verify (or torch is not installed), run in onnxruntime and compared with PyTorch "
                    "on random input; it is written only if both pass.")
    add_spec_args(parser)
    parser.add_argument("--onnx", "-o", "--output", dest="onnx", required=True, metavar="OUT.onnx",
                        help="the ONNX file to write (- is stdout); -o and --output as in build and render")
    parser.add_argument("--weights", metavar="FILE",
                        help="a state_dict saved by torch.save or archlang train (.pt), or .safetensors "
                             "(needs no torch); default: freshly initialised weights")
    parser.add_argument("--opset", type=int, metavar="N", help="the ONNX opset (13 or later; default 20)")
    parser.add_argument("--batch", default="dynamic", metavar="dynamic|N",
                        help="the batch dimension: dynamic (the default) or a fixed size")
    parser.add_argument("--fold-bn", action="store_true",
                        help="fold batch norm into the conv or linear layer before it (inference only)")
    parser.add_argument("--fp16", action="store_true", help="weights, inputs, outputs and compute in float16")
    parser.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None,
                        help="run the model in onnxruntime and compare it with PyTorch "
                             "(default: on when torch is installed)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    batch = _batch(args.batch)
    # the external data file beside the model too (models past 2 GB): neither may be an input
    outputs = {"--onnx": args.onnx, "--onnx's data file": None if args.onnx == STDOUT else args.onnx + ".data"}
    graph, diagnostics = load_network(args, outputs=lambda name: outputs, reads={"--weights": args.weights})
    print_diagnostics(diagnostics)
    if graph is None or not graph.ok:
        return 1
    from ..backends import onnx as backend  # onnx: only once the spec is known to be good
    from ..diagnostics import SpecError

    verify = args.verify
    if verify is None:
        verify = importlib.util.find_spec("torch") is not None
    if batch is not None and verify:
        _check_memory(graph, batch)
    try:
        result = backend.export(graph, args.onnx, weights=args.weights, opset=args.opset, batch=batch,
                                fold_bn=args.fold_bn, fp16=args.fp16, verify=verify)
    except SpecError as err:  # a layer that cannot be exported as asked (an opset without its operator...)
        print_diagnostics(list(err.diagnostics))
        return 1
    except backend.ExportError as exc:
        raise UsageError(f"export failed: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot write {shown_name(args.onnx)}: {exc.strerror or exc}") from None
    except (MemoryError, RuntimeError) as exc:
        if not _out_of_memory(exc):
            raise
        raise UsageError(f"not enough memory to verify {graph.name} at --batch {args.batch}; --no-verify, or a "
                         f"dynamic batch (verified at batch 1 and 3), needs none") from None
    if args.weights is None:
        print("note: no --weights given: exported freshly initialised weights", file=sys.stderr)
    out = sys.stderr if args.onnx == STDOUT else sys.stdout   # stdout holds the model
    _report(result, graph, "--no-verify" if args.verify is False else "torch is not installed", out)
    return 0


def _batch(text: str) -> int | None:
    if text == "dynamic":
        return None
    if text.isascii() and text.isdigit() and len(text.lstrip("0")) <= MAX_DIGITS and 1 <= int(text) <= MAX_INT:
        return int(text)
    raise UsageError(f"--batch expects 'dynamic' or a positive size (at most 2**63 - 1), got {text[:24]!r}")


BYTES_PER_ELEMENT = 4   # float32


def _check_memory(graph, batch: int) -> None:
    """Verifying a fixed batch runs the network at that size in PyTorch and onnxruntime:
    refused before any work when its largest tensor alone would not fit in the memory there is."""
    largest = max((math.prod(d for d in node.shape if isinstance(d, int)) for node in graph.nodes if node.known),
                  default=0)
    need = batch * largest * BYTES_PER_ELEMENT
    available = _available_memory()
    if available is not None and need > available:
        raise UsageError(f"--batch {batch}: verifying runs {graph.name} at this batch, and its largest tensor "
                         f"alone needs {need / 2**30:,.1f} GiB, more than the {available / 2**30:,.1f} GiB of "
                         f"memory available; --no-verify, or a dynamic batch (the default, verified at batch 1 "
                         f"and 3), needs none")


def _available_memory() -> int | None:
    """Bytes of memory available now (Linux's MemAvailable; else free pages), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _out_of_memory(exc: BaseException) -> bool:
    """torch reports a failed allocation as RuntimeError (or its OutOfMemoryError)."""
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower() or \
        "can't allocate memory" in str(exc).lower()


def _report(result, graph, unverified_because: str, out) -> None:
    batch = "dynamic batch" if result.batch is None else f"batch {result.batch}"
    if graph.symbols:
        batch += f", dynamic {', '.join(graph.symbols)}"
    if result.fp16:
        batch += ", float16"
    print(f"wrote {shown_name(result.path)} ({graph.name}, opset {result.opset}, {result.nodes} nodes, {batch}); "
          f"onnx.checker: ok", file=out)
    if result.data is not None:
        print(f"wrote its weights to {shown_name(result.data)} (ONNX external data: keep the two files together)",
              file=out)
    if result.folded:
        count = len(result.folded)
        print(f"folded {count} batch norm{'s' if count != 1 else ''} into the layer{'s' if count != 1 else ''} "
              f"before {'them' if count != 1 else 'it'}", file=out)
    v = result.verification
    if v is None:
        print(f"not verified in onnxruntime ({unverified_because})", file=out)
        return
    kind = " in float16" if v.fp16 else ""
    print(f"verified{kind} in onnxruntime ({v.provider}) against PyTorch at {v.where()}: "
          f"largest difference {v.max_abs_diff:.2e} (tolerance {v.tolerance:.2e})", file=out)
