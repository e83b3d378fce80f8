"""`parameter`: a learnable tensor a block declares, as nn.Module declares an nn.Parameter.

Its state_dict key is its binding's name under the block's path, and nn.Module
lists a module's own parameters before its submodules': every backend must
name and order the keys as the module PyTorch builds does. Generated code
reads it where it is used and never writes into it.
"""
from __future__ import annotations

import pytest
import torch

import archlang
from archlang.backends import onnx_emit
from archlang.backends.torch_source import generate

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The parameters declared after the layer they scale, and one in the network itself.
SPEC = """\
block Scaled(c) {
    y = in -> block: conv(c, k=3, p=1)
    gamma = parameter([c, 1, 1], fill=0.5)
    shift = parameter([c, 4, 4])
    z = mul(y, gamma)
    add(shift, z)
}
network Net {
    input x: [3, 4, 4]
    stem: conv(4, k=1)
    "0": Scaled(4)
    scale = parameter([4, 1, 1], fill=2.0)
    mul(scale, cur)
}
"""


def by_hand() -> torch.nn.Module:
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.block = torch.nn.Conv2d(4, 4, 3, padding=1)
            self.gamma = torch.nn.Parameter(torch.full((4, 1, 1), 0.5))
            self.shift = torch.nn.Parameter(torch.zeros(4, 4, 4))

        def forward(self, x):
            return self.shift + self.block(x) * self.gamma

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Conv2d(3, 4, 1)
            self.add_module("0", Scaled())
            self.scale = torch.nn.Parameter(torch.full((4, 1, 1), 2.0))

        def forward(self, x):
            return self.scale * getattr(self, "0")(self.stem(x))

    return Net()


def test_keys_order_and_values_are_pytorchs():
    ours, theirs = archlang.compile(SPEC), by_hand()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "scale", "stem.weight", "stem.bias", "0.gamma", "0.shift", "0.block.weight", "0.block.bias"]
    fresh = ours.state_dict()
    assert torch.equal(fresh["0.gamma"], torch.full((4, 1, 1), 0.5)) and torch.equal(fresh["0.shift"], torch.zeros(4, 4, 4))
    theirs.state_dict()["0.shift"].normal_()  # the additive one away from zero, so a lost add shows
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(ours(x), theirs(x))


def test_onnx_declares_the_same_keys_in_the_same_order():
    graph = archlang.load(SPEC).network()
    lowered = onnx_emit.lower(graph, opset=17)
    assert list(lowered.params) == list(archlang.compile(SPEC).state_dict())   # in state_dict order


def test_generated_code_reads_the_parameter_and_never_writes_into_it():
    source = generate(archlang.load(SPEC).network())
    assert "self.gamma = nn.Parameter(torch.full((c, 1, 1), 0.5))" in source
    assert "self.shift = nn.Parameter(torch.full((c, 4, 4), 0.0))" in source
    assert "self.shift +=" not in source and "self.shift =" not in source.split("def forward")[1]
    model = archlang.compile(SPEC).train()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    model(torch.randn(2, 3, 4, 4)).sum().backward()
    assert all(torch.equal(before[k], v) for k, v in model.named_parameters())
    assert all(p.grad is not None for p in model.parameters())
