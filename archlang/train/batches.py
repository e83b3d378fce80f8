"""Batches: one global order per epoch, each global batch split across processes.

`--batch-size` is the global batch. Every process draws the same permutation
(seeded by the run's seed and the epoch) and takes its contiguous share of
each global batch, so N processes see exactly the examples one process would,
step for step. With the loss scaled by world / global batch (loop.py), the
gradients DDP averages equal the single process's.

The order depends only on (seed, epoch), which is what lets `--resume` pick up
in the middle of an epoch: skip the steps already done.

Small data sets live on the device as tensors and batches are sliced there,
with no DataLoader and no worker processes; folders go through a DataLoader
whose workers decode and resize the images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from .data import FolderData, Split
from .fit import Fit, folder_transform, prepare

# Data that, once fitted, takes at most this much memory is fitted once up
# front; larger data keeps its raw (often uint8) pixels and is fitted per batch.
PREPARE_ONCE_BYTES = 1 << 30


@dataclass(frozen=True)
class BatchPlan:
    """Which examples each process takes at each step of an epoch."""

    n: int
    batch_size: int
    rank: int = 0
    world: int = 1
    seed: int = 0
    shuffle: bool = True
    drop_small_tail: bool = True   # training: see steps()

    @property
    def steps(self) -> int:
        """Full batches, plus the last partial one when every process gets at least
        two examples of it (BatchNorm cannot train on one; DDP cannot skip a step)."""
        full, tail = divmod(self.n, self.batch_size)
        keep_tail = tail > 0 and (not self.drop_small_tail or tail >= 2 * self.world)
        return full + int(keep_tail)

    @property
    def smallest_local(self) -> int:
        """The fewest examples one process gets in a step (full batches, and a kept tail)."""
        full, tail = divmod(self.n, self.batch_size)
        sizes = ([self.batch_size // self.world] if full else []) + ([tail // self.world] if self.steps > full else [])
        return min(sizes, default=0)

    def order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        gen = torch.Generator().manual_seed(_mix(self.seed, epoch))
        return torch.randperm(self.n, generator=gen)

    def local(self, order: torch.Tensor, step: int) -> torch.Tensor:
        """This process's indices at `step`: its contiguous share of the global batch."""
        batch = order[step * self.batch_size:(step + 1) * self.batch_size]
        return torch.tensor_split(batch, self.world)[self.rank]

    def global_size(self, step: int) -> int:
        return min(self.batch_size, self.n - step * self.batch_size)


def _mix(seed: int, epoch: int) -> int:
    # distinct, reproducible streams per (seed, epoch); kept within int64
    return (seed * 1_000_003 + epoch * 7_919 + 12_345) % (2 ** 63)


@dataclass
class Batch:
    x: torch.Tensor
    y: torch.Tensor
    global_n: int   # examples in the global batch, across all processes


class TensorBatches:
    """An in-memory split on the device, fitted, sliced per step."""

    def __init__(self, split: Split, scale: float, fit_: Fit, plan: BatchPlan, device: torch.device,
                 channels_last: bool = False) -> None:
        self.plan, self.device, self.channels_last = plan, device, channels_last
        self.fit, self.scale = fit_, scale
        fitted_bytes = len(split) * fit_.channels * fit_.size[0] * fit_.size[1] * 4
        self.prepared = fitted_bytes <= PREPARE_ONCE_BYTES
        self.images = (_prepare_in_chunks(split.images, scale, fit_) if self.prepared else split.images).to(device)
        self.labels = split.labels.to(device)

    def __len__(self) -> int:
        return self.plan.steps

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        order = self.plan.order(epoch).to(self.device)
        for step in range(start, self.plan.steps):
            idx = self.plan.local(order, step)
            x = self.images.index_select(0, idx)
            if not self.prepared:
                x = prepare(x, self.scale, self.fit)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield Batch(x, self.labels.index_select(0, idx), self.plan.global_size(step))


def _prepare_in_chunks(images: torch.Tensor, scale: float, fit_: Fit, chunk: int = 4096) -> torch.Tensor:
    # bounded peak memory: the float copy and the resized copy exist one chunk at a time
    return torch.cat([prepare(images[i:i + chunk], scale, fit_) for i in range(0, len(images), chunk)])


class FolderBatches:
    """An image folder through a DataLoader; the batch sampler follows the same plan."""

    def __init__(self, dataset, plan: BatchPlan, device: torch.device, workers: int,
                 channels_last: bool = False) -> None:
        from torch.utils.data import DataLoader

        self.plan, self.device, self.channels_last = plan, device, channels_last
        self.sampler = _PlanSampler(plan)
        self.loader = DataLoader(dataset, batch_sampler=self.sampler, num_workers=workers,
                                 pin_memory=device.type == "cuda", persistent_workers=workers > 0)

    def __len__(self) -> int:
        return self.plan.steps

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        self.sampler.epoch, self.sampler.start = epoch, start
        for step, (x, y) in enumerate(self.loader, start):
            x = x.to(self.device, non_blocking=True)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield Batch(x, y.to(self.device, non_blocking=True), self.plan.global_size(step))


class _PlanSampler:
    """A batch sampler: the plan's local indices for each step, from `start` on."""

    def __init__(self, plan: BatchPlan) -> None:
        self.plan, self.epoch, self.start = plan, 0, 0

    def __len__(self) -> int:
        return self.plan.steps - self.start

    def __iter__(self):
        order = self.plan.order(self.epoch)
        for step in range(self.start, self.plan.steps):
            indices = self.plan.local(order, step).tolist()
            # only the last evaluation batch can leave a process nothing (training keeps
            # two examples a process); a DataLoader cannot collate an empty batch
            if indices:
                yield indices


def fit_folders(data: FolderData, fit_: Fit) -> None:
    """Give every ImageFolder of `data` the fitted transform (and RGB when repeating channels)."""
    from .data import ImageLoader

    for folder in data.folders:
        folder.transform = folder_transform(fit_)
        if fit_.replicate:
            folder.loader = ImageLoader("RGB")


def default_workers(world_size: int) -> int:
    """DataLoader workers for a folder: the CPUs this process may use, less one for the loop."""
    import os

    return max(1, min(8, (os.cpu_count() or 2) // world_size - 1))
