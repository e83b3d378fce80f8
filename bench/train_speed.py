"""Examples per second: `archlang train`'s loop against the notes' hand-written `train_ch6`.

Same model (LeNet with batch norm, compiled from specs/lenet_bn.arch), same
data, same batch size (256), same lr and epochs, in one run. The two loops
alternate, round after round, so a busy machine slows both alike; each figure
is the median over rounds of the training throughput of every epoch but the
first (warm-up), measured the same way for both: the epoch's batch loop, data
loading included, evaluation excluded, per wall-clock second and per CPU
second of the process (all threads: steadier when other jobs share the
cores). The ratio is the median of the rounds' own ratios, with the lowest
and highest beside it; the best ratio compares each side's fastest epoch (as
timeit takes the best run: the figure least disturbed by other jobs).

The notes' loop is d2l's `train_ch6` as the notes call it, without the
Animator (a notebook display): a DataLoader over the in-memory tensors
(`d2l.load_array`), Xavier init, SGD, and the per-batch `Accumulator` that
reads the loss and accuracy back every step. d2l's own timer leaves the
DataLoader's time out; that figure is printed too, for comparison with the
notes' printed line.

Data: the real digits (1438 training images at 28x28: 6 steps an epoch, short),
and 16384 synthetic images at 28x28 (64 steps an epoch, steadier). Target:
archlang / notes >= 0.95 on the CPU; on a GPU, recorded.

    .venv/bin/python bench/train_speed.py [--rounds 7] [--epochs 3] [--device cpu|cuda] [--threads N]
"""
from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils import data as tud  # noqa: E402

import archlang  # noqa: E402
from archlang.train import ModuleModel, TrainConfig, train  # noqa: E402
from archlang.train.data import load_data, parse_data  # noqa: E402
from archlang.train.fit import fit, prepare  # noqa: E402
from archlang.train.report import Reporter  # noqa: E402

BATCH, LR = 256, 0.9
SHAPE = (1, 28, 28)
SPEC = ROOT / "specs" / "lenet_bn.arch"


def lenet_bn() -> nn.Module:
    """The notes' LeNet with batch norm, as archlang compiles it; both loops train this."""
    return archlang.compile(str(SPEC))


# -- the notes' loop (d2l 6.6 train_ch6, less the Animator) ------------------------------------

class Accumulator:
    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def __getitem__(self, idx):
        return self.data[idx]


def accuracy(y_hat, y):
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def evaluate_accuracy_gpu(net, data_iter, device):
    net.eval()
    metric = Accumulator(2)
    with torch.no_grad():
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def train_ch6(net, train_iter, test_iter, num_epochs, lr, device):
    """Per epoch: (examples, wall and d2l-timer seconds, CPU seconds of the batch loop)."""
    def init_weights(m):
        if type(m) == nn.Linear or type(m) == nn.Conv2d:
            nn.init.xavier_uniform_(m.weight)
    net.apply(init_weights)
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    epochs = []
    for epoch in range(num_epochs):
        metric = Accumulator(3)
        net.train()
        timer = 0.0
        began, began_cpu = time.perf_counter(), time.process_time()
        for i, (X, y) in enumerate(train_iter):
            t = time.perf_counter()
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l * X.shape[0], accuracy(y_hat, y), X.shape[0])
            timer += time.perf_counter() - t
        wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        evaluate_accuracy_gpu(net, test_iter, device)
        epochs.append((metric[2], wall, timer, cpu))
    return epochs


# -- one round of each ---------------------------------------------------------------------------

def prepared(source: str):
    """The data as both loops see it: fitted to 28x28 and scaled to [0, 1] once."""
    d = load_data(parse_data(source), SHAPE, 10)
    f = fit(d, SHAPE, None, "LeNetBN")
    return d, [(prepare(s.images, d.scale, f), s.labels) for s in (d.train, d.test)]


def notes_round(factory, splits, epochs: int, device: str) -> tuple[float, float]:
    (xtr, ytr), (xte, yte) = splits
    train_iter = tud.DataLoader(tud.TensorDataset(xtr, ytr), BATCH, shuffle=True)
    test_iter = tud.DataLoader(tud.TensorDataset(xte, yte), BATCH, shuffle=False)
    torch.manual_seed(0)
    rows = train_ch6(factory(), train_iter, test_iter, epochs, LR, torch.device(device))[1:]
    n = sum(r[0] for r in rows)
    best = max(r[0] / r[1] for r in rows)
    return n / sum(r[1] for r in rows), n / sum(r[2] for r in rows), n / sum(r[3] for r in rows), best


class EpochClock(Reporter):
    """Silent, and times each epoch's training part: the session opens the progress bar
    when an epoch's steps start and closes it when they end."""

    def __init__(self) -> None:
        super().__init__(main=False)
        self.cpu: list[float] = []

    @contextlib.contextmanager
    def epoch_bar(self, *args, **kw):
        began = time.process_time()
        yield lambda *a: None
        self.cpu.append(time.process_time() - began)


def archlang_round(factory, source: str, epochs: int, device: str, workdir: Path) -> tuple[float, float]:
    out = Path(tempfile.mkdtemp(dir=workdir))
    clock = EpochClock()
    result = train(ModuleModel(factory, SHAPE, 10, "LeNetBN"),
                   TrainConfig(data=source, epochs=epochs, batch_size=BATCH, lr=LR, device=device,
                               out=out / "run", quiet=True), reporter=clock)
    rows = result.history.epochs[1:]
    n = sum(r.examples for r in rows)
    best = max(r.examples / r.seconds for r in rows)
    return n / sum(r.seconds for r in rows), n / sum(clock.cpu[1:]), best


class Round(NamedTuple):
    """One round's examples/sec: the notes' loop (wall, d2l timer, CPU, best epoch), then archlang's."""
    notes_wall: float
    notes_timer: float
    notes_cpu: float
    notes_best: float
    ours_wall: float
    ours_cpu: float
    ours_best: float


def spread(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--data", nargs="+", default=["digits", "synthetic:16384"])
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default torch's); 1 keeps CPU time honest on a loaded machine, "
                         "where waiting OpenMP threads spin")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    factory, model_name = lenet_bn, SPEC.relative_to(ROOT)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else cpu_name()
    print(f"# train speed: {model_name}, batch {BATCH}, {args.epochs} epochs x {args.rounds} rounds, "
          f"{args.device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'data':<16} {'notes loop':>11} {'(d2l timer)':>12} {'archlang':>11} {'ratio':>17}"
          f" {'notes/CPU s':>12} {'archlang/CPU s':>15} {'ratio':>17} {'best ratio':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for source in args.data:
            _, splits = prepared(source)
            rounds = []
            for _ in range(args.rounds):
                ours = archlang_round(factory, source, args.epochs, args.device, Path(tmp))
                rounds.append(Round(*notes_round(factory, splits, args.epochs, args.device), *ours))
            wall, timer, cpu, _, ours_wall, ours_cpu, _ = (statistics.median(col) for col in zip(*rounds))
            # the fastest epoch of each side, as timeit takes the best run: what the code
            # can do when nothing else is running
            best = max(r.ours_best for r in rounds) / max(r.notes_best for r in rounds)
            # the ratio of each round, its two sides run back to back: a shared machine's
            # slow spells, which last longer than a round, cancel out of it
            wall_ratios = sorted(r.ours_wall / r.notes_wall for r in rounds)
            cpu_ratios = sorted(r.ours_cpu / r.notes_cpu for r in rounds)
            print(f"{source:<16} {wall:>11.1f} {timer:>12.1f} {ours_wall:>11.1f} {spread(wall_ratios):>17}"
                  f" {cpu:>12.1f} {ours_cpu:>15.1f} {spread(cpu_ratios):>17} {best:>10.2f}")
    print("examples/sec of training, median over rounds: per wall-clock second, then per CPU second "
          "(all threads; steadier on a shared machine); ratio = archlang / the notes' loop, the median "
          "of the rounds' ratios (lowest-highest); best ratio = archlang's fastest epoch / the notes' fastest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
