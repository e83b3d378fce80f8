"""Symbolic dimensions (folding, printing, evaluation), the size formulas, argument binding."""
from __future__ import annotations

import operator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archlang import ops
from archlang.diagnostics import Collector
from archlang.shapes import (UNKNOWN, Expr, canonical, conv_out, evaluate, format_shape, numel, parse_dim,
                             pool_out, shape_json, symbols_of)
from archlang.source import Source

H, W, D = Expr.symbol("H"), Expr.symbol("W"), Expr.symbol("D")


# --------------------------------------------------------------------------- folding and printing

@pytest.mark.parametrize("value,text", [
    (H + 0, "H"),
    (H * 1, "H"),
    (2 * H // 2, "H"),
    ((2 * H + 4) // 2, "H + 2"),
    ((H // 2) // 2, "H // 4"),
    ((H - 1) // 2 + 1, "(H - 1) // 2 + 1"),
    (((H - 1) // 2 + 1 - 1) // 2 + 1, "(H - 1) // 4 + 1"),
    (conv_out(H, 7, 2, 3), "(H - 1) // 2 + 1"),
    (conv_out(H, 3, 1, 1), "H"),
    (conv_out(H, 5), "H - 4"),
    (pool_out(H, 2, 2), "H // 2"),
    (pool_out(pool_out(H, 2, 2), 2, 2), "H // 4"),
    (-(H // 2), "-(H // 2)"),
    (2 * (H // 2), "2 * (H // 2)"),
    (H % 2, "H % 2"),
    ((H + 5) % 4, "(H + 1) % 4"),
    (-H // 2, "-H // 2"),
    (64 * H * W, "64 * H * W"),
    (H * W // 2, "H * W // 2"),
    (3 - H, "-H + 3"),
])
def test_folding_and_printing(value, text):
    assert str(value) == text
    assert parse_dim(text) == value


def test_constants_fold_to_ints():
    assert H - H == 0 and isinstance(H - H, int)
    assert (H + 3) - H == 3
    assert (2 * H) // (1) == 2 * H
    assert (4 * H + 2) % 2 == 0
    assert (H * 0) == 0


def test_expr_is_immutable_and_hashable():
    assert hash(H + 1) == hash(1 + H) and {H + 1: "a"}[1 + H] == "a"
    with pytest.raises(AttributeError):
        H.terms = ()
    with pytest.raises(TypeError):  # truth of a symbolic size is a question for compare_eq / at_least_one
        bool(H)


def test_evaluate_and_symbols():
    e = (H - 1) // 2 + W * 3
    assert e.evaluate({"H": 9, "W": 2}) == 10
    assert e.symbols() == {"H", "W"}
    assert evaluate(7, {}) == 7
    with pytest.raises(KeyError):
        e.evaluate({"H": 1})


def test_numel_prints_products_factored():
    flat = numel((16, H // 4 - 2, W // 4 - 2))
    assert str(flat) == "16 * (H // 4 - 2) * (W // 4 - 2)"
    assert flat == 16 * (H // 4 - 2) * (W // 4 - 2)       # same value, same identity
    assert parse_dim(str(flat)) == flat
    assert numel((16, 5, 5)) == 400
    # How a value prints never changes its identity, also inside other expressions.
    inner = (H // 4 - 2) * (W // 4 - 2)
    for make in (lambda e: e // 3 + W // 5, lambda e: H % 3 + e % 4 + W // 2):
        assert make(numel((H // 4 - 2, W // 4 - 2))) == make(inner)
        assert hash(make(numel((H // 4 - 2, W // 4 - 2)))) == hash(make(inner))


def test_formatting():
    assert format_shape((64, H, 28)) == "[64, H, 28]"
    assert format_shape(UNKNOWN) == "?"
    assert shape_json((64, (H - 1) // 2 + 1, 28)) == [64, "(H - 1) // 2 + 1", 28]
    assert shape_json(UNKNOWN) is None
    assert symbols_of((3, W, H + W)) == ["W", "H"]


# --------------------------------------------------------------------------- random expressions

SYMBOLS = {"H": H, "W": W, "D": D}


def leaves():
    return st.one_of(st.sampled_from(sorted(SYMBOLS)).map(lambda n: (SYMBOLS[n], lambda env, n=n: env[n])),
                     st.integers(-6, 12).map(lambda v: (v, lambda env, v=v: v)))


def extend(children):
    def binary(op):
        return st.tuples(children, children).map(
            lambda ab: (op(ab[0][0], ab[1][0]), lambda env, a=ab[0][1], b=ab[1][1]: op(a(env), b(env))))

    def by_int(op):
        return st.tuples(children, st.integers(-5, 7).filter(bool)).map(
            lambda an: (op(an[0][0], an[1]), lambda env, a=an[0][1], n=an[1]: op(a(env), n)))

    return st.one_of(binary(operator.add), binary(operator.sub), binary(operator.mul),
                     by_int(operator.floordiv), by_int(operator.mod))


EXPRS = st.recursive(leaves(), extend, max_leaves=8)
ENVS = st.fixed_dictionaries({n: st.integers(1, 60) for n in SYMBOLS})


@settings(max_examples=300, deadline=None, derandomize=True)
@given(EXPRS, ENVS)
def test_folding_keeps_the_value(pair, env):
    value, reference = pair
    want = reference(env)
    assert evaluate(value, env) == want
    assert evaluate(parse_dim(str(value)), env) == want       # str() is Python with the right parentheses
    assert eval(str(value), {}, dict(env)) == want             # noqa: S307 - our own printed text
    assert evaluate(canonical(value), env) == want


@settings(max_examples=200, deadline=None, derandomize=True)
@given(EXPRS)
def test_printing_round_trips_to_the_same_normal_form(pair):
    value, _ = pair
    assert parse_dim(str(value)) == value


# --------------------------------------------------------------------------- size formulas

@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(1, 7), st.integers(1, 4), st.integers(0, 3), st.integers(1, 3))
def test_conv_out_symbolic_equals_concrete(k, s, p, d):
    out = conv_out(H, k, s, p, d)
    for h in range(1, 60):
        assert evaluate(out, {"H": h}) == conv_out(h, k, s, p, d)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(1, 7), st.integers(1, 5), st.integers(0, 3), st.booleans())
def test_pool_out_symbolic_equals_concrete(k, s, p, ceil):
    p = min(p, k // 2)
    out = pool_out(H, k, s, p, ceil)
    for h in range(1, 60):
        concrete = pool_out(h, k, s, p, ceil)
        if concrete >= 1:  # below 1 is an error either way
            assert evaluate(out, {"H": h}) == concrete, (k, s, p, ceil, h, str(out))


def test_pool_ceil_drops_a_window_that_starts_outside():
    # Values read off torch.nn.MaxPool1d(k, s, p, ceil_mode=True).
    assert pool_out(5, 2, 2, 0, True) == 3
    assert pool_out(4, 2, 2, 0, True) == 2
    assert pool_out(5, 1, 2, 0, True) == 3
    assert pool_out(6, 3, 3, 1, True) == 3 and pool_out(6, 3, 3, 1, False) == 2
    # Rounding up gives 3 windows for 4 with k=2, s=3, p=1, but the third would
    # start at 6, beyond the input and its left padding (4 + 1): PyTorch drops it.
    assert pool_out(4, 2, 3, 1, True) == 2
    assert str(pool_out(H, 2, 3, 1, True)) == "H // 3 + 1"  # ceil((H + 1) / 3)


# --------------------------------------------------------------------------- the op table's argument binding

CALL = Source("t.arch", "conv(...)").span(0, 9)


def bind(op, *positional, **keywords):
    col = Collector()
    args = ops.bind(op, [(v, None) for v in positional], [(k, v, None, None) for k, v in keywords.items()],
                    CALL, col)
    return args, col.items


def test_bind_fills_defaults_and_accepts_aliases():
    args, diags = bind("conv", 64, kernel=[1, 7], stride=2)
    assert diags == []
    assert args == {"out": 64, "k": (1, 7), "s": 2, "p": 0, "d": 1, "groups": 1, "bias": True}
    args, _ = bind("maxpool", 3, padding=1, ceil_mode=True)
    assert args == {"k": 3, "s": None, "p": 1, "ceil": True}
    args, _ = bind("bn", eps=1)
    assert args["eps"] == 1.0 and isinstance(args["eps"], float)
    assert bind("conv", 8, k=3, p="same")[0]["p"] == "same"


@pytest.mark.parametrize("op,pos,kw,code,help", [
    ("conv", (), {"k": 3}, "E202", "conv(out, k, s=1, p=0, d=1, groups=1, bias=true)"),
    ("conv", (64,), {"k": 3, "strid": 2}, "E203", "did you mean `s`?"),
    ("conv", (64,), {"kernel_size": 3}, "E203", "did you mean `k`?"),  # and no E202 for the missing k
    ("conv", (64,), {"k": 2.5}, "E204", "k takes a whole number, such as 2 or 3"),
    ("conv", (8.0,), {"k": 3}, "E204", "out takes an int: 8, not 8.0"),
    ("conv", (64,), {"k": 3, "bias": 1}, "E204", None),
    ("conv", (64,), {"k": 3, "p": "full"}, "E204", None),
    ("conv", (64, 3), {"k": 3}, "E210", None),
    ("conv", (64,), {"k": 3, "kernel": 3}, "E210", None),
    ("upsample", (2,), {"mode": "bilnear"}, "E211", 'did you mean "bilinear"?'),
    ("conv", (0,), {"k": 3}, "E211", None),
    ("conv", (64,), {"k": 0}, "E310", None),
    ("conv", (64,), {"k": 3, "p": -1}, "E310", None),
    ("maxpool", (2,), {"s": [1, 0]}, "E310", None),
    ("relu", (1,), {}, "E214", None),
    ("conv", (64,), {"k": Expr.symbol("H")}, "E204", "it depends on the symbolic input size; arguments must be numbers"),
])
def test_bind_errors(op, pos, kw, code, help):
    args, diags = bind(op, *pos, **kw)
    assert args is None
    assert [d.code for d in diags] == [code]
    assert diags[0].help == help


def test_an_unknown_keyword_meant_for_a_missing_argument_is_one_error():
    args, diags = bind("conv", kernel_size=3, padding=1)
    assert args is None
    assert [(d.code, d.help) for d in diags] == [("E203", "did you mean `k`?"),
                                                 ("E202", "conv(out, k, s=1, p=0, d=1, groups=1, bias=true)")]
    assert "needs argument out" in diags[1].message  # out was meant by nothing: still missing


def test_bind_reports_every_problem_of_a_call():
    args, diags = bind("conv", k=2.5, foo=1)
    assert args is None
    assert sorted(d.code for d in diags) == ["E202", "E203", "E204"]
    missing = next(d for d in diags if d.code == "E202")
    assert missing.span is CALL and "out" in missing.message


def test_format_call_shows_key_arguments_that_differ_from_defaults():
    args, _ = bind("conv", 64, k=7, s=2, p=3, bias=False)
    assert ops.format_call("conv", args) == "conv(64, k=7, s=2, p=3)"
    assert ops.format_call("relu", {}) == "relu"
    assert ops.format_call("maxpool", bind("maxpool", 3, s=2, p=1)[0]) == "maxpool(3, s=2, p=1)"
