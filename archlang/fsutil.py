"""Writing files so that nothing a user had is lost or half-written.

Every file archlang writes goes through here: the data is written to a
temporary file in the target's directory, flushed to disk, then renamed over
the target. A failure at any point leaves the previous file intact and no
temporary file behind.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` on success.

    For writers that insist on a path of their own (torch.save, onnx.save,
    graphviz). The temporary file keeps the target's suffix, since some
    writers choose their format by it.
    """
    target = Path(target)
    directory = target.parent if str(target.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix,
                               dir=directory)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        mode = _mode_for(target)
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def atomic_write(target: str | os.PathLike, data: bytes | str) -> None:
    """Write `data` to `target` atomically (str is encoded as UTF-8)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            f.write(payload)


def _mode_for(target: Path) -> int:
    """Keep an existing file's permissions; new files get 0o666 less the umask."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def check_writable_dir(directory: str | os.PathLike) -> str | None:
    """None when files can be created in `directory` (made if missing); else why not."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".archlang-probe.", dir=d)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        return f"{d}: {exc.strerror or exc}"
    return None
