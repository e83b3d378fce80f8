"""Random programs through every path, compared with the oracle: 100,000 by default.

The generator (tests/oracle/generator.py) writes programs over the whole
language, valid by construction or with one planted mistake; each runs
through the front end, `shapes` JSON, the reference interpreter,
`archlang.compile` (eval and training), and for a share `archlang build`
and onnxruntime (tests/oracle/differential.py). Seeds are cut into chunks
that run in worker processes (niced, one torch thread each).

    .venv/bin/python bench/differential.py                          # 100,000 cases, 2 workers
    .venv/bin/python bench/differential.py --cases 2000 --workers 1
    .venv/bin/python bench/differential.py --replay 12345           # one seed, shrunk, printed
    .venv/bin/python bench/differential.py --cases 20000 --results-rate 0.3   # with blocks that give several tensors

Every disagreement is shrunk to a small spec and written to
out/differential/findings/ (one file per kind, the first seeds that showed it);
the summary goes to out/differential/report.json: cases, valid and rejected
(by code), disagreements by kind, seconds, the machine, the seeds run. It is
rewritten after every chunk (`"partial": true` until the last), so a run
stopped early still says what it covered. Exit 0 when there is
no disagreement, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from archlang.fsutil import atomic_write  # noqa: E402

SHRUNK_PER_KIND = 3      # findings written per kind of disagreement


def lower_priority() -> None:
    """Once per worker process (os.nice adds up: niced per chunk, a worker reached 19 by its
    second chunk and got a few CPU minutes an hour on a shared machine)."""
    os.nice(10)


def run_chunk(start: int, count: int, build_every: int, onnx_every: int, results_rate: float = 0.0) -> dict:
    """One worker's share: seeds start .. start+count-1."""
    import torch

    torch.set_num_threads(1)
    from oracle.differential import check
    from oracle.generator import Config, features, generate

    summary: dict = {"cases": 0, "rejected": Counter(), "features": Counter(), "disagreements": []}
    with tempfile.TemporaryDirectory(prefix="archlang-differential-") as tmp:
        for seed in range(start, start + count):
            try:
                case = generate(seed, Config(results_rate=results_rate))
            except Exception as exc:  # noqa: BLE001 - a generator crash is a finding of its seed, not the run's end
                summary["cases"] += 1
                summary["disagreements"].append({"seed": seed, "kind": "harness", "build": False, "onnx": False,
                                                 "fold_bn": False,
                                                 "detail": f"generator: {type(exc).__name__}: {exc}"[:500]})
                continue
            onnx = onnx_every > 0 and seed % onnx_every == 0
            paths = {"build": seed % build_every == 0, "onnx": onnx, "fold_bn": onnx and seed % (2 * onnx_every) == 0}
            work = Path(tmp) / str(seed)
            try:
                found = check(case, work, **paths)
            except Exception as exc:  # noqa: BLE001 - the harness itself failing is a finding too
                found = [f"harness: {type(exc).__name__}: {exc}"]
            summary["cases"] += 1
            if case.error:
                summary["rejected"][case.error] += 1
            summary["features"].update(features(case))
            for d in found:
                kind, detail = (d.kind, d.detail) if hasattr(d, "kind") else ("harness", str(d))
                summary["disagreements"].append({"seed": seed, "kind": kind, "detail": detail[:500], **paths})
            _clean(work)
    return summary


def _clean(work: Path) -> None:
    import shutil

    shutil.rmtree(work, ignore_errors=True)


def shrink_finding(seed: int, kind: str, build: bool, onnx: bool, fold_bn: bool, results_rate: float = 0.0) -> str:
    """The spec of a shrunk case, as text with how to run it."""
    import torch

    torch.set_num_threads(1)
    from oracle.generator import Config, generate
    from oracle.shrink import shrink

    with tempfile.TemporaryDirectory(prefix="archlang-shrink-") as tmp:
        case = generate(seed, Config(results_rate=results_rate))
        small = shrink(case, kind, Path(tmp), build=build, onnx=onnx, fold_bn=fold_bn)
    return small.describe()


def drive(args: argparse.Namespace) -> int:
    out = Path(args.out)
    chunks = [(s, min(args.chunk, args.start + args.cases - s)) for s in range(args.start, args.start + args.cases,
                                                                                args.chunk)]
    started = time.time()
    total: dict = {"cases": 0, "rejected": Counter(), "features": Counter(), "disagreements": [], "seeds": []}
    with ProcessPoolExecutor(max_workers=args.workers, initializer=lower_priority) as pool:
        futures = {pool.submit(run_chunk, s, n, args.build_every, args.onnx_every, args.results_rate): (s, n)
                   for s, n in chunks}
        for done, future in enumerate(as_completed(futures), start=1):
            part = future.result()
            total["cases"] += part["cases"]
            total["rejected"].update(part["rejected"])
            total["features"].update(part["features"])
            total["disagreements"] += part["disagreements"]
            total["seeds"].append(futures[future])
            print(f"[{done}/{len(chunks)}] {total['cases']:,} cases, {len(total['disagreements'])} disagreements, "
                  f"{time.time() - started:,.0f} s", file=sys.stderr, flush=True)
            # What has run so far, so that a run stopped early still reports honestly.
            atomic_write(out / "report.json", json.dumps(summary(total, args, time.time() - started, [],
                                                                 partial=done < len(chunks)), indent=2) + "\n")
    seconds = time.time() - started
    findings = write_findings(total["disagreements"], out / "findings", args.results_rate)
    report = summary(total, args, seconds, findings, partial=False)
    atomic_write(out / "report.json", json.dumps(report, indent=2) + "\n")
    print(f"{report['cases']:,} cases ({report['valid']:,} valid, {report['cases'] - report['valid']:,} rejected) "
          f"in {seconds:,.0f} s on {report['machine']['cpus']} CPUs ({args.workers} workers): "
          f"{report['disagreements']} disagreements")
    for kind, n in report["by_kind"].items():
        print(f"  {n:6d} {kind}")
    print(f"report: {out / 'report.json'}")
    return 0 if not total["disagreements"] else 1


def summary(total: dict, args: argparse.Namespace, seconds: float, findings: list[dict], partial: bool) -> dict:
    """The report: figures, the disagreements by kind, the seeds run (chunks of `start, count`)."""
    return {
        "partial": partial,
        "cases": total["cases"],
        "valid": total["cases"] - sum(total["rejected"].values()),
        "rejected": dict(sorted(total["rejected"].items())),
        "disagreements": len(total["disagreements"]),
        "by_kind": dict(Counter(d["kind"] for d in total["disagreements"]).most_common()),
        "findings": findings,
        "seconds": round(seconds, 1),
        "cases_per_second": round(total["cases"] / max(seconds, 1e-9), 1),
        "settings": {"start": args.start, "workers": args.workers, "chunk": args.chunk,
                     "build_every": args.build_every, "onnx_every": args.onnx_every,
                     "results_rate": args.results_rate},
        "machine": {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "torch": _torch_version()},
        "features": dict(sorted(total["features"].items())),
        "seeds": sorted(total["seeds"]),
        "disagreement_seeds": [{k: d[k] for k in ("seed", "kind", "detail")} for d in total["disagreements"][:200]],
    }


def write_findings(disagreements: list[dict], folder: Path, results_rate: float = 0.0) -> list[dict]:
    """The first seeds of each kind, shrunk, one .arch file each."""
    by_kind: dict[str, list[dict]] = {}
    for d in sorted(disagreements, key=lambda d: d["seed"]):
        by_kind.setdefault(d["kind"], []).append(d)
    written = []
    for kind, items in by_kind.items():
        for d in items[:SHRUNK_PER_KIND]:
            try:
                text = shrink_finding(d["seed"], kind, d["build"], d["onnx"], d["fold_bn"], results_rate)
            except Exception as exc:  # noqa: BLE001 - a seed the generator cannot even write is kept unshrunk
                text = f"# not shrunk: {type(exc).__name__}: {exc}\n"
            name = f"{kind.replace(' ', '-')}-{d['seed']}.arch"
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(folder / name, f"# {kind}: {d['detail']}\n# seed {d['seed']}\n{text}")
            written.append({"kind": kind, "seed": d["seed"], "file": str(folder / name)})
    return written


def replay(seed: int) -> int:
    import torch

    torch.set_num_threads(1)
    from oracle.differential import check
    from oracle.generator import generate

    case = generate(seed)
    print(case.describe())
    with tempfile.TemporaryDirectory() as tmp:
        found = check(case, Path(tmp), build=True)
    for d in found:
        print(f"\n{d}\n\nshrunk:\n{shrink_finding(seed, d.kind, True, False, False)}")
    if not found:
        print(f"\nseed {seed}: every path agrees" + (f" (rejected with {case.error})" if case.error else ""))
    return 1 if found else 0


def _torch_version() -> str:
    import torch

    return torch.__version__


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--start", type=int, default=0, help="the first seed")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=500, help="seeds per worker task")
    parser.add_argument("--build-every", type=int, default=4, help="`archlang build` for one seed in N")
    parser.add_argument("--onnx-every", type=int, default=1000,
                        help="onnxruntime for one seed in N, every other one with --fold-bn (0: none)")
    parser.add_argument("--results-rate", type=float, default=0.0,
                        help="the share of blocks that give several tensors (the generator's Config.results_rate)")
    parser.add_argument("--out", default=str(ROOT / "out" / "differential"))
    parser.add_argument("--replay", type=int, metavar="SEED", help="run one seed, print it and any finding, shrunk")
    args = parser.parse_args()
    if args.replay is not None:
        return replay(args.replay)
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
