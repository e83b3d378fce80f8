"""Syntax highlighting: a Pygments lexer, and the word lists editors' grammars are made of.

`ArchLexer` is registered under Pygments' `pygments.lexers` entry point
(pyproject.toml), so `pygmentize -l arch`, Sphinx and MkDocs highlight
specs once archlang is installed. It lexes with `tokens.lex`, the grammar's
own terminals, and colours from the grammar's keywords and the op table's
layer names, so a new keyword or layer is highlighted without an edit here.
`words()` gives the same lists to `scripts/editor_grammar.py`, which writes
the TextMate grammar of editors/.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pygments.lexer import Lexer
from pygments.token import (Comment, Error, Keyword, Name, Number, Operator, Punctuation, String, Text,
                            Whitespace)

from . import ops
from .expressions import BUILTINS
from .tokens import COMMENT, ERROR, NEWLINE, SEMI, keywords, lex

CONSTANTS = ("true", "false")
WORD_OPERATORS = ("and", "or", "not")
TENSOR_WORDS = ("cur", "in")          # the tensors every body knows (language.md)
DEFINERS = ("block", "network")
PRELUDE = Path(__file__).with_name("prelude.arch")
OPERATOR_KINDS = frozenset({"SUM_OP", "MUL_OP", "COMP_OP", "_ARROW", "EQUAL", "BAR"})


@lru_cache(maxsize=1)
def words() -> dict[str, tuple[str, ...]]:
    """The words a highlighter colours, by role, from the grammar, the op table and the prelude."""
    every = tuple(sorted(keywords()))
    return {
        "keywords": tuple(w for w in every if w not in CONSTANTS + WORD_OPERATORS),
        "constants": tuple(w for w in every if w in CONSTANTS),
        "word_operators": tuple(w for w in every if w in WORD_OPERATORS),
        "layers": tuple(sorted([n for n, spec in ops.OPS.items() if not spec.merge] + ["identity"])),
        "prelude_blocks": _prelude_blocks(),
        "tensors": TENSOR_WORDS,
        "functions": tuple(sorted(BUILTINS)),
    }


def _prelude_blocks() -> tuple[str, ...]:
    toks = [t for t in lex(PRELUDE.read_text(encoding="utf-8")) if t.kind not in (COMMENT, NEWLINE, SEMI)]
    return tuple(sorted(b.text for a, b in zip(toks, toks[1:]) if a.text == "block" and b.kind == "NAME"))


class ArchLexer(Lexer):
    """Pygments lexer for archlang `.arch` specs."""

    name = "archlang"
    aliases = ["arch", "archlang"]
    filenames = ["*.arch"]
    mimetypes = ["text/x-archlang"]
    url = "https://pypi.org/project/archlang/"

    def get_tokens_unprocessed(self, text):
        w = words()
        kinds = {**{k: Keyword for k in w["keywords"]}, **{k: Keyword.Constant for k in w["constants"]},
                 **{k: Operator.Word for k in w["word_operators"]}}
        builtins = set(w["layers"]) | set(w["prelude_blocks"])
        functions = set(w["functions"])
        toks = list(lex(text))
        code = [t for t in toks if t.kind not in (COMMENT, NEWLINE)]
        after = {a.start: b for a, b in zip(code, code[1:])}
        before = {b.start: a for a, b in zip(code, code[1:])}
        labels = _labels(code)
        pos = 0
        for t in toks:
            if t.start > pos:
                yield pos, Whitespace, text[pos:t.start]
            if t.start in labels:
                kind = Name.Label
            else:
                kind = _kind(t, kinds, builtins, functions, before.get(t.start), after.get(t.start))
            yield t.start, kind, t.text
            pos = t.end
        if pos < len(text):
            yield pos, Whitespace, text[pos:]


def _labels(code: list) -> set[int]:
    """The offsets of the labels: a name, number or string before `:` (`stem:`, `0:`,
    `"layer{i}":`, `block:`), outside `[ ]` (where `:` is a slice's), not an input's name nor an
    output's key."""
    found, depth = set(), 0
    for i, t in enumerate(code):
        depth += (t.kind == "LSQB") - (t.kind == "RSQB")
        if depth > 0 or t.kind not in ("NAME", "NUMBER", "STRING") or i + 1 == len(code):
            continue
        # `input x:` names a tensor, `output out: y, aux: a` a dict's keys; no label follows a comma
        if code[i + 1].kind == "COLON" and (i == 0 or (code[i - 1].text not in ("input", "output")
                                                       and code[i - 1].kind != "COMMA")):
            found.add(t.start)
    return found


def _kind(t, kinds: dict, builtins: set, functions: set, prev, nxt):
    if t.kind == COMMENT:
        return Comment.Single
    if t.kind == NEWLINE:
        return Whitespace
    if t.kind == ERROR:
        return Error
    if t.kind == "NUMBER":
        return Number
    if t.kind == "STRING":
        return String
    if t.kind == "NAME":
        if prev is not None and prev.text in DEFINERS:
            return Name.Class if prev.text == "network" else Name.Function
        if nxt is not None and nxt.kind == "EQUAL" and prev is not None and prev.kind in ("LPAR", "COMMA"):
            return Name.Attribute     # an argument's name: `k=3`
        if t.text in kinds:
            return kinds[t.text]
        if t.text in TENSOR_WORDS:
            return Name.Builtin.Pseudo
        if t.text in builtins:
            return Name.Builtin
        if t.text in functions and nxt is not None and nxt.kind == "LPAR":
            return Name.Builtin       # `max(8, c)`, `round(...)`: Python's functions
        return Name
    if t.kind in OPERATOR_KINDS:
        return Operator
    if t.kind == SEMI:
        return Punctuation
    return Punctuation if t.kind in ("LPAR", "RPAR", "LSQB", "RSQB", "LBRACE", "RBRACE", "COMMA", "COLON", "DOT") \
        else Text
