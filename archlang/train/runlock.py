"""One run at a time in a run folder: a lock file that names its owner.

`RunLock.acquire(folder, command)` creates `.archlang-train.lock` in the
folder and takes an exclusive `flock` on it; the file says who holds it (pid,
host, start time, the command). The kernel drops the flock when its process
ends however it ends (kill -9 too), so a lock file whose flock is free is
stale: its owner is gone. A second run finds the flock taken and is refused
with a message naming the running one. Where the file system has no flock
(ENOLCK on some network mounts) the owner's pid decides, on the same host.

Only rank 0 locks. Under `--nproc` the launcher locks before it starts the
processes and tells them so (`INHERITED_ENV`): its rank 0 then works under
its parent's lock instead of refusing it.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..source import shown_name
from .errors import SetupError

LOCK = ".archlang-train.lock"
INHERITED_ENV = "ARCHLANG_TRAIN_LOCKED_BY"    # the launcher's pid, set for the processes it starts


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str
    started: str
    command: str = ""

    @classmethod
    def me(cls, command: str) -> "Owner":
        return cls(os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%d %H:%M:%S"), command)

    @classmethod
    def parse(cls, text: str) -> "Owner | None":
        try:
            d = json.loads(text)
            return cls(int(d["pid"]), str(d["host"]), str(d["started"]), str(d.get("command", "")))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}"

    def alive(self) -> bool:
        """Whether the owner's process still exists (unknowable on another host: assumed so)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class RunLock:
    """A held lock on a run folder; `release()` removes it (the kernel drops it at exit anyway)."""

    def __init__(self, folder: Path, fd: int | None, stale: Owner | None) -> None:
        self.folder, self._fd = folder, fd
        self.stale = stale            # the owner of a stale lock this one replaced, to report

    @property
    def path(self) -> Path:
        return self.folder / LOCK

    @classmethod
    def acquire(cls, folder: Path, command: str) -> "RunLock":
        """Lock `folder` (which must exist) or raise SetupError naming who holds it."""
        inherited = os.environ.get(INHERITED_ENV)
        if inherited and int(inherited) == os.getppid():
            return cls(folder, None, None)    # our launcher holds it for us
        path = folder / LOCK
        for _ in range(10):   # the file may be replaced between open and flock: then try again
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                previous = _try_flock(fd, path, folder)
                if _same_inode(fd, path):
                    _write_owner(fd, Owner.me(command))
                    return cls(folder, fd, previous)
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise SetupError(f"cannot lock the run folder {shown_name(folder)}: its lock file keeps changing")

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if _same_inode(self._fd, self.path):
                self.path.unlink()
        os.close(self._fd)
        self._fd = None


def held_by(folder: Path) -> Owner | None:
    """The live owner of `folder`'s lock, or None (no lock, or a stale one). Takes nothing."""
    path = folder / LOCK
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        owner = Owner.parse(_read(fd))
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return owner or Owner(0, "?", "?")
        except OSError:
            return owner if owner is not None and owner.alive() else None
        return None
    finally:
        os.close(fd)


def _try_flock(fd: int, path: Path, folder: Path) -> Owner | None:
    """Take the flock; returns the owner of a stale lock found there (None if none)."""
    recorded = Owner.parse(_read(fd))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _refuse(folder, Owner.parse(_read(fd)) or recorded)
    except OSError as exc:
        if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            raise
        if recorded is not None and recorded.alive():   # no flock here: the pid decides
            _refuse(folder, recorded)
    return recorded


def _refuse(folder: Path, owner: Owner | None) -> None:
    who = f"another archlang train ({owner.describe()})" if owner else "another archlang train"
    raise SetupError(f"{shown_name(folder)} is in use by {who}; wait for it to finish, or choose "
                     f"another --out")


def _same_inode(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except OSError:
        return False


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 1 << 16).decode("utf-8", "replace")


def _write_owner(fd: int, owner: Owner) -> None:
    """The owner, in place: the lock is this inode, so it is rewritten, never replaced."""
    data = (json.dumps(asdict(owner)) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)
