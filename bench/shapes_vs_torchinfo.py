"""Whole-process start-up: `archlang shapes` on vgg16 against torchinfo's summary.

Both sides are fresh processes doing everything a user waits for: archlang
parses, elaborates and prints the layer table of torchvision's vgg16 at
3x224x224; the other imports torch, torchvision and torchinfo, builds vgg16
and calls `summary(model, (1, 3, 224, 224))`. Runs alternate so that load on
the machine hits both alike; the median of N runs is reported with the ratio
(target: archlang at least 20x faster). Both parameter counts are printed too:
the comparison is only fair if both describe the same network. (MACs differ
by the bias adds, which torchinfo counts and archlang does not: docs/ops.md.)

    .venv/bin/python bench/shapes_vs_torchinfo.py [--runs 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "tv_vgg16.arch"
if not SPEC.exists():
    SPEC = ROOT / "bench" / "specs" / "tv_vgg16.arch"

TORCHINFO = """
import torch, torchvision
from torchinfo import summary
model = torchvision.models.vgg16()
stats = summary(model, (1, 3, 224, 224), verbose=1)
print("TOTALS", stats.total_params, stats.total_mult_adds)
"""

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


def timed(argv: list[str]) -> tuple[float, float, str]:
    """Wall-clock and CPU seconds (user + system) of one process, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each side (median reported)")
    args = parser.parse_args()

    py = sys.executable
    ours_cmd = [py, "-m", "archlang", "shapes", str(SPEC.relative_to(ROOT))]
    theirs_cmd = [py, "-c", TORCHINFO]
    *_, ours_json = timed([py, "-m", "archlang", "shapes", str(SPEC), "--format", "json"])
    summary = json.loads(ours_json)
    ours_counts = (summary["params"], summary["macs"])

    samples: dict[str, list[tuple[float, float]]] = {"bare": [], "ours": [], "theirs": []}
    theirs_counts = None
    for _ in range(args.runs):
        samples["bare"].append(timed([py, "-c", "pass"])[:2])
        samples["ours"].append(timed(ours_cmd)[:2])
        seconds, cpu, out = timed(theirs_cmd)
        samples["theirs"].append((seconds, cpu))
        theirs_counts = tuple(int(n) for n in re.search(r"TOTALS (\d+) (\d+)", out).groups())
    wall = {k: statistics.median(s[0] for s in v) for k, v in samples.items()}
    cpu = {k: statistics.median(s[1] for s in v) for k, v in samples.items()}

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"spec: {SPEC.relative_to(ROOT)}   runs: {args.runs} each, median")
    for what, a, b in zip(("params", "MACs"), ours_counts, theirs_counts):
        print(f"{what}: archlang {a:,}   torchinfo {b:,}   {'same' if a == b else f'differ by {b - a:,}'}")
    print("  (torchinfo's Mult-Adds also count one per bias element and output position; see docs/ops.md)")
    print(f"{'':<38}{'wall':>9}{'CPU':>12}")
    for key, title in (("bare", "python -c pass"), ("ours", "archlang shapes (whole process)"),
                       ("theirs", "torchinfo summary of vgg16 (whole)")):
        print(f"{title:<38}{wall[key] * 1000:6.0f} ms{cpu[key] * 1000:9.0f} ms")
    print(f"ratio: archlang is {wall['theirs'] / wall['ours']:.1f}x faster in wall-clock time, "
          f"{cpu['theirs'] / cpu['ours']:.1f}x in CPU time (target: at least 20x)")


if __name__ == "__main__":
    main()
