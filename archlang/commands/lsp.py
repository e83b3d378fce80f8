"""`archlang lsp`: the language server, over stdio, for editors (see docs/editors.md)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    parser = sub.add_parser(
        "lsp", help="run the language server on stdin/stdout (editors start it)",
        description="Run archlang's Language Server Protocol server over standard input and output: "
                    "diagnostics as you type, hover with shapes, go to definition, completion, "
                    "formatting and quick fixes. Editors start it; see docs/editors.md.")
    parser.add_argument("--stdio", action="store_true", help="accepted for clients that pass it (stdio is the default)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..lsp.server import main

    main()
    return 0
