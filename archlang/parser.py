"""Text to AST: the Lark LALR parser, and syntax errors as E1xx diagnostics.

The parser is built once per process from grammar.lark (and cached on disk by
Lark, so a later process loads the tables instead of computing them). It
builds the AST while parsing: `_Builder`'s methods are Lark callbacks, one per
grammar rule, so no parse tree is ever made.

Syntax errors are collected, not raised. After one, the parser drops the rest
of the statement it is in and carries on at the next one, so a file with
three broken statements gets three errors, and never a second error for the
same statement (see `_Recovery`).
"""
from __future__ import annotations

import copy
import dataclasses
import math
import re
import threading
import unicodedata
from pathlib import Path

from lark import Lark
from lark import Token as LarkToken
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer, PatternStr

from . import syntax as ast
from .diagnostics import Collector
from .limits import MAX_EXPRESSION_DEPTH, MAX_INT
from .source import Source, Span

OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
# Keywords that are never names, as they start items and statements: a
# `network` inside a block whose `}` is missing, or an `if` on the line of a
# chain, is then reported as what it is. The other keywords (`as`, `else`,
# `and`, `concat`...) are names where the parser cannot take the keyword.
RESERVED = frozenset({"IMPORT", "BLOCK", "NETWORK", "LET", "INPUT", "OUTPUT", "REPEAT", "IF", "EXPECT"})
CLOSERS = {close: open_ for open_, close in OPENERS.items()}


class Token:
    """A token, as lean as the parser needs: type, text, offsets.

    Lark's own Token (a str subclass with line and column) costs three times
    as much to make, and there is one per word of a spec. Lark reads only
    `type` while parsing, and the position attributes, which are None here,
    when it makes an end-of-file token or an error.
    """

    __slots__ = ("type", "value", "start_pos", "end_pos")
    line = column = end_line = end_column = None

    def __init__(self, type_: str, value: str, start_pos: int = 0, end_pos: int = 0) -> None:
        self.type = type_
        self.value = value
        self.start_pos = start_pos
        self.end_pos = end_pos

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {self.value!r})"


def parse(source: Source, collector: Collector) -> ast.File | None:
    """Parse one file. Syntax errors go to `collector`; then the result is None."""
    before = len(collector.errors)
    with _LOCK:
        lark = _lark()
        run = _Run(source, collector)
        _BUILDER.run = _Lexer.run = run
        try:
            tree = lark.parse(source.text, start="start", on_error=run.recovery.on_error)
        except UnexpectedInput as exc:  # the file ended inside something
            run.recovery.give_up(exc)
            tree = None
        finally:
            _BUILDER.run = _Lexer.run = None
    if len(collector.errors) > before:
        return None
    return tree


# -- the terminals, for tools that lex spec text themselves ---------------------------------
def terminals() -> list:
    """grammar.lark's terminals (Lark `TerminalDef`s: `.name`, `.pattern`), in the order the
    lexer tries them. The formatter and the highlighters lex with these, so they follow
    the grammar."""
    return lexing_order(_lark().terminals)


def lexing_order(terminals) -> list:
    """Longest and most specific first: `->` before `-`, `==` before `=`, `.5` before `.`."""
    return sorted(terminals, key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name))


def keywords_of(terminals) -> dict[str, str]:
    """{word: terminal name} for the terminals that spell a name (`if`: "IF"); the lexer
    makes a name a keyword where the parser can take that keyword (or always, for RESERVED)."""
    name_re = re.compile(next(t.pattern.to_regexp() for t in terminals if t.name == "NAME"))
    return {t.pattern.value: t.name for t in terminals
            if isinstance(t.pattern, PatternStr) and name_re.fullmatch(t.pattern.value)}


# -- the Lark parser, built once -----------------------------------------------------------
_LOCK = threading.RLock()
_LARK: Lark | None = None


def _lark() -> Lark:
    global _LARK
    if _LARK is None:
        grammar = Path(__file__).with_name("grammar.lark").read_text(encoding="utf-8")
        # No propagate_positions: it only annotates parse trees, and none is
        # built; `_Builder` takes spans from the tokens it is given. Lark's
        # cache file is written and checked by Lark (keyed by a hash of the
        # grammar and options); a damaged one is rebuilt, never trusted.
        _LARK = Lark(grammar, parser="lalr", lexer=_Lexer, maybe_placeholders=False,
                     transformer=_BUILDER, cache=True, start=["start", "expr"])
    return _LARK


class _Run:
    """Everything that belongs to one parse: the source, the diagnostics, brackets."""

    def __init__(self, source: Source, collector: Collector, start: int = 0, end: int | None = None) -> None:
        self.source = source
        self.collector = collector
        self.pos = start  # where the lexer goes on from
        self.end = len(source.text) if end is None else end  # where it stops
        self.brackets = _Brackets()
        self.recovery = _Recovery(self)
        # id(expression) -> (the expression, its depth), for composite expressions
        # only (a leaf has depth 1). Holding the node keeps its id its own.
        self.depths: dict[int, tuple[object, int]] = {}
        self.too_deep = False

    def span(self, start: int, end: int) -> Span:
        return Span(self.source, start, end)

    def token_span(self, tok: Token) -> Span:
        return Span(self.source, tok.start_pos, tok.end_pos)

    def line_of(self, offset: int) -> int:
        return self.source.line_col(offset)[0]


# -- brackets ------------------------------------------------------------------------------
class _Brackets:
    """Open brackets, and the state of error recovery, for one parse."""

    def __init__(self) -> None:
        self.stack: list[Token] = []
        self.depth_before = 0          # len(stack) before the last token given to the parser
        self.last: Token | None = None  # that token
        self.previous: Token | None = None  # the one before it
        # Keyed by id(token), with the token kept so that the id stays its own.
        self.closed_by: dict[int, tuple[Token, Token]] = {}  # closer -> an opener it closed without a match
        self.stray: dict[int, Token] = {}                     # closers that close nothing
        self.skipping = False
        self.sync_depth = 0
        self.yielded = 0                       # tokens given to the parser so far
        self.grace = -1                        # see _Recovery._resume
        self.grace_expected: set[str] = set()  # what the statement cut short there could take
        self.after_grace: str | None = None    # the kind of the token after it
        self.newlines = 0                      # newline tokens given to the parser so far
        self.grace_newlines = 0                # ... at the cut

    def observe(self, tok: Token) -> None:
        """Track `tok`'s effect on the open brackets."""
        t = tok.type
        if t in OPENERS:
            self.stack.append(tok)
        elif t in CLOSERS:
            self._close(tok)

    def _close(self, tok: Token) -> None:
        want = CLOSERS[tok.type]
        for opener in reversed(self.stack):
            if opener.type == want:
                break
        else:
            self.stray[id(tok)] = tok  # the parser reports it
            return
        while self.stack:
            opener = self.stack.pop()
            if opener.type == want:
                return
            # `conv(3 }`: the `}` closes the `(` too; remember it for the message.
            self.closed_by.setdefault(id(tok), (tok, opener))

    def ends_skip(self, tok: Token, depth_before: int) -> bool:
        """While skipping a broken statement: does `tok` end it?"""
        if tok.type == "_NL":
            return depth_before == self.sync_depth
        if tok.type == "RBRACE":  # closes the body the statement was in
            return len(self.stack) < self.sync_depth
        if tok.type == "BAR":     # the next path of a concat/add
            return depth_before == self.sync_depth
        return False


# -- the lexer -----------------------------------------------------------------------------
class _Lexer(Lexer):
    """A contextual lexer over grammar.lark's terminals (see the grammar's header).

    One regular expression matches every terminal but the keywords; a name
    that spells a keyword becomes that keyword where the parser can take it
    (or cannot take a name). Lark makes one instance; the parse in progress
    is `_Lexer.run`.
    """

    __future_interface__ = 2  # lex(lexer_state, parser_state): the parser's state is what makes it contextual
    run: "_Run | None" = None
    CONTINUATIONS = {"else": "ELSE", "shortcut": "SHORTCUT", "->": "_ARROW", "{": "LBRACE"}

    def __init__(self, conf) -> None:
        terminals = lexing_order(conf.terminals)
        self.keywords = keywords_of(terminals)
        keyword_names = set(self.keywords.values())
        self.regex = re.compile("|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})"
                                         for t in terminals if t.name not in keyword_names))
        self.ignore = frozenset(conf.ignore)
        self.continuation = re.compile(r"else(?![A-Za-z0-9_])|shortcut(?![A-Za-z0-9_])|->|\{")
        # A word right before `:` is a label (or the name of an input), never a keyword:
        # `block:` and `add:` name torchvision's modules.
        self.label_after = re.compile(r"[ \t]*:")

    def lex(self, lexer_state, parser_state):
        run = self.run
        text = run.source.text
        end_of_text = run.end
        match = self.regex.match
        keywords = self.keywords
        ignore = self.ignore
        states = parser_state.parse_conf.states
        b = run.brackets
        while run.pos < end_of_text:
            start = run.pos
            m = match(text, start)
            if m is None:
                run.pos += 1
                run.recovery.bad_character(parser_state, start)
                continue
            kind = m.lastgroup
            run.pos = end = m.end()
            if kind in ignore:
                continue
            value = m.group()
            if kind == "_NL":
                if b.stack and b.stack[-1].type != "LBRACE":
                    continue  # a newline inside ( ) or [ ]
                if self._continues(text, end, parser_state):
                    continue
            elif kind == "NAME" and value in keywords and not self._label(text, end, b):
                acceptable = states[parser_state.position]
                keyword = keywords[value]
                if keyword in acceptable or "NAME" not in acceptable or keyword in RESERVED:
                    kind = keyword
            tok = Token(kind, value, start, end)
            depth = len(b.stack)
            b.observe(tok)
            if b.skipping:
                if not b.ends_skip(tok, depth):
                    continue
                b.skipping = False
                if kind == "_NL":
                    continue
            b.depth_before = depth
            b.previous = b.last
            b.last = lexer_state.last_token = tok
            if b.yielded == b.grace:
                b.after_grace = kind
            b.yielded += 1
            if kind == "_NL":
                b.newlines += 1
            yield tok

    def _label(self, text: str, after: int, b: "_Brackets") -> bool:
        """Is the word ending at `after` a label (`block:`)? Not inside ( ) or [ ], where
        a `:` is a slice's (`x[true:]`)."""
        return (not b.stack or b.stack[-1].type == "LBRACE") and self.label_after.match(text, after) is not None

    def _continues(self, text: str, after: int, parser_state) -> bool:
        """Does the newline ending at `after` sit before a token that continues the statement?"""
        m = self.continuation.match(text, after)
        return m is not None and _accepts(parser_state, self.CONTINUATIONS[m.group()])


def _closers_before(parser_state, term: str, most: int) -> list[str] | None:
    """The tokens (1 to `most` `}`, then a newline if items need one) after
    which the parser takes a `term` token in place of the statement it is in;
    tried on a copy. None if no such tokens exist."""
    trial = _trial(parser_state)
    _Recovery._unwind(trial)
    closers: list[str] = []
    for _ in range(most):
        try:
            trial.feed_token(LarkToken("RBRACE", "}"))
        except UnexpectedInput:
            return None
        closers.append("RBRACE")
        if _accepts(trial, term):
            return closers
        if _accepts(trial, "_NL"):
            after = _trial(trial)
            after.feed_token(LarkToken("_NL", "\n"))
            if _accepts(after, term):
                return closers + ["_NL"]
    return None


def _trial(parser_state):
    """A copy of the parser's state to try tokens on, building nothing."""
    trial = parser_state.copy(deepcopy_values=False)
    trial.parse_conf = copy.copy(trial.parse_conf)
    trial.parse_conf.callbacks = {}
    return trial


def _accepts(parser_state, term: str) -> bool:
    """Whether the parser can take a `term` token now (tried on a copy: LALR
    tables list some lookaheads that fail after a reduction)."""
    if term not in parser_state.parse_conf.states[parser_state.position]:
        return False
    trial = _trial(parser_state)
    try:
        trial.feed_token(LarkToken(term, ""))
    except UnexpectedInput:
        return False
    return True


# -- error recovery -------------------------------------------------------------------------
class _Recovery:
    """Lark's `on_error` for one parse: report, then resume at the next statement.

    On an error the parser's stack is popped back to the start of the
    statement being parsed (a state where a statement may begin), and the
    lexer swallows tokens up to the newline that ends that statement, or
    the `}` or `|` that ends the body around it. Errors met while skipping
    belong to the same broken statement and are not reported.
    """

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.b = run.brackets

    def on_error(self, exc: UnexpectedInput) -> bool:
        b = self.b
        tok = exc.token
        if tok.type == "$END":
            return False  # nothing left to resume with: give_up reports it
        ip = exc.interactive_parser
        if self._tail_of_cut_statement(tok):
            # The line after a statement that a newline cut short, like `3`
            # after `let x =` and a newline: the same mistake, not a new one.
            self._unwind(ip.parser_state)
            self._skip_from(b.depth_before)
            return True
        if tok.type == "_NL":
            b.grace_expected = set(ip.accepts())
        if self._close_before_item(ip, tok):
            return True
        self._report_token(ip, tok)
        self._resume(ip.parser_state, tok)
        return True

    def _tail_of_cut_statement(self, tok: Token) -> bool:
        """Is `tok` the first token after a statement cut short by a newline, or, when that
        first token is one the cut statement could take (`3` after `let x =`), still on
        its line? (`3` then parses as the start of a label, `3:`, up to the newline.)"""
        b = self.b
        if b.grace < 0:
            return False
        if b.yielded == b.grace + 1:
            return True
        newlines = b.newlines - b.grace_newlines - (tok.type == "_NL")
        return newlines == 0 and b.after_grace in b.grace_expected

    def _close_before_item(self, ip, tok: Token) -> bool:
        """`block`, `network` or `import` inside a body: the body's `}` is missing.

        One E102 at the unclosed `{`; then the open bodies are closed as if
        their `}` were there, and the item parses as written (no second error
        for it, and none at the end of the file).
        """
        stack = self.b.stack
        if tok.type not in _ITEMS or not stack or stack[-1].type != "LBRACE":
            return False
        open_braces = len(stack) - next((i + 1 for i in range(len(stack) - 1, -1, -1)
                                         if stack[i].type != "LBRACE"), 0)
        ps = ip.parser_state
        closers = _closers_before(ps, tok.type, open_braces)
        if closers is None:
            return False
        unclosed = stack[-closers.count("RBRACE"):]
        self._report_unclosed_before(ip, tok, unclosed)
        self._unwind(ps)
        del stack[-len(unclosed):]
        for kind in closers:
            ps.feed_token(Token(kind, "}" if kind == "RBRACE" else "\n", tok.start_pos, tok.start_pos))
        ps.feed_token(tok)
        return True

    def bad_character(self, parser_state, offset: int) -> None:
        """The lexer met a character that starts no token."""
        if self.b.skipping:
            return
        self._report_character(offset)
        opened = self._unwind(parser_state)
        self._skip_from(len(self.b.stack) - opened)

    def give_up(self, exc: UnexpectedInput) -> None:
        """The parse cannot go on: the file ended inside something."""
        if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
            self._report_end(exc.interactive_parser)
        else:  # not raised by this grammar and lexer; say so rather than lose it
            end = len(self.run.source.text)
            self.run.collector.error("E101", f"cannot parse this file: {exc}", self.run.span(end, end))

    # -- resuming ------------------------------------------------------------------------
    def _resume(self, ps, tok: Token) -> None:
        b = self.b
        opened = self._unwind(ps)
        if tok.type == "_NL":  # the statement ended early; the next one starts after it
            b.grace, b.grace_newlines = b.yielded, b.newlines
            return
        unclosed = self._unclosed_paren(tok)
        if unclosed is not None:  # forget the paren: its statement ends with this line
            del b.stack[b.stack.index(unclosed):]
            self._skip_from(len(b.stack))
            return
        if tok.type == "RBRACE" and _accepts(ps, "RBRACE"):
            ps.feed_token(tok)  # `}` closes the body the broken statement was in
            return
        self._skip_from(b.depth_before - opened)

    def _skip_from(self, depth: int) -> None:
        self.b.skipping = True
        self.b.sync_depth = max(depth, 0)

    @staticmethod
    def _unwind(ps) -> int:
        """Pop the parser back to where the broken statement began.

        Returns how many brackets the popped tokens left open, which tells the
        lexer the bracket depth at which that statement ends.
        """
        states = ps.parse_conf.states
        opened = 0
        while len(ps.state_stack) > 1:
            actions = states[ps.state_stack[-1]]
            if opened >= 0 and ("REPEAT" in actions or "NETWORK" in actions):
                break  # a statement (or a top-level item) may begin here
            ps.state_stack.pop()
            value = ps.value_stack.pop()
            if isinstance(value, (Token, LarkToken)):
                opened += (value.type in OPENERS) - (value.type in CLOSERS)
        return opened

    def _unclosed_paren(self, tok: Token) -> Token | None:
        """The open `(`/`[` that `tok` shows was never closed, if any.

        An unexpected token that begins a later line than the innermost open
        paren almost always means that paren's `)` is missing.
        """
        stack = self.b.stack
        if not stack or stack[-1].type == "LBRACE" or tok is stack[-1]:
            return None
        opener = stack[-1]
        if self.run.line_of(tok.start_pos) <= self.run.line_of(opener.start_pos):
            return None
        line_start = self.run.source.text.rfind("\n", 0, tok.start_pos) + 1
        return opener if not self.run.source.text[line_start:tok.start_pos].strip() else None

    # -- reporting ------------------------------------------------------------------------
    def _report_character(self, offset: int) -> None:
        run = self.run
        char = run.source.text[offset]
        span = run.span(offset, offset + 1)
        if char in "\"'":
            run.collector.error("E103", f"unterminated string: no closing {char} on this line", span,
                                label="the string starts here")
            return
        help_ = None
        ascii_like = _ASCII_LOOKALIKES.get(char) or unicodedata.normalize("NFKC", char)
        if ascii_like != char and ascii_like.isascii():
            help_ = f"did you mean `{ascii_like}`? (this is {_char_name(char)})"
        shown = char if char.isprintable() else repr(char)[1:-1]
        run.collector.error("E104", f"unexpected character `{shown}`", span, help=help_)

    def _report_token(self, ip, tok: Token) -> None:
        run = self.run
        expected = set(ip.accepts())
        span = run.token_span(tok)
        if tok.type == "NUMBER" and not _number_value(tok.value)[1]:
            run.collector.error("E103", _number_message(tok.value), span, help=_number_help(tok.value))
            return
        before = run.brackets.previous
        if expected == {"COLON"} and before is not None and before.type == "NUMBER" \
                and not _number_value(before.value)[1]:  # `x = 12abc`: the number, not the missing `:`
            run.collector.error("E103", _number_message(before.value), run.token_span(before),
                                help=_number_help(before.value))
            return
        closer, unclosed = run.brackets.closed_by.get(id(tok), (None, None))
        if closer is not tok:
            unclosed = self._unclosed_paren(tok)
        if unclosed is not None:
            run.collector.error(
                "E102", f"unclosed `{_OPEN_TEXT[unclosed.type]}`", run.token_span(unclosed),
                label=f"this `{_OPEN_TEXT[unclosed.type]}` is never closed",
                related=[(span, f"found {_describe(tok)} here, where {_expected_words(expected)} was expected")])
        elif run.brackets.stray.get(id(tok)) is tok:
            run.collector.error("E101", f"unexpected `{tok.value}`: there is no open "
                                        f"`{_OPEN_TEXT[CLOSERS[tok.type]]}` for it to close",
                                span, label="nothing to close")
        else:
            help_ = None
            if tok.type in _ITEMS and run.brackets.stack:
                help_ = f"`{tok.value}` starts a new item of the file: is a `}}` missing before it?"
            elif tok.type in RESERVED and "NAME" in expected and "_NL" not in expected:
                help_ = f"`{tok.value}` is a keyword: it cannot be a name"
            elif tok.type in RESERVED and "REPEAT" not in expected:
                help_ = f"`{tok.value}` starts a statement: put it on a line of its own (or after `;`)"
            elif expected == {"BAR", "_NL"}:
                help_ = "each path of `concat { }`, `add { }` and `mul { }` starts with `|`"
            elif tok.type == "COMMA" and expected == {"RPAR"}:
                help_ = "archlang has no tuples: write a list, as in k=[1, 7]"
            elif expected == {"COLON"}:
                help_ = "a number or a string before a layer is its label, and ends with `:`, as in `0: conv(64, k=3)`"
            run.collector.error("E101", f"expected {_expected_words(expected)}, found {_describe(tok)}",
                                span, label=_label(tok), help=help_)

    def _report_unclosed_before(self, ip, tok: Token, unclosed: list[Token]) -> None:
        run = self.run
        related = [(run.token_span(tok), f"found {_describe(tok)} here, where "
                                         f"{_expected_words(set(ip.accepts()))} was expected")]
        related += [(run.token_span(o), "this `{` is not closed either") for o in reversed(unclosed[:-1])]
        run.collector.error("E102", "unclosed `{`", run.token_span(unclosed[-1]), label="this `{` is never closed",
                            related=related, help=f"`{tok.value}` starts a new item of the file: close the body with "
                                                  f"`}}` before it")

    def _report_end(self, ip) -> None:
        run = self.run
        stack = run.brackets.stack
        if stack:
            opener = stack[-1]
            text = _OPEN_TEXT[opener.type]
            run.collector.error("E102", f"unclosed `{text}`: the file ends before its `{_CLOSE_TEXT[opener.type]}`",
                                run.token_span(opener), label=f"this `{text}` is never closed")
            return
        if run.brackets.skipping or run.collector.errors:
            return  # the end of a statement already reported
        expected = set(ip.accepts())
        end = len(run.source.text)
        run.collector.error("E102", f"unexpected end of file: expected {_expected_words(expected)}",
                            run.span(end, end))


_OPEN_TEXT = {"LPAR": "(", "LSQB": "[", "LBRACE": "{"}
_ITEMS = frozenset({"IMPORT", "BLOCK", "NETWORK"})
_CLOSE_TEXT = {"LPAR": ")", "LSQB": "]", "LBRACE": "}"}
_ASCII_LOOKALIKES = {"“": '"', "”": '"', "‘": "'", "’": "'", "、": ",", "。": ".", "【": "[", "】": "]",
                     "—": "-", "–": "-", "→": "->", "×": "*", "÷": "/"}


def _char_name(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'an unnamed character')}"


# -- describing tokens in user words -----------------------------------------------------------
# Groups of terminals that users think of as one thing, most telling first.
_GROUPS = (
    ("NETWORK", "`import`, `let`, `block` or `network`",
     {"IMPORT", "LET", "BLOCK", "NETWORK"}),
    ("REPEAT", "a statement",
     {"NAME", "INPUT", "OUTPUT", "LET", "REPEAT", "IF", "EXPECT", "CONCAT", "ADD", "MUL", "RESIDUAL", "CAT",
      "NUMBER", "STRING"}),
    ("CONCAT", "a layer", {"NAME", "CONCAT", "ADD", "MUL", "RESIDUAL", "CAT", "_ARROW"}),
    ("NUMBER", "an expression",
     {"NAME", "NUMBER", "STRING", "TRUE", "FALSE", "LSQB", "LPAR", "SUM_OP", "NOT"}),
)
# Terminals that may always follow an expression; naming them is noise.
_OPERATORS = {"SUM_OP", "MUL_OP", "COMP_OP", "AND", "OR", "IF", "DOT", "LSQB", "ELSE"}
_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "_NL": "a newline",
    "$END": "the end of the file", "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`",
    "LBRACE": "`{`", "RBRACE": "`}`", "BAR": "`|`", "COMMA": "`,`", "EQUAL": "`=`", "COLON": "`:`",
    "DOT": "`.`", "_ARROW": "`->`", "SUM_OP": "`+` or `-`", "MUL_OP": "`*`", "COMP_OP": "a comparison",
}
_ORDER = ["RPAR", "RSQB", "COMMA", "EQUAL", "COLON", "LBRACE", "BAR", "RBRACE", "_NL", "$END"]


def _expected_words(terms: set[str]) -> str:
    words: list[str] = []
    rest = set(terms)
    for marker, words_for_group, members in _GROUPS:
        if marker in rest:
            words.append(words_for_group)
            rest -= members
    if words or rest - _OPERATORS:
        rest -= _OPERATORS
    ordered = sorted(rest, key=lambda t: (_ORDER.index(t) if t in _ORDER else -1, t))
    for t in ordered:
        words.append(_WORDS.get(t) or f"`{t.lower()}`")
    if not words:
        return "something else"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _describe(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    if tok.type == "_NL":
        return "`;`" if tok.value.startswith(";") else "the end of the line"
    text = tok.value.strip()
    if len(text) > 30:
        text = text[:27] + "..."
    return f"`{text}`"


def _label(tok: Token) -> str:
    if tok.type == "_NL":
        return "the statement ends here"
    return "unexpected here"


# -- the AST builder ---------------------------------------------------------------------------
def _start(x) -> int:
    return x.start_pos if type(x) is Token else x.span.start


def _end(x) -> int:
    return x.end_pos if type(x) is Token else x.span.end


_INT = re.compile(r"\d+(?:_\d+)*")
_LABEL_NUMBER = re.compile(r"[0-9]+")


def _parse_expression(run: _Run, start: int, end: int) -> ast.Expr | None:
    """The expression in `run.source.text[start:end]` (a label's `{...}`), spans in the file; None after E101.

    A parse of its own, started inside the file's parse: the lexer and the builder
    follow `_Run`s, so they are pointed at this one and back.
    """
    if not run.source.text[start:end].strip():
        run.collector.error("E101", "an empty `{}` in a label", run.span(start - 1, end + 1),
                            help="put an expression inside, as in \"layer{i + 1}\"")
        return None
    sub = _Run(run.source, run.collector, start, end)
    saved = _BUILDER.run, _Lexer.run
    _BUILDER.run = _Lexer.run = sub
    before = len(run.collector.errors)
    try:
        expr = _lark().parse(run.source.text, start="expr")
    except UnexpectedInput as exc:
        tok = getattr(exc, "token", None)
        where = run.span(tok.start_pos, max(tok.end_pos, tok.start_pos + 1)) \
            if isinstance(tok, Token) else run.span(start, end)
        if len(run.collector.errors) == before:
            run.collector.error("E101", "this `{...}` of a label is not an expression", where,
                                label="unexpected here")
        return None
    finally:
        _BUILDER.run, _Lexer.run = saved
    return expr if len(run.collector.errors) == before else None
_FLOAT = re.compile(r"(?:\d+(?:_\d+)*\.\d*|\.\d+|\d+(?:_\d+)*)(?:[eE][+-]?\d+)?")


class _Builder:
    """Lark callbacks, one per grammar rule: children in, AST node out.

    Children are tokens (named terminals: keywords, names, brackets) and the
    nodes of inner rules; spans run from the first child to the last.
    """

    def __init__(self) -> None:
        self.run: _Run | None = None

    def _span(self, first, last) -> Span:
        return Span(self.run.source, _start(first), _end(last))

    def _ident(self, tok: Token) -> ast.Ident:
        return ast.Ident(tok.value, span=self.run.token_span(tok))

    # -- files --------------------------------------------------------------------
    def start(self, c):
        return ast.File(tuple(c), span=Span(self.run.source, 0, len(self.run.source.text)))

    def import_stmt(self, c):
        return ast.Import(self.string([c[1]]), span=self._span(c[0], c[1]))

    def let_stmt(self, c):
        params = c[2] if len(c) == 4 else None
        return ast.Let(self._ident(c[1]), c[-1], params, span=self._span(c[0], c[-1]))

    def block_def(self, c):
        return ast.BlockDef(self._ident(c[1]), c[2] if len(c) == 4 else (), c[-1], span=self._span(c[0], c[-1]))

    def network_def(self, c):
        return ast.NetworkDef(self._ident(c[1]), c[2] if len(c) == 4 else (), c[-1], span=self._span(c[0], c[-1]))

    def params(self, c):
        return tuple(c[1:-1])

    def param(self, c):
        default = c[1] if len(c) == 2 else None
        return ast.Param(self._ident(c[0]), default, span=self._span(c[0], c[-1]))

    # -- bodies and statements ------------------------------------------------------
    def body(self, c):
        return ast.Body(tuple(c[1:-1]), span=self._span(c[0], c[-1]))

    def paths(self, c):
        return c  # [LBRACE, path..., RBRACE]: the combinator takes the span

    def path(self, c):
        return ast.Body(tuple(c[1:]), span=self._span(c[0], c[-1]))

    def input_stmt(self, c):
        name = self._ident(c[1]) if len(c) == 3 else None
        return ast.Input(name, c[-1], span=self._span(c[0], c[-1]))

    def output_stmt(self, c):
        items = c[1:]
        keys, training = tuple(i[1] for i in items), tuple(i[2] for i in items)
        # () when none has a key or a condition: `output a, b` stays what it was
        return ast.Output(tuple(i[0] for i in items), keys if any(keys) else (), training if any(training) else (),
                          span=self._span(c[0], items[-1][3]))

    def output_item(self, c):
        """(tensor, key or None, `training` word or None, last token) of `key: name if training`."""
        condition = self._ident(c[-1]) if len(c) >= 3 and c[-2].type == "IF" else None
        names = c[:-2] if condition is not None else c
        key = self._ident(names[0]) if len(names) == 2 else None
        return self._ident(names[-1]), key, condition, c[-1]

    def repeat_stmt(self, c):
        var = self._ident(c[3]) if len(c) == 5 else None
        return ast.Repeat(c[1], var, c[-1], span=self._span(c[0], c[-1]))

    def if_stmt(self, c):
        orelse = c[4] if len(c) == 5 else None
        return ast.If(c[1], c[2], orelse, span=self._span(c[0], c[-1]))

    def expect_stmt(self, c):
        return ast.Expect(c[1], span=self._span(c[0], c[1]))

    def layers_stmt(self, c):
        if len(c) == 1:
            return ast.Layers(c[0], None, span=c[0].span)
        return ast.Layers(self._first_labelled(c[-1], c[1:-1]), c[0], span=self._span(c[0], c[-1]))

    def bind_stmt(self, c):
        names = [self._ident(t) for t in c if type(t) is Token]
        labels = [x for x in c[len(names):-1]]
        return ast.Bind(names[0], self._first_labelled(c[-1], labels[1:]), labels[0] if labels else None,
                        tuple(names[1:]), span=self._span(c[0], c[-1]))

    def _first_labelled(self, chain: ast.Chain, labels: list) -> ast.Chain:
        """The chain, its first layer labelled by the second label of `a: b: conv(...)`."""
        if not labels:
            return chain
        first = chain.items[0]
        if isinstance(first, ast.Merge):  # `a: b: cat(x, y)`: a merge makes no module to name
            self.run.collector.error("E101", "a label names a layer, a block call or a group, not a merge",
                                     labels[0].span)
            return chain
        return dataclasses.replace(chain, items=(dataclasses.replace(first, label=labels[0]),) + chain.items[1:])

    # -- labels -------------------------------------------------------------------------
    def label(self, c):
        tok = c[0]
        span = self.run.token_span(tok)
        if tok.type == "NAME":
            return ast.Ident(tok.value, span=span)
        if tok.type == "NUMBER":
            if not _LABEL_NUMBER.fullmatch(tok.value):
                self.run.collector.error("E101", f"a label is a name, a whole number or a string, got `{tok.value}`",
                                         span, help="number labels are written in digits, as nn.Sequential "
                                                    "numbers its layers: `0:`, `1:`")
            return ast.Ident(tok.value, span=span)
        return self._template(tok)

    def _template(self, tok: Token) -> ast.Template:
        """`"block{i + 1}-{j}"`: the text between the quotes, its `{expr}` parts parsed as expressions."""
        run = self.run
        text, base = tok.value[1:-1], tok.start_pos + 1
        parts: list = []
        pos = 0
        while pos < len(text):
            opening, closing = text.find("{", pos), text.find("}", pos)
            if opening < 0 and closing < 0:
                parts.append(ast.Str(text[pos:], span=run.span(base + pos, base + len(text))))
                break
            if closing >= 0 and (opening < 0 or closing < opening):
                run.collector.error("E103", "a `}` in a label closes no `{`", run.span(base + closing, base + closing + 1),
                                    help="a label's `{expr}` parts are computed; braces are not text in a label")
                return ast.Template(tuple(parts), span=run.token_span(tok))
            if opening > pos:
                parts.append(ast.Str(text[pos:opening], span=run.span(base + pos, base + opening)))
            closing = text.find("}", opening)
            if closing < 0:
                run.collector.error("E103", "a `{` in a label is never closed", run.span(base + opening, base + opening + 1),
                                    label="this `{` is never closed")
                return ast.Template(tuple(parts), span=run.token_span(tok))
            expr = _parse_expression(run, base + opening + 1, base + closing)
            if expr is not None:
                parts.append(expr)
            pos = closing + 1
        return ast.Template(tuple(parts), span=run.token_span(tok))

    # -- chains ------------------------------------------------------------------------
    def chain(self, c):
        items, label = [], None
        for x in c:
            if isinstance(x, (ast.Ident, ast.Template)):
                label = x
                continue
            if label is not None:  # the layer keeps its own span: the label has one
                x = dataclasses.replace(x, label=label)
                label = None
            items.append(x)
        return ast.Chain(tuple(items), span=items[0].span if len(items) == 1 else self._span(items[0], items[-1]))

    def call(self, c):
        name = self._ident(c[0])
        if len(c) == 1:
            return ast.Call(name, (), False, span=name.span)
        args, close = c[1]
        return ast.Call(name, args, True, span=self._span(c[0], close))

    def args(self, c):
        args = tuple(a if isinstance(a, ast.Arg) else ast.Arg(None, a, span=a.span) for a in c[1:-1])
        return args, c[-1]

    def kwarg(self, c):
        return ast.Arg(self._ident(c[0]), c[1], span=self._span(c[0], c[1]))

    def merge(self, c):
        return ast.Merge(c[0].value, tuple(c[2:-1]), span=self._span(c[0], c[-1]))

    def concat(self, c):
        return ast.Paths("concat", tuple(c[1][1:-1]), span=self._span(c[0], c[1][-1]))

    def add(self, c):
        return ast.Paths("add", tuple(c[1][1:-1]), span=self._span(c[0], c[1][-1]))

    def mul(self, c):
        return ast.Paths("mul", tuple(c[1][1:-1]), span=self._span(c[0], c[1][-1]))

    def residual(self, c):
        shortcut = c[3] if len(c) == 4 else None
        return ast.Residual(c[1], shortcut, span=self._span(c[0], c[-1]))

    # -- expressions -------------------------------------------------------------------
    def number(self, c):
        tok = c[0]
        value, ok = _number_value(tok.value)
        if not ok:
            self.run.collector.error("E103", _number_message(tok.value), self.run.token_span(tok),
                                     help=_number_help(tok.value))
        return ast.Num(value, span=self.run.token_span(tok))

    def string(self, c):
        return ast.Str(c[0].value[1:-1], span=self.run.token_span(c[0]))

    def true(self, c):
        return ast.Bool(True, span=self.run.token_span(c[0]))

    def false(self, c):
        return ast.Bool(False, span=self.run.token_span(c[0]))

    def name(self, c):
        return ast.Name(c[0].value, span=self.run.token_span(c[0]))

    def list(self, c):
        items = c[1:-1]
        return self._nested(ast.List(tuple(items), span=self._span(c[0], c[-1])), items)

    def paren(self, c):
        # The same node, its span widened to the parentheses, so that the span
        # of `c2[0] * (a + 1)` runs to the last `)`. Parentheses add no depth.
        return self._nested(dataclasses.replace(c[1], span=self._span(c[0], c[2])), (c[1],), 0)

    def attr(self, c):
        return self._nested(ast.Attr(c[0], c[1].value, span=self._span(c[0], c[1])), (c[0],))

    def index(self, c):
        return self._nested(ast.Index(c[0], c[2], span=self._span(c[0], c[-1])), (c[0], c[2]))

    def slice(self, c):
        # [value, LSQB, lower?, COLON, upper?, RSQB]
        colon = next(i for i, x in enumerate(c) if type(x) is Token and x.type == "COLON")
        lower = c[2] if colon == 3 else None
        upper = c[colon + 1] if colon + 2 < len(c) else None
        parts = [p for p in (c[0], lower, upper) if p is not None]
        return self._nested(ast.Slice(c[0], lower, upper, span=self._span(c[0], c[-1])), parts)

    def function(self, c):
        # [NAME, LPAR, expr..., RPAR]
        args = tuple(c[2:-1])
        return self._nested(ast.Function(self._ident(c[0]), args, span=self._span(c[0], c[-1])), args)

    def cond(self, c):
        return self._nested(ast.Cond(c[0], c[2], c[4], span=self._span(c[0], c[4])), (c[0], c[2], c[4]))

    def ops(self, c):
        if _longest_prefix_run(c) > MAX_EXPRESSION_DEPTH:  # `- - - ... x`: too deep to even climb
            span = self._span(c[0], c[-1])
            self._report_too_deep(span)
            return ast.Num(0, span=span)
        expr, _ = self._climb(c, 0, 0)
        return expr

    def _nested(self, node, children, levels: int = 1):
        """Record the depth of a composite expression; E403 (once) past MAX_EXPRESSION_DEPTH.

        Everything after the parser (evaluation, messages, printing) walks
        expressions recursively; bounding their depth here keeps it safe.
        """
        depths = self.run.depths
        deepest = 1
        for child in children:
            entry = depths.get(id(child))
            if entry is not None and entry[1] > deepest:
                deepest = entry[1]
        depth = deepest + levels
        if depth > 1:
            depths[id(node)] = (node, depth)
        if depth > MAX_EXPRESSION_DEPTH:
            self._report_too_deep(node.span)
        return node

    def _report_too_deep(self, span: Span) -> None:
        if not self.run.too_deep:
            self.run.too_deep = True
            self.run.collector.error("E403", f"expression nested more than {MAX_EXPRESSION_DEPTH} deep", span,
                                     label="too many operators or brackets inside one another",
                                     help="split it with `let`, or write the value out")

    def _climb(self, items: list, pos: int, min_prec: int):
        """Precedence climbing over [prefix..., operand, op, prefix..., operand, ...]."""
        left, pos = self._operand(items, pos)
        while pos < len(items):
            op = items[pos].value
            if op in ast.BINARY_PRECEDENCE:
                prec = ast.BINARY_PRECEDENCE[op]
                if prec < min_prec:
                    break
                right, pos = self._climb(items, pos + 1, prec + 1)
                left = self._nested(ast.Binary(op, left, right, span=self._span(left, right)), (left, right))
                continue
            if ast.COMPARE_PRECEDENCE < min_prec:
                break
            ops, operands = [], [left]
            while pos < len(items) and items[pos].type == "COMP_OP":
                ops.append(items[pos].value)
                right, pos = self._climb(items, pos + 1, ast.COMPARE_PRECEDENCE + 1)
                operands.append(right)
            left = self._nested(ast.Compare(tuple(ops), tuple(operands), span=self._span(operands[0], operands[-1])),
                                operands)
        return left, pos

    def _operand(self, items: list, pos: int):
        """An operand with its prefixes: `not` takes a comparison, `-` and `+` one operand."""
        first = items[pos]
        if type(first) is not Token:
            return first, pos + 1
        if first.type == "NOT":
            operand, pos = self._climb(items, pos + 1, ast.NOT_PRECEDENCE + 1)
            return self._nested(ast.Unary("not", operand, span=self._span(first, operand)), (operand,)), pos
        operand, pos = self._climb(items, pos + 1, ast.UNARY_PRECEDENCE)
        return self._nested(ast.Unary(first.value, operand, span=self._span(first, operand)), (operand,)), pos


def _longest_prefix_run(items: list) -> int:
    """The most tokens in a row in an `ops` sequence: an operator and the prefixes after it."""
    longest = run = 0
    for item in items:
        run = run + 1 if type(item) is Token else 0
        longest = max(longest, run)
    return longest


def _number_value(text: str) -> tuple[int | float, bool]:
    """The value of a NUMBER token's text, and whether it is a number archlang takes.

    Integers are at most MAX_INT and floats finite: `1e999` is no number, and
    a thousand-digit integer never reaches int() (which refuses 4,300 digits).
    """
    if _INT.fullmatch(text):
        digits = text.replace("_", "").lstrip("0")
        if len(digits) > len(str(MAX_INT)) or int(digits or "0") > MAX_INT:
            return 0, False
        return int(text), True
    if _FLOAT.fullmatch(text):
        value = float(text)
        return value, math.isfinite(value)
    return 0, False


def _number_message(text: str) -> str:
    shown = text if len(text) <= 30 else text[:27] + "..."
    if _INT.fullmatch(text) or _FLOAT.fullmatch(text):
        return f"number `{shown}` is too large"
    return f"bad number `{shown}`"


def _number_help(text: str) -> str | None:
    if _INT.fullmatch(text):
        return f"integers are at most {MAX_INT:,} (2**63 - 1)"
    if _FLOAT.fullmatch(text):
        return "numbers with a fraction or an exponent are at most about 1.8e308"
    m = re.match(r"(\d+)([A-Za-z_]\w*)$", text)
    if m:
        return f"a number cannot run into a name; did you mean `{m.group(1)} * {m.group(2)}`?"
    if re.fullmatch(r"[\d.]+", text):
        return "a number has at most one `.`"
    if re.search(r"[eE][+-]?$", text):
        return "an exponent needs digits, as in `1e-5`"
    return None


_BUILDER = _Builder()
