"""A block that gives several tensors (`output low, high` in its body), bound by its caller
(`low, high = stem: Two(4)`), through every path: values, the built file, onnxruntime, the
table and JSON, check, and the errors.

The oracle for values is torch's functional ops on the compiled module's own parameters;
the metamorphic property: the call equals the block's body written inline.
"""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch
import torch.nn.functional as F

import archlang
from archlang.backends import onnx as onnx_backend, torch_source
from archlang.backends.table import render, to_json
from archlang.commands.check import summary

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BLOCK = """
block Two(c) {
    a = conv(c, k=3, p=1) relu
    b = a -> conv(2 * c, k=3, s=2, p=1) bn
    output a, b
}
"""

CALLED = BLOCK + """
network Net {
    input x: [3, H, W]
    low, high = stem: Two(4)
    up = high -> head: conv(4, k=1) resize(like=low)
    y = add(up, low) -> relu
    output y, high
}
"""

# The same network with Two's body written where it was called, in a group `stem` (the same
# module names); `low` and `high` are its tensors.
INLINE = """
network Net {
    input x: [3, H, W]
    low = stem: x -> conv1: conv(4, k=3, p=1) relu1: relu
    high = stem2: low -> conv2: conv(8, k=3, s=2, p=1) bn1: bn
    up = high -> head: conv(4, k=1) resize(like=low)
    y = add(up, low) -> relu
    output y, high
}
"""


def expected(module, x):
    """Net by hand: torch's functional ops on the module's own parameters and buffers (eval mode)."""
    p = dict(module.state_dict())
    a = F.relu(F.conv2d(x, p["stem.conv1.weight"], p["stem.conv1.bias"], padding=1))
    b = F.conv2d(a, p["stem.conv2.weight"], p["stem.conv2.bias"], stride=2, padding=1)
    b = F.batch_norm(b, p["stem.bn1.running_mean"], p["stem.bn1.running_var"], p["stem.bn1.weight"],
                     p["stem.bn1.bias"], training=False, eps=1e-5)
    up = F.interpolate(F.conv2d(b, p["head.weight"], p["head.bias"]), size=a.shape[-2:], mode="bilinear",
                       align_corners=False)
    return F.relu(up + a), b


def randomised(module):
    """Batch norm's statistics away from 0 and 1, so a wrong buffer shows."""
    g = torch.Generator().manual_seed(3)
    for name, buffer in module.named_buffers():
        if name.endswith("running_mean"):
            buffer.copy_(torch.randn(buffer.shape, generator=g))
        elif name.endswith("running_var"):
            buffer.copy_(torch.rand(buffer.shape, generator=g) + 0.5)
    return module.eval()


def test_values_through_compile_and_the_built_file_equal_torchs_ops(tmp_path):
    module = randomised(archlang.compile(CALLED, input=[3, 10, 14]))
    assert type(module.stem).__bases__ == (torch.nn.Module,)   # it returns a tuple: no nn.Sequential
    x = torch.randn(2, 3, 10, 14, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = expected(module, x)
        for got, value in zip(module(x), want):
            torch.testing.assert_close(got, value)
        graph = archlang.load(CALLED).network(input=[3, 10, 14])
        source = torch_source.generate(graph)
        assert "        low, high = self.stem(x)" in source and "        return x, out" in source
        path = tmp_path / "net.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("built_two", path)
        built = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(built)
        other = built.Net().eval()
        other.load_state_dict(module.state_dict(), strict=True)
        for got, value in zip(other(x), want):
            torch.testing.assert_close(got, value)


def test_onnx_export_gives_the_same_values(tmp_path):
    graph = archlang.load(CALLED).network(input=[3, 10, 14])
    module = randomised(archlang.compile(CALLED, input=[3, 10, 14]))
    exported = onnx_backend.export(graph, tmp_path / "m.onnx", module=module)   # verified in onnxruntime
    assert exported.verification.ok
    session = onnx_backend.session(tmp_path / "m.onnx")
    x = torch.randn(1, 3, 10, 14, generator=torch.Generator().manual_seed(5))
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        for value, want in zip(got, expected(module, x)):
            torch.testing.assert_close(torch.from_numpy(value), want, rtol=1e-4, atol=1e-5)


def test_a_call_equals_the_block_written_inline():
    called = archlang.compile(CALLED, input=[3, 9, 11])
    inline = archlang.compile(INLINE, input=[3, 9, 11])
    # The same parameters under the same module paths once the inline groups' names are mapped.
    state = randomised(called).state_dict()
    inline.load_state_dict({key: state[key.replace("stem2.", "stem.")] for key in inline.state_dict()}, strict=True)
    inline.eval()
    # Values from a tiny domain, so that equal values (ties, zeros after relu) occur.
    x = torch.randint(-2, 3, (3, 3, 9, 11)).float()
    with torch.no_grad():
        for a, b in zip(called(x), inline(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_the_table_json_and_check_show_the_results():
    graph = archlang.load(CALLED).network()
    stem = next(line for line in render(graph).splitlines() if line.startswith("stem "))
    assert "a [4, H, W], b [8, (H - 1) // 2 + 1, (W - 1) // 2 + 1]" in stem
    data = to_json(graph)
    row = next(r for r in data["layers"] if r["name"] == "stem")
    assert row["results"] == [{"name": "a", "shape": [4, "H", "W"]},
                              {"name": "b", "shape": [8, "(H - 1) // 2 + 1", "(W - 1) // 2 + 1"]}]
    assert row["output"] == row["results"][-1]["shape"]
    assert json.loads(json.dumps(data)) == data
    assert summary(graph).startswith("Net: [3, H, W] -> (y: [4, H, W], high: [8, (H - 1) // 2 + 1, (W - 1) // 2 + 1])")
    assert archlang.check(CALLED) == []


def test_one_output_in_a_block_gives_that_tensor():
    spec = "block B {\n    a = conv(4, k=1)\n    relu\n    output a\n}\nnetwork N {\n    input [3, 4, 4]\n    B\n}\n"
    graph = archlang.load(spec).network()
    assert graph.nodes[graph.outputs[0].node].name == "b1.conv1"


ERRORS = [
    ("Two(2) relu", "block Two gives 2 tensors (a, b), but one is expected here", (12, 5)),
    ("Two(2)", "block Two gives 2 tensors (a, b), but one is expected here", (12, 5)),
    ("add { | Two(2) | conv(4, k=3, s=2, p=1) }", "block Two gives 2 tensors (a, b), but one is expected here",
     (12, 13)),
    ("p, q, r = Two(2)", "3 names are bound, but block Two gives 2 tensors (a, b)", (12, 15)),
    ("p, q = One", "2 names are bound, but block One gives one tensor", (12, 12)),
]


@pytest.mark.parametrize("text,message,where", ERRORS)
def test_a_count_that_differs_is_e218_at_the_call(text, message, where):
    spec = BLOCK + f"block One {{\n    conv(4, k=1)\n}}\nnetwork N {{\n    input [3, 8, 8]\n    {text}\n}}\n"
    errors = [d for d in archlang.check(spec) if d.is_error]
    assert [(d.code, d.message) for d in errors] == [("E218", message)]
    span = errors[0].span
    assert (span.line, span.col) == where


@pytest.mark.parametrize("text,message", [
    ("output out: a", "a block's output takes no key"),
    ("output a if training", "a block's output takes no `if training`"),
])
def test_keys_and_training_stay_a_networks(text, message):
    spec = f"block B {{\n    a = conv(4, k=1)\n    {text}\n}}\nnetwork N {{\n    input [3, 8, 8]\n    B\n}}\n"
    errors = [d for d in archlang.check(spec) if d.is_error]
    assert [(d.code, d.message.split(":")[0]) for d in errors] == [("E218", message)]
    assert errors[0].span.line == 3


def test_a_block_may_give_a_parameter_it_declares():
    spec = """
block Gate {
    s = parameter([4, 1, 1], fill=0.5)
    y = conv(4, k=1)
    output s, y
}

network N {
    input [3, 5, 5]
    s, y = Gate
    mul(y, s)
}
"""
    module = archlang.compile(spec)
    p = dict(module.state_dict())
    x = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(module(x), F.conv2d(x, p["gate1.conv1.weight"], p["gate1.conv1.bias"]) * p["gate1.s"])
    # the call's comment: a parameter has no batch
    assert "s, y = self.gate1(x)  # (4, 1, 1), (N, 4, 5, 5)" in torch_source.generate(archlang.load(spec).network())
