"""`archlang fmt FILE... [--check] [--diff]`: rewrite specs in the canonical layout.

Each FILE (a directory means every .arch file under it; `-` reads standard
input and writes the result to standard output) is formatted by
`archlang.formatter`. A file that does not parse is left alone, with its
syntax errors. `--check` writes nothing and lists the files that would
change; `--diff` writes nothing and prints a unified diff.

Exit 0: every file is (now) formatted; 1: with --check, a file would
change, or a file does not parse; 2: a file cannot be read, or usage.
"""
from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from ..diagnostics import UsageError
from .common import print_diagnostics

STDIN = "-"


def register(sub) -> None:
    parser = sub.add_parser(
        "fmt", help="format specs in the canonical layout (comments kept, meaning unchanged)",
        description="Rewrite each FILE (or every .arch file under a directory; - for standard input) in "
                    "archlang's one layout. Exit 0: formatted; 1: --check found a file to reformat, or a file "
                    "does not parse (it is left alone); 2: usage error or unreadable file.")
    parser.add_argument("files", nargs="+", metavar="FILE", help=".arch files or directories, or - for stdin")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; list the files that would change and exit 1 if any would")
    parser.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the changes")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    status = 0
    for path in _expand(args.files):
        try:
            status = max(status, _one(path, args))
        except UsageError as err:
            print(f"archlang: {err}", file=sys.stderr)
            status = 2
    return status


def _one(path: str, args: argparse.Namespace) -> int:
    """Format one file (or stdin); its exit status."""
    from ..formatter import NotFormatted, format_text

    text = _read(path)
    name = "<stdin>" if path == STDIN else path
    filtering = path == STDIN and not (args.check or args.diff)
    try:
        formatted = format_text(text, name)
    except NotFormatted as err:
        print(f"archlang: {err}", file=sys.stderr)
        print_diagnostics(err.diagnostics)
        if filtering:
            sys.stdout.write(text)  # a filter must not swallow its input
        return 1
    if filtering:
        sys.stdout.write(formatted)
        return 0
    if formatted == text:
        return 0
    if args.diff:
        sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), formatted.splitlines(True),
                                                   name, f"{name} (formatted)"))
    if args.check:
        print(f"would reformat {path}", file=sys.stderr)
        return 1
    if not args.diff:
        _write(path, formatted)
        print(f"reformatted {path}", file=sys.stderr)
    return 0


def _expand(items: list[str]) -> list[str]:
    """Files as given; directories as the .arch files under them, sorted."""
    out: list[str] = []
    for item in items:
        p = Path(item)
        if item != STDIN and p.is_dir():
            out.extend(str(f) for f in sorted(p.rglob("*.arch")) if f.is_file())
        else:
            out.append(item)
    return out


def _read(path: str) -> str:
    """The text as it is on disk (the formatter writes LF line ends: CRLF is a change)."""
    from ..source import Source, SourceError

    if path == STDIN:
        return sys.stdin.read()
    try:
        Source.from_path(path)  # the reasons a file is no spec: missing, a directory, not UTF-8
        return Path(path).read_bytes().decode("utf-8")
    except SourceError as err:
        raise UsageError(str(err)) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _write(path: str, text: str) -> None:
    from ..fsutil import atomic_write

    try:
        atomic_write(Path(path).resolve(), text)  # through a symlink, not over it
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
