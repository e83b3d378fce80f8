"""`archlang diff` (archlang/diff.py, archlang/commands/diff.py).

Oracles: torchvision's own ResNet-18 and ResNet-34 (the parameter difference
and the added blocks' parameters), each side's `archlang shapes --format json`
(the totals), and metamorphic properties: swapping the sides negates every
delta and turns added into removed; a layer inserted in the middle is one
added row and nothing else; the deltas of the rows that are not inside
another shown row add up to the total.
"""
from __future__ import annotations

import json

import pytest

import archlang
from archlang import diff

RESNETS = ("specs/tv_resnet18.arch", "specs/tv_resnet34.arch")


def _json(cli, *argv) -> dict:
    result = cli("diff", *argv, "--format", "json")
    assert result.code == 0, result
    return json.loads(result.out)


def test_resnet18_to_34_adds_the_blocks_and_torchvisions_parameters(cli):
    torchvision = pytest.importorskip("torchvision")
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        r18, r34 = torchvision.models.resnet18(), torchvision.models.resnet34()
    count = lambda m: sum(p.numel() for p in m.parameters())   # noqa: E731
    out = _json(cli, *RESNETS)
    assert out["totals"]["params"]["delta"] == count(r34) - count(r18) == 10_108_160
    added = [r["b"]["name"] for r in out["rows"] if r["change"] == "added"]
    assert added == ["layer1.basicblock3", "layer2.basicblock3", "layer2.basicblock4", "layer3.basicblock3",
                     "layer3.basicblock4", "layer3.basicblock5", "layer3.basicblock6", "layer4.basicblock3"]
    for row in out["rows"]:
        if row["change"] == "added":   # layerN.basicblockK is torchvision's layerN[K - 1]
            layer, block = row["b"]["name"].split(".")
            module = getattr(r34, layer)[int(block.removeprefix("basicblock")) - 1]
            assert row["delta"]["params"] == count(module)
    assert {r["b"]["name"] for r in out["rows"] if r["change"] == "changed"} == {"layer1", "layer2", "layer3",
                                                                                    "layer4"}
    text = cli("diff", *RESNETS)
    assert "Params: 11,689,512 -> 21,797,672 (+10,108,160, x1.86)" in text.out
    assert sum(line.startswith("+    basicblock") for line in text.out.splitlines()) == 8


def test_totals_are_each_sides_shapes_totals(cli):
    out = _json(cli, *RESNETS, "--batch", "3")
    for side, spec in zip("ab", RESNETS):
        shapes = json.loads(cli("shapes", spec, "--format", "json", "--train", "--batch", "3").out)
        for key in ("params", "macs", "flops"):
            assert out["totals"][key][side] == shapes[key], key
        for key in ("activations_saved", "peak_estimate"):
            assert out["totals"][key][side] == shapes["memory"][key], key


def _sides(text_a: str, text_b: str) -> tuple[diff.Side, diff.Side]:
    return (diff.Side.of("A", archlang.load(text_a).network()), diff.Side.of("B", archlang.load(text_b).network()))


A = "network N { input [3, 16, 16]\n conv(8, k=3, p=1) relu conv(8, k=3, p=1) relu gap flatten linear(4) }"
B = "network N { input [3, 16, 16]\n conv(8, k=3, p=1) relu bn conv(8, k=5, p=2) relu gap flatten linear(4) }"


def test_an_inserted_layer_is_one_added_row_and_a_replaced_one_a_change():
    a, b = _sides(A, B)
    changes = [(c.kind, c.row.name) for c in diff.compare(a, b).changes if c.kind != "same"]
    assert changes == [("added", "bn1"), ("changed", "conv2")]


@pytest.mark.parametrize("pair", [(A, B), RESNETS], ids=["small", "resnets"])
def test_swapping_sides_negates_every_delta(pair):
    if pair == RESNETS:
        a, b = (diff.Side.of(p, archlang.load(p).network(), batch=2) for p in pair)
    else:
        a, b = _sides(*pair)
    forward, backward = diff.compare(a, b), diff.compare(b, a)
    flip = {"added": "removed", "removed": "added", "changed": "changed", "same": "same"}
    assert [(flip[c.kind], c.row.name) for c in forward.changes] == [(c.kind, c.row.name) for c in backward.changes]
    for f, r in zip(forward.changes, backward.changes):
        assert all(f.delta(k) == -r.delta(k) for k in diff.FIELDS)
    # the rows at the top level (every layer is under one) add up to the totals
    for key, total in (("params", "params"), ("macs", "macs")):
        top = sum(c.delta(key) for c in forward.changes if c.row.level == 0)
        assert top == forward.totals()[total][1] - forward.totals()[total][0]


def test_two_networks_of_one_file_and_a_set_given_twice(cli):
    out = _json(cli, "specs/resnet18.arch", "--set", "classes=10", "--set", "classes=100")
    (row,) = out["rows"]
    assert (row["change"], row["a"]["call"], row["b"]["call"]) == ("changed", "linear(10)", "linear(100)")
    assert out["totals"]["params"]["delta"] == 512 * 90 + 90
    assert out["a"]["title"].endswith("(classes=10)") and out["b"]["title"].endswith("(classes=100)")
    two = _json(cli, "specs/d2l_blocks.arch", "-n", "ResidualHalves", "-n", "DenseAndTransition", "--all")
    assert (two["a"]["network"], two["b"]["network"]) == ("ResidualHalves", "DenseAndTransition")
    markdown = cli("diff", "specs/resnet18.arch", "--set", "classes=10", "--set", "classes=100", "-f", "markdown")
    assert "| changed | fc | linear(10) -> linear(100) | [10] -> [100] | +46.2K | +46.1K | -- |" in markdown.out


@pytest.mark.parametrize("argv, message", [
    (["specs/lenet.arch"], "nothing to compare"),
    (["specs/lenet.arch", "specs/lenet.arch", "specs/lenet.arch"], "two networks"),
    (["specs/resnet18.arch", "--set", "classes=1", "--set", "classes=2", "--set", "classes=3"], "given 3 times"),
    (["specs/d2l_blocks.arch", "specs/lenet.arch"], "holds several networks"),
])
def test_usage_errors(cli, argv, message):
    result = cli("diff", *argv)
    assert result.code == 2 and message in result.err and "Traceback" not in result.err, result


def test_a_spec_with_errors_is_exit_1(cli, tmp_path):
    bad = tmp_path / "bad.arch"
    bad.write_text("network N { input [3, 8, 8]\n conv(4, k=9) }\n")
    result = cli("diff", "specs/lenet.arch", bad)
    assert result.code == 1 and "E3" in result.err, result
