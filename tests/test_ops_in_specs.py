"""The newer ops as a spec uses them: symbolic sizes, the fixes errors suggest, drawings.

The rules themselves are checked against torch in test_ops_vs_torch.py; here
the front end, the passes and the backends see them: an up-convolution on a
symbolic size, the padding that a transposed conv needs to meet its skip
connection, the colour a drawing gives each op (from the op table).
"""
from __future__ import annotations

import re

import archlang
from archlang import ops
from archlang.backends import graphviz as gv

UP = """\
network Up {
    input x: [3, H, W]
    down = x -> conv(8, k=3, p=1) relu maxpool(2)
    up = down -> conv_transpose(8, k=2, s=2)
    y = cat(x, up) -> conv(2, k=1)
    output y
}
"""


def test_an_up_convolution_after_a_pool_needs_even_sizes():
    graph = archlang.load(UP).network()
    up = next(n for n in graph.nodes if n.op == "conv_transpose")
    assert str(up.shape[1]) == "2 * (H // 2)"
    assert graph.smallest_input == [(3, 2, 2)]
    assert graph.conditions == ["H and W even"]
    assert archlang.load(UP).network(input=[3, 6, 10]).output_shapes() == [(2, 6, 10)]


def test_a_transposed_conv_that_misses_its_skip_gets_the_padding_that_meets_it():
    spec = """\
network Bad {
    input [4, 8, 8]
    concat {
      | conv(4, k=1)
      | maxpool(2) conv_transpose(4, k=4, s=2)
    }
}
"""
    (diag,) = archlang.check(spec)
    assert diag.code == "E303" and diag.span.text == "conv_transpose(4, k=4, s=2)"
    assert diag.label == "this path yields [4, 10, 10]"
    assert diag.help == "k=4 gives 8x8 with p=1"    # (4 - 1) * 2 - 2 * 1 + 4 = 8


def test_drawings_fill_each_layer_with_its_ops_colour():
    spec = """\
network N {
    input [4, 8, 8]
    conv_transpose(6, k=2, s=2) groupnorm(3) hardswish channel_linear(4) layernorm channel_shuffle(2)
    stochastic_depth(0.1) scale_shift(0.5) gap flatten
}
"""
    graph = archlang.load(spec).network()
    dot = gv.to_dot(graph)
    for node in graph.layers():
        fill = re.search(rf'label="[^"]*\\n{node.local_name}(\\n[^"]*)?" fillcolor="(#[0-9a-f]+)"', dot)
        assert fill and fill.group(2) == ops.OPS[node.op].colour, node.name
