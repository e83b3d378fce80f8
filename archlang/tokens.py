"""Spec text as the stream of all its tokens: comments and line breaks included.

The parser drops comments and folds newlines and `;` into statement
separators. Tools that keep the text as written (`archlang fmt`, the
highlighters, the language server) need every token, so this lexer yields
them all, with their offsets. It is built from the grammar's own terminals
(`parser.terminals()`), tried in the parser's order, so it follows the
grammar: a new operator or keyword needs no change here.

Words that spell keywords come out as NAME: the language is contextual
(`conv(as, k=3)` uses `as` as a name), and only the parse tree can tell.
`KEYWORDS` maps those words to their terminal names for tools that want
them anyway (highlighting colours every such word as a keyword).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

from . import parser

NEWLINE, SEMI, COMMENT, ERROR = "NEWLINE", "SEMI", "COMMENT", "ERROR"
# The grammar's statement separator `_NL` folds runs of these; here each is its own token.
_SEPARATORS = {"\n": NEWLINE, ";": SEMI}


@dataclass(frozen=True, slots=True)
class Tok:
    """One token: a grammar terminal name (NAME, NUMBER, LPAR, _ARROW...), or NEWLINE,
    SEMI, COMMENT, or ERROR for a character that starts no token."""

    kind: str
    text: str
    start: int
    end: int


@lru_cache(maxsize=1)
def _tables() -> tuple[re.Pattern, dict[str, str]]:
    terminals = parser.terminals()
    keywords = parser.keywords_of(terminals)
    keyword_terminals = set(keywords.values())
    parts = [f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in terminals
             if t.name not in keyword_terminals and t.name != "_NL"]
    parts.append(r"(?P<_SEP>[\n;])")
    return re.compile("|".join(parts)), keywords


def keywords() -> dict[str, str]:
    """{word: terminal name} for every keyword of the grammar (`"if": "IF"`)."""
    return dict(_tables()[1])


def lex(text: str) -> Iterator[Tok]:
    """Every token of `text` (normalised as `source.Source` does: LF line ends), whitespace aside."""
    regex, _ = _tables()
    match = regex.match
    pos, end = 0, len(text)
    while pos < end:
        m = match(text, pos)
        if m is None:
            yield Tok(ERROR, text[pos], pos, pos + 1)
            pos += 1
            continue
        kind = m.lastgroup
        if kind == "_SEP":
            kind = _SEPARATORS[m.group()]
        if kind != "WS":
            yield Tok(kind, m.group(), pos, m.end())
        pos = m.end()
