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


def time_check(path: Path, runs: int) -> float:
    samples = []
    for _ in range(runs):
        out, err = io.StringIO(), io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = archlang_main(["check", str(path)])
        samples.append(time.perf_counter() - start)
        if code != 0:
            sys.exit(f"check failed on {path} ({code}):\n{err.getvalue()[:2000]}")
    return statistics.median(samples)


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
    print(f"runs: {args.runs} each, median, in-process (parse + elaborate + passes)")
    for n, seconds in times.items():
        print(f"check, {n:>6,} layers: {seconds * 1000:8.0f} ms   ({seconds / n * 1e6:.0f} us per layer)")
    ratio = times[10_000] / times[1_000]
    print(f"ratio 10,000 / 1,000: {ratio:.1f}   (targets: 10,000 layers under 1 s, ratio at most 12)")


if __name__ == "__main__":
    main()
