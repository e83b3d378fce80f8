"""The two ways a training run stops short, and what the command returns for each."""
from __future__ import annotations

from ..diagnostics import UsageError


class SetupError(UsageError):
    """Found before any training starts: bad data, shapes that disagree, an
    unwritable run folder. One line for the user; the command exits 2."""


class Diverged(Exception):
    """The loss became NaN or infinite. The last good checkpoint is kept; exit 1."""
