"""Parameters and MACs of the op table against torchinfo and `sum(p.numel())`.

Our MACs are the multiply-accumulates of the weights of conv and linear
layers. torchinfo also counts one per bias element and output position, and
2 per channel for batch norm; the tests state that difference exactly.
"""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
torchinfo = pytest.importorskip("torchinfo")

from archlang import ops  # noqa: E402
from archlang.backends.torch_layers import layer_class  # noqa: E402
from archlang.diagnostics import Collector  # noqa: E402

# The ops whose counts a test here checks (see `counts`); every op of the table must be here.
COUNTED: set[str] = set()


def counts(*op_names: str):
    """Mark a test as the check of these ops' parameter and MAC counts."""
    def mark(test):
        COUNTED.update(op_names)
        return test
    return mark


def layer(op: str, shape: tuple, *positional, **keywords):
    """(params, trainable, macs, module, output shape) for one layer on one input."""
    args = ops.bind(op, [(v, None) for v in positional], [(k, v, None, None) for k, v in keywords.items()],
                    None, Collector())
    out, _ = ops.infer(op, [shape], args)
    params, trainable, macs = ops.OPS[op].count([shape], out, args)
    cls, kwargs = ops.OPS[op].torch([shape], args)
    return params, trainable, macs, layer_class(cls)(**kwargs), out


def torchinfo_macs(module, shape) -> int:
    stats = torchinfo.summary(module, input_size=(1, *shape), verbose=0)
    return stats.total_mult_adds


CONVS = [
    ((3, 32, 32), (16,), {"k": 3, "p": 1}),
    ((3, 224, 224), (64,), {"k": 7, "s": 2, "p": 3}),
    ((8, 15, 17), (12,), {"k": [1, 3], "s": [2, 1], "groups": 4}),
    ((4, 20), (6,), {"k": 5, "d": 2}),
    ((2, 6, 7, 8), (4,), {"k": 3, "p": "same"}),
    ((6, 9, 9), (6,), {"k": 3, "groups": 6}),                       # depthwise
]


@counts("conv")
@pytest.mark.parametrize("shape,pos,kw", CONVS)
@pytest.mark.parametrize("bias", [False, True])
def test_conv_counts_match_torchinfo(shape, pos, kw, bias):
    params, trainable, macs, module, out = layer("conv", shape, *pos, bias=bias, **kw)
    assert params == trainable == sum(p.numel() for p in module.parameters())
    bias_macs = math.prod(out) if bias else 0  # torchinfo: one per output element for the bias
    assert torchinfo_macs(module, shape) == macs + bias_macs


@counts("linear")
@pytest.mark.parametrize("features,out,bias", [(400, 120, True), (84, 10, False), (1, 1, True)])
def test_linear_counts_match_torchinfo(features, out, bias):
    params, trainable, macs, module, _ = layer("linear", (features,), out, bias=bias)
    assert params == trainable == sum(p.numel() for p in module.parameters())
    assert macs == features * out
    assert torchinfo_macs(module, (features,)) == macs + (out if bias else 0)


@counts("bn")
@pytest.mark.parametrize("shape", [(7,), (6, 11), (16, 5, 5), (4, 3, 3, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_bn_counts_trainable_parameters_not_buffers(shape, affine):
    params, trainable, macs, module, _ = layer("bn", shape, affine=affine)
    assert params == trainable == sum(p.numel() for p in module.parameters()) == (2 * shape[0] if affine else 0)
    assert macs == 0
    summary = torchinfo.summary(module, input_size=(2, *shape), verbose=0)
    assert summary.total_params == params


ZERO = [("relu", (), {}), ("maxpool", (2,), {}), ("avgpool", (3,), {"s": 1, "p": 1}), ("gap", (), {}),
        ("adaptive_avgpool", ([2, 3],), {}), ("flatten", (), {}), ("dropout", (), {}), ("softmax", (), {}),
        ("upsample", (2,), {"mode": "bilinear"}), ("lrn", (5,), {}), ("leaky_relu", (0.1,), {}),
        ("relu6", (), {}), ("sigmoid", (), {}), ("tanh", (), {}), ("gelu", (), {"approximate": "tanh"}),
        ("silu", (), {}), ("elu", (), {}), ("hardswish", (), {}), ("hardsigmoid", (), {}),
        ("channel_shuffle", (4,), {}), ("stochastic_depth", (0.2,), {}), ("scale_shift", (0.5, 1.0), {})]


@counts(*{op for op, _, _ in ZERO})
@pytest.mark.parametrize("op,pos,kw", ZERO)
def test_layers_without_weights_count_nothing(op, pos, kw):
    params, trainable, macs, module, _ = layer(op, (8, 12, 12), *pos, **kw)
    assert (params, trainable, macs) == (0, 0, 0)
    assert sum(p.numel() for p in module.parameters()) == 0
    assert torchinfo_macs(module, (8, 12, 12)) == 0


TRANSPOSED = [
    ((4, 5, 5), (6,), {"k": 3, "s": 2, "groups": 2}),
    ((3, 7), (2,), {"k": 4, "s": 2, "p": 1}),                                # 1d, U-Net style doubling
    ((2, 3, 4, 2), (4,), {"k": [2, 3, 1], "s": [2, 1, 3], "d": [1, 2, 1], "output_padding": [1, 0, 2]}),
]


@counts("conv_transpose")
@pytest.mark.parametrize("shape,pos,kw", TRANSPOSED)
@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose_counts_input_positions_times_weights(shape, pos, kw, bias):
    params, trainable, macs, module, out = layer("conv_transpose", shape, *pos, bias=bias, **kw)
    assert params == trainable == sum(p.numel() for p in module.parameters())
    weights = module.weight.numel()
    assert macs == math.prod(shape[1:]) * weights
    # torchinfo counts a transposed conv as a conv: weights and bias once per *output* position.
    assert torchinfo_macs(module, shape) == (weights + (pos[0] if bias else 0)) * math.prod(out[1:])


@counts("groupnorm", "layernorm")
@pytest.mark.parametrize("op,pos", [("groupnorm", (3,)), ("layernorm", ())])
@pytest.mark.parametrize("shape", [(6,), (6, 11), (12, 5, 5), (6, 3, 3, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_and_layer_norm_count_their_affine_parameters(op, pos, shape, affine):
    params, trainable, macs, module, _ = layer(op, shape, *pos, affine=affine)
    assert params == trainable == sum(p.numel() for p in module.parameters()) == (2 * shape[0] if affine else 0)
    assert macs == 0
    summary = torchinfo.summary(module, input_size=(2, *shape), verbose=0)
    assert summary.total_params == params


@counts("channel_linear")
@pytest.mark.parametrize("shape", [(6,), (6, 4, 3), (5, 2, 2, 3)])
@pytest.mark.parametrize("bias", [False, True])
def test_channel_linear_counts_weights_at_every_position(shape, bias):
    params, trainable, macs, module, out = layer("channel_linear", shape, 7, bias=bias)
    assert params == trainable == sum(p.numel() for p in module.parameters()) == 7 * shape[0] + (7 if bias else 0)
    assert macs == math.prod(shape[1:]) * 7 * shape[0]
    # torchinfo counts an nn.Linear's parameters once per sample, whatever the positions.
    assert torchinfo_macs(module, shape) == params


def test_every_op_has_its_counts_checked():
    missing = sorted(set(ops.OPS) - {n for n, s in ops.OPS.items() if s.expression is not None} - COUNTED)
    # merges are expressions, not modules
    assert not missing, f"no test here checks the counts of {missing}: add one, marked @counts"


@counts("crop")
def test_crop_counts_nothing():
    # Two inputs (the tensor and the one whose size it takes), so torchinfo gets both.
    from archlang.values import TensorRef

    args = ops.bind("crop", [(TensorRef("u", (4, 6, 6)), None)], [], None, Collector())
    out, _ = ops.infer("crop", [(4, 10, 8), (4, 6, 6)], args)
    assert ops.OPS["crop"].count([(4, 10, 8), (4, 6, 6)], out, args) == (0, 0, 0)
    cls, kwargs = ops.OPS["crop"].torch([(4, 10, 8), (4, 6, 6)], args)
    module = layer_class(cls)(**kwargs)
    assert sum(p.numel() for p in module.parameters()) == 0
    stats = torchinfo.summary(module, input_data=[torch.zeros(1, 4, 10, 8), torch.zeros(1, 4, 6, 6)], verbose=0)
    assert stats.total_mult_adds == 0 and stats.total_params == 0


@counts("parameter")
@pytest.mark.parametrize("shape,given", [((6, 4, 4), "[in.c, 1, 1]"), ((6, 4, 4), "[6, 4, 4]"), ((5,), "5")])
def test_a_parameter_counts_its_elements_as_trainable_and_no_macs(shape, given):
    import archlang

    text = (f"block Scale {{\n    scale = parameter({given}, fill=0.5)\n    mul(scale, in)\n}}\n"
            f"network N {{\n    input {list(shape)}\n    Scale\n}}\n")
    graph = archlang.load(text).network()
    module = archlang.compile(text)
    (node,) = [n for n in graph.nodes if n.op == "parameter"]
    elements = math.prod(node.shape)
    assert (node.params, node.trainable_params, node.macs) == (elements, elements, 0)
    assert graph.params_total == sum(p.numel() for p in module.parameters() if p.requires_grad) == elements
    summary = torchinfo.summary(module, input_size=(2, *shape), verbose=0)
    assert (summary.total_params, summary.total_mult_adds) == (elements, 0)
