"""Three-valued questions on symbolic sizes, and the solver on hand-built graphs."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archlang import ops, passes
from archlang.diagnostics import Collector
from archlang.ir import Graph, Port, Scope
from archlang.shapes import Expr, at_least_one, compare_eq, evaluate
from archlang.source import Source

H, W = Expr.symbol("H"), Expr.symbol("W")


# --------------------------------------------------------------------------- compare_eq, at_least_one

@pytest.mark.parametrize("a,b,want", [
    (3, 3, True), (3, 4, False),
    (H, H, True), (H, H + 1, False), (H, 2 * H, False), (H, 5, None), (H, W, None),
    (2 * H, 2 * W + 1, False),               # parity: never equal
    (H + W, 1, False),                       # both at least 1
    (2 * H + 3 * W, 6, False),               # 2 + 3 = 5, and 6 is not 2a + 3b with a, b >= 1
    (2 * H + 3 * W, 7, None),                # H = 2, W = 1
    ((H - 3) // 2 + 1, (H - 1) // 2, True),  # two spellings of one conv size
    ((H // 2) * 2 + H % 2, H, True),
    ((H // 2) * 2, H, None),                 # equal exactly for even H
    (H // 2 + 1, H // 2, False),
    (H, H // 2, False),                      # H - H // 2 >= H / 2 > 0
    ((H - 1) // 2 + 1, H, None),             # a stride-2 path against identity: equal only for H <= 2
    (H * W, H * W + 1, False),
])
def test_compare_eq(a, b, want):
    assert compare_eq(a, b) is want


@pytest.mark.parametrize("d,want", [
    (1, True), (0, False), (H, True), (H - 4, None), (-H, False), (1 - H, False), (2 - H, None),
    ((H - 1) // 4 + 1, True), (H // 2, None), (H // 2 + 1, True), (H * W, True), (H - W, None),
    (H % 2 + 1, True),
])
def test_at_least_one(d, want):
    assert at_least_one(d) is want


DIMS = st.recursive(
    st.one_of(st.sampled_from([H, W]), st.integers(-4, 8)),
    lambda c: st.one_of(st.tuples(c, c).map(lambda t: t[0] + t[1]), st.tuples(c, c).map(lambda t: t[0] - t[1]),
                        st.tuples(c, st.integers(1, 3)).map(lambda t: t[0] * t[1]),
                        st.tuples(c, st.integers(1, 5)).map(lambda t: t[0] // t[1])),
    max_leaves=6)
SIZES = list(itertools.product(range(1, 25), range(1, 25)))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(DIMS, DIMS)
def test_compare_eq_is_never_wrong(a, b):
    verdict = compare_eq(a, b)
    values = [evaluate(a, {"H": h, "W": w}) == evaluate(b, {"H": h, "W": w}) for h, w in SIZES]
    if verdict is True:
        assert all(values)
    if verdict is False:
        assert not any(values)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(DIMS)
def test_at_least_one_is_never_wrong(d):
    verdict = at_least_one(d)
    values = [evaluate(d, {"H": h, "W": w}) >= 1 for h, w in SIZES]
    if verdict is True:
        assert all(values)
    if verdict is False:
        assert not any(values)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.integers(-4, 4), st.integers(-4, 4), st.integers(-20, 20))
def test_compare_eq_is_exact_on_affine_forms(a, b, c):
    """a*H + b*W + c == 0: False exactly when no sizes solve it (small solutions exist when any do)."""
    d = a * H + b * W + c
    verdict = compare_eq(d, 0)
    solvable = any(evaluate(d, {"H": h, "W": w}) == 0 for h in range(1, 60) for w in range(1, 60))
    if isinstance(d, int):
        assert verdict is (d == 0)
    else:
        assert verdict is (None if solvable else False)
        assert at_least_one(d) is _brute_at_least_one(d)


def _brute_at_least_one(d):
    values = {evaluate(d, {"H": h, "W": w}) >= 1 for h in range(1, 60) for w in range(1, 60)}
    return values.pop() if len(values) == 1 else None


# --------------------------------------------------------------------------- graphs built by hand

class Net:
    """A graph built the way the elaborator builds one: bind, add_node, infer_node."""

    def __init__(self, text: str = "network Net {}\n") -> None:
        self.src = Source("net.arch", text)
        self.graph = Graph("Net", {}, self.src.span(0, len(text)))
        self.col = Collector()
        self.count = 0

    def span(self, needle: str | None):
        if needle is None:
            return self.src.span(0, len(self.src.text))
        start = self.src.text.index(needle)
        return self.src.span(start, start + len(needle))

    def input(self, shape, name="x", at=None) -> int:
        node = self._add("input", {"shape": list(shape)}, (), at, name)
        self.graph.inputs.append(Port(name, node))
        return node

    def layer(self, op, x, *pos, at=None, scope=None, **kw) -> int:
        span = self.span(at)
        args = ops.bind(op, [(v, span) for v in pos], [(k, v, span, span) for k, v in kw.items()], span, self.col)
        assert args is not None, self.col.items
        return self._add(op, args, (x,), at, None, scope)

    def merge(self, op, xs, at=None, scope=None) -> int:
        return self._add(op, {}, tuple(xs), at, None, scope)

    def _add(self, op, args, inputs, at, name, scope=None) -> int:
        self.count += 1
        node = self.graph.add_node(op, args, inputs, self.span(at), name or f"{op}{self.count}",
                                   scope or self.graph.root)
        passes.infer_node(self.graph, node, self.col)
        return node.id

    def check(self, *outputs):
        self.graph.outputs = [Port("y", o) for o in outputs] or [Port("y", len(self.graph) - 1)]
        passes.check(self.graph, self.col)
        return self.graph

    def codes(self):
        return [d.code for d in self.col.items]


def test_lenet_on_symbolic_input_needs_12x12():
    net = Net()
    x = net.input([1, "H", "W"])
    for op, pos, kw in [("conv", (6,), {"k": 5, "p": 2}), ("sigmoid", (), {}), ("avgpool", (2,), {}),
                        ("conv", (16,), {"k": 5}), ("sigmoid", (), {}), ("avgpool", (2,), {})]:
        x = net.layer(op, x, *pos, **kw)
    g = net.check()
    assert net.codes() == []
    assert str(g[x].shape[1]) == "H // 4 - 2"
    assert g.smallest_input == [(1, 12, 12)]
    assert g.conditions == ["H and W >= 12"]
    # MACs at the smallest input: conv1 6x12x12 (25 each), conv2 16x2x2 (150 each)
    assert g.macs_total == 6 * 144 * 25 + 16 * 4 * 150


def test_unet_skip_needs_even_then_multiple_of_4_sizes():
    for levels, condition in [(1, "H and W even"), (2, "H and W multiples of 4")]:
        net = Net()
        x = net.input([3, "H", "W"])
        e = net.layer("conv", x, 8, k=3, p=1)
        y = e
        for _ in range(levels):
            y = net.layer("maxpool", y, 2)
        for _ in range(levels):
            y = net.layer("upsample", y, 2)
        out = net.merge("concat", [y, e])
        g = net.check()
        assert net.codes() == []
        assert g[out].shape == (16, H, W)  # the simplest of the sizes the condition makes equal
        assert g.conditions == [condition]
        assert g.smallest_input == [(3, 2 ** levels, 2 ** levels)]


def test_odd_sizes_and_minimums_together():
    net = Net()
    x = net.input([3, "H"])
    a = net.layer("conv", x, 4, k=3, s=2)           # (H - 1) // 2: needs H >= 3
    b = net.layer("upsample", a, 2)                 # 2 * ((H - 1) // 2)
    c = net.layer("conv", x, 4, k=2)                # H - 1
    net.merge("add", [b, c])                        # equal exactly when H is odd
    g = net.check()
    assert net.codes() == []
    assert g.smallest_input == [(3, 3)]
    assert g.conditions == ["H >= 3", "H odd"]


def test_sizes_tied_together_are_reported_as_the_constraint():
    net = Net()
    x = net.input([3, "H", "W"], name="x")
    y = net.input([3, "W", "H"], name="y")
    net.merge("add", [x, y])
    g = net.check()
    assert net.codes() == []
    assert g.smallest_input == [(3, 1, 1), (3, 1, 1)]
    assert "H == W" in g.conditions or "W == H" in g.conditions


def test_no_size_at_all_is_an_error():
    net = Net("network Net {\n  first\n  second\n}\n")
    x = net.input([3, "H"])
    net.merge("add", [net.layer("upsample", net.layer("maxpool", x, 2), 2), x], at="first")    # H even
    shifted = net.layer("conv", x, 3, k=2)          # H - 1, which must be even too
    net.merge("add", [net.layer("upsample", net.layer("maxpool", shifted, 2), 2), shifted], at="second")
    g = net.check()
    assert net.codes() == ["E304"]
    diag = net.col.items[0]
    assert diag.span.text == "second" and "no input size" in diag.message
    assert diag.label == "needs H odd"
    assert diag.notes == ["the condition here is H - 1 == 2 * ((H - 1) // 2)",
                          "the layers before it need H >= 4, H even"]  # H >= 3 for the second maxpool
    assert g.smallest_input is None


def test_symbolic_size_below_one_is_a_condition_not_an_error():
    net = Net()
    x = net.input([1, "H", "W"])
    net.layer("conv", x, 8, k=5)
    g = net.check()
    assert net.codes() == []
    assert [c.text for c in g.constraints] == ["H >= 5", "W >= 5"]
    assert g.conditions == ["H and W >= 5"]


def test_expect_records_a_constraint_or_fails():
    net = Net("network Net {\n  expect one\n  expect two\n  expect three\n}\n")
    x = net.input([3, "H", "W"])
    y = net.layer("maxpool", x, 2)
    assert passes.check_expect(net.graph, y, [3, "_", 4], net.span("expect one"), net.col)
    assert not passes.check_expect(net.graph, y, [4, "_", "_"], net.span("expect two"), net.col)
    assert not passes.check_expect(net.graph, y, [3, 4], net.span("expect three"), net.col)
    g = net.check()
    assert net.codes() == ["E307", "E307"]
    assert g.smallest_input == [(3, 2, 8)]


# --------------------------------------------------------------------------- where merge errors point

INCEPTION = """block Inception(c1, c2, c3, c4) {
    concat {
      | conv(c1, k=1) relu
      | conv(c2[0], k=1) relu conv(c2[1], k=3) relu
      | conv(c3[0], k=1) relu conv(c3[1], k=5, p=2) relu
      | maxpool(3, s=1, p=1) conv(c4, k=1) relu
    }
}
network Net {
    input [192, 28, 28]
    Inception(64, [96, 128], [16, 32], 32)
}
"""


def test_concat_error_points_at_the_layer_that_changed_the_size():
    net = Net(INCEPTION)
    call = net.span("Inception(64, [96, 128], [16, 32], 32)")
    scope = Scope("inception1", "Inception", call.text, call, net.graph.root)
    net.graph.root.children.append(scope)
    x = net.input([192, 28, 28], at="input [192, 28, 28]")
    p1 = net.layer("relu", net.layer("conv", x, 64, k=1, at="conv(c1, k=1)", scope=scope), scope=scope)
    a = net.layer("relu", net.layer("conv", x, 96, k=1, at="conv(c2[0], k=1)", scope=scope), scope=scope)
    p2 = net.layer("relu", net.layer("conv", a, 128, k=3, at="conv(c2[1], k=3)", scope=scope), scope=scope)
    b = net.layer("relu", net.layer("conv", x, 16, k=1, at="conv(c3[0], k=1)", scope=scope), scope=scope)
    p3 = net.layer("relu", net.layer("conv", b, 32, k=5, p=2, at="conv(c3[1], k=5, p=2)", scope=scope), scope=scope)
    c = net.layer("maxpool", x, 3, s=1, p=1, at="maxpool(3, s=1, p=1)", scope=scope)
    p4 = net.layer("relu", net.layer("conv", c, 32, k=1, at="conv(c4, k=1)", scope=scope), scope=scope)
    concat_text = INCEPTION[INCEPTION.index("concat {"):INCEPTION.index("    }\n}") + 5]
    node = net.merge("concat", [p1, p2, p3, p4], at=concat_text, scope=scope)
    assert net.graph[node].failed
    (diag,) = net.col.items
    assert diag.code == "E303"
    assert diag.span.text == "conv(c2[1], k=3)"
    assert diag.label == "this path yields [128, 26, 26]"
    assert diag.notes == ["path 1 yields [64, 28, 28]", "path 3 yields [32, 28, 28]", "path 4 yields [32, 28, 28]"]
    assert diag.help == "k=3 keeps 28x28 with p=1"
    assert [f.call for f in diag.call_stack] == ["Inception(64, [96, 128], [16, 32], 32)"]


RESIDUAL = """add {
  | conv(128, k=3, p=1, s=2) bn relu conv(128, k=3, p=1) bn
  | if use_1x1conv { conv(c, k=1, s=s) }
}
y = add(a, b)
"""


def test_add_with_identity_path_points_at_the_path_with_layers():
    net = Net(RESIDUAL)
    x = net.input([64, 56, 56])
    y = net.layer("conv", x, 128, k=3, p=1, s=2, at="conv(128, k=3, p=1, s=2)")
    y = net.layer("bn", y, at="bn")
    net.merge("add", [y, x], at=RESIDUAL[: RESIDUAL.index("}\ny")] + "}")
    (diag,) = net.col.items
    assert diag.code == "E304"
    assert diag.span.text == "conv(128, k=3, p=1, s=2)"
    assert diag.notes == ["path 2 yields [64, 56, 56]"]
    assert diag.help == ("path 2 passes its input [64, 56, 56] through unchanged; a 1x1 conv there, "
                         "conv(128, k=1, s=2), gives [128, 28, 28]")


def test_merge_of_named_tensors_points_at_the_merge():
    net = Net(RESIDUAL)
    x = net.input([3, 8, 8])
    a = net.layer("conv", x, 16, k=3, p=1, at="conv(128, k=3, p=1)")
    b = net.layer("conv", x, 32, k=1, at="conv(c, k=1, s=s)")
    net.merge("add", [a, b], at="add(a, b)")
    (diag,) = net.col.items
    assert diag.code == "E301" and diag.span.text == "add(a, b)"  # only the channels differ
    assert diag.label == "path 2 yields [32, 8, 8]" and diag.notes == ["path 1 yields [16, 8, 8]"]
    assert diag.help == "a 1x1 conv, conv(16, k=1), projects [32, 8, 8] to [16, 8, 8]"


def test_a_failed_layer_makes_the_rest_unknown_silently():
    net = Net()
    x = net.input([1, 3, 3])
    y = net.layer("conv", x, 4, k=5)
    z = net.layer("relu", net.layer("linear", y, 10))
    g = net.check()
    assert net.codes() == ["E305"]
    assert g[y].failed and g[z].failed and not g[z].known


def test_channels_must_be_numbers():
    net = Net()
    x = net.input(["C", "H", "W"])
    net.layer("conv", x, 8, k=3)
    net.check()
    assert net.codes() == ["E211"]
    assert not net.graph[x].known


def test_errors_of_the_arguments_alone_are_reported_after_a_failure():
    net = Net("network Net {\n  one\n  two\n  three\n  four\n  five\n}\n")   # a place for each layer
    x = net.input([3, 8, 8])
    y = net.layer("conv", x, 40, k=3, groups=5, at="one")        # 3 input channels: E308
    y = net.layer("conv", y, 32, k=1, groups=3, at="two")        # 32 outputs by 3 groups: E308 whatever the input
    y = net.layer("maxpool", y, 2, p=2, at="three")               # padding over half the window: E310
    y = net.layer("conv", y, 8, k=3, s=2, p="same", at="four")    # "same" with a stride: E310
    y = net.layer("linear", y, 10, at="five")                     # depends on the unknown input: silent
    assert net.codes() == ["E308", "E308", "E310", "E310"]


def test_an_expect_of_fixed_sizes_reads_as_a_range():
    net = Net("network Net {\n  expect here\n}\n")
    x = net.input([3, "H", "W"])
    y = net.layer("maxpool", x, 2)
    assert passes.check_expect(net.graph, y, [3, 14, 5], net.span("expect here"), net.col)
    g = net.check()
    assert net.codes() == []
    assert g.smallest_input == [(3, 28, 10)]
    assert g.conditions == ["28 <= H <= 29", "10 <= W <= 11"]


def test_add_of_channels_alone_with_an_identity_path_suggests_the_projection_there():
    net = Net(RESIDUAL)
    x = net.input([64, 28, 28])
    y = net.layer("conv", x, 128, k=3, p=1, at="conv(128, k=3, p=1, s=2)")
    net.merge("add", [y, x], at=RESIDUAL[: RESIDUAL.index("}\ny")] + "}")
    (diag,) = net.col.items
    assert diag.code == "E301" and diag.message == "add paths disagree on channels"
    assert diag.span.text == "conv(128, k=3, p=1, s=2)" and diag.notes == ["path 2 yields [64, 28, 28]"]
    assert diag.help == ("path 2 passes its input [64, 28, 28] through unchanged; a 1x1 conv there, "
                         "conv(128, k=1), gives [128, 28, 28]")


def test_add_of_unequal_sizes_and_channels_stays_e304():
    net = Net()
    x = net.input([8, "H", "W"])
    net.merge("add", [net.layer("conv", x, 16, k=1), net.layer("maxpool", x, 2)])
    assert net.codes() == ["E304"]


def test_add_of_feature_vectors_of_unequal_width_is_e304():
    net = Net()
    x = net.input([8])
    net.merge("add", [net.layer("linear", x, 16), x])
    assert net.codes() == ["E304"]
