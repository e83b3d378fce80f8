"""The command line: `archlang COMMAND ...` and `python -m archlang`.

Each command lives in `archlang/commands/<name>.py` with `register(sub)` and
`run(args) -> int`. This module only dispatches and keeps the exit-code
contract: 0 success, 1 the spec has errors, 2 usage or internal error, with a
one-line message and never a raw traceback.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys

from .diagnostics import UsageError, suggest

COMMANDS = ("check", "shapes", "diff", "build", "export", "render", "train", "fmt", "lsp", "import")
# A command whose name is a Python keyword lives in a module named otherwise.
MODULES = {"import": "importer"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: exit 2, one line
        raise UsageError(f"{self.prog}: {message}")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given argv naming a command, only that command's module is imported.

    Start-up time is a feature: `archlang shapes` must not pay for importing
    what `archlang train` needs. Help and unknown commands register them all.
    """
    parser = _Parser(prog="archlang", description="Check, inspect, build, export, render, train, format and import .arch network specs.")
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    chosen = _command_in(argv or [])
    for name in (chosen,) if chosen else COMMANDS:
        module = importlib.import_module(f"archlang.commands.{MODULES.get(name, name)}")
        module.register(sub)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The command argv names: its first word that is not an option. A word that is no
    command is a usage error with a did-you-mean (`archlang chek`: did you mean check?)."""
    for word in argv:
        if not word.startswith("-"):
            if word in COMMANDS:
                return word
            close = suggest(word, COMMANDS)
            hint = f"did you mean {close!r}? " if close else ""
            raise UsageError(f"archlang: no command {word!r}; {hint}commands: {', '.join(COMMANDS)}")
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Elaboration allocates many small objects and frees few: the default
    # collector thresholds spend ~15% of `check` on a 10,000-layer network
    # scanning them. A short-lived compiler can afford fewer passes (as mypy does).
    gc.set_threshold(200_000, 30, 30)
    try:
        parser = build_parser(argv)
        if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (docs/cli.md); exits when done
            import argcomplete
            argcomplete.autocomplete(parser)
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return 2
        if getattr(args, "watch", False):
            from .watch import rerun, specs_of
            return rerun(lambda: int(args.run(args)), specs_of(args))
        return int(args.run(args))
    except UsageError as exc:
        print(f"archlang: {exc}" if not str(exc).startswith("archlang") else str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("archlang: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `archlang shapes x.arch | head`: the reader left; not an error of ours.
        with _suppress():
            sys.stdout = open(os.devnull, "w")
        return 0
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0) if isinstance(exc.code, int) else 0
    except Exception as exc:  # noqa: BLE001 - the contract: never a traceback
        if os.environ.get("ARCHLANG_DEBUG"):
            raise
        print(f"archlang: internal error: {type(exc).__name__}: {exc} "
              f"(set ARCHLANG_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2


class _Version(argparse.Action):
    """--version, looked up only when asked: importlib.metadata costs start-up time."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"archlang {_version()}")
        parser.exit()


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return True


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("archlang")
    except PackageNotFoundError:
        return "0+unknown"


if __name__ == "__main__":
    sys.exit(main())
