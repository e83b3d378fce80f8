"""Outputs by key (a dict, as torchvision's segmentation models return) and outputs only in
training (googlenet's and inception_v3's aux heads), through every path.

The oracle for values is torch's functional ops on the compiled module's own
parameters; for what eval mode runs, a forward hook on the aux head.
"""
from __future__ import annotations

import json

import onnx
import pytest
import torch
import torch.nn.functional as F

import archlang
from archlang.backends import onnx as onnx_backend
from archlang.backends.graphviz import to_dot
from archlang.backends.table import render, to_json
from archlang.commands.check import summary

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPEC = """
network Aux {
    input x: [3, 12, 12]
    f = x -> conv(8, k=3, p=1) relu
    a1 = aux1: f -> gap flatten linear(5)
    y = f -> conv(6, k=3, s=2, p=1) relu gap flatten linear(4)
    output y, a1 if training
}

network Seg {
    input x: [3, H, W]
    f = x -> conv(8, k=3, s=2, p=1) relu
    o = f -> conv(4, k=1) resize(like=x)
    a = f -> conv(2, k=1) resize(like=x)
    output out: o, aux: a
}
"""


def params(module) -> dict:
    return dict(module.state_dict())


def test_a_training_output_is_returned_in_training_and_its_head_skipped_in_eval():
    module = archlang.compile(SPEC, "Aux")
    p = params(module)
    x = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    f = F.relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=1))
    aux = F.linear(f.mean((2, 3)), p["aux1.linear1.weight"], p["aux1.linear1.bias"])
    y = F.conv2d(f, p["conv2.weight"], p["conv2.bias"], stride=2, padding=1)
    y = F.linear(F.relu(y).mean((2, 3)), p["linear1.weight"], p["linear1.bias"])
    calls = []
    module.aux1.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        got_y, got_aux = module.train()(x)
        torch.testing.assert_close(got_y, y)
        torch.testing.assert_close(got_aux, aux)
        assert calls == [1]
        torch.testing.assert_close(module.eval()(x), y)     # a tensor, not a tuple
    assert calls == [1]                                      # eval mode never ran the aux head


def test_keyed_outputs_are_a_dict_in_both_modes():
    module = archlang.compile(SPEC, "Seg", input=[3, 10, 14])
    p = params(module)
    x = torch.randn(2, 3, 10, 14, generator=torch.Generator().manual_seed(1))
    f = F.relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"], stride=2, padding=1))
    head = lambda name: F.interpolate(F.conv2d(f, p[f"{name}.weight"], p[f"{name}.bias"]), size=(10, 14),  # noqa: E731
                                      mode="bilinear", align_corners=False)
    with torch.no_grad():
        for mode in (True, False):
            out = module.train(mode)(x)
            assert list(out) == ["out", "aux"]
            torch.testing.assert_close(out["out"], head("conv2"))
            torch.testing.assert_close(out["aux"], head("conv3"))


def test_the_table_json_and_check_show_keys_and_training():
    graph = archlang.load(SPEC).network("Aux")
    aux_layers = {n.name for n in graph.nodes if n.id in graph.training_nodes}
    assert aux_layers == {"aux1.gap1", "aux1.flatten1", "aux1.linear1"}
    # MACs are inference's: the aux head's 8 * 5 are left out, and said below the table.
    assert graph.macs_total == sum(n.macs for n in graph.nodes) - 40
    table = render(graph)
    assert "aux1 (training)" in table and "  linear1 (training)" in table
    assert "Outputs only in training: a1; their layers add 40 MACs in training" in table
    data = to_json(graph)
    assert data["outputs"][1] == {"name": "a1", "shape": [5], "training": True}
    assert [(row["kind"], row["name"]) for row in data["layers"] if row.get("training")] == [
        ("block", "aux1"), ("layer", "aux1.gap1"), ("layer", "aux1.flatten1"), ("layer", "aux1.linear1")]
    assert json.loads(json.dumps(data)) == data
    assert summary(graph).startswith("Aux: [3, 12, 12] -> (y: [4], a1: [5] if training)")
    seg = archlang.load(SPEC).network("Seg")
    assert summary(seg).startswith("Seg: [3, H, W] -> {out: [4, H, W], aux: [2, H, W]}")
    assert [o["key"] for o in to_json(seg)["outputs"]] == ["out", "aux"]


def test_render_draws_training_only_layers_and_outputs_dashed():
    dot = to_dot(archlang.load(SPEC).network("Aux"))
    assert 'label="output a1 (training)"' in dot and 'style="dashed,filled"' in dot
    assert dot.count('style="rounded,dashed,filled"') == 3


@pytest.mark.parametrize("network,names", [("Aux", ["y"]), ("Seg", ["out", "aux"])])
def test_export_writes_eval_mode_with_the_keys_as_names(tmp_path, network, names):
    graph = archlang.load(SPEC).network(network, input=[3, 10, 14] if network == "Seg" else None)
    module = archlang.compile(SPEC, network, input=[3, 10, 14] if network == "Seg" else None)
    exported = onnx_backend.export(graph, tmp_path / "m.onnx", module=module)   # verified in onnxruntime
    assert exported.verification.ok
    model = onnx.load(tmp_path / "m.onnx")
    assert [o.name for o in model.graph.output] == names
    assert not any(i.name.startswith("aux1.") for i in model.graph.initializer)


@pytest.mark.parametrize("text,code,message", [
    ("output out: y, a", "E218", "some outputs have a key and some have none"),
    ("output y, a if eval", "E218", "an output's condition is `training`, not `eval`"),
    ("output y if training", "E218", "every output exists only in training"),
    ("output k: y, k: a", "E207", "the output key `k` is given twice"),
])
def test_outputs_that_cannot_be_returned_are_errors(text, code, message):
    spec = f"network N {{\n    input x: [3, 8, 8]\n    y = x -> conv(4, k=1)\n    a = x -> conv(2, k=1)\n    {text}\n}}\n"
    diagnostics = [d for d in archlang.check(spec) if d.is_error]
    assert len(diagnostics) == 1 and diagnostics[0].code == code and diagnostics[0].message.startswith(message)
