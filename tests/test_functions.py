"""Functions in expressions: Python's built-ins (the oracle is Python itself) and functions a spec defines.

Every expression drawn here is also Python text (with `floor`, `ceil` and
`log` from math), so Python evaluates the same text for the expected value; the
numbers come from small domains with halves, so round's ties, negative
truncation and equal min/max candidates occur.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archlang
from archlang.shapes import Expr

PYTHON = {"floor": math.floor, "ceil": math.ceil, "log": math.log,
          "__builtins__": {"min": min, "max": max, "round": round, "int": int, "abs": abs, "len": len, "sum": sum,
                           "pow": pow}}
SETTINGS = settings(max_examples=200, deadline=None)


def value(expression: str, prelude: str = ""):
    return archlang.load(f"{prelude}\nlet v = {expression}\n").definitions.constants["v"]


def errors(expression: str, prelude: str = "") -> list:
    return [(d.code, d.message) for d in archlang.check(f"{prelude}\nlet v = {expression}\n") if d.is_error]


numbers = st.one_of(st.integers(-6, 6), st.integers(-12, 12).map(lambda n: n / 2), st.sampled_from([0.1, 2.675, 1e6]))


def literal(x) -> str:
    return repr(x) if x >= 0 else f"({x!r})"


calls = st.one_of(
    st.builds(lambda f, x: f"{f}({literal(x)})", st.sampled_from(["round", "int", "floor", "ceil", "abs"]), numbers),
    st.builds(lambda x, n: f"round({literal(x)}, {n})", numbers, st.integers(-1, 2)),
    st.builds(lambda f, x, y: f"{f}({literal(x)}, {literal(y)})", st.sampled_from(["pow", "log"]), numbers, numbers),
    st.builds(lambda x: f"log({literal(x)})", numbers),
    st.builds(lambda f, xs: f"{f}({', '.join(map(literal, xs))})", st.sampled_from(["min", "max"]),
              st.lists(numbers, min_size=1, max_size=4)),
    st.builds(lambda f, xs: f"{f}([{', '.join(map(literal, xs))}])", st.sampled_from(["min", "max", "sum", "len"]),
              st.lists(numbers, min_size=1, max_size=4)),
    st.builds(lambda xs, a, b: f"sum([{', '.join(map(literal, xs))}][{a}:{b}])",
              st.lists(numbers, max_size=5), st.integers(-6, 6).map(str) | st.just(""),
              st.integers(-6, 6).map(str) | st.just("")),
)


@SETTINGS
@given(calls)
def test_builtins_give_pythons_values_and_types(expression):
    try:
        expected = eval(expression, PYTHON)  # noqa: S307 - the oracle: our own drawn text, in Python
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):  # `min(3)`, `log(0)`: archlang reports
        expected = None
    if expected is None or isinstance(expected, complex) or is_too_large(expected):  # pow(-2, 0.5) is complex
        assert [code for code, _ in errors(expression)] == ["E212"], expression
        return
    got = value(expression)
    assert got == expected and type(got) is type(expected), expression


def is_too_large(x) -> bool:
    return isinstance(x, int) and abs(x) > 2 ** 63 - 1


def test_round_halves_to_even_and_int_truncates_as_python():
    assert [value(f"round({x})") for x in ("0.5", "1.5", "2.5", "-0.5", "-1.5")] == [0, 2, 2, 0, -2]
    assert [value(f"int({x})") for x in ("2.7", "-2.7")] == [2, -2]
    assert value("floor(-2.5)") == -3 and value("ceil(-2.5)") == -2


@pytest.mark.parametrize("v", [3, 8, 18, 24, 32 * 0.75, 83, 84, 1280 * 1.3, 96 * 0.5, 320 * 1.3])
def test_a_function_a_spec_defines_is_torchvisions_make_divisible(v):
    from torchvision.models._utils import _make_divisible

    prelude = ("let rounded(v, d) = max(d, int(v + d / 2) // d * d)\n"
               "let make_divisible(v, d = 8) = rounded(v, d) + d if rounded(v, d) < 0.9 * v else rounded(v, d)")
    assert value(f"make_divisible({v!r})", prelude) == _make_divisible(v, 8)


def test_functions_see_their_definitions_names_recurse_and_stop():
    assert value("fact(6)", "let fact(n) = 1 if n <= 1 else n * fact(n - 1)") == 720
    assert value("f(2)", "let k = 10\nlet f(x, y = k + 1) = x * y") == 22
    assert errors("f(1)", "let f(n) = f(n + 1)") == [("E212", "function calls nested more than 100 deep")]
    assert errors("f(1, 2)", "let f(n) = n") == [("E214", "f() takes 1 argument, got 2")]
    assert errors("f()", "let f(n) = n") == [("E202", "f() is missing its argument n")]
    assert errors("k(1)", "let k = 3") == [("E212", "`k` is an int (3), not a function")]


def test_wrong_functions_and_arguments_are_located_errors():
    assert errors("mx(1, 2)") == [("E209", "unknown function `mx`")]
    assert errors("conv(3)") == [("E209", "unknown function `conv`")]
    assert errors("max()") == [("E212", "max() takes at least 1 argument, got 0")]
    assert errors("round(1, 2, 3)") == [("E212", "round() takes 1 or 2 arguments, got 3")]
    assert errors('int("3")') == [("E212", 'int("3"): int() takes a number, got a string')]
    assert errors("max([])") == [("E212", "max([]): an empty list has no smallest or largest item")]
    assert errors("round(1e300)") == [("E212", "`round(1e+300)` is too large")]
    assert errors("pow(10, 100)") == [("E212", "pow(10, 100): the result is too large")]
    assert errors("pow(-8, 0.5)") == [("E212", "pow(-8, 0.5): a negative number has no fractional power")]
    assert errors("log(0)") == [("E212", "log(0): a logarithm takes a positive number, and a positive base other "
                                         "than 1")]
    assert errors("[1, 2][true:]") == [("E212", "a slice's bounds must be ints, got true")]


def test_symbolic_sizes_where_the_answer_does_not_depend_on_them():
    graph = archlang.load("""
network N {
    input [3, H, W]
    expect [3, max(H, H + 1) - 1, int(W)]
}
""").network()
    assert graph.ok
    (d,) = [d for d in archlang.check("network N {\n    input [3, H, W]\n    expect [3, min(H, W), W]\n}\n")
            if d.is_error]
    assert d.code == "E212" and "depends on the input size" in d.message
    assert isinstance(value("1"), int) and not isinstance(value("1"), Expr)
