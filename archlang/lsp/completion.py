"""Completion: layer names with their signatures, block names, argument names, keywords.

The text being typed rarely parses, so the context comes from the tokens
before the cursor (`tokens.lex`), not from the syntax tree: inside the
parentheses of a call, after `(` or `,`, the call's argument names; where a
layer can go, the op table's layers and the blocks of the last version of
the document that loaded; at the top of the file, the words that start an
item.
"""
from __future__ import annotations

from lsprotocol import types

from .. import ops
from .. import syntax as ast
from ..tokens import COMMENT, ERROR, NEWLINE, SEMI, keywords, lex

ITEM_WORDS = ("import", "let", "block", "network")
STATEMENT_WORDS = ("input", "output", "let", "repeat", "if", "expect", "concat", "add", "cat", "residual")
OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}


def complete(text: str, offset: int, blocks: dict[str, ast.BlockDef]) -> list[types.CompletionItem]:
    toks = [t for t in lex(text[:offset]) if t.kind not in (NEWLINE, SEMI)]
    if toks and toks[-1].end == offset and toks[-1].kind in (COMMENT, "STRING", ERROR, "NUMBER"):
        return []  # in a comment, a string or a number
    if toks and toks[-1].end == offset and toks[-1].kind == "NAME":
        toks = toks[:-1]  # the word being typed: the client filters by it
    opener = _open_bracket(toks)
    if opener is None:
        return _keywords(ITEM_WORDS)
    i, tok = opener
    if tok.kind == "LPAR" and i > 0 and toks[i - 1].kind == "NAME" and toks[-1].kind in ("LPAR", "COMMA"):
        return _arguments(toks[i - 1].text, toks[i + 1:], blocks)
    if tok.kind == "LBRACE" and (not toks or toks[-1].kind not in ("EQUAL", "COMP_OP", "SUM_OP", "MUL_OP")):
        return _layers(blocks) + _keywords(STATEMENT_WORDS)
    return []


def _open_bracket(toks: list) -> tuple[int, object] | None:
    """The innermost bracket still open at the end of `toks`, with its index."""
    stack: list[int] = []
    for i, t in enumerate(toks):
        if t.kind in OPENERS:
            stack.append(i)
        elif t.kind in OPENERS.values() and stack:
            stack.pop()
    return (stack[-1], toks[stack[-1]]) if stack else None


def _layers(blocks: dict[str, ast.BlockDef]) -> list[types.CompletionItem]:
    items = []
    for name, spec in sorted(ops.OPS.items()):
        if spec.merge:
            continue
        items.append(types.CompletionItem(
            label=name, kind=types.CompletionItemKind.Function,
            detail=f"{name}({ops.signature(spec)})" if spec.args else name,
            documentation=spec.summary))
    items.append(types.CompletionItem(label="identity", kind=types.CompletionItemKind.Function,
                                      detail="identity", documentation="passes its input through"))
    for name, block in sorted(blocks.items()):
        items.append(types.CompletionItem(
            label=name, kind=types.CompletionItemKind.Class, detail=f"{name}({_params(block)})",
            documentation=f"block, in {block.span.file}" if block.span is not None else "block"))
    return items


def _params(block: ast.BlockDef) -> str:
    return ", ".join(p.name.name if p.default is None else f"{p.name.name}={ast.expr_text(p.default)}"
                     for p in block.params)


def _arguments(callee: str, inside: list, blocks: dict[str, ast.BlockDef]) -> list[types.CompletionItem]:
    """The argument names of `callee` not given yet (by name) in the call so far."""
    given = {inside[i].text for i in range(len(inside) - 1)
             if inside[i].kind == "NAME" and inside[i + 1].kind == "EQUAL"}
    spec = ops.OPS.get(callee)
    if spec is not None:
        out = []
        for a in spec.args:
            if a.name in given or given & set(a.aliases):
                continue
            default = "required" if a.required else "default " + ops.arg_text(a).split("=", 1)[1]
            out.append(types.CompletionItem(
                label=f"{a.name}=", kind=types.CompletionItemKind.Property, insert_text=f"{a.name}=",
                detail=f"{a.kind}, {default}" + (f" (also {', '.join(a.aliases)})" if a.aliases else ""),
                documentation=a.doc or None, filter_text=a.name))
        return out
    block = blocks.get(callee)
    if block is None:
        return []
    return [types.CompletionItem(label=f"{p.name.name}=", kind=types.CompletionItemKind.Property,
                                 insert_text=f"{p.name.name}=", filter_text=p.name.name,
                                 detail="required" if p.default is None else f"default {ast.expr_text(p.default)}")
            for p in block.params if p.name.name not in given]


def _keywords(words: tuple[str, ...]) -> list[types.CompletionItem]:
    known = keywords()
    return [types.CompletionItem(label=w, kind=types.CompletionItemKind.Keyword) for w in words if w in known]
