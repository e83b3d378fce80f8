"""The run folder: where it is, that it is writable, locked for this run and not
someone else's run, and the files in it besides checkpoints (the spec, the
command, the settings, the metrics and the curves). Every file is written
atomically; only rank 0 calls this.

Opening a folder takes its lock (runlock.py), then removes the temporary
files a killed save left there: with the lock held, no other run is writing
them."""
from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

from ..fsutil import atomic_write, check_writable_dir, first_clash, folder_problem, stale_temporaries
from ..source import shown_name
from .checkpoint import BEST, FINAL, LAST
from .config import TrainConfig
from .errors import SetupError, writing
from .metrics import History
from .plot import plot_curves
from .runlock import LOCK, RunLock, held_by

# every file a run writes, besides the copies of the spec and its imports
RUN_FILES = (LAST, BEST, FINAL, "metrics.csv", "metrics.json", "curves.png", "command.txt", "config.json",
             "model.onnx", LOCK)

PLOT_EVERY_S = 30.0     # curves.png is redrawn at most this often during a run, and at its end


def resolve_out(config: TrainConfig, network: str) -> Path:
    """--out, or runs/<network>, runs/<network>-2, ...: the one after the highest
    that holds a run (or where one is running); with --resume, that highest one.
    Nothing is made yet."""
    if config.out is not None:
        if str(config.out) == "-":
            raise SetupError("--out names a folder; - (stdout) cannot hold a run")
        out = Path(config.out)
    else:
        runs = _runs_of(network)
        if config.resume:
            if not runs:
                raise SetupError(f"--resume: no earlier run of {network} under runs/; give --out")
            out = _candidate(network, runs[-1])
        else:
            out = _candidate(network, runs[-1] + 1 if runs else 1)
    return out


def check_out(out: Path, run_files: list[str], inputs: dict[Path, str]) -> None:
    """Before any work, making nothing: a folder that cannot be made or written, or one whose
    files would write over a file the run reads (the spec, an import)."""
    problem = folder_problem(out)
    if problem is not None:
        raise SetupError(f"cannot write the run folder {problem}; choose another with --out")
    for name in (*RUN_FILES, *run_files):
        clash = first_clash([out / name], inputs)
        if clash is not None:
            raise SetupError(f"--out {shown_name(out)}: the run's {shown_name(name)} would write over "
                             f"{inputs[clash[1]]}; choose another --out")


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
        if number is not None and ((p / LAST).is_file() or held_by(p) is not None):
            found.append(number)
    return sorted(found)


def refuse_to_overwrite(out: Path) -> None:
    if (out / LAST).exists():
        raise SetupError(f"{shown_name(out)} already holds a training run ({LAST}); continue it with --resume, "
                         f"or choose another --out")


class RunFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._plotted = float("-inf")
        self.lock: RunLock | None = None
        self.removed: list[Path] = []   # stale temporaries removed when the folder was opened

    @classmethod
    def open(cls, path: Path, command: str, run_files: list[str]) -> "RunFolder":
        """Make the folder, lock it for this run, and remove what killed saves left in it."""
        problem = check_writable_dir(path)
        if problem is not None:
            raise SetupError(f"cannot write the run folder {problem}; choose another with --out")
        folder = cls(path)
        folder.lock = RunLock.acquire(path, command)
        folder.removed = folder._remove_stale_temporaries(run_files)
        return folder

    def _remove_stale_temporaries(self, run_files: list[str]) -> list[Path]:
        """Temporaries of the files a run writes, left by a process killed while saving.
        Safe only under the lock: then no run is writing them."""
        names = [*RUN_FILES, *run_files]
        removed = []
        for directory in sorted({(self.path / n).parent for n in names}):
            for tmp in stale_temporaries(directory, {Path(n).name for n in names}):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
        return removed

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __str__(self) -> str:
        return str(self.path)

    def write_start(self, files: dict[str, str], command: list[str], about: dict, resuming: bool) -> None:
        """The spec, the command (appended on --resume: every command that trained this run) and
        the settings."""
        with writing(self.path):
            for name, text in files.items():
                atomic_write(self / name, text)
            line = shlex.join(command) if command else ""
            previous = (self / "command.txt").read_text() if resuming and (self / "command.txt").exists() else ""
            atomic_write(self / "command.txt", previous + line + "\n")
            atomic_write(self / "config.json", json.dumps(about, indent=2) + "\n")

    def write_metrics(self, history: History, about: dict, epochs: int, title: str, final: bool = False) -> None:
        with writing(self.path):
            atomic_write(self / "metrics.csv", history.to_csv())
            atomic_write(self / "metrics.json", history.to_json(**about))
            # drawing costs a tenth of a second or more: on short epochs, redraw only now and then
            if final or time.monotonic() - self._plotted >= PLOT_EVERY_S:
                plot_curves(history, self / "curves.png", epochs, title=title)
                self._plotted = time.monotonic()
