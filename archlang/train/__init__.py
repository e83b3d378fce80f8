"""Training: the course notes' `train_ch6` as a library and as `archlang train`.

The pieces, one job each:

    config.py       the settings of a run, with the notes' defaults
    errors.py       the two ways a run stops short (set-up error, divergence)
    data.py         what `--data` names, loaded as tensors (digits, IDX, folder, synthetic)
    idx.py          MNIST / Fashion-MNIST IDX files through torchvision, download off
    fit.py          the data's shape against the spec's input: resize, channels, the error
    batches.py      one global batch order per epoch, split across processes
    loop.py         the epoch loop: forward, backward, step, evaluate
    distributed.py  torch.distributed set-up, rank 0, the `--nproc` launcher
    metrics.py      per-epoch records, CSV and JSON
    plot.py         the loss and accuracy curves (PNG)
    checkpoint.py   resumable state and plain state_dicts, written atomically
    runfolder.py    the run folder: where, writable, not overwritten; its other files
    runlock.py      one run at a time in a folder: the lock file, its owner, stale locks
    report.py       the progress bar and the printed lines
    model.py        the model source, the notes' init, the optimizer, DDP / compile wrappers
    checks.py       settings checked before anything loads
    spec_source.py  a checked .arch network as the model source
    session.py      one training run from start to end: checks first, then the loop

Everything here imports torch; nothing outside `train/` and the torch backends
may import this package at module level (`check`, `shapes`, `render` stay
torch-free).
"""
from .config import TrainConfig
from .model import ModelSource, ModuleModel
from .session import TrainResult, train

__all__ = ["TrainConfig", "ModelSource", "ModuleModel", "TrainResult", "train"]
