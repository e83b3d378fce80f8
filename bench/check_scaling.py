"""How `archlang check` scales: generated specs of 1,000 and 10,000 layers.

Each spec is written out in full (one layer per word, block calls mixed in),
so the parser, elaboration and the passes all see every layer. `check` runs
in-process through the CLI's own entry point, after a warm-up that pays the
one-time costs (imports, grammar), and the median of N runs is reported.
Targets: 10,000 layers in under 1 s, and 10x the layers at most 12x the time.

    .venv/bin/python bench/check_scaling.py [--runs 3]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archlang.cli import main as archlang_main  # noqa: E402

HEADER = """\
block Unit(c) {
    conv(c, k=3, p=1) bn relu
}

network Deep(width = 8) {
    input [8, 16, 16]
"""


def generate(layers: int) -> str:
    """A network of exactly `layers` layers: lines of literal layers alternate with block calls."""
    lines = [HEADER]
    body = layers - 3  # gap flatten linear at the end
    count = 0
    while count + 3 <= body:
        if (count // 3) % 2:
            lines.append("    Unit(width)\n")
        else:
            lines.append("    conv(width, k=3, p=1) bn relu\n")
        count += 3
    lines.append("    relu\n" * (body - count))
    lines.append("    gap flatten linear(10)\n}\n")
    return "".join(lines)


def time_check(path: Path, runs: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds; CPU time shows the cost on a machine others load."""
    wall, cpu = [], []
    for _ in range(runs):
        out, err = io.StringIO(), io.StringIO()
        start, start_cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = archlang_main(["check", str(path)])
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        if code != 0:
            sys.exit(f"check failed on {path} ({code}):\n{err.getvalue()[:2000]}")
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for n in (100, 1_000, 10_000):
            paths[n] = Path(tmp) / f"deep{n}.arch"
            paths[n].write_text(generate(n), encoding="utf-8")
        time_check(paths[100], 1)  # warm-up: imports, grammar, prelude
        times = {n: time_check(paths[n], args.runs) for n in (1_000, 10_000)}

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"load average: {os.getloadavg()[0]:.1f}   runs: {args.runs} each, median, "
          f"in-process (parse + elaborate + passes)")
    for n, (wall, cpu) in times.items():
        print(f"check, {n:>6,} layers: {wall * 1000:6.0f} ms wall, {cpu * 1000:6.0f} ms CPU   "
              f"({wall / n * 1e6:.0f} us per layer)")
    ratio = times[10_000][0] / times[1_000][0]
    print(f"ratio 10,000 / 1,000: {ratio:.1f}   (targets: 10,000 layers under 1 s, ratio at most 12)")


if __name__ == "__main__":
    main()
