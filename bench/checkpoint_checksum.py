"""What checking a checkpoint's zip checksums costs, next to loading it.

torch.load does not check the CRC-32 each member of torch.save's zip archive
carries, so `--resume` and `export --weights` read every member once more
(`fsutil.zip_damage`, zipfile's testzip) before loading. This measures both,
side by side in one run, on state dicts of a few sizes saved with
torch.save, from the page cache (the file was just written) and reports the
median of N runs, the ratio check / load, and zipfile's own testzip (which
reads each member through Python's zip reader) against the check.

    .venv/bin/python bench/checkpoint_checksum.py [--runs 5] [--sizes 10,100,400]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archlang.fsutil import zip_damage  # noqa: E402


def state_of(megabytes: int) -> dict[str, torch.Tensor]:
    """Float32 tensors of 1M elements (4 MB) each, as many as make `megabytes`."""
    return {f"layer{i}.weight": torch.randn(1 << 20) for i in range(max(1, megabytes // 4))}


def median_seconds(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="10,100,400", help="checkpoint sizes in MB, comma-separated")
    args = parser.parse_args()
    print(f"{platform.machine()}, {platform.python_version()}, torch {torch.__version__}; median of {args.runs}")
    print(f"{'MB':>6} {'torch.load s':>13} {'checksums s':>12} {'testzip s':>10} {'check/load':>11} "
          f"{'testzip/check':>14}")
    with tempfile.TemporaryDirectory() as scratch:
        for megabytes in (int(s) for s in args.sizes.split(",")):
            path = Path(scratch) / f"{megabytes}.pt"
            torch.save(state_of(megabytes), path)
            load = median_seconds(lambda: torch.load(path, map_location="cpu", weights_only=True), args.runs)
            check = median_seconds(lambda: zip_damage(path), args.runs)
            testzip = median_seconds(lambda: zipfile.ZipFile(path).testzip(), args.runs)
            size = path.stat().st_size / 1e6
            print(f"{size:6.0f} {load:13.3f} {check:12.3f} {testzip:10.3f} {check / load:11.2f} "
                  f"{testzip / check:14.2f}")
            path.unlink()


if __name__ == "__main__":
    main()
