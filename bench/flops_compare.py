"""archlang's MACs and FLOPs against torchinfo, fvcore and ptflops on torchvision models.

For each model (the spec of specs/ that is torchvision's, and torchvision's
own module at 3x224x224, batch 1), prints one row per counter: its total,
its ratio to archlang's MACs, and, for archlang, the parts of its FLOPs
(2 x MAC, the biases, norms, activations, pooling, adds) so that each
counter's difference can be explained (docs/design.md, "FLOPs"). The parts
come from the op table (`OpSpec.flops`) per layer.

    .venv/bin/python bench/flops_compare.py [--json out/flops_compare.json]

Needs torch and torchvision; torchinfo, fvcore and ptflops come with the
test extras (pip install 'archlang[torch,test]'); a counter that is not
installed is reported as such. tests/test_flops.py checks the explanations
on a small network in the suite.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archlang  # noqa: E402

MODELS = [("resnet18", "tv_resnet18.arch"), ("vgg11", "tv_vgg11.arch"), ("densenet121", "tv_densenet121.arch")]
FAMILIES = {"conv": "weights", "conv_transpose": "weights", "linear": "weights", "channel_linear": "weights",
            "bn": "norms", "groupnorm": "norms", "layernorm": "norms", "lrn": "norms",
            "maxpool": "pooling", "avgpool": "pooling", "gap": "pooling", "adaptive_avgpool": "pooling",
            "add": "adds"}


def archlang_counts(spec: Path) -> dict:
    graph = archlang.load(spec).network()
    parts = {"2 x MAC": 2 * graph.macs_total, "bias": 0, "norms": 0, "activations": 0, "pooling": 0, "adds": 0}
    for node in graph.layers():
        family = FAMILIES.get(node.op, "activations" if node.flops else None)
        if family == "weights":
            parts["bias"] += node.flops - 2 * node.macs
        elif family is not None:
            parts[family] += node.flops
    return {"params": graph.params_total, "macs": graph.macs_total, "flops": graph.flops_total, "parts": parts}


def torchinfo_macs(model, torch) -> int | None:
    try:
        from torchinfo import summary
    except ImportError:
        return None
    return summary(model, (1, 3, 224, 224), verbose=0).total_mult_adds


def fvcore_flops(model, torch) -> int | None:
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        return None
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    analysis = FlopCountAnalysis(model, torch.randn(1, 3, 224, 224))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(analysis.total())


def ptflops_macs(model, torch, backend: str) -> int | None:
    try:
        from ptflops import get_model_complexity_info
    except ImportError:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        macs, _ = get_model_complexity_info(model, (3, 224, 224), as_strings=False, print_per_layer_stat=False,
                                            backend=backend)
    return int(macs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    import torch
    import torchvision

    torch.set_num_threads(1)
    report = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, torch {torch.__version__}",
              "models": {}}
    for name, spec in MODELS:
        ours = archlang_counts(ROOT / "specs" / spec)
        model = getattr(torchvision.models, name)().eval()
        counters = {"archlang MACs": ours["macs"], "archlang FLOPs": ours["flops"],
                    "torchinfo mult-adds": torchinfo_macs(model, torch), "fvcore": fvcore_flops(model, torch),
                    "ptflops (pytorch backend)": ptflops_macs(model, torch, "pytorch"),
                    "ptflops (aten backend)": ptflops_macs(model, torch, "aten")}
        report["models"][name] = {"params": ours["params"], "counters": counters, "archlang_parts": ours["parts"]}
        print(f"\n{name} ({spec}, 3x224x224, batch 1; params {ours['params']:,})")
        for counter, value in counters.items():
            shown = "not installed" if value is None else f"{value:>16,}  {value / ours['macs']:.4f} x MACs"
            print(f"  {counter:<28} {shown}")
        print("  archlang FLOPs = " + " + ".join(f"{k} {v:,}" for k, v in ours["parts"].items()))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
