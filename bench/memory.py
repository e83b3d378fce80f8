"""The training-memory estimate against what a GPU really allocates.

For each spec (default: specs/tv_resnet18.arch and specs/googlenet.arch,
at batch 32 and 64), runs one training step of the compiled module on the
GPU (forward in training mode, cross-entropy on random labels, backward,
the optimizer's step) after a warm-up step, and prints beside archlang's
estimate (`archlang shapes --train`):

- `torch.cuda.max_memory_allocated` over the step, less what was allocated
  before it that the estimate does not count (the input batch, the labels),
  against `peak_estimate`;
- the saved activations autograd keeps (`saved_tensors_hooks`, as
  tests/test_memory.py measures them on the CPU) against `activations_saved`.

The ratios are estimate / measured. The estimate leaves out the CUDA
context, cuDNN's workspaces and the caching allocator's rounding; the peak
ratio says how much of that a real step adds.

    .venv/bin/python bench/memory.py [--spec FILE ...] [--batch 32 64] [--optimizer sgd] [--dtype fp32]

Without a GPU there is nothing to measure: it says so and exits 0.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archlang  # noqa: E402
from archlang import memory  # noqa: E402

DEFAULT_SPECS = ["specs/tv_resnet18.arch", "specs/googlenet.arch"]


def measure(torch, spec: str, batch: int, optimizer: str, dtype: str) -> dict:
    """One training step on the GPU: its peak allocation and the bytes autograd saved."""
    device = torch.device("cuda")
    model = archlang.compile(ROOT / spec).to(device).train()
    classes = model.arch_outputs[0][1][0]
    (_, shape), = model.arch_inputs
    opt = {"sgd": lambda p: torch.optim.SGD(p, lr=0.01),
           "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
           "adam": lambda p: torch.optim.Adam(p, lr=1e-3),
           "adamw": lambda p: torch.optim.AdamW(p, lr=1e-3)}[optimizer](model.parameters())
    x = torch.randn((batch, *shape), device=device)
    y = torch.randint(0, classes, (batch,), device=device)
    amp = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    own = {t.untyped_storage()._cdata for t in [*model.parameters(), *model.buffers()]}
    saved: dict[int, int] = {}

    def pack(t):
        if t.untyped_storage()._cdata not in own:
            saved[t.untyped_storage()._cdata] = t.untyped_storage().nbytes()
        return t

    def step(hooks: bool) -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=amp or torch.float32, enabled=amp is not None):
            if hooks:
                with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                    loss = torch.nn.functional.cross_entropy(model(x), y)
            else:
                loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    step(hooks=False)            # warm-up: cuDNN picks its algorithms, the optimizer makes its state
    opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    step(hooks=True)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    inputs = x.untyped_storage().nbytes() + y.untyped_storage().nbytes()
    graph = archlang.load(ROOT / spec).network()
    estimate = memory.estimate(graph, batch=batch, optimizer=optimizer, dtype=dtype)
    # `before` holds the parameters and the optimizer's state (what the estimate counts) and the batch
    del model, opt, x, y
    torch.cuda.empty_cache()
    return {"spec": spec, "batch": batch, "optimizer": optimizer, "dtype": dtype,
            "peak_measured": peak - inputs, "peak_estimate": estimate.peak_estimate,
            "saved_measured": sum(saved.values()), "saved_estimate": estimate.activations_saved,
            "held_before_step": before - inputs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", nargs="+", default=DEFAULT_SPECS, help="spec files (default: %(default)s)")
    parser.add_argument("--batch", nargs="+", type=int, default=[32, 64])
    parser.add_argument("--optimizer", default="sgd", choices=tuple(memory.OPTIMIZER_STATES))
    parser.add_argument("--dtype", default="fp32", choices=tuple(memory.DTYPES))
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("bench/memory.py: torch is not installed; nothing to measure")
        return 0
    if not torch.cuda.is_available():
        print("bench/memory.py: no CUDA GPU on this machine; torch.cuda.max_memory_allocated has nothing to "
              "measure (tests/test_memory.py checks the saved activations on the CPU)")
        return 0
    rows = []
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {args.optimizer}, {args.dtype}")
    print(f"{'spec':<28} {'batch':>5} {'peak est':>12} {'peak meas':>12} {'ratio':>6} "
          f"{'saved est':>12} {'saved meas':>12} {'ratio':>6}")
    for spec in args.spec:
        for batch in args.batch:
            r = measure(torch, spec, batch, args.optimizer, args.dtype)
            rows.append(r)
            print(f"{spec:<28} {batch:>5} {r['peak_estimate']:>12,} {r['peak_measured']:>12,} "
                  f"{r['peak_estimate'] / r['peak_measured']:>6.3f} {r['saved_estimate']:>12,} "
                  f"{r['saved_measured']:>12,} {r['saved_estimate'] / r['saved_measured']:>6.3f}", flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
