"""Hypothesis strategies for fuzzing: from the grammar, and from the language's structure.

- `grammar_texts()`: hypothesis' lark support walks grammar.lark itself, so
  every construct of the syntax is reached, with names, numbers and strings
  drawn from pools that include reserved words and odd values.
- `specs()`: whole programs built as ASTs (archlang.syntax) from the op table:
  real layers with arguments of the declared kinds (and some of the wrong
  kind or value), inputs of every rank, symbolic sizes, blocks with
  parameters, repeat / if / let / expect, concat / add / residual paths,
  bindings, `cat(...)` merges and outputs; names drawn partly from words
  that Python, PyTorch or DOT reserve. `syntax.unparse` prints them, so they
  parse, and most of them get through elaboration to the backends.
"""
from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from archlang import ops, syntax as ast

from .mutations import HOSTILE_NAMES

GRAMMAR = Path(ops.__file__).with_name("grammar.lark")
ARCH_KEYWORDS = frozenset({"import", "let", "block", "network", "input", "output", "repeat", "as", "if", "else",
                           "expect", "concat", "add", "cat", "residual", "shortcut", "and", "or", "not", "true",
                           "false"})
PLAIN_NAMES = ("a", "b", "c", "n", "s", "width", "growth", "stem", "head", "body", "y", "z", "skip", "e1", "e2",
               "Stage", "Residual", "Unit", "Net", "LeNet", "H", "W", "L", "D")
NAMES = tuple(n for n in PLAIN_NAMES + HOSTILE_NAMES if n not in ARCH_KEYWORDS)
OP_NAMES = tuple(sorted(n for n, spec in ops.OPS.items() if not spec.merge))


# -- from the grammar ------------------------------------------------------------------------

def grammar_texts() -> st.SearchStrategy[str]:
    """Texts the grammar derives, terminals from pools that favour real and hostile words."""
    lark = Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="contextual")
    explicit = {
        "NAME": st.sampled_from(NAMES + OP_NAMES) | st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
        "NUMBER": st.sampled_from(("0", "1", "3", "64", "0.5", "1e-5", "1e999", "9" * 40, "1_0", "2.")) |
        st.integers(0, 10**6).map(str),
        "STRING": st.sampled_from(('"same"', '"nearest"', '"bilinear"', "'x'", '"a\\"', '"\x00"', '""')),
        "COMMENT": st.just("# c"),
        "WS": st.sampled_from((" ", "\t", "  ")),
        "_NL": st.sampled_from(("\n", ";", "\n\n", "\n# note\n")),
    }
    return from_lark(lark, explicit=explicit)


# -- from the structure ---------------------------------------------------------------------

def _num(value) -> ast.Expr:
    return ast.Unary("-", ast.Num(-value)) if value < 0 else ast.Num(value)


def _value(kind: str, choices: tuple | None) -> st.SearchStrategy:
    """An argument value of `kind` as an AST expression: mostly right, sometimes wrong."""
    small = st.integers(1, 16)
    wild = st.sampled_from((0, -1, 10**7, 2**40))
    ints = st.one_of(small, small, small, wild)
    int_lists = st.lists(ints, min_size=1, max_size=3).map(lambda xs: ast.List(tuple(_num(x) for x in xs)))
    floats = st.sampled_from((0.0, 1.0, 0.5, -2.0, 3, 1e-5))
    right = {
        "int": ints.map(_num),
        "ints": st.one_of(ints.map(_num), int_lists),
        "padding": st.one_of(st.integers(0, 3).map(_num), int_lists, st.sampled_from(("same", "valid")).map(ast.Str)),
        "size": st.one_of(small.map(_num), int_lists),
        "float": st.sampled_from((0.0, 0.1, 0.5, 1.0, 1e-5, 2.0, -0.5, 1e300)).map(_num),
        "number": st.sampled_from((1, 2, 3, 0.5, 1.5, 0, -2, 2.5, 1e-3)).map(_num),
        "floats": st.one_of(floats.map(_num), st.lists(floats, min_size=1, max_size=4).map(
            lambda xs: ast.List(tuple(_num(x) for x in xs)))),
        "bool": st.booleans().map(ast.Bool),
        "str": st.sampled_from(choices or ("x",)).map(ast.Str) | st.sampled_from(("Nearest", "", '"')).map(ast.Str),
        "tensor": st.sampled_from(("cur", "in")).map(ast.Name),   # `crop(like=cur)`: a tensor
    }[kind]
    wrong = st.one_of(st.booleans().map(ast.Bool), st.sampled_from(("3", "same")).map(ast.Str),
                      st.just(ast.Num(2.5)), st.just(ast.Attr(ast.Name("cur"), "c")),
                      st.just(ast.Binary("//", ast.Attr(ast.Name("cur"), "c"), ast.Num(2))),
                      st.just(ast.Name("in")), st.just(ast.Attr(ast.Name("cur"), "h")))
    return st.one_of(right, right, right, right, right, right, wrong)


@st.composite
def layer_call(draw, blocks: tuple[str, ...] = ()) -> ast.Call:
    """A call of a real op (arguments by position, keyword or alias) or of a defined block."""
    if blocks and draw(st.integers(0, 4)) == 0:
        name = draw(st.sampled_from(blocks))
        args = draw(st.lists(_value("int", None), max_size=2))
        return ast.Call(ast.Ident(name), tuple(ast.Arg(None, a) for a in args), bool(args))
    name = draw(st.sampled_from(OP_NAMES + ("identity",)) | st.sampled_from(("Conv2d", "foo", "cat")))
    spec = ops.OPS.get(name)
    if spec is None or not spec.args:
        return ast.Call(ast.Ident(name), (), draw(st.booleans()))
    chosen = [a for a in spec.args if a.required or draw(st.integers(0, 3)) == 0]
    args, keyword = [], False
    for arg in chosen:
        keyword = keyword or not arg.required or draw(st.integers(0, 3)) == 0
        value = draw(_value(arg.kind, arg.choices))
        if keyword:
            word = draw(st.sampled_from((arg.name,) + arg.aliases))
            args.append(ast.Arg(ast.Ident(word), value))
        else:
            args.append(ast.Arg(None, value))
    return ast.Call(ast.Ident(name), tuple(args), True)


class _Scope:
    """What a body being generated can refer to."""

    def __init__(self, tensors: list[str], blocks: tuple[str, ...], loop: str | None, depth: int) -> None:
        self.tensors = tensors
        self.blocks = blocks
        self.loop = loop
        self.depth = depth


@st.composite
def _chain(draw, scope: _Scope) -> ast.Chain:
    items = [draw(_layer(scope)) for _ in range(draw(st.integers(1, 4)))]
    return ast.Chain(tuple(items))


@st.composite
def _layer(draw, scope: _Scope):
    kind = draw(st.integers(0, 9)) if scope.depth < 3 else 0
    if kind <= 6:
        return draw(layer_call(scope.blocks))
    inner = _Scope(scope.tensors, scope.blocks, scope.loop, scope.depth + 1)
    if kind == 7:
        paths = tuple(draw(_body(inner, max_size=3)) for _ in range(draw(st.integers(1, 3))))
        return ast.Paths(draw(st.sampled_from(("concat", "add"))), paths)
    if kind == 8:
        shortcut = draw(st.none() | _body(inner, max_size=2))
        return ast.Residual(draw(_body(inner, max_size=3)), shortcut)
    return ast.Paths("concat", (ast.Body(()), draw(_body(inner, max_size=2))))  # a dense-style path


@st.composite
def _condition(draw, scope: _Scope) -> ast.Expr:
    left = draw(st.sampled_from([ast.Attr(ast.Name("cur"), "c"), ast.Attr(ast.Name("in"), "c"), ast.Num(1)]
                                + ([ast.Name(scope.loop)] if scope.loop else [])))
    op = draw(st.sampled_from(("<", "==", "!=", ">=")))
    return ast.Compare((op,), (left, _num(draw(st.integers(0, 64)))))


@st.composite
def _statement(draw, scope: _Scope):
    kind = draw(st.integers(0, 14)) if scope.depth < 3 else draw(st.integers(0, 6))
    if kind <= 4:
        return ast.Layers(draw(_chain(scope)))
    if kind == 5:
        return ast.Layers(draw(_chain(scope)), ast.Ident(draw(st.sampled_from(NAMES))))
    if kind == 6:
        return ast.Expect(ast.List(tuple(draw(st.lists(
            st.sampled_from((ast.Name("_"), ast.Num(1), ast.Num(8), ast.Num(16), ast.Name("H"))), max_size=4)))))
    if kind == 7:
        name = draw(st.sampled_from(NAMES))
        start = draw(st.sampled_from(scope.tensors)) if scope.tensors else "cur"
        chain = draw(_chain(scope))
        scope.tensors.append(name)
        return ast.Bind(ast.Ident(name), ast.Chain((ast.Call(ast.Ident(start)),) + chain.items))
    if kind == 8 and len(scope.tensors) >= 2:
        picked = draw(st.lists(st.sampled_from(scope.tensors), min_size=2, max_size=3))
        merge = ast.Merge(draw(st.sampled_from(("cat", "add"))),
                          tuple(ast.Chain((ast.Call(ast.Ident(t)),)) for t in picked))
        return ast.Layers(ast.Chain((merge,) + draw(_chain(scope)).items))
    inner = _Scope(list(scope.tensors), scope.blocks, scope.loop, scope.depth + 1)
    if kind in (9, 10):
        var = draw(st.none() | st.sampled_from(("i", "j", "k")))
        inner.loop = var or scope.loop
        count = draw(st.sampled_from((0, 1, 2, 3)).map(_num) | st.just(ast.Binary("-", ast.Name("n"), ast.Num(1))))
        return ast.Repeat(count, ast.Ident(var) if var else None, draw(_body(inner, max_size=3)))
    if kind == 11:
        orelse = draw(st.none() | _body(inner, max_size=2))
        return ast.If(draw(_condition(scope)), draw(_body(inner, max_size=3)), orelse)
    if kind == 12:
        return ast.Let(ast.Ident(draw(st.sampled_from(("n", "c", "w2")))),
                       draw(st.sampled_from((ast.Num(2), ast.Binary("//", ast.Attr(ast.Name("cur"), "c"), ast.Num(2)),
                                             ast.List((ast.Num(1), ast.Num(3)))))))
    return ast.Layers(draw(_chain(scope)))


@st.composite
def _body(draw, scope: _Scope, max_size: int = 6) -> ast.Body:
    return ast.Body(tuple(draw(_statement(scope)) for _ in range(draw(st.integers(0, max_size)))))


@st.composite
def _input_shape(draw) -> ast.List:
    rank = draw(st.integers(1, 4))
    channels = draw(st.sampled_from((1, 3, 8, 16)))
    sizes = [draw(st.sampled_from((ast.Num(1), ast.Num(5), ast.Num(8), ast.Num(16), ast.Num(32), ast.Name("H"),
                                   ast.Name("W"))))
             for _ in range(rank - 1)]
    return ast.List((ast.Num(channels), *sizes))


@st.composite
def specs(draw) -> str:
    """A whole program's text: constants, blocks, then one or two networks."""
    items: list = []
    if draw(st.booleans()):
        items.append(ast.Let(ast.Ident("width"), ast.Num(draw(st.sampled_from((8, 16, 0, -4))))))
    blocks: list[str] = []
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(("Unit", "Residual", "Stage", "None", "torch", "nn", "forward", "x", "Module",
                                     "class_", "ValueError")))
        if name in blocks:
            continue
        params = tuple(ast.Param(ast.Ident(p), None if i == 0 else ast.Num(1))
                       for i, p in enumerate(draw(st.lists(st.sampled_from(("c", "s", "n", "self", "nn")),
                                                           max_size=2, unique=True))))
        body = draw(_body(_Scope([], tuple(blocks), None, 1), max_size=4))
        items.append(ast.BlockDef(ast.Ident(name), params, body))
        blocks.append(name)
    for index in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(("Net", "LeNet", "None", "nn", "torch", "self", "Module", "digraph", "N2")))
        params = tuple(ast.Param(ast.Ident(p), _num(draw(st.integers(1, 10))))
                       for p in draw(st.lists(st.sampled_from(("n", "classes", "torch", "super", "self", "x")),
                                              max_size=2, unique=True)))
        scope = _Scope([], tuple(blocks), None, 0)
        stmts = []
        for i in range(draw(st.integers(1, 2))):
            port = draw(st.sampled_from(("x", "y", "img", "torch", "self", "nn", "t3")))
            if port not in scope.tensors:
                scope.tensors.append(port)
            stmts.append(ast.Input(ast.Ident(port), draw(_input_shape())))
        stmts.extend(draw(_body(scope)).stmts)
        if draw(st.integers(0, 3)) == 0 and scope.tensors:
            stmts.append(ast.Output(tuple(ast.Ident(t) for t in draw(st.lists(st.sampled_from(scope.tensors),
                                                                                min_size=1, max_size=2,
                                                                                unique=True)))))
        items.append(ast.NetworkDef(ast.Ident(name if index == 0 else name + "2"), params, ast.Body(tuple(stmts))))
    return ast.unparse(ast.File(tuple(items)))
