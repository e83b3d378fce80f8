"""The oracle's own checks: it knows every op, and it computes what hand-written PyTorch computes.

The reference interpreter (tests/oracle/interpreter.py) judges `compile`,
`build` and onnxruntime, so it is checked here against torch.nn written by
hand (d2l's LeNet with batch norm, weights copied by position), in eval and
training mode, and a new op in the table fails here until the interpreter
and the generator know it.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import archlang
from archlang import ops
from oracle import generator, model
from oracle.interpreter import RULES, Interpreter

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parent.parent


def test_the_interpreter_runs_every_op_of_the_table():
    assert set(ops.OPS) - set(RULES) == set(), "add the op to tests/oracle/interpreter.py (RULES)"


def test_the_generator_draws_every_layer_of_the_table():
    layers = {name for name, spec in ops.OPS.items() if not spec.merge}
    assert layers - set(generator.OPS_KNOWN) == set(), \
        "add the op to tests/oracle/generator.py (op_values) and its shape rule to tests/oracle/model.py (infer)"


def lenet_bn() -> nn.Sequential:
    """d2l 7.5, as the notes write it."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(), nn.Linear(84, 10)).double()


@pytest.mark.parametrize("training", [False, True])
def test_lenet_bn_as_the_notes_write_it(training):
    graph = archlang.load(ROOT / "specs" / "lenet_bn.arch").network()
    interp = Interpreter(graph, seed=3)
    net = lenet_bn()
    net.load_state_dict(dict(zip(net.state_dict(), interp.state_dict().values())), strict=True)
    net.train(training)
    x = interp.inputs(batch=4)[0]
    want = net(x)
    got = interp.run([x], training=training).outputs[0]
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    # in training, the running statistics moved the same way
    for theirs, ours in zip(net.state_dict().values(), interp.tensors.values()):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)


def test_parameter_counts_are_the_tensors():
    graph = archlang.load(ROOT / "specs" / "lenet_bn.arch").network()
    interp = Interpreter(graph)
    assert sum(interp.params_of(n) for n in graph.nodes) == sum(p.numel() for p in lenet_bn().parameters())


def test_the_model_knows_what_the_prelude_says():
    # The model's transcription of the prelude (model.PRELUDE) against archlang's prelude.arch,
    # layer by layer, for each block at one call.
    calls = {"dense": "dense(2, 3)", "transition": "transition(2)", "inception": "inception(1, [2, 3], [1, 2], 2)"}
    assert set(calls) == set(model.PRELUDE)
    for name, call in calls.items():
        spec = f"network N {{\n    input x: [3, 6, 6]\n    {call}\n}}\n"
        graph = archlang.load(spec).network()
        program = model.Program([], [], "N", [], [model.Input("x", [3, 6, 6], [3, 6, 6]),
                                                 model.Layers([_parse_call(call)])])
        outcome = model.execute(program)
        assert outcome.error is None
        assert [(layer.op, layer.shape) for layer in outcome.layers] == [(n.op, tuple(n.shape)) for n in graph.nodes]


def _parse_call(text: str) -> model.BlockCall:
    name, _, rest = text.partition("(")
    values = eval("[" + rest[:-1] + "]")  # noqa: S307 - a literal written above
    return model.BlockCall(name, [model.Arg(None, model.Lit(v)) for v in values])
