"""Generated code never writes into a tensor that is read later, or that the caller passed in.

`archlang build` and `compile` run ReLUs in place and sum with `+=` where
nothing can tell (torchvision's style). A one-input `add` is its input, not
a copy, so writing into it writes into that input (issue 10, case 2). Each
spec here is checked against the reference interpreter (tests/oracle): the
values of every layer and output in eval and training mode, the caller's
input untouched, a training-mode backward that works and gives the
interpreter's gradients, and the built file the same.
"""
from __future__ import annotations

import pytest

from oracle.differential import check_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The spec: the forward did `y = x` and then ReLU(inplace=True), so it computed relu(a) + relu(a).
ONE_INPUT_ADD_THEN_RELU = """\
network N {
    input x: [4, 5, 5]
    a = x -> conv(4, k=1)
    b = a -> add { | identity } -> relu
    y = add(a, b)
    output y
}
"""

BLOCK_WHOSE_BODY_IS_A_ONE_INPUT_ADD = """\
block Same {
    add { | identity }
}

network N {
    input x: [4, 5, 5]
    a = x -> conv(4, k=1)
    b = a -> Same -> relu
    y = add(a, b)
}
"""

MERGE_OF_ONE_TENSOR_THEN_RELU = """\
network N {
    input x: [4, 5, 5]
    a = x -> conv(4, k=1) -> sigmoid
    b = add(a) -> relu
    y = add(a, b)
}
"""

# `b += x` wrote into a, which is an output too.
ONE_INPUT_ADD_THEN_AUGMENTED_SUM = """\
network N {
    input x: [4, 5, 5]
    a = x -> conv(4, k=1)
    b = add(a)
    c = add(b, x)
    output a, c
}
"""

# The caller's tensor was modified, and backward failed on a leaf that requires grad.
ON_THE_NETWORK_INPUT = """\
network N {
    input x: [4, 5, 5]
    b = add(x) -> relu
    y = add(x, b)
}
"""

NESTED_ONE_INPUT_MERGES = """\
network N {
    input x: [2, 6, 6]
    a = x -> conv(2, k=3, p=1) -> bn
    y = a -> add { | add { | identity } } -> relu -> add { | identity | residual { } } -> relu
    output a, y
}
"""

CASES = {
    "one-input add, then relu": ONE_INPUT_ADD_THEN_RELU,
    "a block whose body is a one-input add": BLOCK_WHOSE_BODY_IS_A_ONE_INPUT_ADD,
    "add(a) -> relu": MERGE_OF_ONE_TENSOR_THEN_RELU,
    "one-input add, then +=": ONE_INPUT_ADD_THEN_AUGMENTED_SUM,
    "on the network input": ON_THE_NETWORK_INPUT,
    "nested one-input merges": NESTED_ONE_INPUT_MERGES,
}


@pytest.mark.parametrize("spec", CASES.values(), ids=CASES.keys())
def test_compile_and_build_agree_with_the_oracle(spec, tmp_path):
    assert check_spec(spec, tmp_path) == []


def test_train_survives_a_one_input_add(cli, tmp_path):
    # A sigmoid's backward reads its output; the in-place ReLU through the alias overwrote it,
    # and `archlang train` died with an internal error in the first backward.
    spec = tmp_path / "n.arch"
    spec.write_text("""\
network N(classes = 10) {
    input x: [1, 8, 8]
    a = x -> conv(4, k=1) -> sigmoid
    b = a -> add { | identity } -> relu
    y = add(a, b) -> flatten -> linear(classes)
}
""")
    r = cli("train", spec, "--data", "synthetic:64", "--epochs", "1", "--out", tmp_path / "run", "--quiet")
    assert r.code == 0, r
