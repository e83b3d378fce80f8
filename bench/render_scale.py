"""How `archlang render` scales: generated specs of 250 to 2,000 layers.

Each spec is a chain of residual blocks (conv bn relu plus an identity path)
followed by as many plain conv bn relu rows, so the drawing has clusters,
skip edges and long straight runs. For each size: elaborating the spec, the
DOT text (`to_dot`), and Graphviz's `dot` laying it out to SVG, at full depth
and at `--depth 0` (the blocks folded into one box). Medians of N runs.
Target: a 1,000-layer spec drawn in a few seconds.

    .venv/bin/python bench/render_scale.py [--runs 3]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archlang  # noqa: E402
from archlang.backends import graphviz as gv  # noqa: E402

SIZES = (250, 500, 1000, 2000)


def spec(layers: int) -> str:
    k = -(-layers // 7)  # a residual unit is 4 nodes (conv bn relu add), a plain row 3
    return (f"block Unit(c) {{\n    add {{\n      | conv(c, k=3, p=1) bn relu\n      | identity\n    }}\n}}\n"
            f"network Deep {{\n    input [8, 16, 16]\n    repeat {k} {{ Unit(8) }}\n"
            f"    repeat {k} {{ conv(8, k=3, p=1) bn relu }}\n}}\n")


def median_seconds(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not gv.dot_available():
        print("Graphviz's dot is not installed: apt-get install graphviz")
        return 2
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; median of {args.runs} runs, seconds")
    print(f"{'layers':>7}{'elaborate':>11}{'to_dot':>9}{'dot svg':>9}{'total':>8}{'depth 0 total':>15}")
    archlang.load(spec(10)).network()  # pay the one-time costs (imports, grammar) outside the timings
    for size in SIZES:
        text = spec(size)
        t_elab, graph = median_seconds(lambda: archlang.load(text).network(), args.runs)
        t_dot, dot = median_seconds(lambda: gv.to_dot(graph), args.runs)
        t_svg, _ = median_seconds(lambda: gv.to_bytes(dot, "svg"), args.runs)
        t_folded, _ = median_seconds(lambda: gv.to_bytes(gv.to_dot(graph, depth=0), "svg"), args.runs)
        total = t_elab + t_dot + t_svg
        print(f"{len(graph.layers()):>7}{t_elab:>11.3f}{t_dot:>9.3f}{t_svg:>9.3f}{total:>8.2f}"
              f"{t_elab + t_folded:>15.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
