"""Two processes with gloo on the CPU train the same model as one process.

Why the comparison can be tight: `--batch-size` is the global batch, both
processes draw the same order and each takes half of every global batch, and
each scales its summed loss by world / global batch, so the gradient DDP
averages is the one process's gradient of the same batch. What remains is
floating-point summation order (two half-batch sums added, instead of one
sum), about one float32 rounding per step. Measured here: a largest weight
difference of 4.8e-7 after 46 steps; the tolerance, 1e-5, leaves room for
other CPUs' kernels while still catching any real difference (both processes
taking the same half of each batch moved a weight by 0.77).

The net has no batch norm on purpose: under DDP each process normalises with
its own half batch's statistics, which is a different computation, not a
rounding difference.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from archlang.train import ModuleModel, TrainConfig, train
from archlang.train.distributed import free_port

TOLERANCE = 1e-5


def net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, 10))


def config(out: Path) -> TrainConfig:
    return TrainConfig(epochs=2, batch_size=64, lr=0.1, momentum=0.9, out=out, quiet=True)


def source() -> ModuleModel:
    return ModuleModel(net, (1, 8, 8), 10, "Net")


def worker(rank: int, world: int, port: int, out: str) -> None:
    """One process of the job, with the environment torchrun would give it."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    train(source(), config(Path(out)))


def test_two_gloo_processes_agree_with_one(tmp_path, capfd):
    torch.set_num_threads(1)
    single = train(source(), config(tmp_path / "single"))
    mp.spawn(worker, args=(2, free_port(), str(tmp_path / "ddp")), nprocs=2, join=True)

    a = torch.load(tmp_path / "single" / "final.pt", weights_only=True)
    b = torch.load(tmp_path / "ddp" / "final.pt", weights_only=True)
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < TOLERANCE
    moved = max(float((a[k] - net().state_dict()[k]).abs().max()) for k in a)
    assert moved > 100 * TOLERANCE   # the weights really trained

    import json
    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert ddp["device"] == "2 x cpu"
    for one, two in zip(single.history.epochs, ddp["epochs"]):
        assert two["examples"] == one.examples == 1438          # every example once, across both
        assert two["train_loss"] == pytest.approx(one.train_loss, rel=1e-5)
        assert two["test_acc"] == pytest.approx(one.test_acc, abs=1 / 359)  # one test image at most
    # only rank 0 prints: one summary line from the single run, one from the job
    out = capfd.readouterr().out
    assert out.count("examples/sec on") == 2 and "examples/sec on 2 x cpu" in out
