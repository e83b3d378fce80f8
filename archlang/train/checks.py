"""Checks of the settings before training: numbers, the device, the classes, batch norm's batch."""
from __future__ import annotations

import math

import torch

from ..ops import OPS
from .batches import BatchPlan
from .config import OPTIMIZERS, TrainConfig
from .data import FolderData, TensorData
from .distributed import World
from .errors import SetupError


def resolve_device(name: str, world: World) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise SetupError(f"--device {name}: no CUDA device is available here; use --device cpu")
        if world.parallel:
            return torch.device("cuda", world.local_rank)
        device = torch.device(name if ":" in name else "cuda:0")
        if device.index >= torch.cuda.device_count():
            raise SetupError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return device
    raise SetupError(f"--device expects auto, cpu, cuda or cuda:N, got {name!r}")


FLOAT32_MAX = float(torch.finfo(torch.float32).max)   # the optimizers multiply float32 weights by lr and wd
SEEDS = (-(2 ** 63), 2 ** 64 - 1)                       # what torch.manual_seed takes


def check_numbers(cfg: TrainConfig, world: World) -> None:
    """Every setting that cannot work, as one line each, before anything loads."""
    if cfg.epochs < 1:
        raise SetupError(f"--epochs must be at least 1, got {cfg.epochs}")
    if cfg.lr is not None:
        if not (math.isfinite(cfg.lr) and cfg.lr > 0):
            raise SetupError(f"--lr must be a finite number above 0, got {cfg.lr}")
        _fits_float32("--lr", cfg.lr)
    if cfg.batch_size < max(1, world.size):
        raise SetupError(f"--batch-size {cfg.batch_size} is the global batch; it needs at least one example "
                         f"per process ({world.size})")
    if cfg.optimizer not in OPTIMIZERS:
        raise SetupError(f"--optimizer expects one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer!r}")
    if not 0 <= cfg.momentum < 1:   # NaN fails too
        raise SetupError(f"--momentum must be at least 0 and below 1, got {cfg.momentum} (at 1 or more, every "
                         f"earlier gradient keeps its full weight and the steps grow without end)")
    if cfg.momentum and cfg.optimizer != "sgd":
        raise SetupError(f"--momentum applies to sgd; {cfg.optimizer} keeps its own moments")
    if cfg.weight_decay is not None:
        if not (math.isfinite(cfg.weight_decay) and cfg.weight_decay >= 0):
            raise SetupError(f"--weight-decay must be a finite number of at least 0, got {cfg.weight_decay}")
        _fits_float32("--weight-decay", cfg.weight_decay)
    if not SEEDS[0] <= cfg.seed <= SEEDS[1]:
        raise SetupError(f"--seed must be from -2**63 to 2**64 - 1, got {cfg.seed}")
    if cfg.workers is not None and cfg.workers < 0:
        raise SetupError(f"--workers must be at least 0, got {cfg.workers}")
    if cfg.resize is not None and min(cfg.resize) < 1:
        raise SetupError("--resize must be positive")


def _fits_float32(flag: str, value: float) -> None:
    if value > FLOAT32_MAX:
        raise SetupError(f"{flag} {value:g} is beyond float32 (at most {FLOAT32_MAX:.3g}), the type of the weights "
                         f"it multiplies")


def check_batch_statistics(graph, plan: BatchPlan) -> None:
    """Batch norm that would see one value per channel in a training step cannot train (PyTorch
    refuses it mid-epoch): refused here, naming the layer. `graph` is None for sources without one."""
    if graph is None:
        return
    per_process = plan.smallest_local
    for node in graph.nodes:
        spec = OPS.get(node.op)       # network inputs are nodes without an op entry
        if spec is None or not spec.batch_statistics or not node.inputs:
            continue
        shape = graph.nodes[node.inputs[0]].shape
        per_sample = math.prod(d for d in shape[1:] if isinstance(d, int))
        if per_process * per_sample == 1:
            where = f" ({node.span.location()})" if node.span is not None else ""
            shown = "[" + ", ".join(map(str, shape)) + "]"
            total = plan.batch_size if plan.world == 1 else f"{plan.batch_size} over {plan.world} processes"
            raise SetupError(f"--batch-size {total}: batch norm {node.name}{where} would see one value per "
                             f"channel ({shown} at a batch of {per_process} per process) and cannot train on "
                             f"it; give --batch-size {2 * plan.world} or more")


def check_classes(data: TensorData | FolderData, source) -> None:
    if data.classes > source.classes:
        raise SetupError(f"{data.name} has {data.classes} classes but {source.name} outputs {source.classes}; "
                         f"give the network {data.classes} outputs (e.g. --set classes={data.classes})")
    if isinstance(data, TensorData):
        top = int(max(data.train.labels.max(), data.test.labels.max()))
        if top >= source.classes or int(min(data.train.labels.min(), data.test.labels.min())) < 0:
            raise SetupError(f"{data.name} has labels outside 0..{source.classes - 1}, "
                             f"the outputs of {source.name}")
