"""backends/table.py on hand-built graphs: rows, nesting, folding, marks, totals, numbers.

The graphs are built with ir.Graph directly, annotations written by hand, so
these tests pin the table backend alone; test_cli.py and the golden tables
cover it together with the front end.
"""
from __future__ import annotations

import csv
import io
import json

import pytest

from archlang.backends import table
from archlang.ir import Graph, Scope
from archlang.shapes import UNKNOWN
from archlang.source import Source

SRC = Source("net.arch", "network N {\n    input [3, 8, 8]\n    stage1: Stage(8)\n    flatten linear(4)\n}\n")
CONV_ARGS = {"out": 8, "k": 3, "s": 1, "p": 1, "d": 1, "groups": 1, "bias": True}


def span(line: int, col: int):
    start = SRC.offset(line, col)
    return SRC.span(start, start + 4)


def scope(graph: Graph, parent: Scope, path: str, block: str, call: str) -> Scope:
    s = Scope(path=path, block=block, call=call, span=span(3, 5), parent=parent)
    parent.children.append(s)
    return s


def nested_graph() -> Graph:
    """x -> stage1{ pair1{ conv1 relu1 } maxpool1 } -> flatten1 -> linear1."""
    g = Graph("N", {}, span(1, 1))
    x = g.add_node("input", {"shape": (3, 8, 8)}, (), span(2, 5), "x", g.root)
    x.shape = (3, 8, 8)
    g.inputs.append(_port("x", x.id))
    stage = scope(g, g.root, "stage1", "Stage", "Stage(8)")
    pair = scope(g, stage, "stage1.pair1", "Pair", "Pair(8)")
    stage.entry = pair.entry = x.id
    conv = _layer(g, "conv", CONV_ARGS, x.id, "stage1.pair1.conv1", pair, (8, 8, 8), params=224, macs=13824)
    relu = _layer(g, "relu", {}, conv.id, "stage1.pair1.relu1", pair, (8, 8, 8))
    pair.exit = relu.id
    pool = _layer(g, "maxpool", {"k": 2, "s": 2, "p": 0, "ceil": False}, relu.id, "stage1.maxpool1", stage,
                  (8, 4, 4))
    stage.exit = pool.id
    flat = _layer(g, "flatten", {}, pool.id, "flatten1", g.root, (128,))
    lin = _layer(g, "linear", {"out": 4, "bias": True}, flat.id, "linear1", g.root, (4,), params=516, macs=512)
    g.outputs.append(_port("y", lin.id))
    return g


def _port(name, node):
    from archlang.ir import Port
    return Port(name, node)


def _layer(g, op, args, src, name, sc, shape, params=0, macs=0):
    node = g.add_node(op, dict(args), (src,), span(4, 5), name, sc)
    node.shape, node.params, node.trainable_params, node.macs = shape, params, params, macs
    return node


def test_rows_nest_blocks_before_their_layers():
    got = [(r.kind, r.name, r.level) for r in table.rows(nested_graph())]
    assert got == [
        ("input", "x", 0),
        ("block", "stage1", 0),
        ("block", "stage1.pair1", 1),
        ("layer", "stage1.pair1.conv1", 2),
        ("layer", "stage1.pair1.relu1", 2),
        ("layer", "stage1.maxpool1", 1),
        ("layer", "flatten1", 0),
        ("layer", "linear1", 0),
    ]


def test_block_rows_carry_their_totals_and_exit_shape():
    rows = {r.name: r for r in table.rows(nested_graph())}
    stage, pair = rows["stage1"], rows["stage1.pair1"]
    assert (stage.params, stage.macs, stage.shape, stage.call) == (224, 13824, (8, 4, 4), "Stage(8)")
    assert (pair.params, pair.shape, pair.status) == (224, (8, 8, 8), "ok")


@pytest.mark.parametrize("depth, names", [
    (0, ["x", "stage1", "flatten1", "linear1"]),
    (1, ["x", "stage1", "stage1.pair1", "stage1.maxpool1", "flatten1", "linear1"]),
])
def test_depth_folds_deeper_blocks(depth, names):
    assert [r.name for r in table.rows(nested_graph(), depth)] == names


def test_failed_layer_is_marked_and_its_dependents_unknown():
    g = nested_graph()
    conv, relu = g.nodes[1], g.nodes[2]
    for node in g.nodes[1:]:
        node.shape, node.failed = UNKNOWN, True
    status = {r.name: r.status for r in table.rows(g)}
    assert status["stage1.pair1.conv1"] == "failed"
    assert status["stage1.pair1.relu1"] == "unknown"
    assert status["linear1"] == "unknown"
    assert status["stage1"] == "unknown"
    text = table.render_table(g)
    assert any(line.strip().startswith("conv1") and "error" in line for line in text.splitlines())
    assert any(line.strip().startswith("relu1") and "?" in line for line in text.splitlines())
    assert "leave out" in text  # the totals say they are partial
    assert conv.failed and relu.failed


def test_table_text_aligns_columns_and_indents():
    text = table.render_table(nested_graph())
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("Layer"))
    assert header.split() == ["Layer", "Op", "Output", "Params", "MACs"]
    conv = next(line for line in lines if "conv1" in line)
    assert conv.startswith("    conv1") and "conv(8, k=3, p=1)" in conv
    assert conv.endswith("13.8K")  # MACs column is right-aligned and humanised
    relu = next(line for line in lines if "relu1" in line)
    assert relu.rstrip().endswith("--")
    assert "Params: 740; trainable 740, non-trainable 0" in text
    assert "Multiply-accumulates per sample (conv + linear): 14,336 (14.3K)" in text
    assert "Parameter memory: 3.0 kB in fp32" in text
    # activations: 512 + 512 + 128 (pool) + 128 (flatten) + 4
    assert "Activations per sample: 1,284 elements, 5.1 kB in fp32" in text


def test_csv_is_exact_and_parseable():
    data = list(csv.DictReader(io.StringIO(table.render_csv(nested_graph()))))
    assert list(data[0]) == ["layer", "kind", "op", "output", "params", "macs", "status", "source"]
    conv = next(r for r in data if r["layer"] == "stage1.pair1.conv1")
    assert (conv["params"], conv["macs"], conv["output"], conv["source"]) == ("224", "13824", "[8, 8, 8]", "net.arch:4:5")


def test_markdown_keeps_nesting_visible():
    text = table.render_markdown(nested_graph())
    row = next(line for line in text.splitlines() if "conv1" in line)
    assert row.startswith("| &nbsp;&nbsp;&nbsp;&nbsp;conv1 |")


def test_json_rows_and_totals():
    data = json.loads(table.render(nested_graph(), "json"))
    assert list(data) == ["network", "inputs", "outputs", "params", "trainable_params", "macs", "flops",
                          "activations", "layers"]
    assert data["inputs"] == [{"name": "x", "shape": [3, 8, 8]}]
    assert data["outputs"] == [{"name": "y", "shape": [4]}]
    assert [(r["kind"], r["name"], r["level"]) for r in data["layers"]] == [
        (r.kind, r.name, r.level) for r in table.rows(nested_graph())]
    conv = next(r for r in data["layers"] if r["name"] == "stage1.pair1.conv1")
    assert conv == {"kind": "layer", "name": "stage1.pair1.conv1", "level": 2, "op": "conv",
                    "call": "conv(8, k=3, p=1)", "output": [8, 8, 8], "params": 224, "macs": 13824, "flops": 0,
                    "source": "net.arch:4:5", "status": "ok"}
    stage = next(r for r in data["layers"] if r["name"] == "stage1")
    assert (stage["kind"], stage["call"], stage["params"], stage["output"]) == ("block", "Stage(8)", 224, [8, 4, 4])
    assert (data["params"], data["macs"], data["activations"]) == (740, 14336, 1284)


@pytest.mark.parametrize("depth", [None, 0, 1, 2])
def test_every_format_shows_the_same_rows(depth):
    """JSON, CSV, markdown and the table: the same rows for any --depth (JSON once ignored it)."""
    g = nested_graph()
    want = [r.name for r in table.rows(g, depth)]
    assert [r["name"] for r in table.to_json(g, depth)["layers"]] == want
    assert [r["layer"] for r in csv.DictReader(io.StringIO(table.render_csv(g, depth)))] == want
    local = [name.rsplit(".", 1)[-1] for name in want]
    markdown = [line.split("|")[1].replace("&nbsp;", "").strip()
                for line in table.render_markdown(g, depth).splitlines() if line.startswith("| ")][1:]
    assert markdown == local
    text = table.render_table(g, depth).splitlines()
    body = text[text.index(next(line for line in text if line.startswith("Layer"))) + 2:]
    assert [line.split()[0] for line in body[:len(local)]] == local
    assert body[len(local)].startswith("=")


def test_json_unknown_output_is_null():
    g = nested_graph()
    g.nodes[-1].shape, g.nodes[-1].failed = UNKNOWN, True
    data = table.to_json(g)
    assert data["layers"][-1]["output"] is None and data["layers"][-1]["status"] == "failed"
    assert data["outputs"][0]["shape"] is None


def test_symbolic_shapes_print_as_expressions_and_counts_at_the_smallest_input():
    from archlang.shapes import Expr
    h = Expr.symbol("H")
    g = nested_graph()
    g.symbols, g.smallest_input, g.conditions = ["H"], [(3, 1, 8)], ["H >= 1"]
    g.nodes[0].shape = (3, h, 8)
    g.nodes[1].shape = g.nodes[2].shape = (8, h, 8)
    data = table.to_json(g)
    assert data["inputs"][0]["shape"] == [3, "H", 8]
    assert data["layers"][0]["output"] == [3, "H", 8]          # the input's row
    assert data["layers"][3]["output"] == [8, "H", 8]
    assert data["smallest_input"] == [[3, 1, 8]]
    assert data["conditions"] == ["H >= 1"]
    # at H = 1: conv and relu 64 each, then 128 + 128 + 4 as before
    assert data["activations"] == 388
    text = table.render_table(g)
    assert "Smallest input: [3, 1, 8]; needs H >= 1" in text
    assert "Activations per sample: 128 * H + 260 elements" in text
    assert "Activations per sample at the smallest input: 388 elements" in text


@pytest.mark.parametrize("n, text", [
    (0, "0"), (999, "999"), (1000, "1.0K"), (61706, "61.7K"), (999_949, "999.9K"), (999_999, "1.0M"),
    (11_178_378, "11.2M"), (1_814_000_000, "1.8G"), (2 * 10**12, "2.0T"),
])
def test_human(n, text):
    assert table.human(n) == text


@pytest.mark.parametrize("n, text", [(0, "0 B"), (999, "999 B"), (44_712_000, "44.7 MB"), (553_000_000, "553.0 MB")])
def test_human_bytes(n, text):
    assert table.human_bytes(n) == text


def test_long_calls_are_cut_in_the_table_only():
    g = nested_graph()
    g.root.children[0].call = "Stage(" + ", ".join(["[96, 128]"] * 6) + ")"
    text = table.render_table(g)
    assert "\u2026" in text
    assert g.root.children[0].call in table.render_csv(g)


def test_unknown_format_is_refused():
    with pytest.raises(ValueError):
        table.render(nested_graph(), "yaml")
