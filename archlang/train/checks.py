"""Checks of the settings that need no data and no model: numbers, the device, the classes."""
from __future__ import annotations

import torch

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


def check_numbers(cfg: TrainConfig, world: World) -> None:
    if cfg.epochs < 1:
        raise SetupError(f"--epochs must be at least 1, got {cfg.epochs}")
    if cfg.lr is not None and not cfg.lr > 0:
        raise SetupError(f"--lr must be positive, got {cfg.lr}")
    if cfg.batch_size < max(1, world.size):
        raise SetupError(f"--batch-size {cfg.batch_size} is the global batch; it needs at least one example "
                         f"per process ({world.size})")
    if cfg.optimizer not in OPTIMIZERS:
        raise SetupError(f"--optimizer expects one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer!r}")
    if cfg.momentum and cfg.optimizer != "sgd":
        raise SetupError(f"--momentum applies to sgd; {cfg.optimizer} keeps its own moments")
    if cfg.weight_decay is not None and cfg.weight_decay < 0:
        raise SetupError(f"--weight-decay must be at least 0, got {cfg.weight_decay}")
    if cfg.resize is not None and min(cfg.resize) < 1:
        raise SetupError("--resize must be positive")


def check_classes(data: TensorData | FolderData, source) -> None:
    if data.classes > source.classes:
        raise SetupError(f"{data.name} has {data.classes} classes but {source.name} outputs {source.classes}; "
                         f"give the network {data.classes} outputs (e.g. --set classes={data.classes})")
    if isinstance(data, TensorData):
        top = int(max(data.train.labels.max(), data.test.labels.max()))
        if top >= source.classes or int(min(data.train.labels.min(), data.test.labels.min())) < 0:
            raise SetupError(f"{data.name} has labels outside 0..{source.classes - 1}, "
                             f"the outputs of {source.name}")
