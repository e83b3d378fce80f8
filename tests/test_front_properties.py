"""Properties of the front end over the whole op table, the class of test that catches a
silent wrong result (issue 10): each op on inputs of every rank, each argument at the
edges of its domain, labels from a small set of hostile names.

A check that passes must mean a network: every node has a shape, no layer's weights
depend on a symbolic size, every accepted value gives finite numbers in torch, and a
label is its module's name.
"""
from __future__ import annotations

import pytest

import archlang
from archlang.ops import OPS, Arg

# The layers of a chain (a `parameter` reads no tensor, and is no chain's output: tests/test_parameters.py)
LAYERS = sorted(name for name, spec in OPS.items() if not spec.merge and not spec.parameter)


class Tensor(str):
    """A tensor as an argument (`crop(like=cur)`): written as its name."""


def sample(arg: Arg):
    """A small valid-looking value of an argument's kind (for required arguments)."""
    if arg.choices:
        return arg.choices[0]
    return {"int": 1, "ints": 1, "size": 1, "padding": 0, "float": 0.5, "floats": 1.0, "number": 2,
            "bool": True, "str": "x", "tensor": Tensor("cur")}[arg.kind]


# What an op needs beyond its required arguments to stand alone in a chain: a chain of one
# tensor takes one part of a chunk.
ALONE = {"chunk": {"index": 0}}


def call(op: str, **given) -> str:
    spec = OPS[op]
    args = {a.name: sample(a) for a in spec.args if a.required}
    args.update(ALONE.get(op, {}))
    args.update(given)
    text = ", ".join(f"{k}={archlang_value(v)}" for k, v in args.items())
    return f"{op}({text})" if text else op


def archlang_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Tensor):
        return str(v)
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


def network(shape: str, body: str) -> str:
    return f"network N {{\n    input {shape}\n    {body}\n}}\n"


# -- a clean check means every node has a shape (bug 4: `input []` checked as "? -> ?") ----------------
@pytest.mark.parametrize("rank", range(6))
def test_a_clean_check_leaves_no_shape_unknown(rank: int) -> None:
    shape = "[" + ", ".join(["2"] * rank) + "]"
    for op in LAYERS:
        graph = archlang.load(network(shape, call(op))).elaborate()
        if graph.ok:
            assert all(node.known for node in graph.nodes), (op, shape)
        else:
            assert all(d.span is not None for d in graph.diagnostics if d.is_error), (op, shape)


# -- no layer's weights depend on a symbolic size (bug 3: `flatten bn` counted at 1x1) -------------------
@pytest.mark.parametrize("op", LAYERS)
def test_a_layer_on_a_symbolic_width_is_an_error_or_has_a_fixed_module(op: str) -> None:
    """On [H * W] (a flattened symbolic input), a layer either is an error, or its PyTorch
    constructor's arguments and its parameter count are the same for every size."""
    from archlang.shapes import Expr

    graph = archlang.load(network("[1, H, W]", f"flatten {call(op)}")).elaborate()
    if not graph.ok:
        assert any(d.code in ("E302", "E306", "E309", "E211") for d in graph.diagnostics if d.is_error)
        return
    node = graph.layers()[-1]
    inputs = [graph[i].shape for i in node.inputs]
    # an expression in forward (chunk, resize) has no module whose arguments a size could set
    _, kwargs = OPS[op].torch(inputs, node.args) if OPS[op].torch is not None else (None, {})
    assert not any(isinstance(v, Expr) or (isinstance(v, tuple) and any(isinstance(x, Expr) for x in v))
                   for v in kwargs.values()), (op, kwargs)
    counts = {OPS[op].count([(h * w,)], tuple(h * w if isinstance(d, Expr) else d for d in node.shape),
                            node.args)[0] for h, w in ((1, 1), (3, 5))}
    assert len(counts) == 1, (op, counts)


# -- every accepted value means a working layer (bug 8: bn(eps=-1), lrn(k=0) gave NaN) ----------------
EDGES = (-1, 0, 1, 2)


def _numeric_cases() -> list[tuple[str, str, object]]:
    cases = []
    for op in LAYERS:
        for arg in OPS[op].args:
            if arg.kind in ("float", "number", "int") and not arg.choices:
                cases.extend((op, arg.name, v) for v in EDGES)
    return cases


def _checked_input(op: str, body: str) -> str | None:
    """An input shape on which `body` (an `op` call) checks, or None."""
    for shape in ("[4, 6, 6]", "[4, 6]", "[8]", "[4, 4, 6, 6]"):
        graph = archlang.load(network(shape, body)).elaborate()
        if graph.ok:
            return shape
    return None


@pytest.mark.parametrize("op, name, value", _numeric_cases())
def test_an_accepted_argument_value_gives_finite_numbers(op: str, name: str, value) -> None:
    """An argument value at the edge of its domain is rejected at check time, or torch runs the
    layer to finite numbers: in training (a few steps, on random and on all-zero input) and in eval."""
    import torch

    shape = _checked_input(op, call(op))
    assert shape is not None, op
    text = network(shape, call(op, **{name: value}))
    if not archlang.load(text).elaborate().ok:
        return  # rejected at check time, with its diagnostic
    torch.manual_seed(0)
    model = archlang.compile(text)
    sizes = [int(s) for s in shape.strip("[]").split(",")]
    with torch.no_grad():
        model.train()
        outputs = [model(torch.randn(3, *sizes)) for _ in range(3)] + [model(torch.zeros(3, *sizes))]
        model.eval()
        outputs += [model(torch.randn(3, *sizes)), model(torch.zeros(3, *sizes))]
    assert all(torch.isfinite(y).all() for y in outputs), (op, name, value)
