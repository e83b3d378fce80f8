"""Is archlang's ONNX export fast? Whole processes side by side, then in-process emission per spec.

1. Whole processes, as users run them: `archlang export specs/tv_densenet121.arch
   --onnx OUT --no-verify` against a process that imports torch and torchvision
   and runs torch's own legacy exporter (`torch.onnx.export(..., dynamo=False)`)
   on torchvision's densenet121 (the same network; dynamic batch, eval mode).
   The two alternate, run after run, so that slow spells of a shared machine hit
   both; the medians are reported with the ratio archlang / torch.
   Target: ratio <= 1.0.
2. In process: `archlang.onnx.export(graph, path, verify=False)` for every spec
   in specs/ (and specs/torchvision/ where it exists), from the checked graph to
   the written, checked file, with fresh weights; the median of a few runs, and
   where the time goes. Target: under 1 s each.

    .venv/bin/python bench/onnx_export.py [--runs 5] [--repeat 3] [--only-process | --only-specs]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import archlang  # noqa: E402 - after the path is set
from archlang.backends import onnx as backend  # noqa: E402
from archlang.backends import onnx_emit, onnx_model, weights  # noqa: E402

SPEC = ROOT / "specs/tv_densenet121.arch"
TORCH_EXPORT = """
import sys, warnings
import torch, torchvision
warnings.simplefilter("ignore")
model = torchvision.models.densenet121().eval()
torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), sys.argv[1], dynamo=False,
                  input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
"""


def timed_process(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed


def whole_process(runs: int, workdir: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    commands = {
        "archlang": [sys.executable, "-m", "archlang", "export", str(SPEC), "--onnx", str(workdir / "a.onnx"),
                     "--no-verify"],
        "torch": [sys.executable, "-c", TORCH_EXPORT, str(workdir / "t.onnx")],
    }
    for argv in commands.values():       # one untimed run each: the page cache, .pyc files
        timed_process(argv, env)
    times: dict[str, list[float]] = {key: [] for key in commands}
    for _ in range(runs):
        for key, argv in commands.items():
            times[key].append(timed_process(argv, env))
    med = {key: statistics.median(v) for key, v in times.items()}
    print(f"whole process, densenet121, median of {runs} alternating runs:")
    for key, values in times.items():
        print(f"  {key:<9} {med[key]:6.2f} s   (runs: {', '.join(f'{v:.2f}' for v in values)})")
    ratio = med["archlang"] / med["torch"]
    print(f"  ratio archlang / torch: {ratio:.3f}  (target <= 1.0: {'met' if ratio <= 1.0 else 'MISSED'})")
    return {"ratio": ratio, **med}


def spec_files() -> list[Path]:
    files = sorted((ROOT / "specs").glob("*.arch"))
    return files + sorted((ROOT / "specs" / "torchvision").glob("*.arch"))


def stages(graph, path: Path) -> dict[str, float]:
    """Seconds per stage of one export (the stages `backend.export` runs, timed one by one)."""
    out = {}
    t = time.perf_counter()
    lowered = onnx_emit.lower(graph, backend.DEFAULT_OPSET)
    out["lower"] = time.perf_counter() - t
    t = time.perf_counter()
    state = weights.fresh({k: (p.shape, p.init) for k, p in lowered.params.items()})
    out["weights"] = time.perf_counter() - t
    t = time.perf_counter()
    assembled = onnx_model.assemble(lowered, state)
    out["assemble"] = time.perf_counter() - t
    t = time.perf_counter()
    onnx_model.check(assembled)
    out["check"] = time.perf_counter() - t
    t = time.perf_counter()
    onnx_model.write(assembled, path)
    out["write"] = time.perf_counter() - t
    return out


def in_process(repeat: int, workdir: Path) -> list[dict]:
    print(f"\nin process: export(graph, verify=False), median of {repeat}; stages of the median run")
    print(f"{'spec':<34}{'params':>12}{'nodes':>7}{'seconds':>9}   {'lower':>6}{'weights':>8}{'assemble':>9}"
          f"{'check':>7}{'write':>7}")
    rows = []
    for spec in spec_files():
        program = archlang.load(spec)
        for name in program.networks:
            graph = program.network(name)
            path = workdir / f"{spec.stem}.{name}.onnx"
            totals, parts = [], []
            for _ in range(repeat):
                t = time.perf_counter()
                result = backend.export(graph, path, verify=False)
                totals.append(time.perf_counter() - t)
                parts.append(stages(graph, workdir / "stages.onnx"))
            median = statistics.median(totals)
            part = parts[totals.index(sorted(totals)[len(totals) // 2])]
            label = f"{spec.relative_to(ROOT / 'specs').as_posix()}:{name}"
            print(f"{label:<34}{graph.params_total:>12,}{result.nodes:>7}{median:>9.3f}   "
                  f"{part['lower']:>6.3f}{part['weights']:>8.3f}{part['assemble']:>9.3f}{part['check']:>7.3f}"
                  f"{part['write']:>7.3f}", flush=True)
            rows.append({"spec": label, "seconds": median, **part})
            path.unlink()
    slow = [r["spec"] for r in rows if r["seconds"] >= 1.0]
    print("target (under 1 s each):", "met" if not slow else "missed for " + ", ".join(slow))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="alternating whole-process runs of each")
    parser.add_argument("--repeat", type=int, default=3, help="in-process exports per spec")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--only-process", action="store_true")
    which.add_argument("--only-specs", action="store_true")
    args = parser.parse_args()
    import onnx

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"python {platform.python_version()}, onnx {onnx.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.only_specs:
            whole_process(args.runs, Path(tmp))
        if not args.only_process:
            in_process(args.repeat, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
