"""The parser: every construct of LANGUAGE.md to its AST, with spans; syntax errors.

Trees are compared with hand-written ones (spans are left out of AST
equality); spans are checked through the text they cover.
"""
from __future__ import annotations

import pytest

from archlang import syntax as ast
from archlang.diagnostics import Collector
from archlang.parser import parse
from archlang.source import Source

I = ast.Ident  # noqa: E741 - short names keep the expected trees readable
N = ast.Num


def parse_ok(text: str) -> ast.File:
    collector = Collector()
    tree = parse(Source("t.arch", text), collector)
    assert tree is not None and not collector.items, [d.short() for d in collector.items]
    return tree


def parse_errors(text: str) -> list:
    collector = Collector()
    tree = parse(Source("t.arch", text), collector)
    assert tree is None
    return collector.items


def body_of(text: str) -> tuple:
    """The statements of a one-network file's body."""
    return parse_ok("network N {\n" + text + "\n}\n").items[0].body.stmts


def expr_of(text: str):
    return parse_ok(f"let x = {text}\n").items[0].value


def call(name: str, *args, parens: bool | None = None) -> ast.Call:
    built = tuple(a if isinstance(a, ast.Arg) else ast.Arg(None, a) for a in args)
    return ast.Call(I(name), built, bool(args) if parens is None else parens)


def kw(name: str, value) -> ast.Arg:
    return ast.Arg(I(name), value)


def chain(*items) -> ast.Chain:
    return ast.Chain(tuple(items))


def layers(*items, label: str | None = None) -> ast.Layers:
    return ast.Layers(chain(*items), I(label) if label else None)


# -- files -----------------------------------------------------------------------------------
def test_file_items() -> None:
    tree = parse_ok('import "lib/blocks.arch"\n'
                    "let width = 64\n"
                    "block B(c, s = 1) { relu }\n"
                    "network N { input [1, 28, 28] }\n"
                    "network M(classes = 10) { input [1, 28, 28] }\n")
    assert tree.items == (
        ast.Import(ast.Str("lib/blocks.arch")),
        ast.Let(I("width"), N(64)),
        ast.BlockDef(I("B"), (ast.Param(I("c"), None), ast.Param(I("s"), N(1))), ast.Body((layers(call("relu")),))),
        ast.NetworkDef(I("N"), (), ast.Body((ast.Input(None, ast.List((N(1), N(28), N(28)))),))),
        ast.NetworkDef(I("M"), (ast.Param(I("classes"), N(10)),),
                       ast.Body((ast.Input(None, ast.List((N(1), N(28), N(28)))),))),
    )


def test_spans_cover_the_text_of_each_node() -> None:
    tree = parse_ok("block Stage(c, n = 2) {\n    Residual(c, s=2) relu\n}\n")
    block = tree.items[0]
    assert block.span.text.startswith("block Stage(c, n = 2) {") and block.span.text.endswith("}")
    assert block.name.span.text == "Stage"
    assert [p.span.text for p in block.params] == ["c", "n = 2"]
    stmt = block.body.stmts[0]
    assert stmt.span.text == "Residual(c, s=2) relu"
    first = stmt.chain.items[0]
    assert first.span.text == "Residual(c, s=2)"
    assert (first.span.line, first.span.col) == (2, 5)
    assert first.args[1].span.text == "s=2" and first.args[1].name.span.text == "s"
    assert tree.span.text == tree.span.source.text


def test_empty_file_and_comments_only() -> None:
    assert parse_ok("").items == ()
    assert parse_ok("# nothing here\n\n  # still nothing\n").items == ()


def test_parameter_lists_are_optional_and_may_trail_a_comma() -> None:
    tree = parse_ok("block A { relu }\nblock B() { relu }\nblock C(a, b,) { relu }\n")
    assert [len(b.params) for b in tree.items] == [0, 0, 2]


# -- statements ------------------------------------------------------------------------------
def test_separators_newlines_semicolons_comments() -> None:
    stmts = body_of("conv(6, k=5); bn  # a comment\n\n; ; relu")
    assert stmts == (layers(call("conv", N(6), kw("k", N(5)))), layers(call("bn")), layers(call("relu")))


def test_arrows_are_optional() -> None:
    with_arrows = body_of("conv(6, k=5) -> bn -> sigmoid")
    without = body_of("conv(6, k=5) bn sigmoid")
    assert with_arrows == without == (layers(call("conv", N(6), kw("k", N(5))), call("bn"), call("sigmoid")),)


def test_call_without_parentheses_is_a_call_with_no_arguments() -> None:
    bare, empty = body_of("relu\nrelu()")
    assert bare.chain.items[0] == call("relu", parens=False)
    assert empty.chain.items[0] == call("relu", parens=True)
    assert bare.chain.items[0].args == empty.chain.items[0].args == ()


def test_label_and_bindings() -> None:
    stmts = body_of("stem: conv(64, k=7) bn relu\n"
                    "y = x -> conv(16, k=3) relu\n"
                    "z = cat(a, b -> upsample(2)) -> conv(8, k=1)\n"
                    "w = add(a, b)")
    assert stmts[0] == layers(call("conv", N(64), kw("k", N(7))), call("bn"), call("relu"), label="stem")
    assert stmts[0].label.span.text == "stem"
    assert stmts[1] == ast.Bind(I("y"), chain(call("x", parens=False), call("conv", N(16), kw("k", N(3))),
                                              call("relu")))
    merge = ast.Merge("cat", (chain(call("a", parens=False)),
                              chain(call("b", parens=False), call("upsample", N(2)))))
    assert stmts[2] == ast.Bind(I("z"), chain(merge, call("conv", N(8), kw("k", N(1)))))
    assert stmts[2].chain.items[0].span.text == "cat(a, b -> upsample(2))"
    assert stmts[3] == ast.Bind(I("w"), chain(ast.Merge("add", (chain(call("a", parens=False)),
                                                               chain(call("b", parens=False))))))


def test_inputs_and_outputs() -> None:
    stmts = body_of("input [3, H, W]\ninput x: [1, 28]\noutput a, b")
    assert stmts[0] == ast.Input(None, ast.List((N(3), ast.Name("H"), ast.Name("W"))))
    assert stmts[1] == ast.Input(I("x"), ast.List((N(1), N(28))))
    assert stmts[2] == ast.Output((I("a"), I("b")))
    assert [n.span.text for n in stmts[2].names] == ["a", "b"]


def test_repeat_if_let_expect() -> None:
    stmts = body_of("repeat n - 1 { relu }\n"
                    "repeat 4 as i { bn }\n"
                    "if s != 1 { relu } else if t { bn } else { }\n"
                    "let half = cur.c // 2\n"
                    "expect [64, _, 56]")
    assert stmts[0] == ast.Repeat(ast.Binary("-", ast.Name("n"), N(1)), None, ast.Body((layers(call("relu")),)))
    assert stmts[1] == ast.Repeat(N(4), I("i"), ast.Body((layers(call("bn")),)))
    assert stmts[2] == ast.If(ast.Compare(("!=",), (ast.Name("s"), N(1))), ast.Body((layers(call("relu")),)),
                              ast.If(ast.Name("t"), ast.Body((layers(call("bn")),)), ast.Body(())))
    assert stmts[3] == ast.Let(I("half"), ast.Binary("//", ast.Attr(ast.Name("cur"), "c"), N(2)))
    assert stmts[4] == ast.Expect(ast.List((N(64), ast.Name("_"), N(56))))


def test_combinators() -> None:
    stmts = body_of("concat {\n"
                    "  | conv(64, k=1) relu\n"
                    "  | conv(96, k=1) relu\n"
                    "    conv(128, k=3, p=1) relu\n"
                    "  |\n"
                    "}\n"
                    "add { | identity | if s != 1 { conv(c, k=1) } }\n"
                    "residual { conv(c, k=3, p=1) bn } shortcut { conv(c, k=1) }\n"
                    "residual { relu }")
    paths = stmts[0].chain.items[0]
    assert isinstance(paths, ast.Paths) and paths.op == "concat"
    assert [len(p.stmts) for p in paths.paths] == [1, 2, 0]
    assert paths.paths[1].stmts[1] == layers(call("conv", N(128), kw("k", N(3)), kw("p", N(1))), call("relu"))
    assert paths.span.text.startswith("concat {") and paths.span.text.endswith("}")
    add = stmts[1].chain.items[0]
    assert add.op == "add" and add.paths[0].stmts == (layers(call("identity")),)
    assert isinstance(add.paths[1].stmts[0], ast.If)
    res = stmts[2].chain.items[0]
    assert isinstance(res, ast.Residual) and res.shortcut is not None and len(res.body.stmts) == 1
    assert stmts[3].chain.items[0].shortcut is None


def test_combinators_inside_chains() -> None:
    (stmt,) = body_of("conv(8, k=1) concat { | relu | bn } -> relu")
    assert [type(i).__name__ for i in stmt.chain.items] == ["Call", "Paths", "Call"]


# -- line breaks ------------------------------------------------------------------------------
def test_newlines_inside_brackets_do_not_end_statements() -> None:
    (stmt,) = body_of("inception(64,\n    [96,\n     128],\n    [16, 32], 32)")
    assert len(stmt.chain.items[0].args) == 4


def test_else_shortcut_brace_and_arrow_may_start_a_line() -> None:
    stmts = body_of("if a { relu }\n"
                    "# a comment between\n"
                    "else { bn }\n"
                    "residual { relu }\n"
                    "  shortcut { bn }\n"
                    "repeat 2\n"
                    "{ relu }\n"
                    "y = x\n"
                    "    -> conv(8, k=1)\n"
                    "    -> relu")
    assert len(stmts) == 4
    assert stmts[0].orelse is not None
    assert stmts[1].chain.items[0].shortcut is not None
    assert isinstance(stmts[2], ast.Repeat)
    assert len(stmts[3].chain.items) == 3


def test_keywords_are_names_where_no_keyword_fits() -> None:
    (let,) = parse_ok("let add = 3\n").items
    assert let.name.name == "add"
    with_keyword_prefix = body_of("inputs: conv(8, k=1)\nrepeated = x -> relu\nconv(as, k=else)")
    assert with_keyword_prefix[0].label.name == "inputs"
    assert with_keyword_prefix[1].target.name == "repeated"
    assert with_keyword_prefix[2].chain.items[0].args[0].value == ast.Name("as")


def test_statement_keywords_are_reserved() -> None:
    (d,) = parse_errors("network N {\n    conv(3) if x { relu }\n}\n")
    assert d.span.text == "if" and "line of its own" in d.help
    (d,) = parse_errors("let input = 3\n")
    assert d.span.text == "input"


# -- expressions ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, value", [
    ("42", 42), ("1_000", 1000), ("0.5", 0.5), (".5", 0.5), ("1e-5", 1e-5), ("2E+3", 2000.0), ("3.", 3.0),
])
def test_numbers(text: str, value) -> None:
    num = expr_of(text)
    assert num == N(value) and type(num.value) is type(value)


def test_literals() -> None:
    assert expr_of("true") == ast.Bool(True) and expr_of("false") == ast.Bool(False)
    assert expr_of('"same"') == ast.Str("same") and expr_of("'it\"s'") == ast.Str('it"s')
    assert expr_of("[1, [2, 3], ]") == ast.List((N(1), ast.List((N(2), N(3)))))
    assert expr_of("[]") == ast.List(())


@pytest.mark.parametrize("text, shape", [
    ("a + b * c", "(a + (b * c))"),
    ("(a + b) * c", "((a + b) * c)"),
    ("a - b - c", "((a - b) - c)"),
    ("a // b % c", "((a // b) % c)"),
    ("-a * b", "((-a) * b)"),
    ("- -a", "(-(-a))"),
    ("-x.c", "(-x.c)"),
    ("a or b and c", "(a or (b and c))"),
    ("not a == b", "(not (a == b))"),
    ("not a and b", "((not a) and b)"),
    ("a < b <= c", "(a < b <= c)"),
    ("a + 1 if c else d - 1", "((a + 1) if c else (d - 1))"),
    ("x if a else y if b else z", "(x if a else (y if b else z))"),
    ("c2[0] + in.c", "(c2[0] + in.c)"),
    ("cur.shape[1]", "cur.shape[1]"),
])
def test_precedence(text: str, shape: str) -> None:
    assert _shape(expr_of(text)) == shape


def _shape(e) -> str:
    """Fully parenthesised, to show how an expression grouped."""
    if isinstance(e, ast.Binary):
        return f"({_shape(e.left)} {e.op} {_shape(e.right)})"
    if isinstance(e, ast.Unary):
        return f"(not {_shape(e.operand)})" if e.op == "not" else f"({e.op}{_shape(e.operand)})"
    if isinstance(e, ast.Compare):
        parts = [_shape(e.operands[0])] + [f"{op} {_shape(o)}" for op, o in zip(e.ops, e.operands[1:])]
        return "(" + " ".join(parts) + ")"
    if isinstance(e, ast.Cond):
        return f"({_shape(e.body)} if {_shape(e.test)} else {_shape(e.orelse)})"
    return ast.expr_text(e)


def test_expression_spans() -> None:
    e = expr_of("c2[0] * (a + 1)")
    assert e.span.text == "c2[0] * (a + 1)"
    assert e.left.span.text == "c2[0]"
    assert e.right.span.text == "(a + 1)"
    assert e.right.left.span.text == "a"


# -- printing -----------------------------------------------------------------------------------
def test_unparse_round_trips_the_language_examples() -> None:
    text = ("block Residual(c, s = 1) {\n"
            "    add {\n"
            "      | conv(c, k=3, p=1, s=s) bn relu\n"
            "        conv(c, k=3, p=1) bn\n"
            "      | if s != 1 or in.c != c { conv(c, k=1, s=s) }\n"
            "    }\n"
            "    relu\n"
            "}\n"
            "network TinyUNet {\n"
            "    input x: [3, H, W]\n"
            "    e1 = x  -> conv(16, k=3, p=1) relu\n"
            "    y  = cat(e1 -> upsample(2), e1) -> conv(2, k=1)\n"
            "    stem: conv(64, k=7, s=2, p=3) bn; expect [64, _, _]\n"
            "    repeat 2 as i { if i < 1 { relu } else { bn } }\n"
            "    residual { relu } shortcut { }\n"
            "    output y\n"
            "}\n")
    tree = parse_ok(text)
    assert parse_ok(ast.unparse(tree)) == tree


# -- syntax errors -----------------------------------------------------------------------------
def codes_and_lines(diags) -> list[tuple[str, int]]:
    return [(d.code, d.span.line) for d in diags]


def test_missing_comma_says_what_was_expected_and_found() -> None:
    (d,) = parse_errors("network N {\n    conv(6 k=5)\n}\n")
    assert (d.code, d.span.line, d.span.col) == ("E101", 2, 12)
    assert d.message == "expected `)` or `,`, found `k`"


def test_a_python_tuple_gets_a_hint() -> None:
    (d,) = parse_errors("network N {\n    conv(16, k=(1, 7))\n}\n")
    assert d.code == "E101" and "k=[1, 7]" in d.help


def test_unexpected_token_at_statement_start() -> None:
    (d,) = parse_errors("network N {\n    conv(6) )\n}\n")
    assert d.code == "E101" and "no open `(`" in d.message


def test_statement_cut_short_by_a_newline() -> None:
    (d,) = parse_errors("network N {\n    let x =\n    3\n    relu\n}\n")
    assert (d.code, d.span.line) == ("E101", 2)
    assert d.message == "expected an expression, found the end of the line"


def test_top_level_expects_items() -> None:
    (d,) = parse_errors("relu\n")
    assert d.code == "E101" and "`import`, `let`, `block` or `network`" in d.message


def test_unclosed_brace_points_at_the_opening_one() -> None:
    (d,) = parse_errors("network N {\n    input [3, 32, 32]\n    relu\n")
    assert (d.code, d.span.line, d.span.col, d.span.text) == ("E102", 1, 11, "{")


def test_unclosed_parenthesis_on_a_later_line() -> None:
    (d,) = parse_errors("network N {\n    conv(6, k=5\n    relu\n}\n")
    assert (d.code, d.span.line, d.span.text) == ("E102", 2, "(")
    (found, label), = d.related
    assert found.text == "relu" and label.startswith("found `relu` here")


def test_unclosed_bracket_then_the_rest_parses() -> None:
    diags = parse_errors("network N {\n    input [3, 32, 32\n    conv(16, k=3) relu\n    bn(\n}\n")
    assert codes_and_lines(diags) == [("E102", 2), ("E102", 4)]


def test_closing_brace_closes_an_open_parenthesis_too() -> None:
    (d,) = parse_errors("network N {\n    conv(3 }\nnetwork M { relu }\n")
    assert (d.code, d.span.text) == ("E102", "(")


def test_unexpected_end_of_file() -> None:
    (d,) = parse_errors("network N")
    assert d.code == "E102" and "end of file" in d.message


@pytest.mark.parametrize("text", ["0.5.1", "12abc", "1e", "3x224"])
def test_bad_numbers(text: str) -> None:
    (d,) = parse_errors(f"network N {{\n    dropout({text})\n}}\n")
    assert (d.code, d.span.text) == ("E103", text)


def test_bad_number_where_a_layer_was_expected() -> None:
    (d,) = parse_errors("network N {\n    x = 12abc\n}\n")
    assert d.code == "E103"


def test_unterminated_string() -> None:
    (d,) = parse_errors('network N {\n    conv(16, k=3, p="same) relu\n}\n')
    assert (d.code, d.span.line, d.span.col) == ("E103", 2, 21)


def test_unexpected_character_with_a_lookalike_hint() -> None:
    d1, d2 = parse_errors("network N {\n    conv(16) $ relu\n    conv（3）\n}\n")
    assert (d1.code, d1.span.text) == ("E104", "$")
    assert d2.code == "E104" and d2.help.startswith("did you mean `(`?")


def test_one_error_per_statement_and_every_statement_checked() -> None:
    diags = parse_errors("network N {\n"
                         "    conv(6, k=5)) relu ) ]\n"    # one error, not three
                         "    relu $ @ bn\n"                # one
                         "    repeat 3 { relu ) }\n"        # one, inside the repeat
                         "    foo(1 2 3)\n"                 # one
                         "    bn\n"                         # fine
                         "}\n"
                         "block B(a b) {\n"                 # one: the header
                         "    relu\n"
                         "}\n"
                         "network M\n"
                         "{\n"
                         "    relu\n"
                         "}\n")
    assert codes_and_lines(diags) == [("E101", 2), ("E104", 3), ("E101", 4), ("E101", 5), ("E101", 8)]


def test_a_network_inside_an_unclosed_block() -> None:
    diags = parse_errors("block B(c) {\n    relu\n\nnetwork N {\n    input [3, 8, 8]\n}\n")
    assert codes_and_lines(diags) == [("E102", 1)]  # one mistake: not also an E101 at `network`
    assert diags[0].message == "unclosed `{`" and diags[0].label == "this `{` is never closed"
    (found, label), = diags[0].related
    assert (found.line, found.col) == (4, 1) and label.startswith("found `network` here")


def test_after_an_unclosed_body_the_next_item_parses_as_written() -> None:
    text = ("block B(c) {\n    repeat 2 {\n        relu\nnetwork N {\n    input [3, 8, 8]\n    conv(4,, k=1)\n}\n"
            "import \"x.arch\"\n")
    diags = parse_errors(text)
    assert codes_and_lines(diags) == [("E102", 2), ("E101", 6)]  # the innermost `{`, and N's own mistake
    (outer, label) = diags[0].related[1]
    assert (outer.line, outer.col, label) == (1, 12, "this `{` is not closed either")


def test_parse_reports_nothing_for_valid_files_after_an_invalid_one() -> None:
    assert parse_errors("network N {\n    conv(\n")
    assert parse_ok("network N { relu }\n").items


@pytest.mark.parametrize("text", ["let repeat = 3\n", "network N(input = 3) {\n}\n",
                                  "network N {\n    conv(expect, k=1)\n}\n"])
def test_a_keyword_where_a_name_belongs_says_so(text: str) -> None:
    (d,) = parse_errors(text)
    assert d.code == "E101" and d.help.endswith("is a keyword: it cannot be a name")
