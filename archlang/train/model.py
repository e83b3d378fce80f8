"""The model side of a run: where the network comes from, the notes' initialisation,
the optimizer, and the wrappers (DDP, torch.compile) that training goes through."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch import nn

from .config import TrainConfig
from .distributed import World

DEFAULT_LR = {"sgd": 0.9, "adam": 1e-3, "adamw": 1e-3}


class ModelSource(Protocol):
    """Where the network comes from: a spec (spec_source.SpecModel) or any factory."""

    name: str
    input_shape: tuple     # without the batch: ints, or symbols for sizes the spec leaves open
    classes: int           # the width of the network's output
    where: str             # where the input is declared, for messages ("" when unknown)
    identity: str          # changes when the network does; kept in checkpoints
    inputs: dict[Path, str]   # the files it was read from, never written over: {path: what it is}

    def build(self, shape: tuple[int, int, int]) -> nn.Module: ...
    def run_files(self) -> dict[str, str]: ...
    def export_onnx(self, module: nn.Module, path: Path) -> tuple[bool, str]: ...


@dataclass
class ModuleModel:
    """A plain nn.Module factory as a model source (tests, benchmarks, notebooks)."""

    factory: Callable[[], nn.Module]
    input_shape: tuple
    classes: int
    name: str = "model"
    where: str = ""
    identity: str = ""
    inputs: dict = field(default_factory=dict)

    def build(self, shape) -> nn.Module:
        return self.factory()

    def run_files(self) -> dict[str, str]:
        return {}

    def export_onnx(self, module, path) -> tuple[bool, str]:
        return False, "--export-onnx needs a network from an .arch spec; this model has none"


def xavier_init(m: nn.Module) -> None:
    """The notes' init_weights: Xavier-uniform weights for linear and conv layers; biases
    and BatchNorm keep PyTorch's defaults."""
    if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
        nn.init.xavier_uniform_(m.weight)


def effective_lr(config: TrainConfig) -> float:
    return config.lr if config.lr is not None else DEFAULT_LR[config.optimizer]


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    kw = {} if config.weight_decay is None else {"weight_decay": config.weight_decay}
    lr = effective_lr(config)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, **kw)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, **kw)
    return torch.optim.AdamW(params, lr=lr, **kw)


def prepare(module: nn.Module, config: TrainConfig, device: torch.device, world: World):
    """(module, what trains, optimizer): the module initialised and on its device; what
    trains is the module itself, or its DDP wrapper, maybe compiled."""
    if config.init == "xavier":
        module.apply(xavier_init)
    module.to(device)
    if config.channels_last:
        module.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(module.parameters(), config)
    model = module
    if world.parallel:
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = DDP(module, device_ids=[device] if device.type == "cuda" else None)
    if config.compile:
        model = torch.compile(model)
    return module, model, optimizer
