"""The settings of one training run, with the notes' defaults.

`train_ch6` in the notes: SGD, cross-entropy, Xavier-uniform weights for every
linear and convolution layer, lr 0.9 (the notes' LeNet; Adam and AdamW get
0.001 unless told), batch size 256,
10 epochs. Everything a user can change from the command line is a field here,
so the library and the command cannot drift apart.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

OPTIMIZERS = ("sgd", "adam", "adamw")
INITS = ("xavier", "torch")


@dataclass
class TrainConfig:
    data: str = "digits"
    epochs: int = 10
    lr: float | None = None           # None: 0.9 for SGD (the notes' LeNet), 0.001 for Adam/AdamW
    batch_size: int = 256             # global: split across processes under DDP
    optimizer: str = "sgd"
    momentum: float = 0.0             # SGD only; the notes use plain SGD
    weight_decay: float | None = None  # None: the optimizer's own default (AdamW 0.01, others 0)
    resize: tuple[int, int] | None = None
    device: str = "auto"              # auto, cpu, cuda or cuda:N
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    seed: int = 0
    init: str = "xavier"              # xavier (the notes) or torch (PyTorch's defaults)
    out: Path | None = None
    resume: bool = False
    export_onnx: bool = False
    quiet: bool = False
    workers: int | None = None        # DataLoader workers for folder: data; None picks
    command: list[str] = field(default_factory=list)  # the command line, for command.txt

    def to_json(self) -> dict:
        d = asdict(self)
        d["out"] = str(self.out) if self.out is not None else None
        d["resize"] = list(self.resize) if self.resize else None
        return d
