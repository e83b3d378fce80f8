"""Source text and positions: the only code that slices text.

A `Source` is one file's text; a `Span` is a half-open character range in it.
Everything that needs a line, a column or an excerpt asks here, so that tabs,
CRLF line endings and a BOM are handled in exactly one place.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path


def shown_name(name: str | Path) -> str:
    """A file name as printed in a line of output: as it is, or quoted with escapes
    (Python's repr) when it holds a newline or another character that is not
    printable, so a name cannot break a line or reach the terminal as a control."""
    text = str(name)
    return text if text.isprintable() else repr(text)


class SourceError(Exception):
    """A file could not be read as archlang source (missing, a directory, not UTF-8)."""


@dataclass(eq=False)
class Source:
    """One file's text, normalised: BOM dropped, CRLF and CR turned into LF."""

    name: str
    text: str
    _line_starts: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        text = self.text
        if text.startswith("\ufeff"):
            text = text[1:]
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.text = text
        starts = [0]
        find = text.find
        pos = find("\n")
        while pos != -1:
            starts.append(pos + 1)
            pos = find("\n", pos + 1)
        self._line_starts = starts

    @classmethod
    def from_path(cls, path: str | Path, display: str | None = None) -> "Source":
        p = Path(path)
        try:
            data = p.read_bytes()
        except IsADirectoryError:
            raise SourceError(f"{shown_name(path)}: is a directory, not an .arch file") from None
        except FileNotFoundError:
            raise SourceError(f"{shown_name(path)}: no such file") from None
        except OSError as exc:
            raise SourceError(f"{shown_name(path)}: cannot read ({exc.strerror})") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise SourceError(
                f"{shown_name(path)}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
            ) from None
        return cls(display if display is not None else str(path), text)

    # -- positions ---------------------------------------------------------
    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def offset(self, line: int, col: int) -> int:
        """Character offset of a 1-based line and column."""
        line = max(1, min(line, len(self._line_starts)))
        return min(self._line_starts[line - 1] + col - 1, len(self.text))

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        if not 1 <= line <= len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end == -1 else self.text[start:end]

    def span(self, start: int, end: int) -> "Span":
        return Span(self, start, end)

    def whole(self) -> "Span":
        return Span(self, 0, 0)


@dataclass(frozen=True, eq=False)
class Span:
    """A half-open range [start, end) of character offsets in a Source."""

    source: Source
    start: int
    end: int

    @property
    def file(self) -> str:
        return self.source.name

    @property
    def line(self) -> int:
        return self.source.line_col(self.start)[0]

    @property
    def col(self) -> int:
        return self.source.line_col(self.start)[1]

    @property
    def end_line(self) -> int:
        return self.source.line_col(max(self.start, self.end))[0]

    @property
    def end_col(self) -> int:
        return self.source.line_col(max(self.start, self.end))[1]

    @property
    def text(self) -> str:
        return self.source.text[self.start : self.end]

    def to(self, other: "Span") -> "Span":
        """The span from the start of self to the end of other."""
        return Span(self.source, min(self.start, other.start), max(self.end, other.end))

    def location(self) -> str:
        """`file:line:col`, the form editors and tests read (an odd file name quoted: one line)."""
        return f"{shown_name(self.file)}:{self.line}:{self.col}"

    def __repr__(self) -> str:
        return f"Span({self.location()})"
