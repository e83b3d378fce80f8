"""The run folder: where it is, that it is writable and not someone else's run, and
the files in it besides checkpoints (the spec, the command, the settings, the
metrics and the curves). Every file is written atomically; only rank 0 calls this."""
from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

from ..fsutil import atomic_write, check_writable_dir
from .checkpoint import LAST
from .config import TrainConfig
from .errors import SetupError
from .metrics import History
from .plot import plot_curves

PLOT_EVERY_S = 30.0     # curves.png is redrawn at most this often during a run, and at its end


def resolve_out(config: TrainConfig, network: str) -> Path:
    """--out, or runs/<network>, runs/<network>-2, ...: the one after the highest
    that holds a run; with --resume, that highest one."""
    if config.out is not None:
        out = Path(config.out)
    else:
        runs = _runs_of(network)
        if config.resume:
            if not runs:
                raise SetupError(f"--resume: no earlier run of {network} under runs/; give --out")
            out = _candidate(network, runs[-1])
        else:
            out = _candidate(network, runs[-1] + 1 if runs else 1)
    problem = check_writable_dir(out)
    if problem is not None:
        raise SetupError(f"cannot write the run folder {problem}; choose another with --out")
    return out


def _candidate(network: str, k: int) -> Path:
    return Path("runs") / (network if k == 1 else f"{network}-{k}")


def _runs_of(network: str) -> list[int]:
    """The numbers k of runs/<network> (1), runs/<network>-k that hold a run, in order."""
    runs = Path("runs")
    if not runs.is_dir():
        return []
    found = []
    for p in runs.iterdir():
        head, _, tail = p.name.rpartition("-")
        number = 1 if p.name == network else int(tail) if head == network and tail.isdigit() else None
        if number is not None and (p / LAST).is_file():
            found.append(number)
    return sorted(found)


def refuse_to_overwrite(out: Path) -> None:
    if (out / LAST).exists():
        raise SetupError(f"{out} already holds a training run ({LAST}); continue it with --resume, "
                         f"or choose another --out")


class RunFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._plotted = float("-inf")

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __str__(self) -> str:
        return str(self.path)

    def write_start(self, files: dict[str, str], command: list[str], about: dict, resuming: bool) -> None:
        """The spec, the command (appended on --resume: every command that trained this run) and
        the settings."""
        for name, text in files.items():
            atomic_write(self / name, text)
        line = shlex.join(command) if command else ""
        previous = (self / "command.txt").read_text() if resuming and (self / "command.txt").exists() else ""
        atomic_write(self / "command.txt", previous + line + "\n")
        atomic_write(self / "config.json", json.dumps(about, indent=2) + "\n")

    def write_metrics(self, history: History, about: dict, epochs: int, title: str, final: bool = False) -> None:
        atomic_write(self / "metrics.csv", history.to_csv())
        atomic_write(self / "metrics.json", history.to_json(**about))
        # drawing costs a tenth of a second or more: on short epochs, redraw only now and then
        if final or time.monotonic() - self._plotted >= PLOT_EVERY_S:
            plot_curves(history, self / "curves.png", epochs, title=title)
            self._plotted = time.monotonic()
