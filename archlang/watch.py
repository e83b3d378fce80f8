"""`--watch` for `check`, `shapes` and `render`: run again whenever a spec changes.

After each run the command waits (watchfiles: inotify and its kin, no
polling) for a change to the spec or to any file it imports, clears the
screen (on a terminal) and runs again. Ctrl-C ends it quietly, exit 0. The
files are found anew after each run, so an import added to the spec is
watched from the next run on. Editors often save by writing a new file and
renaming it over the old one, so the watch is on the files' folders, and
filtered to the files.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from .diagnostics import UsageError

CLEAR = "\x1b[H\x1b[2J\x1b[3J"   # home, clear the screen and the scrollback
DEBOUNCE_MS = 200


def add_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--watch", "-w", action="store_true",
                        help="run again whenever the spec or a file it imports changes (Ctrl-C stops)")


def specs_of(args: argparse.Namespace) -> list[str]:
    return list(getattr(args, "files", None) or [args.file])


def rerun(run: Callable[[], int], specs: list[str]) -> int:
    """Run, then run again after every change of `specs` or their imports, until Ctrl-C (exit 0).

    A usage error on the first run (a bad flag, a missing file) ends the
    watch with exit 2, as without --watch; on later runs (a file renamed
    away while editing) it is printed and the watch goes on.
    """
    first = True
    files = {Path(s).resolve() for s in specs}
    try:
        while True:
            if not first and sys.stdout.isatty():
                sys.stdout.write(CLEAR)
            before = _stamps(files)   # a change while the command runs counts too
            try:
                code = run()
            except UsageError as err:
                if first:
                    raise
                print(f"archlang: {err}", file=sys.stderr)
                code = 2
            if first and code == 2:
                return code
            first = False
            files = watched_files(specs)
            baseline = {**_stamps(files), **{f: s for f, s in before.items() if f in files}}
            print(f"archlang: watching {len(files)} file{'s' if len(files) != 1 else ''} for changes "
                  "(Ctrl-C stops)", file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            _wait_for_change(files, baseline)
    except KeyboardInterrupt:
        return 0


def watched_files(specs: list[str]) -> set[Path]:
    """The specs and every file they import (what the last load read), resolved."""
    from .program import build

    files = {Path(s).resolve() for s in specs}
    for spec in specs:
        try:
            files.update(build(Path(spec)).sources)
        except (UsageError, OSError):
            pass  # a missing spec: watched anyway, for when it comes back
    return files


def _stamps(files: set[Path]) -> dict[Path, tuple | None]:
    out: dict[Path, tuple | None] = {}
    for f in files:
        try:
            st = f.stat()
            out[f] = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            out[f] = None
    return out


def _wait_for_change(files: set[Path], baseline: dict) -> None:
    """Until a file changes: watchfiles' events, and (each half second) the files' stamps, which
    also catch a change made before the watch had started."""
    from watchfiles import watch

    folders = sorted({str(f.parent) for f in files if f.parent.is_dir()})
    wanted = {str(f) for f in files}
    if not folders:
        raise UsageError("nothing to watch: no folder of the specs exists")
    if _stamps(files) != baseline:
        return
    for changes in watch(*folders, watch_filter=lambda _change, path: os.path.realpath(path) in wanted,
                         debounce=DEBOUNCE_MS, recursive=False, rust_timeout=500, yield_on_timeout=True):
        if changes or _stamps(files) != baseline:
            return
