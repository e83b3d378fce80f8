"""`archlang.summary` (archlang/summary.py) and the Graph's repr.

The rows are checked against torch's own modules (parameters per layer), the
printed and JSON forms against `archlang shapes` (one table, every path), and
the HTML form by parsing it back.
"""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

import archlang
from archlang import SpecError

ROOT = Path(__file__).resolve().parent.parent


def test_rows_are_the_layers_with_torchs_parameter_counts():
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        model = archlang.compile(ROOT / "specs" / "tv_resnet18.arch")
    table = archlang.summary(ROOT / "specs" / "tv_resnet18.arch", batch=4)
    modules = dict(model.named_modules())
    layers = [r for r in table if r.kind == "layer"]
    assert len(layers) == len(table.graph.layers())
    for row in table:
        if row.name in modules:   # layers and the blocks that are modules: their whole subtree
            assert row.params == sum(p.numel() for p in modules[row.name].parameters()), row.name
    assert table["layer2"].kind == "block" and table["layer2"].shape == (128, 28, 28)
    assert table.memory.batch == 4 and table.totals.params == sum(p.numel() for p in model.parameters())


def test_printed_and_json_forms_are_what_shapes_prints(cli):
    table = archlang.summary("specs/lenet.arch", batch=8, depth=0)
    result = cli("shapes", "specs/lenet.arch", "--train", "--batch", "8", "--depth", "0",
                 "--columns", "flops,rf,stride")
    assert result.code == 0, result
    assert repr(table) + "\n" == result.out
    as_json = cli("shapes", "specs/lenet.arch", "--train", "--batch", "8", "--depth", "0",
                  "--columns", "flops,rf,stride", "--format", "json")
    assert json.loads(as_json.out) == json.loads(json.dumps(table.to_json()))
    assert table.to_json()["memory"]["settings"]["batch"] == 8


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.inside = False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        self.inside = tag in ("td", "th")

    def handle_endtag(self, tag):
        self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.rows[-1].append(data)


def test_html_has_a_row_per_row_with_cells_escaped():
    table = archlang.summary('network N { input [3, 8, 8]\n conv(4, k=3) upsample(2, mode="bilinear") relu }')
    html = table._repr_html_()
    parser = _Cells()
    parser.feed(html)
    header, *body = parser.rows
    assert header[:3] == ["Layer", "Op", "Output"]
    assert [cells[:2] for cells in body] == [[r.local_name, r.call] for r in table]
    assert 'mode=&quot;bilinear&quot;' in html


def test_a_spec_with_errors_raises():
    with pytest.raises(SpecError):
        archlang.summary("network N { input [3, 8, 8]\n conv(4, k=9) }")


def test_graph_repr_names_the_network_its_ports_and_counts():
    graph = archlang.load(ROOT / "specs" / "lenet.arch").network()
    assert repr(graph) == "<Graph LeNet: [1, 28, 28] -> [10]; 12 layers, 61,706 params, 416,520 MACs>"
    two = archlang.load("network T { input a: [3, 8, 8]\n input b: [3, 8, 8]\n add(a, b) }").network()
    assert repr(two).startswith("<Graph T: a [3, 8, 8], b [3, 8, 8] -> [3, 8, 8]; 1 layers")
    broken = archlang.load("network B { input [3, 8, 8]\n conv(4, k=9) }").elaborate()
    assert repr(broken).endswith("; 1 error>")


def test_the_python_examples_in_the_docs_run_as_shown(monkeypatch):
    """docs/design.md's ```python blocks are doctests: their outputs are real."""
    import doctest
    import re

    monkeypatch.chdir(ROOT)
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    names: dict = {}    # the blocks are one session: a later one uses an earlier one's import
    for i, block in enumerate(blocks):
        test = doctest.DocTestParser().get_doctest(block, names, f"design.md block {i + 1}", "docs/design.md", 0)
        runner.run(test, clear_globs=False)
        names.update(test.globs)
    assert runner.summarize(verbose=False).failed == 0
