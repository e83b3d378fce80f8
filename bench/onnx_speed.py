"""Is archlang's ONNX export fast? onnxruntime against PyTorch eager, side by side, one run.

For each network, at batch 1 and 16 on the CPU:

- eager:     the nn.Module archlang builds, in PyTorch (eval, inference mode)
- archlang:  `archlang export` of the spec, run in onnxruntime
- reference: the same network exported by torch's own exporter
             (`torch.onnx.export(..., dynamo=False)`), run in onnxruntime:
             torchvision's own resnet18 and densenet121 for the tv_* specs
             (weights copied over, so both files compute the same thing); for
             googlenet, whose spec is d2l's 1x96x96 GoogLeNet and not
             torchvision's, the archlang module itself

It also prints the node count of each file after onnxruntime's optimisations
(the graph onnxruntime actually runs): equal counts mean equal kernels.

Targets: archlang at least 1.5x faster than eager, and at least as fast as
the reference (ratio >= 1, within the noise of a shared machine).
The three take turns in blocks of calls (three rounds), so that slow spells
of a shared machine hit all alike; the median call of each is reported, with
the ratios as speed-ups of archlang.

    .venv/bin/python bench/onnx_speed.py [--reps 15] [--only tv_resnet18] [--batches 1 16] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import archlang  # noqa: E402 - after the path is set
from archlang.backends import onnx as archlang_onnx  # noqa: E402
from archlang.backends.torch_module import build_module  # noqa: E402

ROUNDS = 3
CASES = {
    # name: (spec, torchvision constructor or None for "the archlang module itself")
    "tv_resnet18": ("specs/tv_resnet18.arch", lambda: torchvision.models.resnet18()),
    "tv_densenet121": ("specs/tv_densenet121.arch", lambda: torchvision.models.densenet121()),
    "googlenet": ("specs/googlenet.arch", None),
}


def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Parameters and buffers by order; the shapes must agree one to one."""
    with torch.no_grad():
        pairs = zip(list(src.parameters()) + list(src.buffers()), list(dst.parameters()) + list(dst.buffers()))
        for a, b in pairs:
            if a.shape != b.shape:
                raise SystemExit(f"models do not correspond: {tuple(a.shape)} vs {tuple(b.shape)}")
            b.copy_(a)


def plain_export(model: nn.Module, shape: tuple[int, ...], path: Path) -> None:
    """torch's own exporter (the TorchScript one, which needs no onnxscript), batch made dynamic."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, *shape),), str(path), dynamo=False, verbose=False,
                          input_names=["x"], dynamic_axes={"x": {0: "batch"}})


def optimised_nodes(path: Path) -> int:
    """Nodes in the graph onnxruntime runs, after its optimisations (fusions, folding)."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.optimized_model_filepath = str(path.with_suffix(".optimised.onnx"))
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return len(onnx.load(options.optimized_model_filepath).graph.node)


def timed_calls(fn, calls: int) -> list[float]:
    """Seconds per call for `calls` calls, after one untimed call.

    The untimed call absorbs the switch from the previous runtime: PyTorch's
    and onnxruntime's thread pools each spin a while after their last call,
    and a call made while the other pool still spins is slow for that reason
    alone. Interleaving single calls would measure that contention, not speed.
    """
    fn()
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def bench_case(name: str, batches: list[int], reps: int, workdir: Path, threads: int | None) -> list[dict]:
    spec, torchvision_model = CASES[name]
    graph = archlang.load(ROOT / spec).network()
    (shape,) = graph.input_shapes()
    module = build_module(graph).eval()
    ours = workdir / f"{name}.archlang.onnx"
    archlang_onnx.export(graph, ours, module=module)
    reference = module
    if torchvision_model is not None:
        reference = torchvision_model().eval()
        copy_weights(module, reference)
    theirs = workdir / f"{name}.reference.onnx"
    plain_export(reference, shape, theirs)
    print(f"  {name}: onnxruntime's optimised graph: {optimised_nodes(ours)} nodes (archlang), "
          f"{optimised_nodes(theirs)} nodes (reference)", flush=True)
    sessions = {"archlang": archlang_onnx.session(ours, ["CPUExecutionProvider"], threads=threads),
                "reference": archlang_onnx.session(theirs, ["CPUExecutionProvider"], threads=threads)}
    rows = []
    for batch in batches:
        x = torch.randn(batch, *shape)
        feeds = {key: {s.get_inputs()[0].name: x.numpy()} for key, s in sessions.items()}
        runs = {"eager": lambda: module(x)}
        runs.update({key: (lambda s=s, f=feeds[key]: s.run(None, f)) for key, s in sessions.items()})
        times: dict[str, list[float]] = {key: [] for key in runs}
        with torch.inference_mode():
            for _ in range(ROUNDS):  # blocks of calls, in turn, so that slow spells of the machine hit all three
                for key, fn in runs.items():
                    times[key] += timed_calls(fn, -(-reps // ROUNDS))
        med = {key: statistics.median(v) * 1000 for key, v in times.items()}
        rows.append({"name": name, "batch": batch, **med,
                     "vs_eager": med["eager"] / med["archlang"], "vs_reference": med["reference"] / med["archlang"]})
        print(_row(rows[-1]), flush=True)
    _check_same_outputs(sessions, shape)
    return rows


def _check_same_outputs(sessions: dict, shape) -> None:
    """The two files must compute the same function, or the comparison means nothing."""
    x = np.random.default_rng(0).standard_normal((2, *shape), dtype=np.float32)
    a, b = (s.run(None, {s.get_inputs()[0].name: x})[0] for s in sessions.values())
    diff = float(np.max(np.abs(a - b)))
    if diff > 1e-3 * max(1.0, float(np.max(np.abs(a)))):
        print(f"  note: archlang and reference outputs differ by {diff:.2e} (different networks?)")


HEADER = f"{'network':<16}{'batch':>6}{'eager ms':>11}{'archlang ms':>13}{'reference ms':>14}" \
         f"{'vs eager':>10}{'vs reference':>14}"


def _row(r: dict) -> str:
    return (f"{r['name']:<16}{r['batch']:>6}{r['eager']:>11.1f}{r['archlang']:>13.1f}{r['reference']:>14.1f}"
            f"{r['vs_eager']:>9.2f}x{r['vs_reference']:>13.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--only", choices=sorted(CASES), action="append")
    parser.add_argument("--threads", type=int, help="threads for PyTorch and onnxruntime alike (default: theirs)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import onnxruntime as ort

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), onnxruntime {ort.__version__} (CPU provider, "
          f"{args.threads or 'default'} threads), "
          f"GPU: {'yes' if torch.cuda.is_available() else 'no'}")
    print(f"median of {args.reps} calls in {ROUNDS} rounds; ratios are archlang's speed-up (>1: archlang faster)")
    print(HEADER)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or list(CASES):
            rows += bench_case(name, args.batches, args.reps, Path(tmp), args.threads)
    slow = [r for r in rows if r["vs_eager"] < 1.5 or r["vs_reference"] < 0.95]
    print("targets (>= 1.5x eager, >= reference within 5%):", "met" if not slow else
          "missed for " + ", ".join(f"{r['name']} batch {r['batch']}" for r in slow))
    return 0


if __name__ == "__main__":
    sys.exit(main())
