"""Fuzz archlang: many inputs through parse, check, shapes, render and build, none may crash or hang.

Inputs come from four sources (tests/fuzzing/): mutants of every .arch file
in the repository, whole programs built from the language's structure,
texts derived from the grammar, and raw bytes. Each runs through every stage
a user reaches (tests/fuzzing/harness.py) under a wall-clock alarm. Chunks of
inputs run in worker processes (niced, with a cap on memory), so a hang, a
memory blow-up or a dead interpreter is caught and reported like a crash.

    .venv/bin/python bench/fuzz.py                       # 100,000 inputs, one worker
    .venv/bin/python bench/fuzz.py --inputs 5000 --workers 1 --timeout 10

Findings (crashes and hangs) are written to out/fuzz/findings/ with the input
that caused them; the summary to out/fuzz/report.json. Re-run one input with
`--replay FILE`. Exit 0 when nothing crashed or hung, 1 otherwise.

`--bounds` instead times how fast each resource bound rejects a spec that asks
too much (docs/hardening.md's table), with the peak Python memory of the check.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from archlang.fsutil import atomic_write  # noqa: E402

# The share of each source in a run (mutants get the most: they are nearest to real mistakes).
MIX = {"mutation": 0.6, "structured": 0.15, "grammar": 0.1, "bytes": 0.15}
MEMORY_HEADROOM = 3 << 30   # a worker may grow this much past its size after imports


# -- the worker: one chunk of one source ----------------------------------------------------

def worker(source: str, start: int, count: int, timeout: float, out: Path) -> dict:
    from fuzzing import harness

    _import_torch_first()
    _cap_memory()
    findings = out / "findings"
    summary = {"source": source, "inputs": 0, "status": Counter(), "slowest": None, "findings": []}
    # The input being run sits in work/: if the interpreter dies, the driver finds it there.
    work = out / "work" / f"{source}-{start}"
    work.mkdir(parents=True, exist_ok=True)
    harness.warm_up(work)
    for data, origin in _inputs(source, start, count):
        outcome = harness.run_input(data, work, timeout=timeout)
        summary["inputs"] += 1
        summary["status"][outcome.status] += 1
        if summary["slowest"] is None or outcome.seconds > summary["slowest"]["seconds"]:
            summary["slowest"] = {"seconds": round(outcome.seconds, 3), "origin": origin,
                                  "file": _save(findings.parent / "slowest", data, source, start)}
        if outcome.status != "ok":
            summary["findings"].append({"status": outcome.status, "signature": outcome.signature,
                                        "error": outcome.error, "origin": origin,
                                        "file": _save(findings, data, source, None),
                                        "trace": outcome.trace[-3000:]})
    shutil.rmtree(work)
    summary["status"] = dict(summary["status"])
    return summary


def _inputs(source: str, start: int, count: int):
    """(bytes, where it came from) for `count` inputs of `source`, reproducible from `start`."""
    if source == "mutation":
        from fuzzing.mutations import Mutator

        mutator = Mutator()
        for seed in range(start, start + count):
            name, data, applied = mutator.mutant(seed)
            yield data, f"mutation seed {seed}: {name} + {', '.join(applied)}"
    elif source == "bytes":
        import random

        for seed in range(start, start + count):
            rng = random.Random(seed)
            yield bytes(rng.randrange(256) if rng.random() < 0.3 else rng.randrange(32, 127)
                        for _ in range(rng.randint(0, 400))), f"bytes seed {seed}"
    else:
        yield from _hypothesis_inputs(source, start, count)


def _hypothesis_inputs(source: str, start: int, count: int):
    from hypothesis import HealthCheck, Phase, given, seed, settings

    from fuzzing import strategies

    strategy = strategies.specs() if source == "structured" else strategies.grammar_texts()
    texts: list[str] = []

    @seed(start)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(text: str) -> None:
        texts.append(text)

    collect()
    for i, text in enumerate(texts):
        yield text.encode("utf-8", errors="surrogatepass"), f"{source} seed {start} #{i}"


def _save(folder: Path, data: bytes, source: str, fixed: int | None) -> str:
    from fuzzing.harness import digest

    folder.mkdir(parents=True, exist_ok=True)
    name = f"{source}-{fixed}.arch" if fixed is not None else f"{source}-{digest(data)}.arch"
    atomic_write(folder / name, data)
    return str((folder / name).relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder / name)


def _import_torch_first() -> None:
    """Pay for torch once, before the memory cap and before the first input's clock starts."""
    from archlang.backends import torch_source  # noqa: F401


def _cap_memory() -> None:
    """An input that makes archlang allocate gigabytes must fail here, not take the machine down."""
    with open("/proc/self/statm") as f:
        size = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (size + MEMORY_HEADROOM, resource.RLIM_INFINITY))


# -- the driver ----------------------------------------------------------------------------

def plan(total: int, chunk: int, first_seed: int) -> list[tuple[str, int, int]]:
    """(source, start seed, count) per chunk: every source's share cut into chunks, the
    sources interleaved so that each is reached early in a long run."""
    queues = []
    for source, share in MIX.items():
        n, start, jobs = round(total * share), first_seed, []
        while n > 0:
            jobs.append((source, start, min(chunk, n)))
            start += min(chunk, n)
            n -= min(chunk, n)
        queues.append(jobs)
    order = []
    while any(queues):
        for jobs in queues:
            if jobs:
                order.append(jobs.pop(0))
    return order


def run_chunk(job: tuple[str, int, int], timeout: float, out: Path) -> dict:
    source, start, count = job
    cmd = ["nice", "-n", "15", sys.executable, __file__, "--worker", source, str(start), str(count),
           "--timeout", str(timeout), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:  # the interpreter died, on the input left in its work folder
        last = out / "work" / f"{source}-{start}" / "spec.arch"
        kept = _save(out / "findings", last.read_bytes(), source, None) if last.exists() else ""
        return {"source": source, "inputs": 0, "status": {"worker died": 1}, "slowest": None,
                "findings": [{"status": "crash", "signature": f"worker exit {proc.returncode}",
                              "error": proc.stderr[-2000:], "origin": f"{source} chunk at {start}",
                              "file": kept, "trace": proc.stderr[-3000:]}]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def drive(args: argparse.Namespace) -> int:
    out = Path(args.out)
    jobs = plan(args.inputs, args.chunk, args.seed)
    started = time.time()
    results: list[dict] = []

    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(run_chunk, job, args.timeout, out) for job in jobs]
        for done, future in enumerate(futures, start=1):
            results.append(future.result())
            inputs = sum(r["inputs"] for r in results)
            bad = sum(len(r["findings"]) for r in results)
            print(f"[{done}/{len(jobs)}] {inputs:,} inputs, {bad} findings, {time.time() - started:,.0f} s",
                  file=sys.stderr, flush=True)
    report = summarise(results, time.time() - started, args)
    atomic_write(out / "report.json", json.dumps(report, indent=2) + "\n")
    print_report(report)
    return 0 if not report["findings"] else 1


def summarise(results: list[dict], seconds: float, args: argparse.Namespace) -> dict:
    per_source: dict[str, int] = Counter()
    status: Counter = Counter()
    findings: dict[str, dict] = {}
    slowest = None
    for r in results:
        per_source[r["source"]] += r["inputs"]
        status.update(r["status"])
        if r["slowest"] and (slowest is None or r["slowest"]["seconds"] > slowest["seconds"]):
            slowest = r["slowest"]
        for f in r["findings"]:
            entry = findings.setdefault(f["signature"], {**f, "count": 0})
            entry["count"] += 1
    return {"inputs": sum(per_source.values()), "per_source": dict(per_source), "status": dict(status),
            "seconds": round(seconds, 1), "timeout_s": args.timeout, "slowest": slowest,
            "findings": sorted(findings.values(), key=lambda f: -f["count"]),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"}


def print_report(report: dict) -> None:
    print(f"inputs run: {report['inputs']:,} in {report['seconds']:,} s ({report['machine']})")
    for source, n in report["per_source"].items():
        print(f"  {source:<11} {n:>8,}")
    print(f"outcomes: {', '.join(f'{k} {v:,}' for k, v in sorted(report['status'].items()))}")
    slow = report["slowest"]
    if slow:
        print(f"slowest input: {slow['seconds']} s ({slow['origin']}; {slow['file']})")
    print(f"distinct crashes and hangs: {len(report['findings'])}")
    for f in report["findings"]:
        print(f"  {f['count']:>5} x {f['signature']}\n        {f['error'][:160]}\n        e.g. {f['file']}")


def replay(path: str, timeout: float) -> int:
    from fuzzing import harness

    with tempfile.TemporaryDirectory(prefix="archlang-fuzz-") as tmp:
        outcome = harness.run_input(Path(path).read_bytes(), Path(tmp), timeout=timeout)
    print(f"{outcome.status} in {outcome.seconds:.3f} s; codes {outcome.codes}")
    if outcome.status != "ok":
        print(f"{outcome.signature}\n{outcome.error}\n{outcome.trace}")
    return 0 if outcome.status == "ok" else 1


# A spec over each bound, with the bound it hits (the E404 of layers at a smaller bound, as the
# time is linear in the layers made before it).
OVER_THE_BOUNDS = {
    "E401 max_params (10**12 parameters)": ("network N {\n input [1000000]\n linear(1000000)\n}", {}),
    "E402 max_activations (10**13 elements)": ("network N {\n input [3, 100000, 100000]\n conv(1000, k=1)\n}", {}),
    "E402 one tensor over 2**63 - 1 elements": (
        "network N {\n input [3, 8, 8]\n repeat 10000 { concat { | identity | identity } }\n}", {}),
    "E403 max_depth (1,000 nested repeats)": ("network N {\n input [3, 8, 8]\n" + "repeat 1 {" * 1000 + "relu" +
                                              "}" * 1000 + "\n}", {}),
    "E403 expression depth (5,000-term sum)": ("let a = " + " + ".join(["1"] * 5000) +
                                               "\nnetwork N {\n input [3, 8, 8]\n relu\n}", {}),
    "E404 max_repeat (repeat 1000000000)": ("network N {\n input [3, 8, 8]\n repeat 1000000000 { relu }\n}", {}),
    "E404 max_repeat (repeat 100000 * 100000)": (
        "network N {\n input [3, 8, 8]\n repeat 100000 * 100000 { relu }\n}", {}),
    "E404 list repetition ([1] * 10**9)": ("let s = [1] * 1000000000\nnetwork N {\n input [3, 8, 8]\n relu\n}", {}),
    "E404 max_layers (repeat 10000 { repeat 10000 }), default bound": (
        "network N {\n input [3, 8, 8]\n repeat 10000 { repeat 10000 { relu } }\n}", {}),
    "E404 max_layers, --max-layers 10000": (
        "network N {\n input [3, 8, 8]\n repeat 10000 { repeat 10000 { relu } }\n}", {"max_layers": 10_000}),
    "E212 symbolic size of too many terms": (
        "network N {\n input [3, H, W]\n let a0 = cur.h + 1\n" +
        "".join(f" let a{i + 1} = a{i} * a{i}\n" for i in range(20)) + " relu\n}", {}),
}


def bounds() -> int:
    """Seconds and peak Python memory for archlang.check to reject each spec above."""
    import tracemalloc

    import archlang
    from archlang.limits import DEFAULT_LIMITS, Limits

    archlang.check("network W {\n input [3, 8, 8]\n relu\n}")  # grammar and prelude
    print(f"{'bound':<62} {'codes':<12} {'seconds':>8} {'peak MiB':>9}")
    for name, (text, overrides) in OVER_THE_BOUNDS.items():
        limits = Limits(**{**DEFAULT_LIMITS.__dict__, **overrides})
        start = time.perf_counter()
        diags = archlang.check(text, limits=limits)
        seconds = time.perf_counter() - start
        tracemalloc.start()  # a second run for the memory: tracing slows it several times
        archlang.check(text, limits=limits)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        codes = ",".join(sorted({d.code for d in diags if d.is_error}))
        print(f"{name:<62} {codes:<12} {seconds:>8.3f} {peak / 2**20:>9.1f}")
    print(f"({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()})")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--inputs", type=int, default=100_000, help="how many inputs in all (default 100,000)")
    p.add_argument("--workers", type=int, default=1, help="worker processes at once (default 1: leave cores free)")
    p.add_argument("--chunk", type=int, default=2_000, help="inputs per worker process")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds one input may take (default 30: the machine may be busy)")
    p.add_argument("--seed", type=int, default=0, help="the first seed of every source")
    p.add_argument("--out", default=str(ROOT / "out" / "fuzz"), help="where findings and the report go")
    p.add_argument("--replay", metavar="FILE", help="run one saved input and show what happens")
    p.add_argument("--bounds", action="store_true", help="time the rejection of a spec over each bound")
    p.add_argument("--worker", nargs=3, metavar=("SOURCE", "START", "COUNT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.timeout)
    if args.bounds:
        return bounds()
    if args.worker:
        source, start, count = args.worker[0], int(args.worker[1]), int(args.worker[2])
        print(json.dumps(worker(source, start, count, args.timeout, Path(args.out))))
        return 0
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
