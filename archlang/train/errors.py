"""The ways a training run stops short, and what the command returns for each."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from ..diagnostics import UsageError
from ..source import shown_name


class SetupError(UsageError):
    """Found before any training starts: bad data, shapes that disagree, an
    unwritable run folder. One line for the user; the command exits 2."""


class WriteError(UsageError):
    """A file of the run could not be written (a full disk): one line, exit 2.
    The file's previous version is kept whole (every write is atomic)."""


class Diverged(Exception):
    """The loss, or the loss of the weights after a step, is NaN or infinite. Nothing
    more is saved: last.pt keeps the last weights whose loss was checked finite; exit 1."""


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """An OSError while writing `path` (ENOSPC, EFBIG, EIO) as a WriteError naming the file."""
    try:
        yield
    except OSError as exc:
        raise WriteError(f"cannot write {shown_name(exc.filename or path)}: {exc.strerror or exc}") from None
