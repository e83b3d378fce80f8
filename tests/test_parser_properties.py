"""Property tests for the parser (hypothesis).

- Random well-formed trees print (`syntax.unparse`) to text that parses back
  to an equal tree: printer and parser agree on every construct, precedence
  and layout.
- Random text never makes the parser raise: it returns a tree or reports.
"""
from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archlang import syntax as ast
from archlang.diagnostics import CODES, Collector
from archlang.parser import parse
from archlang.source import Source

KEYWORDS = {"import", "let", "block", "network", "input", "output", "repeat", "as", "if", "else", "expect",
            "concat", "add", "cat", "residual", "shortcut", "and", "or", "not", "true", "false"}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(lambda s: s not in KEYWORDS)
idents = names.map(ast.Ident)

# -- expressions --------------------------------------------------------------------------------
numbers = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(ast.Num),
    st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False).map(ast.Num),
)
atoms = st.one_of(
    numbers,
    st.text(alphabet="abcXYZ 019_-.'/", max_size=8).map(ast.Str),
    st.booleans().map(ast.Bool),
    names.map(ast.Name),
)


def _compound(inner):
    return st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: ast.List(tuple(xs))),
        st.builds(ast.Attr, inner, names),
        st.builds(ast.Index, inner, inner),
        st.builds(ast.Slice, inner, st.none() | inner, st.none() | inner),
        st.builds(ast.Function, idents, st.lists(inner, max_size=3).map(tuple)),
        st.builds(ast.Unary, st.sampled_from(["-", "+", "not"]), inner),
        st.builds(ast.Binary, st.sampled_from(sorted(ast.BINARY_PRECEDENCE)), inner, inner),
        st.integers(min_value=1, max_value=3).flatmap(lambda n: st.builds(
            ast.Compare, st.lists(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), min_size=n, max_size=n)
            .map(tuple), st.lists(inner, min_size=n + 1, max_size=n + 1).map(tuple))),
        st.builds(ast.Cond, inner, inner, inner),
    )


exprs = st.recursive(atoms, _compound, max_leaves=8)

# -- labels: names (keywords too), numbers, strings with computed parts ----------------------------
# Inside a label's quotes an expression holds no string (its quotes would end the label's).
label_exprs = st.recursive(numbers | names.map(ast.Name), _compound, max_leaves=4)
label_texts = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=6).map(ast.Str)


def _template_parts(parts: list) -> tuple:
    """Literal text between computed parts, never two texts in a row (the parser would join them)."""
    out: list = []
    for part in parts:
        if isinstance(part, ast.Str) and out and isinstance(out[-1], ast.Str):
            continue
        out.append(part)
    return tuple(out)


labels = st.one_of(
    idents,
    st.sampled_from(sorted(KEYWORDS)).map(ast.Ident),
    st.integers(min_value=0, max_value=99).map(lambda n: ast.Ident(str(n))),
    st.lists(label_texts | label_exprs, min_size=1, max_size=4).map(
        lambda parts: ast.Template(_template_parts(parts))),
)

# -- layers and statements -----------------------------------------------------------------------
args = st.lists(st.builds(ast.Arg, st.none() | idents, exprs), max_size=3).map(tuple)
calls = st.one_of(
    idents.map(lambda n: ast.Call(n, (), False)),
    st.builds(lambda n, a: ast.Call(n, a, True), idents, args),
)


def _labelled_after_first(items: list, labelled: list) -> tuple:
    """A label on a layer further along a chain (never the first: that one is the statement's)."""
    return tuple(items[:1]) + tuple(dataclasses.replace(item, label=label) if label is not None else item
                                    for item, label in zip(items[1:], labelled))


def _statements(bodies):
    chains = st.builds(lambda items, labelled: ast.Chain(_labelled_after_first(items, labelled)),
                       st.lists(_layers(bodies), min_size=1, max_size=3), st.lists(st.none() | labels, max_size=3))
    merge_chains = st.builds(lambda head, rest: ast.Chain((head, *rest)),
                             st.builds(ast.Merge, st.sampled_from(["cat", "add"]),
                                       st.lists(st.lists(calls, min_size=1, max_size=2)
                                                .map(lambda c: ast.Chain(tuple(c))), min_size=1, max_size=3)
                                       .map(tuple)),
                             st.lists(calls, max_size=2))
    any_chain = chains | merge_chains
    return st.one_of(
        st.builds(ast.Layers, any_chain, st.none() | labels),
        st.builds(ast.Bind, idents, any_chain, st.none() | labels),
        st.builds(ast.Input, st.none() | idents, exprs),
        st.lists(idents, min_size=1, max_size=3).map(lambda ns: ast.Output(tuple(ns))),
        st.builds(ast.Repeat, exprs, st.none() | idents, bodies),
        st.builds(ast.If, exprs, bodies, st.none() | bodies),
        st.builds(ast.Let, idents, exprs),
        st.builds(ast.Let, idents, exprs, st.lists(st.builds(ast.Param, idents, st.none() | exprs), max_size=2)
                  .map(tuple)),
        st.builds(ast.Expect, exprs),
    )


def _layers(bodies):
    return st.one_of(
        calls, calls,
        st.builds(ast.Paths, st.sampled_from(["concat", "add"]), st.lists(bodies, min_size=1, max_size=3).map(tuple)),
        st.builds(ast.Residual, bodies, st.none() | bodies),
    )


flat_bodies = st.lists(st.builds(ast.Layers, st.lists(calls, min_size=1, max_size=3)
                                 .map(lambda c: ast.Chain(tuple(c))), st.none() | idents), max_size=2) \
    .map(lambda s: ast.Body(tuple(s)))
bodies = st.recursive(flat_bodies, lambda inner: st.lists(_statements(inner), max_size=3)
                      .map(lambda s: ast.Body(tuple(s))), max_leaves=6)
params = st.lists(st.builds(ast.Param, idents, st.none() | exprs), max_size=3).map(tuple)
items = st.one_of(
    st.text(alphabet="abc/._-", min_size=1, max_size=10).map(lambda p: ast.Import(ast.Str(p))),
    st.builds(ast.Let, idents, exprs),
    st.builds(ast.BlockDef, idents, params, bodies),
    st.builds(ast.NetworkDef, idents, params, bodies),
)
files = st.lists(items, max_size=4).map(lambda xs: ast.File(tuple(xs)))


def reparse(text: str):
    collector = Collector()
    tree = parse(Source("p.arch", text), collector)
    assert tree is not None, "\n".join(d.short() for d in collector.items) + "\n---\n" + text
    return tree


@SETTINGS
@given(exprs)
def test_expressions_print_and_parse_back(expr) -> None:
    tree = reparse(f"let x = {ast.expr_text(expr)}\n")
    assert tree.items[0].value == expr


@SETTINGS
@given(files)
def test_files_print_and_parse_back(tree) -> None:
    text = ast.unparse(tree)
    assert reparse(text) == tree
    assert ast.unparse(reparse(text)) == text  # printing is a fixed point


@SETTINGS
@given(st.text(alphabet="network block{}()[]|,;:=->.#\n \"abc0123_xH+*/%<>!$", max_size=200))
def test_any_text_parses_or_reports(text: str) -> None:
    collector = Collector()
    tree = parse(Source("fuzz.arch", text), collector)
    assert (tree is None) == bool(collector.errors)
    assert all(d.code in CODES and d.code.startswith("E1") for d in collector.items)
    assert all(0 <= d.span.start <= d.span.end <= len(text) for d in collector.items)
