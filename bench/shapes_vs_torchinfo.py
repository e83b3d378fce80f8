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


def timed(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr}")
    return elapsed, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each side (median reported)")
    args = parser.parse_args()

    py = sys.executable
    ours_cmd = [py, "-m", "archlang", "shapes", str(SPEC.relative_to(ROOT))]
    theirs_cmd = [py, "-c", TORCHINFO]
    _, ours_json = timed([py, "-m", "archlang", "shapes", str(SPEC), "--format", "json"])
    summary = json.loads(ours_json)
    ours_counts = (summary["params"], summary["macs"])

    bare, ours_s, theirs_s = [], [], []
    theirs_counts = None
    for _ in range(args.runs):
        bare.append(timed([py, "-c", "pass"])[0])
        ours_s.append(timed(ours_cmd)[0])
        seconds, out = timed(theirs_cmd)
        theirs_s.append(seconds)
        theirs_counts = tuple(int(n) for n in re.search(r"TOTALS (\d+) (\d+)", out).groups())

    m_bare, m_ours, m_theirs = (statistics.median(x) for x in (bare, ours_s, theirs_s))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"spec: {SPEC.relative_to(ROOT)}   runs: {args.runs} each, median")
    for what, a, b in zip(("params", "MACs"), ours_counts, theirs_counts):
        print(f"{what}: archlang {a:,}   torchinfo {b:,}   {'same' if a == b else f'differ by {b - a:,}'}")
    print("  (torchinfo's Mult-Adds also count one per bias element and output position; see docs/ops.md)")
    print(f"{'python -c pass':<40}{m_bare * 1000:9.0f} ms")
    print(f"{'archlang shapes (whole process)':<40}{m_ours * 1000:9.0f} ms")
    print(f"{'torchinfo summary of vgg16 (whole)':<40}{m_theirs * 1000:9.0f} ms")
    print(f"ratio: archlang is {m_theirs / m_ours:.1f}x faster (target: at least 20x)")


if __name__ == "__main__":
    main()
