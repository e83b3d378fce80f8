"""The same spec laid out many ways: for testing `archlang fmt`.

`scramble(text, rng)` rewrites a spec's whitespace at random where the
language says it does not matter, and adds comments and redundant
separators: spaces and tabs between tokens (none where that is safe), line
breaks inside ( ) and [ ], before `{`, `else`, `shortcut` and `->`, blank
lines, `;` at line ends, trailing and whole-line comments, indentation of
any width. The result means the same (the caller can check: it parses to an
equal AST). `horizontal=True` touches only spaces within lines, so the
formatter must give exactly the same text for it as for the original.
"""
from __future__ import annotations

import random

from archlang.tokens import COMMENT, NEWLINE, SEMI, lex

WORDS = frozenset({"NAME", "NUMBER", "STRING"})
# Tokens that may start a line continuing the statement before (the lexer's rule).
CONTINUATIONS = frozenset({"LBRACE", "_ARROW"})
SPACES = (" ", " ", " ", "  ", "\t", "    ", " \t ")


def scramble(text: str, rng: random.Random, horizontal: bool = False) -> str:
    toks = list(lex(text))
    out: list[str] = []
    stack: list[str] = []
    prev = None
    comments = 0
    for t in toks:
        if t.kind == NEWLINE:
            if not horizontal:
                if stack and stack[-1] == "LBRACE" and prev is not None and prev.kind not in ("LBRACE", "BAR", COMMENT) \
                        and rng.random() < 0.1:
                    out.append(rng.choice((";", " ;", ";;")))
                if rng.random() < 0.2 and prev is not None and prev.kind != COMMENT:
                    comments += 1
                    out.append(f"{rng.choice(SPACES)}# note {comments}")
            out.append("\n")
            if not horizontal:
                if rng.random() < 0.1:
                    out.append("\n" * rng.randint(1, 3))
                if rng.random() < 0.1:
                    comments += 1
                    out.append(f"{' ' * rng.randint(0, 9)}# line {comments}\n")
            out.append(" " * rng.randint(0, 12))
            prev = t
            continue
        if prev is not None and prev.kind != NEWLINE:
            out.append(_gap(prev, t, stack, rng, horizontal))
        out.append(t.text)
        if t.kind in ("LPAR", "LSQB", "LBRACE"):
            stack.append(t.kind)
        elif t.kind in ("RPAR", "RSQB", "RBRACE") and stack:
            stack.pop()
        prev = t
    return "".join(out)


def _gap(a, b, stack: list[str], rng: random.Random, horizontal: bool) -> str:
    """Whitespace between two tokens of one line."""
    if not horizontal:
        inside = stack and stack[-1] != "LBRACE"
        if inside and rng.random() < 0.15:
            return rng.choice(("\n", "\n  ", "\n\n      ", " ;\n")) if b.kind != SEMI else " "
        if b.kind in CONTINUATIONS and not inside and rng.random() < 0.15:
            return "\n" + " " * rng.randint(0, 8)
        if b.kind == "NAME" and b.text in ("else", "shortcut") and a.kind == "RBRACE" and rng.random() < 0.3:
            return "\n" + " " * rng.randint(0, 8)
    tight_ok = not (a.kind in WORDS and b.kind in WORDS) and a.kind not in ("NUMBER", "DOT") \
        and b.kind not in ("NUMBER", "DOT") and not (a.kind.endswith("OP") and b.kind.endswith("OP")) \
        and "EQUAL" not in (a.kind, b.kind) and a.kind != "_ARROW"
    if tight_ok and rng.random() < 0.4:
        return ""
    return rng.choice(SPACES)
