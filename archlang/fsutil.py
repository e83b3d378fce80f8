"""Writing files so that nothing a user had is lost or half-written.

Every file archlang writes goes through here. A regular file (or a path that
does not exist yet) is written to a temporary file in the target's directory,
flushed to disk, then renamed over the target: a failure at any point leaves
the previous file intact and no temporary file behind. What a rename must
never replace is written into instead, by streaming: `-` (stdout), a FIFO, a
device, and anything under /dev or /proc (`/dev/stdout` is a link to
/proc/self/fd/1). A symlink is followed: its target is written, atomically
there, and the link stays.

`first_clash` is the one test of "this output would write over that input",
by inode and by resolved path, so `./sub/../a.arch`, a symlink or a hard link
to the spec all count. Temporary files have a name archlang alone makes
(`.NAME.archlang-tmp-XXXXXXXX.SUFFIX`), so a run folder can find those a
killed process left (`stale_temporaries`) without touching a user's file.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from .source import shown_name

STDOUT = "-"
TEMP_MARK = ".archlang-tmp-"
# mkstemp's names: 8 characters of [a-z0-9_]
_TEMP_NAME = re.compile(r"\.(?P<name>.+)" + re.escape(TEMP_MARK) + r"[a-z0-9_]{8}(?P<suffix>.*)", re.DOTALL)
_LEGACY_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}(?P<suffix>.*)", re.DOTALL)   # before the mark
_STREAMED_TREES = ("/dev/", "/proc/")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path; on success its bytes become `target`'s.

    For writers that insist on a path of their own (torch.save, onnx.save,
    graphviz). The temporary file keeps the target's suffix, since some
    writers choose their format by it. A streamed target (stdout, a FIFO, a
    device) gets a temporary path in the system's temporary folder, copied
    into it once complete.
    """
    suffix = suffix if suffix is not None else Path(target).suffix
    if is_streamed(target):
        with tempfile.TemporaryDirectory(prefix="archlang-") as scratch:
            tmp = Path(scratch) / f"output{suffix}"
            yield tmp
            with open(tmp, "rb") as src:
                _stream(src, target)
        return
    final = through_links(target)
    directory = final.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}{TEMP_MARK}", suffix=suffix, dir=directory)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, _mode_for(final))
        os.replace(tmp_path, final)
    except OSError as exc:
        # the error names the target, not the temporary file the user never sees
        raise (OSError(exc.errno, exc.strerror, str(target)) if exc.errno else exc) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def atomic_write(target: str | os.PathLike, data: bytes | str) -> None:
    """Write `data` to `target` atomically (str is encoded as UTF-8); streamed where a rename must not be."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if is_streamed(target):
        import io
        _stream(io.BytesIO(payload), target)
        return
    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        f.write(payload)


# -- where a write goes ------------------------------------------------------------------------

def is_streamed(target: str | os.PathLike) -> bool:
    """True for what a rename would destroy: `-`, a FIFO, a device, a socket, /dev and /proc."""
    if str(target) == STDOUT:
        return True
    final = through_links(target, stop_at_special=True)
    if any(str(final).startswith(tree) for tree in _STREAMED_TREES):
        return True
    try:
        mode = os.stat(final).st_mode
    except OSError:
        return False      # not there yet: made atomically (a missing folder is made too)
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def through_links(target: str | os.PathLike, stop_at_special: bool = False) -> Path:
    """The path a write lands on: `target` with its own symlinks followed (a dangling one too).

    Each link is followed one step at a time, so a chain that enters /dev or
    /proc stops there (with `stop_at_special`): /proc/self/fd/1 is a link the
    kernel makes to whatever stdout is, which is streamed into, never resolved.
    """
    path = Path(target)
    for _ in range(40):       # the kernel's own limit on links in a row
        if stop_at_special and any(str(path.absolute()).startswith(tree) for tree in _STREAMED_TREES):
            return path.absolute()
        if not path.is_symlink():
            return path
        link = Path(os.readlink(path))
        path = link if link.is_absolute() else path.parent / link
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(target))


def _stream(src: BinaryIO, target: str | os.PathLike) -> None:
    """Copy `src` into stdout, a FIFO or a device, without truncating or replacing it."""
    if str(target) == STDOUT:
        sys.stdout.flush()
        shutil.copyfileobj(src, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    # append: a shell's `>>` into /dev/stdout keeps what was there; FIFOs and devices ignore it
    with open(target, "ab") as out:
        shutil.copyfileobj(src, out)


def _mode_for(target: Path) -> int:
    """Keep an existing file's permissions; new files get 0o666 less the umask."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


# -- outputs that are inputs ----------------------------------------------------------------------

def same_file(output: str | os.PathLike, existing: str | os.PathLike) -> bool:
    """True when writing `output` would write `existing`: the same inode (a hard or symbolic
    link), or the same path once `..` and symlinks are resolved (an output not made yet)."""
    if str(output) == STDOUT:
        return False
    with contextlib.suppress(OSError):
        if os.path.samefile(output, existing):
            return True
    return os.path.realpath(output) == os.path.realpath(existing)


def spec_inputs(spec: str | os.PathLike, sources: Iterable[Path]) -> dict[Path, str]:
    """The spec and the files it imports (`Program.sources`, main file first), each with
    what it is to the user, for messages that refuse to write over one."""
    described = {Path(spec): f"the spec {shown_name(spec)}"}
    for file in list(sources)[1:]:
        described[Path(file)] = f"{shown_name(file)}, which the spec imports"
    return described


def first_clash(outputs: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike]):
    """The first (output, input) pair that is one file, or None."""
    inputs = list(inputs)
    for output in outputs:
        for existing in inputs:
            if same_file(output, existing):
                return output, existing
    return None


# -- checking what was written ---------------------------------------------------------------

def zip_damage(path: str | os.PathLike) -> str | None:
    """What is damaged in the zip archive at `path` (torch.save's format), or None.

    Every member of a zip carries a CRC-32 of its bytes; torch.load reads the
    bytes without checking it, so a flipped byte in a tensor loads as a wrong
    weight. Each member's bytes are checked here, in place through a memory
    map (one zlib.crc32 call per member: about half the time zipfile's
    testzip takes; bench/checkpoint_checksum.py). A file that is not a zip
    archive at all (an older torch.save format) is not checked: None.
    """
    import mmap
    import zipfile
    import zlib

    try:
        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as archive, open(path, "rb") as f, \
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            for info in archive.infolist():
                if info.compress_type != zipfile.ZIP_STORED:      # not torch's: let zipfile inflate it
                    with archive.open(info) as member:
                        while member.read(1 << 20):
                            pass
                    continue
                h = info.header_offset
                if mapped[h:h + 4] != b"PK\x03\x04":
                    return f"the header of {shown_name(info.filename)} is damaged"
                start = h + 30 + int.from_bytes(mapped[h + 26:h + 28], "little") + \
                    int.from_bytes(mapped[h + 28:h + 30], "little")
                with memoryview(mapped)[start:start + info.compress_size] as data:
                    whole = len(data) == info.compress_size and zlib.crc32(data) == info.CRC
                if not whole:
                    return (f"the checksum of {shown_name(info.filename)}{_zip_member_role(info.filename)} "
                            f"does not match its contents")
    except zipfile.BadZipFile as exc:     # a compressed member whose CRC fails, a broken directory
        return f"it is not a whole zip archive ({exc})"
    except (OSError, EOFError, ValueError) as exc:
        return f"it cannot be read as a zip archive ({exc})"
    return None


def _zip_member_role(name: str) -> str:
    """What a member of torch.save's archive holds, for the user."""
    if re.search(r"/data/\d+$", name):
        return " (a tensor's bytes)"
    if name.endswith("data.pkl"):
        return " (the names and shapes of the tensors)"
    return ""


# -- folders ---------------------------------------------------------------------------------------

def check_writable_dir(directory: str | os.PathLike) -> str | None:
    """None when files can be created in `directory` (made if missing); else why not."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".archlang-probe.", dir=d)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        return f"{shown_name(d)}: {exc.strerror or exc}"
    return None


def folder_problem(directory: str | os.PathLike) -> str | None:
    """Why `directory` could not be made and written (a file in the way, no permission), or
    None; unlike check_writable_dir, makes nothing: for checks before any work."""
    d = Path(directory).absolute()
    try:
        existing = next(p for p in (d, *d.parents) if p.exists())
    except (OSError, StopIteration) as exc:
        return f"{shown_name(directory)}: {getattr(exc, 'strerror', None) or exc}"
    if not existing.is_dir():
        return f"{shown_name(directory)}: {os.strerror(errno.ENOTDIR)}"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{shown_name(directory)}: {os.strerror(errno.EACCES)}"
    return None


def stale_temporaries(directory: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """The temporary files of interrupted writes of the files `names` in `directory`.

    Only names archlang makes are recognised: `.NAME.archlang-tmp-XXXXXXXX.SUFFIX`,
    and the form earlier versions used (`.NAME.XXXXXXXX.SUFFIX`). Whether they
    are stale is the caller's to know: a writer may be at work (a run folder
    knows by its lock).
    """
    targets = set(names)
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            m = _TEMP_NAME.fullmatch(entry.name) or _LEGACY_TEMP_NAME.fullmatch(entry.name)
            if (m is not None and m["name"] in targets and m["suffix"] == Path(m["name"]).suffix
                    and entry.is_file(follow_symlinks=False)):
                found.append(Path(entry.path))
    return sorted(found)
