"""The op table is the one place an op is known: every op carries every facet.

An op that lacks one fails here, so adding an op is one entry of
`archlang/ops.py` plus its tests. The facets checked elsewhere, each by a
test that fails for an op left out:

- its shape rule against torch: tests/test_ops_vs_torch.py (`@checks`);
- its parameters and MACs against torchinfo: tests/test_counts.py (`@counts`);
- running with the checked shapes: tests/test_torch_module.py (EVERY_OP);
- ONNX export verified in onnxruntime: tests/test_onnx.py (ALL_OPS).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from torch import nn

from archlang import ops
from archlang.backends import torch_layers
from archlang.diagnostics import Collector
from archlang.values import TensorRef

ROOT = Path(__file__).resolve().parent.parent
COLOUR = re.compile(r"#[0-9a-f]{6}")


def bound_with_required(spec: ops.OpSpec) -> dict:
    """The op's arguments with a plausible value for each required one."""
    given = {a.name: (4 if a.kind in ("int", "ints", "size", "number") else 0.5 if a.kind == "float"
                      else TensorRef("like", None) if a.kind == "tensor" else a.default)
             for a in spec.args if a.required}
    bound = ops.bind(spec, [], [(k, v, None, None) for k, v in given.items()], None, Collector())
    assert bound is not None, spec.name
    return bound


@pytest.mark.parametrize("name", sorted(ops.OPS))
def test_every_op_has_a_torch_constructor_or_an_expression(name):
    spec = ops.OPS[name]
    # a parameter is neither: the block's module holds it as an nn.Parameter
    assert (spec.torch is None) == (spec.expression is not None or spec.parameter), name
    assert not (spec.parameter and (spec.expression is not None or spec.merge)), name
    assert not spec.merge or spec.expression is not None, name
    if spec.torch is None:
        return
    for shape in ((4, 8, 8), (4,)):
        shapes = [shape] * (1 + ops.size_inputs(name))     # crop also reads the tensor `like`
        try:
            ops.infer(name, shapes, bound_with_required(spec))
        except ops.ShapeFailure:
            continue  # the op does not take this rank
        cls_name, kwargs = spec.torch(shapes, bound_with_required(spec))
        torch_layers.layer_class(cls_name)(**kwargs)  # a class that exists and takes these arguments


def test_extra_layers_do_not_shadow_torch_nn():
    assert not [name for name in torch_layers.EXTRA if hasattr(nn, name)]


@pytest.mark.parametrize("name", sorted(ops.OPS))
def test_every_op_has_a_colour_and_a_summary(name):
    spec = ops.OPS[name]
    assert COLOUR.fullmatch(spec.colour), f"{name}'s colour {spec.colour!r} is not #rrggbb"
    assert spec.summary and "\n" not in spec.summary


def test_ops_of_a_family_share_its_colour():
    colour = {name: spec.colour for name, spec in ops.OPS.items()}
    assert colour["conv"] == colour["conv_transpose"] == ops.CONV_COLOUR
    assert colour["linear"] == colour["channel_linear"] == ops.LINEAR_COLOUR
    assert {colour[n] for n in ("bn", "groupnorm", "layernorm", "lrn")} == {ops.NORM_COLOUR}
    assert {colour[n] for n in ("relu", "gelu", "hardswish", "hardsigmoid", "softmax")} == {ops.ACTIVATION_COLOUR}


def test_docs_describe_every_op_and_argument():
    text = (ROOT / "docs" / "ops.md").read_text(encoding="utf-8")
    for name, spec in ops.OPS.items():
        assert f"`{name}" in text, f"docs/ops.md does not describe {name}"
        for arg in spec.args:
            for word in (arg.name, *arg.aliases):
                assert f"`{word}" in text or f"{word}=" in text, f"docs/ops.md does not mention {name}'s {word}"
        for choice in (c for a in spec.args for c in a.choices or ()):
            assert f'"{choice}"' in text, f"docs/ops.md does not mention {name}'s choice \"{choice}\""


def test_the_table_alone_says_which_ops_do_what():
    """The lints, folding and padding help read the table: no list of op names elsewhere."""
    assert {n for n, s in ops.OPS.items() if s.absorbs_bn} == {"conv", "conv_transpose", "linear", "channel_linear"}
    assert {n for n, s in ops.OPS.items() if s.fit_padding} == {"conv", "conv_transpose", "maxpool", "avgpool"}
    for path in ("archlang/passes.py", "archlang/backends/graphviz.py", "archlang/backends/onnx_model.py"):
        text = (ROOT / path).read_text(encoding="utf-8")
        assert not re.search(r'op (not )?in \("conv"|op == "(dropout|upsample|flatten)"', text), path
