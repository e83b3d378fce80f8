"""`archlang fmt`: one canonical layout for a spec, every comment kept.

The formatter works on the full token stream (`tokens.lex`: comments and
line breaks included) and asks the AST only what tokens cannot say: which
`(` opens an argument list, which `-` is unary, which `=` names an
argument, which `else` belongs to an `if`. It never adds, drops or reorders
a token that carries meaning; it decides the whitespace, and removes only
redundant separators (`;` at a line end, a trailing comma before a closer on
the same line). So every comment stays, in its order, and meaning cannot
change; as a safety net (black's "safe" mode) the result is parsed again and
must give an equal AST with the same comments, or nothing is written.

The layout, in the spirit of gofmt (the user's line breaks between
statements are theirs; everything else is decided here):

- indentation: 4 spaces a level; a `|` path sits 2 spaces into its
  `concat`/`add` level, its statements one level in; a line that continues a
  statement (`-> relu`, the `else` of a conditional expression) one level
  more; lines inside `( )` and `[ ]` one level past the line that opened them;
- a body that spans lines has `{` ending its first line and `}` starting its
  last, one statement per line (as written, or several joined by `;`), and in
  such a `concat`/`add` every `|` starts a line; a body on one line stays so;
- `{`, `else` and `shortcut` go on the line of what they continue (`} else {`);
- spaces: one around `=` (but `k=3` in arguments), `->`, binary operators and
  after `,` `:` `;`; none inside brackets, around `.`, after a unary sign;
- alignment: the statements after `;` on consecutive lines of a body start in
  one column (the `conv(...); expect [...]` tables), and so do the trailing
  comments of consecutive lines;
- blank lines: at most one in a row, none after `{` or before `}`, inside
  `( )` and `[ ]` or at the ends of the file, and one between a block or
  network and what is around it.
"""
from __future__ import annotations

import dataclasses
from bisect import bisect_left
from dataclasses import dataclass, field

from . import syntax as ast
from .diagnostics import Collector, Diagnostic
from .parser import parse
from .source import Source
from .tokens import COMMENT, NEWLINE, SEMI, Tok, lex

INDENT = 4
BAR_INDENT = 2           # a `|` sits this far into its concat/add level
COMMENT_GAP = 2          # spaces before a trailing comment, at least (PEP 8)
OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
CLOSERS = frozenset(OPENERS.values())


class NotFormatted(Exception):
    """The text was left alone: it does not parse (`diagnostics` say why), or
    formatting it would have changed its meaning (a bug in the formatter)."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or []


def format_text(text: str, name: str = "<string>") -> str:
    """The canonical layout of a spec's text. Raises NotFormatted if it does not parse."""
    source = Source(name, text)
    tree = _parse(source)
    if tree is None:
        raise NotFormatted(f"{name}: not formatted: it does not parse", _parse_errors(source))
    out = _Layout(source.text, tree).render()
    _verify(source, tree, out)
    return out


def _parse(source: Source) -> ast.File | None:
    return parse(source, Collector())


def _parse_errors(source: Source) -> list[Diagnostic]:
    collector = Collector()
    parse(source, collector)
    return collector.sorted()


def _verify(source: Source, tree: ast.File, out: str) -> None:
    """The safety net: the output means what the input meant and keeps every comment."""
    again = _parse(Source(source.name, out))
    if again is None or not same_tree(again, tree) or _comments(out) != _comments(source.text):
        raise NotFormatted(f"{source.name}: not formatted: the formatter would change its meaning "
                           "(a bug in archlang fmt; please report it with the file)")


def same_tree(a, b) -> bool:
    """AST equality (spans aside) without recursion: `==` on dataclasses recurses once per
    level, and the parser admits expressions deeper than Python's stack allows for that."""
    left, right = ast.walk(a), ast.walk(b)
    for x, y in zip(left, right):
        if type(x) is not type(y) or _shallow(x) != _shallow(y):
            return False
    return next(left, None) is None and next(right, None) is None


def _shallow(node) -> list:
    """A node's own values, with its children reduced to their presence and count."""
    out = []
    for f in dataclasses.fields(node):
        if f.name == "span":
            continue
        value = getattr(node, f.name)
        if type(value) is tuple:
            out.append(len(value) if value and dataclasses.is_dataclass(value[0]) else value)
        elif dataclasses.is_dataclass(value):
            out.append(type(value))
        else:
            out.append(value)
    return out


def _comments(text: str) -> list[str]:
    return [t.text.rstrip() for t in lex(text) if t.kind == COMMENT]


# -- what only the AST knows ----------------------------------------------------------------
@dataclass
class _Roles:
    """Token offsets whose role the token alone does not tell."""

    tight_open: set[int] = field(default_factory=set)    # `(` of a call or parameters, `[` of an index
    unary: set[int] = field(default_factory=set)         # `-`/`+` signs
    kwarg_eq: set[int] = field(default_factory=set)      # `=` of `k=3` in a call
    paths_open: set[int] = field(default_factory=set)    # `{` of concat/add paths
    joins: set[int] = field(default_factory=set)         # `else`/`shortcut` that follow a `}`
    continues: set[int] = field(default_factory=set)     # the `else` of `a if b else c`
    slice_colon: set[int] = field(default_factory=set)   # the `:` of `x[1:3]`
    items: dict[int, bool] = field(default_factory=dict)  # top-level item start -> is a block/network


def _roles(tree: ast.File, code: list[Tok]) -> _Roles:
    starts = [t.start for t in code]

    def after(offset: int) -> int:
        """The offset of the first code token at or after `offset`."""
        i = bisect_left(starts, offset)
        return starts[i] if i < len(starts) else -1

    def first_not_paren(offset: int) -> int:
        i = bisect_left(starts, offset)
        while i < len(code) and code[i].kind == "LPAR":
            i += 1
        return starts[i] if i < len(starts) else -1

    r = _Roles()
    for item in tree.items:
        r.items[item.span.start] = isinstance(item, (ast.BlockDef, ast.NetworkDef))
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Call and node.parens:
            r.tight_open.add(after(node.callee.span.end))
        elif kind is ast.Merge:
            r.tight_open.add(after(node.span.start + len(node.op)))
        elif kind in (ast.BlockDef, ast.NetworkDef):
            r.tight_open.add(after(node.name.span.end))  # a `{` when there are no parameters: harmless
        elif kind is ast.Let and node.params is not None:
            r.tight_open.add(after(node.name.span.end))
        elif kind is ast.Index or kind is ast.Slice:
            r.tight_open.add(after(node.value.span.end))
            if kind is ast.Slice:  # `x[1:3]`, `x[:i]`: the colon of the slice
                bracket = after(node.value.span.end)
                r.slice_colon.add(after(node.lower.span.end if node.lower is not None else bracket + 1))
        elif kind is ast.Function:
            r.tight_open.add(after(node.name.span.end))
        elif kind is ast.Unary and node.op != "not":
            r.unary.add(first_not_paren(node.span.start))  # a parenthesised `(-x)` spans its `(`
        elif kind is ast.Arg and node.name is not None:
            r.kwarg_eq.add(after(node.name.span.end))
        elif kind is ast.Paths:
            r.paths_open.add(after(node.span.start + len(node.op)))
        elif kind is ast.If and node.orelse is not None:
            r.joins.add(after(node.then.span.end))
        elif kind is ast.Residual and node.shortcut is not None:
            r.joins.add(after(node.body.span.end))
        elif kind is ast.Cond:
            r.continues.add(after(node.test.span.end))
    return r


# -- lines ----------------------------------------------------------------------------------
@dataclass
class _Line:
    toks: list[Tok]                 # code tokens, then at most one COMMENT
    blank_before: bool = False
    indent: int = 0
    cells: list[str] = field(default_factory=list)   # the code, split after each statement `;`
    comment: str | None = None
    gap: int = COMMENT_GAP          # spaces between the code and the comment
    frame: int = 0                  # id of the innermost open bracket at the line's start

    @property
    def code(self) -> list[Tok]:
        return self.toks[:-1] if self.toks and self.toks[-1].kind == COMMENT else self.toks

    @property
    def comment_only(self) -> bool:
        return len(self.toks) == 1 and self.toks[0].kind == COMMENT


@dataclass
class _Frame:
    kind: str       # LPAR, LSQB, LBRACE
    base: int       # its contents are indented one level past this
    block: int      # the block indent of the line that opened it (see _Layout._indent)
    paths: bool     # the `{` of concat/add paths
    ident: int


class _Layout:
    def __init__(self, text: str, tree: ast.File) -> None:
        self.toks = list(lex(text))
        self.code = [t for t in self.toks if t.kind not in (COMMENT, NEWLINE, SEMI)]
        self.roles = _roles(tree, self.code)
        self.multiline = self._multiline_braces()

    def render(self) -> str:
        lines = self._source_lines(self._drop_separators())
        lines = self._split(self._join(lines))
        self._indent(lines)
        for line in lines:
            self._cells(line)
        self._blank_lines(lines)
        _align_statements(lines)
        _align_comments(lines)
        out: list[str] = []
        for line in lines:
            if line.blank_before and out:
                out.append("")
            text = "".join(line.cells)
            if line.comment is not None:
                text = f"{text}{' ' * line.gap}{line.comment}" if text else line.comment
            out.append((" " * line.indent + text).rstrip())
        return "\n".join(out) + "\n" if out else ""

    # -- tokens ----------------------------------------------------------------------------
    def _multiline_braces(self) -> set[int]:
        """Offsets of the `{` whose body spans lines in the source."""
        stack: list[tuple[int, bool]] = []
        out: set[int] = set()
        for t in self.toks:
            if t.kind == "LBRACE":
                stack.append((t.start, False))
            elif t.kind == NEWLINE and stack:
                stack[-1] = (stack[-1][0], True)
            elif t.kind == "RBRACE" and stack:
                start, multi = stack.pop()
                if multi:
                    out.add(start)
                    if stack:
                        stack[-1] = (stack[-1][0], True)
        return out

    def _drop_separators(self) -> list[Tok]:
        """Drop the `;` that separate nothing (line ends, doubled, next to braces and
        bars, before a continuation, inside brackets where they are line breaks) and
        trailing commas before a closer on the same line."""
        toks = self.toks
        keep: list[Tok] = []
        open_kinds: list[str] = []
        for i, t in enumerate(toks):
            if t.kind in OPENERS:
                open_kinds.append(t.kind)
            elif t.kind in CLOSERS and open_kinds:
                open_kinds.pop()
            if t.kind == SEMI:
                prev = keep[-1] if keep else None
                nxt = next((u for u in toks[i + 1:] if u.kind != SEMI), None)
                if (prev is None or prev.kind in (NEWLINE, SEMI, "LBRACE", "BAR")
                        or open_kinds and open_kinds[-1] != "LBRACE"   # inside ( ) or [ ], as a newline
                        or nxt is None or nxt.kind in (NEWLINE, COMMENT, "RBRACE", "BAR", "LBRACE", "_ARROW")
                        or nxt.start in self.roles.joins or nxt.start in self.roles.continues):
                    continue
            elif t.kind == "COMMA":
                nxt = toks[i + 1] if i + 1 < len(toks) else None
                if nxt is not None and nxt.kind in ("RPAR", "RSQB"):
                    continue
            keep.append(t)
        return keep

    @staticmethod
    def _source_lines(toks: list[Tok]) -> list[_Line]:
        lines: list[_Line] = []
        current: list[Tok] = []
        blank = False
        for t in toks:
            if t.kind == NEWLINE:
                if current:
                    lines.append(_Line(current, blank_before=blank))
                    current, blank = [], False
                else:
                    blank = bool(lines)
            else:
                current.append(t)
        if current:
            lines.append(_Line(current, blank_before=blank))
        return lines

    def _join(self, lines: list[_Line]) -> list[_Line]:
        """`{`, and the `else`/`shortcut` after a `}`, go on the line they continue."""
        out: list[_Line] = []
        for line in lines:
            first = line.toks[0]
            prev = out[-1] if out else None
            if (prev is not None and not prev.comment_only
                    and (first.kind == "LBRACE" or first.start in self.roles.joins)
                    and not (_comment_of(prev.toks) and _comment_of(line.toks))):
                prev.toks = prev.code + line.code + _comment_of(prev.toks) + _comment_of(line.toks)
                continue
            out.append(line)
        return out

    def _split(self, lines: list[_Line]) -> list[_Line]:
        """In a body that spans lines: `{` ends a line, `}` starts one, every `|` starts one."""
        out: list[_Line] = []
        stack: list[tuple[bool, bool]] = []   # (multi-line, paths) per open `{`
        for line in lines:
            piece: list[Tok] = []
            blank = line.blank_before
            for t in line.toks:
                if t.kind == "RBRACE":
                    multi = stack.pop()[0] if stack else False
                    if multi and _has_code(piece):
                        out.append(_Line(piece, blank))
                        piece, blank = [], False
                elif t.kind == "BAR" and stack and stack[-1] == (True, True) and _has_code(piece):
                    out.append(_Line(piece, blank))
                    piece, blank = [], False
                piece.append(t)
                if t.kind == "LBRACE":
                    multi = t.start in self.multiline
                    stack.append((multi, t.start in self.roles.paths_open))
                    if multi:
                        out.append(_Line(piece, blank))
                        piece, blank = [], False
            if piece:
                if piece[0].kind == COMMENT and out and out[-1].toks and out[-1].toks[-1].kind != COMMENT \
                        and not line.comment_only:
                    out[-1].toks.append(piece[0])  # `{  # note`: the comment stays on the `{` line
                else:
                    out.append(_Line(piece, blank))
        return out

    # -- indentation ----------------------------------------------------------------------
    def _indent(self, lines: list[_Line]) -> None:
        """Each line's indent, from the brackets open at its start.

        A frame's contents sit one level past its `base`. A `(` or `[` takes
        the base of the line that opens it. A `{` at the level of statements
        takes the line's `block`: its own indent, or, for a line that begins
        inside brackets (`    classes = 10) {`), the block of the line that
        opened them, so the body lines up with the statement it belongs to.
        """
        frames: list[_Frame] = []
        pending: list[_Line] = []   # comment lines take the indent of the next code line
        counter = 0
        for line in lines:
            line.frame = frames[-1].ident if frames else 0
            if _brackets_above_brace(frames):
                line.blank_before = False  # no blank lines inside ( ) and [ ]
            if line.comment_only:
                pending.append(line)
                continue
            first = line.code[0]
            inner = frames[-1] if frames else None
            content = inner.base + INDENT if inner else 0
            if first.kind in CLOSERS:
                line.indent = inner.base if inner else 0
                comment_indent = content
            elif first.kind == "BAR" and inner is not None and inner.paths:
                line.indent = inner.base + BAR_INDENT
                comment_indent = line.indent
            elif (first.kind == "_ARROW" or first.start in self.roles.continues) \
                    and (inner is None or inner.kind == "LBRACE"):
                line.indent = content + INDENT
                comment_indent = line.indent
            else:
                line.indent = comment_indent = content
            for c in pending:
                c.indent = comment_indent
            pending = []
            own = line.indent + (INDENT - BAR_INDENT if first.kind == "BAR" else 0)
            brackets = _brackets_above_brace(frames)
            block = brackets[0].block if brackets else own
            for t in line.code:
                if t.kind in OPENERS:
                    counter += 1
                    base = own if _brackets_above_brace(frames) else block
                    frames.append(_Frame(t.kind, base, block, t.start in self.roles.paths_open, counter))
                elif t.kind in CLOSERS and frames:
                    frames.pop()
        for c in pending:
            c.indent = 0

    # -- within a line --------------------------------------------------------------------
    def _cells(self, line: _Line) -> None:
        roles = self.roles
        cells: list[str] = []
        current: list[str] = []
        depth = 0
        prev: Tok | None = None
        for t in line.code:
            if prev is not None and current:
                current.append(_space(prev, t, roles))
            current.append(t.text)
            if t.kind in OPENERS:
                depth += 1
            elif t.kind in CLOSERS:
                depth -= 1
            elif t.kind == SEMI and depth == 0:
                cells.append("".join(current))
                current = []
            prev = t
        if current or not cells:
            cells.append("".join(current))
        line.cells = cells
        line.comment = line.toks[-1].text.rstrip() if line.toks[-1].kind == COMMENT else None

    def _blank_lines(self, lines: list[_Line]) -> None:
        """At most one blank line (the source lines already fold runs); none after an
        opening `{` or before a `}`; one around each top-level block and network."""
        items = self.roles.items
        for i, line in enumerate(lines):
            prev = lines[i - 1] if i else None
            if prev is None or line.code and line.code[0].kind == "RBRACE" \
                    or prev.code and prev.code[-1].kind == "LBRACE":
                line.blank_before = False
        # Around defs: the item's leading comments stay attached to it.
        starts = {i for i, line in enumerate(lines) if line.frame == 0 and line.code
                  and line.code[0].start in items and line.indent == 0}
        item_lines = sorted(starts)
        for n, i in enumerate(item_lines):
            if n == 0:
                continue
            j = i
            while j > 0 and lines[j - 1].comment_only and not lines[j].blank_before:
                j -= 1
            if j == 0 or lines[j].blank_before:
                continue
            this_def = items[lines[i].code[0].start]
            prev_def = items[lines[item_lines[n - 1]].code[0].start]
            if this_def or prev_def:
                lines[j].blank_before = True


def _brackets_above_brace(frames: list[_Frame]) -> list[_Frame]:
    """The open `(` and `[` inside the innermost open `{`."""
    i = len(frames)
    while i and frames[i - 1].kind != "LBRACE":
        i -= 1
    return frames[i:]


def _comment_of(toks: list[Tok]) -> list[Tok]:
    return toks[-1:] if toks and toks[-1].kind == COMMENT else []


def _has_code(toks: list[Tok]) -> bool:
    return any(t.kind != COMMENT for t in toks)


def _space(a: Tok, b: Tok, roles: _Roles) -> str:
    """The space between two tokens on one line."""
    if a.kind in ("LPAR", "LSQB") or b.kind in ("RPAR", "RSQB", "COMMA", SEMI, "COLON"):
        return ""
    if a.start in roles.unary:
        return ""
    if a.start in roles.kwarg_eq or b.start in roles.kwarg_eq:
        return ""
    if a.start in roles.slice_colon:
        return ""
    if a.kind == "DOT" or b.kind == "DOT":
        return " " if a.kind == "NUMBER" else ""  # `1 .c`: `1.c` would be one (bad) number
    if b.kind in ("LPAR", "LSQB") and b.start in roles.tight_open:
        return ""
    return " "


# -- alignment ------------------------------------------------------------------------------
def _align_statements(lines: list[_Line]) -> None:
    """Consecutive lines of one body with `a; b` start their second (third...) statements
    in one column."""
    run: list[_Line] = []

    def flush() -> None:
        column = 1
        while True:
            having = [ln for ln in run if len(ln.cells) > column]
            if not having:
                break
            # Runs within the run: lines that have this column and follow each other.
            group: list[_Line] = []
            for ln in run + [None]:
                if ln is not None and len(ln.cells) > column:
                    group.append(ln)
                    continue
                if group:
                    width = max(len("".join(g.cells[:column])) for g in group) + 1
                    for g in group:
                        g.cells[column - 1] = g.cells[column - 1].ljust(width - len("".join(g.cells[:column - 1])))
                    group = []
            column += 1
        run.clear()

    for line in lines:
        if run and (line.blank_before or len(line.cells) < 2 or line.indent != run[0].indent
                    or line.frame != run[0].frame):
            flush()
        if len(line.cells) >= 2 and not line.comment_only:
            run.append(line)
    flush()


def _align_comments(lines: list[_Line]) -> None:
    """Trailing comments of consecutive code lines start in one column."""
    run: list[_Line] = []

    def flush() -> None:
        if run:
            width = max(ln.indent + len("".join(ln.cells)) for ln in run)
            for ln in run:
                ln.gap = width - ln.indent - len("".join(ln.cells)) + COMMENT_GAP
        run.clear()

    for line in lines:
        if line.comment is None or line.comment_only or line.blank_before:
            flush()
        if line.comment is not None and not line.comment_only:
            run.append(line)
    flush()
