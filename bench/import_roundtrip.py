"""Every torchvision CNN builder through `archlang import` and back.

For each of the 68 classification builders (`list_models` minus vit, swin
and maxvit): the model is built on the meta device and imported; the spec
must check clean; its compiled module must have the builder's state_dict
keys and shapes, and its parameter count (`shapes`) must be torchinfo's.
With real weights (builders under --max-params, at a small input), the
compiled module loads the builder's state_dict strictly and gives its
outputs in eval mode (1e-5 relative), batch-norm statistics randomised.
Also prints each spec's non-comment lines and the import's seconds.

    .venv/bin/python bench/import_roundtrip.py [BUILDER ...] [--max-params 100e6] [--out DIR]

The summary (round trips by stage, failures with their first line) goes to
out/import/report.json; with --out, the imported specs are kept there.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
import torchinfo
import torchvision.models as tvm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archlang  # noqa: E402
from archlang.importer import import_module  # noqa: E402

# The smallest inputs every builder takes (inception_v3 needs 75x75; the rest 32 or 64).
INPUT = {"inception_v3": 96, "googlenet": 64}
DEFAULT_SIZE = 64


def builders() -> list[str]:
    return [n for n in tvm.list_models(module=tvm) if not n.startswith(("vit_", "swin_", "maxvit"))]


def make(name: str, device: str) -> torch.nn.Module:
    kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    try:
        with torch.device(device):
            return getattr(tvm, name)(**kwargs).eval()
    except NotImplementedError:         # regnet computes its widths with tensors: build on the CPU
        return getattr(tvm, name)(**kwargs).eval().to(device)


def non_comment_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def randomise_statistics(model: torch.nn.Module) -> None:
    """Batch-norm statistics that differ from their initial 0 and 1, so that they matter."""
    generator = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=generator) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) + 0.5)


def round_trip(name: str, max_params: float, out: Path | None) -> dict:
    size = INPUT.get(name, DEFAULT_SIZE)
    row: dict = {"builder": name, "input": f"{size}x{size}"}
    meta = make(name, "meta")
    start = time.perf_counter()
    text = import_module(meta, input=[3, size, size], network="Imported")
    row["import_s"] = round(time.perf_counter() - start, 2)
    row["lines"] = non_comment_lines(text)
    row["stage"] = "imported"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(out or tmp) / f"{name}.arch"
        path.write_text(text)
        problems = [f"{d.code} {d.message}" for d in archlang.check(path)]
        if problems:
            row["error"] = "not clean: " + "; ".join(problems[:3])
            return row
        row["stage"] = "checks clean"
        graph = archlang.load(path).network("Imported")
        row["params"] = graph.params_total
        with torch.device("meta"):
            rebuilt = archlang.compile(path)
        mine = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
        theirs = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
        if mine != theirs:
            row["error"] = f"state_dict differs: {sorted(set(mine) ^ set(theirs))[:4]}"
            return row
        row["stage"] = "same state_dict"
        theirs_params = sum(p.numel() for p in meta.parameters())
        if row["params"] != theirs_params:
            row["error"] = f"{row['params']} parameters, torch's {theirs_params}"
            return row
        if theirs_params > max_params:
            return row
        original = make(name, "cpu")
        randomise_statistics(original)
        stats = torchinfo.summary(original, input_size=(1, 3, size, size), verbose=0)
        if stats.total_params != row["params"]:
            row["error"] = f"{row['params']} parameters, torchinfo's {stats.total_params}"
            return row
        model = archlang.compile(path).eval()
        model.load_state_dict(original.state_dict(), strict=True)
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            expected, got = original(x), model(x)
        if not torch.allclose(got, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max())):
            row["error"] = f"outputs differ by {float((got - expected).abs().max()):.3g}"
            return row
        row["stage"] = "equal outputs"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builders", nargs="*", help="builders to try (default: all 68)")
    parser.add_argument("--max-params", type=float, default=100e6,
                        help="compare outputs for builders up to this many parameters (default 100e6)")
    parser.add_argument("--verbose", action="store_true", help="print the traceback of each failure")
    parser.add_argument("--out", type=Path, help="keep the imported specs in this folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.builders or builders():
        try:
            row = round_trip(name, args.max_params, args.out)
        except Exception as exc:  # noqa: BLE001 - a failure is a row of the report
            row = {"builder": name, "stage": "failed", "error": f"{type(exc).__name__}: "
                   f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]}
            if args.verbose:
                traceback.print_exc()
        rows.append(row)
        print(f"{name:22} {row['stage']:16} {row.get('lines', ''):>4} lines {row.get('import_s', '')}s "
              f"{row.get('error', '')}", flush=True)
    stages = {}
    for row in rows:
        ok = "error" not in row and row["stage"] != "failed"
        stages[row["stage"] if ok else "failed"] = stages.get(row["stage"] if ok else "failed", 0) + 1
    report = {"builders": len(rows), "by_stage": stages, "rows": rows,
              "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread"}
    target = ROOT / "out" / "import" / "report.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}))


if __name__ == "__main__":
    main()
