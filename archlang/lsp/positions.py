"""Character offsets in a `Source` <-> LSP positions.

LSP counts columns in UTF-16 code units (its default encoding), archlang in
characters: a character outside the Basic Multilingual Plane (an emoji in a
comment) is one character and two units. Lines are the Source's (CRLF and
CR already folded into LF, as the client counts them too).
"""
from __future__ import annotations

from lsprotocol import types

from ..source import Source, Span


def _units(text: str) -> int:
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def position(source: Source, offset: int) -> types.Position:
    line, col = source.line_col(offset)
    return types.Position(line=line - 1, character=_units(source.line_text(line)[: col - 1]))


def span_range(span: Span) -> types.Range:
    return types.Range(start=position(span.source, span.start), end=position(span.source, max(span.start, span.end)))


def offset(source: Source, pos: types.Position) -> int:
    """The character offset of an LSP position (clamped to the line and the text)."""
    line = pos.line + 1
    if line > source.line_count:
        return len(source.text)
    text = source.line_text(line)
    units = col = 0
    while col < len(text) and units < pos.character:
        units += 2 if ord(text[col]) > 0xFFFF else 1
        col += 1
    return source.offset(line, col + 1)


def whole(source: Source) -> types.Range:
    """The range of the whole text."""
    return types.Range(start=types.Position(line=0, character=0), end=position(source, len(source.text)))
