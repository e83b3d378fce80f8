"""Receptive fields and strides (archlang/receptive.py) against gradients computed with torch.

The oracle is the reference interpreter of the IR (tests/oracle) with every
weight positive, in float64: the input pixels a unit depends on are exactly
those where the gradient of that unit is not zero. Its nonlinear steps are
replaced by what keeps dependence visible: activations and the statistics of
norm layers by the identity (a ReLU could zero a gradient; the field of a
norm layer is per position by definition), max pooling by average pooling of
the same geometry (a max sends its gradient to one element of the window),
softmax by a sum over its dimension (of one channel it is constant).
Checked for every node with spatial sizes, at its first and last unit and
units around the centre: the exact extents (`receptive.extents`: borders
cut, a unit reading only padding sees nothing) equal the gradient's, and the
field the columns show (`receptive.fields`: dilation spreads it, padding
moves it, merges take the largest) equals them where it lies inside the
input. On small specs, hand-made cases of every op that reads positions,
and generated programs (tests/oracle/generator.py).
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import archlang  # noqa: E402
from archlang import ops, receptive  # noqa: E402
from oracle import interpreter  # noqa: E402
from oracle.differential import write  # noqa: E402
from oracle.generator import generate  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parent.parent
IDENTITY = interpreter.Rule(interpreter._none, lambda xs, args, p, training: xs[0])
KEEPS_POSITIONS = ("relu", "relu6", "sigmoid", "tanh", "gelu", "hardswish", "hardsigmoid", "silu", "elu",
                   "leaky_relu", "groupnorm", "layernorm", "lrn", "scale_shift", "dropout", "stochastic_depth")


@pytest.fixture
def dependence(monkeypatch):
    """An interpreter whose gradients show which inputs each value depends on."""
    for op in KEEPS_POSITIONS:
        monkeypatch.setitem(interpreter.RULES, op, IDENTITY)
    monkeypatch.setitem(interpreter.RULES, "maxpool", interpreter.Rule(interpreter._none,
                                                                        interpreter._pool(interpreter._AVG)))
    # softmax mixes dim 1 (a softmax of one channel is constant: its gradient would vanish)
    monkeypatch.setitem(interpreter.RULES, "softmax", interpreter.Rule(
        interpreter._none, lambda xs, args, p, training: xs[0] + xs[0].sum(dim=1, keepdim=True)))

    def make(graph):
        interp = interpreter.Interpreter(graph, seed=0)
        gen = torch.Generator().manual_seed(1)
        declared = {n.name for n in graph.nodes if n.op != "input" and ops.OPS[n.op].parameter}
        for key, value in interp.tensors.items():
            if not value.is_floating_point():
                continue
            if key in declared:   # a parameter of 0 would hide what a mul by it reads
                value.fill_(1.0)
                continue
            if key.endswith(".weight") and value.dim() > 1:
                fan_in = math.prod(value.shape[1:])
                value.copy_((0.5 + 0.5 * torch.rand(value.shape, generator=gen, dtype=value.dtype)) / fan_in)
            else:   # biases, shifts, means 0; scales and variances 1: batch norm is the identity
                value.fill_(1.0 if key.endswith(("running_var", ".weight")) else 0.0)
        return interp
    return make


def check_fields(graph, interp, max_nodes: int | None = None) -> int:
    """Compare the fields of every spatial node with the gradients of a few of its units (the
    first, those around the centre, the last); returns how many units were checked."""
    fields, exact = receptive.fields(graph), receptive.extents(graph)
    inputs = [x.abs().add(0.5).requires_grad_(True) for x in interp.inputs(batch=1)]
    trace = interp.run(inputs, training=False)
    gen = torch.Generator().manual_seed(2)
    checked = nodes = 0
    for node in graph.nodes:
        value = trace.values[node.id]
        if node.op != "input" and ops.OPS[node.op].parameter:   # it reads no input: no field, no extent
            assert fields[node.id] == {} and exact[node.id] == {}, node.name
            continue
        if node.op == "input" or value.dim() < 3:
            continue
        nodes += 1
        periods = [a.period for f in fields[node.id].values() if f != receptive.EVERY for a in f]
        sizes = value.shape[2:]
        units = {tuple(0 for _ in sizes), tuple(n - 1 for n in sizes)}
        units |= {tuple(min(n - 1, n // 2 + step) for n in sizes) for step in range(max(periods, default=1))}
        for unit in sorted(units):
            weights = 0.5 + torch.rand(value.shape[1], generator=gen, dtype=value.dtype)
            grads = torch.autograd.grad((value[(0, slice(None), *unit)] * weights).sum(), inputs,
                                        retain_graph=True, allow_unused=True)
            for port, grad in zip(graph.inputs, grads):
                _compare(node.name, unit, port, grad, exact[node.id].get(port.node), fields[node.id].get(port.node))
            checked += 1
        if max_nodes is not None and nodes >= max_nodes:
            break
    return checked


def _compare(name: str, unit: tuple, port, grad, exact, field) -> None:
    where = f"{name}, unit {unit}, on {port.name}"
    seen = grad is not None and bool(grad.ne(0).any())
    if exact is None:
        assert not seen and field is None, f"{where}: the gradient sees the input"
        return
    if exact == receptive.EVERY:     # mixes every position (a unit after it may still read only padding)
        assert field == receptive.EVERY, where
        return
    spans = [axis[at] for axis, at in zip(exact, unit)]
    assert seen == all(span is not None for span in spans), f"{where}: gradient {seen}, extents {spans}"
    if not seen:
        return
    touched = grad[0].ne(0).any(dim=0)          # over channels: [*spatial]
    for axis, span in enumerate(spans):
        others = tuple(d for d in range(touched.dim()) if d != axis)
        idx = (touched.any(dim=others) if others else touched).nonzero().flatten().tolist()
        assert (idx[0], idx[-1]) == span, f"{where}, axis {axis}: gradient on {idx[0]}..{idx[-1]}, extent {span}"
        # a unit whose field lies inside the input sees exactly its field (the column's rf)
        region = field[axis].region(unit[axis])
        if region is not None and 0 <= region[0] and region[1] < touched.shape[axis]:
            assert region == span, f"{where}, axis {axis}: field {region}, extent {span}"


# -- hand-made cases: each op that reads positions, and merges ------------------------------------------

CASES = {
    "dilation and padding": "input [1, 24, 24]\n conv(2, k=3, p=2, d=2) conv(2, k=3, s=2) conv(2, k=5, p=1, d=3)",
    "asymmetric kernels": "input [1, 20, 24]\n conv(2, k=[3, 1], p=[1, 0]) maxpool([2, 3], s=[2, 1]) conv(2, k=[1, 5])",
    "same padding, even kernel": 'input [1, 20, 20]\n conv(2, k=4, p="same") conv(2, k=2, d=3, p="same")',
    "pooling, ceil mode": "input [1, 23, 23]\n maxpool(3, s=2, p=1, ceil=true) avgpool(2, ceil=true) conv(2, k=3)",
    "a merge takes the largest": "input [1, 24, 24]\n conv(2, k=1)\n concat { | conv(2, k=5, p=2) | conv(2, k=1) "
                                 "| maxpool(3, s=1, p=1) conv(2, k=3, p=3, d=3) }\n add { | conv(6, k=3, p=1) | identity }",
    "transposed": "input [1, 8, 8]\n conv_transpose(2, k=3, s=2) conv_transpose(2, k=4, s=2, p=1, d=2) conv(2, k=3)",
    "upsampling": 'input [1, 8, 8]\n upsample(2) conv(2, k=3) upsample(1.5, mode="bilinear") conv(2, k=3, s=2) '
                  'upsample(2, mode="bicubic")',
    "downsampling by a fraction": "input [1, 24, 24]\n upsample(0.5) conv(2, k=3) upsample(3)",
    "adaptive pooling": "input [1, 19, 17]\n conv(2, k=3) adaptive_avgpool([5, 4]) conv(2, k=2)",
    "1d and features": "input [2, 30]\n conv(3, k=5, s=2) maxpool(2) flatten linear(4)",
    "3d": "input [1, 9, 10, 11]\n conv(2, k=3, p=1, s=[1, 2, 2]) maxpool([1, 2, 2])",
    "two inputs": "input a: [1, 16, 16]\n input b: [1, 8, 8]\n t = a -> conv(2, k=3, s=2, p=1)\n "
                  "cat(t, b) conv(2, k=3)",
    "global": "input [1, 12, 12]\n conv(2, k=3) gap conv(2, k=1)",
}


@pytest.mark.parametrize("body", CASES.values(), ids=CASES.keys())
def test_fields_match_gradients_on_hand_made_cases(dependence, body):
    graph = archlang.load(f"network Case {{\n {body}\n}}\n").network()
    assert check_fields(graph, dependence(graph)) > 0


SMALL_SPECS = [("lenet.arch", None, {}), ("lenet_bn.arch", None, {}), ("d2l_blocks.arch", "ResidualHalves", {}),
               ("d2l_blocks.arch", "DenseAndTransition", {}), ("resnet18.arch", None, {"size": 64})]


@pytest.mark.parametrize("name, network, params", SMALL_SPECS, ids=[f"{s[0]}:{s[1] or ''}" for s in SMALL_SPECS])
def test_fields_match_gradients_on_small_specs(dependence, name, network, params):
    graph = archlang.load(ROOT / "specs" / name).network(network, **params)
    assert check_fields(graph, dependence(graph), max_nodes=40) > 0


@pytest.mark.parametrize("chunk", range(2))
def test_fields_match_gradients_on_generated_programs(dependence, tmp_path, chunk):
    checked = 0
    for seed in range(chunk, 60, 2):
        case = generate(seed)
        if case.error is not None:
            continue
        path = write(case.files, tmp_path / str(seed))
        graph = archlang.load(path).network(case.network, input=case.input, **case.params)
        checked += check_fields(graph, dependence(graph), max_nodes=30)
    assert checked > 50


def test_known_fields():
    """Textbook values: AlexNet's conv5 sees 163 pixels at stride 16; ResNet-18's last block 435 at 32."""
    alexnet = archlang.load("network A { input [3, 224, 224]\n conv(64, k=11, s=4, p=2) maxpool(3, s=2) "
                            "conv(192, k=5, p=2) maxpool(3, s=2) conv(384, k=3, p=1) conv(256, k=3, p=1) "
                            "conv(256, k=3, p=1) }").network()
    last = receptive.summaries(alexnet)[alexnet.nodes[-1].id]
    assert (last.sizes, last.strides) == ((163, 163), (16, 16))
    resnet = archlang.load(ROOT / "specs" / "tv_resnet18.arch").network()
    last_of_block = [n for n in resnet.nodes if n.name.startswith("layer4.basicblock2.")][-1]
    block = receptive.summaries(resnet)[last_of_block.id]
    assert (block.rf_text, block.stride_text) == ("435", "32")


def test_shapes_columns_rf_and_stride(cli):
    result = cli("shapes", "specs/lenet.arch", "--columns", "rf,stride")
    assert result.code == 0, result
    header = result.out.splitlines()[2].split()
    assert header[-2:] == ["RF", "Stride"]
    pool = next(line for line in result.out.splitlines() if line.startswith("avgpool2"))
    assert pool.split()[-2:] == ["16", "4"]
    fc = next(line for line in result.out.splitlines() if line.startswith("linear1"))
    assert fc.split()[-1] == "all"


def test_every_op_of_the_table_on_its_memory_case(dependence):
    """Each op's `reads` against the gradient, on the small case tests/test_memory.py keeps for
    every op of the table (a new op without one fails there)."""
    from test_memory import CASES, case_spec

    for op in sorted(CASES):
        for case in CASES[op]:
            graph = archlang.load(case_spec(case)).network()
            check_fields(graph, dependence(graph))
