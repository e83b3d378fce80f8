"""Is the module archlang builds as fast as the hand-written one? Side by side, one run.

Pairs (compiled from a spec / written by hand, same weights):

- resnet18:  specs/tv_resnet18.arch  vs torchvision.models.resnet18, batch 8 at 3x96x96
- lenet_bn:  specs/lenet_bn.arch     vs d2l's LeNet with batch norm (7.5, tests/reference_nets.py),
             batch 256 at 1x28x28

For each pair: training steps per second (forward, cross-entropy, backward,
SGD step) and inference latency (eval mode, no grad). Each repetition times
both models back to back, alternating which goes first, so that machine noise
hits both alike. Reported: median times, their ratio as a speed ratio
compiled / hand-written (>= 1: the compiled module is at least as fast), and
the median of the per-repetition ("paired") ratios. `--control` adds the same
measurement with a second hand-written model in the compiled slot: how far
two identical models drift apart on this machine.

    .venv/bin/python bench/torch_speed.py [--reps 15] [--steps 3] [--threads N] [--only resnet18] [--control]
                                          [--device cpu|cuda]

On a GPU (`--device cuda`, the default when one is present) every timing ends
with `torch.cuda.synchronize()`, so it counts the kernels, not their launch.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "tests"))

import archlang  # noqa: E402 - after the path is set
from reference_nets import lenet_bn  # noqa: E402 - d2l 7.5's LeNet with batch norm, as the notes write it


PAIRS = {
    # name: (spec, network parameters, hand-written model, input shape, batch, classes)
    "resnet18": ("specs/tv_resnet18.arch", {}, lambda: torchvision.models.resnet18(), (3, 96, 96), 8, 1000),
    "lenet_bn": ("specs/lenet_bn.arch", {}, lenet_bn, (1, 28, 28), 256, 10),
}


def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Parameters and buffers by order; the shapes must agree one to one."""
    with torch.no_grad():
        for a, b in zip(list(src.parameters()) + list(src.buffers()), list(dst.parameters()) + list(dst.buffers())):
            if a.shape != b.shape:
                raise SystemExit(f"models do not correspond: {tuple(a.shape)} vs {tuple(b.shape)}")
            b.copy_(a)


def synchronize(x: torch.Tensor) -> None:
    """Wait for the device: a GPU's kernels run after the Python that launched them returns."""
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


def train_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    synchronize(x)
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    synchronize(x)
    return (time.perf_counter() - start) / steps


def infer_seconds(model: nn.Module, x: torch.Tensor, steps: int) -> float:
    model.eval()
    with torch.inference_mode():
        synchronize(x)
        start = time.perf_counter()
        for _ in range(steps):
            model(x)
        synchronize(x)
        return (time.perf_counter() - start) / steps


def measure(name: str, reps: int, steps: int, control: bool = False,
            device: str = "cpu") -> dict[str, dict[str, float]]:
    """Median seconds per step of each model, and the median of the paired ratios.

    Each repetition times the two models back to back (alternating which goes
    first), so its ratio hand / compiled is taken under the same machine load;
    the median of those ratios is what the table reports. With `control`, the
    compiled side is a second hand-written model: the ratio then shows the
    noise of the machine, what a difference must exceed to mean anything.
    """
    spec, params, hand_fn, shape, batch, classes = PAIRS[name]
    torch.manual_seed(0)
    compiled = hand_fn() if control else archlang.compile(str(ROOT / spec), **params)
    hand = hand_fn()
    copy_weights(hand, compiled)
    compiled, hand = compiled.to(device), hand.to(device)
    x = torch.randn(batch, *shape, device=device)
    y = torch.randint(0, classes, (batch,), device=device)
    models = {"compiled": compiled, "hand": hand}
    for m in models.values():  # warm-up: allocator, kernels, autograd graph
        train_seconds(m, x, y, 2)
        infer_seconds(m, x, 2)
    timers = {"train": lambda m: train_seconds(m, x, y, steps), "infer": lambda m: infer_seconds(m, x, steps)}
    out = {}
    for what, timer in timers.items():
        times: dict[str, list[float]] = {k: [] for k in models}
        ratios = []
        for rep in range(reps):
            order = list(models) if rep % 2 == 0 else list(models)[::-1]
            now = {key: timer(models[key]) for key in order}
            for key, t in now.items():
                times[key].append(t)
            ratios.append(now["hand"] / now["compiled"])
        out[what] = {"compiled": statistics.median(times["compiled"]), "hand": statistics.median(times["hand"]),
                     "ratio": statistics.median(ratios)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15, help="alternating repetitions (default 15)")
    parser.add_argument("--steps", type=int, default=3, help="steps timed per repetition (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--only", choices=sorted(PAIRS), action="append", help="run only these pairs")
    parser.add_argument("--control", action="store_true",
                        help="also time hand-written against hand-written: the noise floor of the ratios")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="where both models run (default: cuda when a GPU is present, else cpu)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    where = (f"{torch.cuda.get_device_name(args.device)}" if args.device.startswith("cuda")
             else f"CPU only, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    print(f"torch {torch.__version__}, {where}; {args.reps} paired reps x {args.steps} steps, medians")
    runs = [(name, False) for name in args.only or PAIRS]
    if args.control:
        print("(A/A): the hand-written model against a second one, the noise floor of the ratios")
        runs += [(name, True) for name in args.only or PAIRS]
    print(f"{'pair':16} {'what':18} {'compiled':>12} {'hand-written':>13} {'ratio':>8} {'paired':>8}")
    for name, control in runs:
        m = measure(name, args.reps, args.steps, control, args.device)
        label = f"{name} (A/A)" if control else name
        for what, label_what, shown in (("train", "train steps/s", lambda v: 1 / v), ("infer", "inference ms", lambda v: v * 1e3)):
            r = m[what]
            print(f"{label:16} {label_what:18} {shown(r['compiled']):12.2f} {shown(r['hand']):13.2f} "
                  f"{r['hand'] / r['compiled']:8.3f} {r['ratio']:8.3f}")


if __name__ == "__main__":
    main()
