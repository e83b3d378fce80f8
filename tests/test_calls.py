"""Calls mean what they say: positional, keyword and default arguments of blocks and ops.

The binder's own table is tests/test_binder.py; here calls go through the
whole front end and the bound values are read back from the graph.
"""
from __future__ import annotations

import itertools

import pytest

import archlang

NET = "network N {{\n    input [3, 8, 8]\n    {body}\n}}\n"


def conv_widths(text: str) -> list[int]:
    graph = archlang.load(text).network()
    return [n.args["out"] for n in graph.layers() if n.op == "conv"]


# -- issue 10, bug 1: equal positional arguments were matched by AST equality ------------------------
def test_equal_positional_arguments_bind_by_position() -> None:
    text = "block B(a, b = 3) {\n    conv(a, k=1) conv(b, k=1)\n}\n" + NET.format(body="B(4, 4)")
    assert conv_widths(text) == [4, 4]


def test_equal_positional_arguments_without_defaults() -> None:
    text = "block C(a, b) {\n    conv(a, k=1) conv(b, k=1)\n}\n" + NET.format(body="C(4, 4)")
    assert conv_widths(text) == [4, 4]


def test_prelude_inception_with_equal_lists() -> None:
    graph = archlang.load(NET.format(body="inception(64, [64, 64], [16, 32], 64)")).network()
    assert graph.output_shapes() == [(64 + 64 + 32 + 64, 8, 8)]


# -- the class of test that would have caught it: a call binds alike however it is written ------------
SMALL = (1, 2)   # a tiny domain, so that equal arguments are common


def _block(n_params: int, n_defaults: int) -> str:
    params = [f"p{i}" if i < n_params - n_defaults else f"p{i} = 2" for i in range(n_params)]
    convs = " ".join(f"conv(p{i}, k=1)" for i in range(n_params))
    return f"block B({', '.join(params)}) {{\n    {convs}\n}}\n"


CALL_CASES = [(n, d, values) for n in (1, 2, 3) for d in range(n + 1)
              for values in itertools.product(SMALL, repeat=n - d)]


@pytest.mark.parametrize("n_params, n_defaults, values", CALL_CASES)
def test_positional_call_binds_like_keyword_call(n_params: int, n_defaults: int, values: tuple) -> None:
    """For every split of the arguments into positional and keyword, the same widths."""
    block = _block(n_params, n_defaults)
    expected = list(values) + [2] * n_defaults
    bodies = []
    for split in range(len(values) + 1):
        args = [str(v) for v in values[:split]] + [f"p{i}={v}" for i, v in enumerate(values) if i >= split]
        bodies.append(f"B({', '.join(args)})")
    text = block + "network N {\n    input [3, 8, 8]\n" + "".join(f"    {b}\n" for b in bodies) + "}\n"
    assert conv_widths(text) == expected * len(bodies)


@pytest.mark.parametrize("values", list(itertools.product(SMALL, repeat=3)))
def test_op_positional_call_binds_like_keyword_call(values: tuple) -> None:
    out, k, s = values
    text = NET.format(body=f"conv({out}, {k}, {s})\n    conv(out={out}, k={k}, s={s})\n    conv({out}, s={s}, k={k})")
    graph = archlang.load(text).network()
    bound = [(n.args["out"], n.args["k"], n.args["s"]) for n in graph.layers()]
    assert bound == [values] * 3
