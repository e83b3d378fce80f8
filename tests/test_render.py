"""Rendering: the graphviz backend on hand-built graphs, DOT golden files of the
specs, SVG that parses as XML, the fallback without `dot`, and `archlang render`.

The hand-built graphs pin the layout rules (clusters, boxes, folding, failure
marks) independently of the front end; the golden files pin what users see
for real specs. `pytest --update-golden` rewrites the golden files.
"""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from archlang.backends import graphviz as gv
from archlang.ir import Graph, Port, Scope
from archlang.shapes import UNKNOWN
from archlang.source import Source

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "dot"
SRC = Source("net.arch", "network N {\n    input [3, 8, 8]\n    Res(8)\n    flatten linear(4)\n}\n")
CONV = {"out": 8, "k": 3, "s": 1, "p": 1, "d": 1, "groups": 1, "bias": True}
has_dot = pytest.mark.skipif(not gv.dot_available(), reason="Graphviz's dot is not installed")


def _span(line: int = 3):
    start = SRC.offset(line, 5)
    return SRC.span(start, start + 6)


def _layer(g: Graph, op, args, inputs, name, scope, shape, params=0):
    node = g.add_node(op, dict(args), tuple(inputs), _span(), name, scope)
    node.shape, node.params = shape, params
    return node


def residual_chain(keys=("a", "a", "a"), leak: bool = False) -> Graph:
    """x -> stem -> res1 -> res2 -> res3 -> flatten -> linear; each res is conv relu add(skip).

    `keys` gives each block instance's key (equal keys fold at a shallow
    depth); `leak` adds an edge from res1's output straight to the linear's
    input merge, so res1's exit is read outside res2.
    """
    g = Graph("N", {}, _span(1))
    x = _layer(g, "input", {"shape": (3, 8, 8)}, (), "x", g.root, (3, 8, 8))
    g.inputs.append(Port("x", x.id))
    cur = _layer(g, "conv", CONV, (x.id,), "stem", g.root, (8, 8, 8), params=224).id
    exits = []
    for i, key in enumerate(keys, 1):
        s = Scope(f"res{i}", "Res", "Res(8)", _span(), g.root, key=("Res", key), entry=cur)
        g.root.children.append(s)
        conv = _layer(g, "conv", CONV, (cur,), f"res{i}.add1_p1_conv1", s, (8, 8, 8), params=584)
        relu = _layer(g, "relu", {}, (conv.id,), f"res{i}.add1_p1_relu1", s, (8, 8, 8))
        add = _layer(g, "add", {}, (relu.id, cur), f"res{i}.add1", s, (8, 8, 8))
        s.exit = cur = add.id
        exits.append(add.id)
    if leak:
        cur = _layer(g, "add", {}, (cur, exits[0]), "add1", g.root, (8, 8, 8)).id
    flat = _layer(g, "flatten", {}, (cur,), "flatten1", g.root, (512,))
    lin = _layer(g, "linear", {"out": 4, "bias": True}, (flat.id,), "linear1", g.root, (4,), params=2052)
    g.outputs.append(Port("y", lin.id))
    return g


def fail_from(g: Graph, name: str) -> Graph:
    """Mark `name` as the failing node and everything after it unknown, as elaboration does."""
    start = next(n.id for n in g.nodes if n.name == name)
    for node in g.nodes[start:]:
        node.shape, node.failed = UNKNOWN, True
    return g


def node_lines(dot: str) -> dict[str, str]:
    """DOT id -> its attribute text, for nodes only."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^\s*(\w+) \[(.*)\]$", dot, re.M)
            if " -> " not in m.group(0)}


def edges(dot: str) -> list[tuple[str, str, str]]:
    return re.findall(r"^\s*(\w+) -> (\w+) \[label=\" (.*?) \"\]", dot, re.M)


# -- layout on hand-built graphs ------------------------------------------------------------

def test_blocks_are_clusters_labelled_with_their_call():
    dot = gv.to_dot(residual_chain())
    assert dot.count("subgraph cluster_") == 3
    assert 'label="res1: Res(8)"' in dot
    nodes = node_lines(dot)
    assert nodes["n1"].startswith('label="conv(8, k=3, p=1)\\nstem\\n224 params"')
    assert nodes["n0"].startswith('label="input x\\n[3, 8, 8]"')
    # the cluster holds its own layers and nothing else
    cluster = dot.split("subgraph cluster_res1 {")[1].split("}")[0]
    assert re.findall(r"^\s*(n\d+) \[", cluster, re.M) == ["n2", "n3", "n4"]


def test_every_edge_carries_the_shape_that_flows_along_it():
    got = edges(gv.to_dot(residual_chain()))
    assert ("n0", "n1", "[3, 8, 8]") in got
    assert ("n1", "n4", "[8, 8, 8]") in got       # the skip connection into res1's add
    assert ("n11", "n12", "[512]") in got
    assert ("n12", "out0", "[4]") in got          # the output port
    assert len(got) == 1 + 4 * 3 + 2 + 1


def test_shallow_depth_folds_equal_consecutive_blocks():
    dot = gv.to_dot(residual_chain(), depth=0)
    assert "subgraph cluster_" not in dot
    box = node_lines(dot)["b0"]
    assert box.startswith('label="Res(8) x 3\\nres1 .. res3\\n1,752 params"')
    assert edges(dot) == [("n0", "n1", "[3, 8, 8]"), ("n1", "b0", "[8, 8, 8]"),
                          ("b0", "n11", "[8, 8, 8]"), ("n11", "n12", "[512]"), ("n12", "out0", "[4]")]


def test_blocks_with_different_keys_do_not_fold():
    dot = gv.to_dot(residual_chain(keys=("a", "b", "b")), depth=0)
    nodes = node_lines(dot)
    assert nodes["b0"].startswith('label="Res(8)\\nres1\\n584 params"')
    assert nodes["b1"].startswith('label="Res(8) x 2\\nres2 .. res3')
    assert ("b0", "b1", "[8, 8, 8]") in edges(dot)


def test_a_block_whose_output_is_read_elsewhere_does_not_fold():
    dot = gv.to_dot(residual_chain(leak=True), depth=0)
    nodes = node_lines(dot)
    assert nodes["b0"].startswith('label="Res(8)\\nres1')
    assert nodes["b1"].startswith('label="Res(8) x 2\\nres2 .. res3')
    assert ("b0", "n11", "[8, 8, 8]") in edges(dot)   # res1's output read by the merge add1


def test_full_depth_never_folds():
    assert " x 3" not in gv.to_dot(residual_chain())
    assert gv.to_dot(residual_chain(), depth=5) == gv.to_dot(residual_chain())


def test_failing_node_is_red_and_what_depends_on_it_is_dashed():
    g = fail_from(residual_chain(), "res2.add1_p1_conv1")
    dot = gv.to_dot(g)
    nodes = node_lines(dot)
    assert 'color="#cc0000"' in nodes["n5"] and "dashed" not in nodes["n5"]
    assert "dashed" in nodes["n6"] and "#cc0000" not in nodes["n6"]
    assert ("n5", "n6", "?") in edges(dot)
    assert ("n4", "n5", "[8, 8, 8]") in edges(dot)      # up to the failure, shapes as usual
    red_clusters = re.findall(r'cluster_(\w+) \{\s*color="#cc0000"', dot)
    assert red_clusters == ["res2"]


def test_failed_blocks_never_fold_and_are_red_as_boxes():
    g = fail_from(residual_chain(), "res2.add1_p1_conv1")
    nodes = node_lines(gv.to_dot(g, depth=0))
    assert nodes["b0"].startswith('label="Res(8)\\nres1') and "#cc0000" not in nodes["b0"]
    assert "#cc0000" in nodes["b1"]                                   # where the error is
    assert "dashed" in nodes["b2"] and "#cc0000" not in nodes["b2"]   # downstream of it


def test_error_codes_appear_on_the_failing_node():
    from archlang.diagnostics import Diagnostic
    g = fail_from(residual_chain(), "res2.add1_p1_conv1")
    g.diagnostics.append(Diagnostic("E301", "channel mismatch", g.nodes[5].span))
    assert "error[E301]" in node_lines(gv.to_dot(g))["n5"]


def test_direction_and_determinism():
    assert "rankdir=LR" in gv.to_dot(residual_chain(), direction="LR")
    assert gv.to_dot(residual_chain()) == gv.to_dot(residual_chain())
    with pytest.raises(ValueError):
        gv.to_dot(residual_chain(), direction="XY")


def test_labels_with_quotes_and_backslashes_stay_valid_dot():
    g = residual_chain()
    g.nodes[1].args = {**CONV, "p": "same"}
    g.root.children[0].call = 'Res("a\\b")'
    dot = gv.to_dot(g)
    assert 'conv(8, k=3, p=\\"same\\")' in dot
    if gv.dot_available():
        ET.fromstring(gv.to_bytes(dot, "svg"))


# -- files: formats, the fallback without dot, atomic writes -------------------------------

@has_dot
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF"),
                                           (".dot", b"digraph")])
def test_write_picks_the_format_from_the_suffix(tmp_path, suffix, magic):
    written = gv.write(residual_chain(), tmp_path / f"g{suffix}")
    assert written.drawn and written.path == tmp_path / f"g{suffix}"
    assert written.path.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [f"g{suffix}"]  # no temporary file left


@has_dot
def test_svg_parses_as_xml_and_names_every_layer(tmp_path):
    svg = gv.to_svg(residual_chain())
    root = ET.fromstring(svg)
    titles = {t.text for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert {"n1", "n12", "cluster_res1"} <= titles


def test_without_dot_the_dot_text_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(gv.shutil, "which", lambda name: None)
    assert gv.to_svg(residual_chain()) is None
    written = gv.write(residual_chain(), tmp_path / "g.svg")
    assert (written.path, written.drawn, written.format) == (tmp_path / "g.dot", False, "dot")
    assert written.path.read_text().startswith("digraph N {")
    assert not (tmp_path / "g.svg").exists()


def test_unknown_suffix_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        gv.write(residual_chain(), tmp_path / "g.jpeg")
    assert list(tmp_path.iterdir()) == []


@has_dot
def test_failed_dot_leaves_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "g.svg"
    target.write_text("previous")

    def broken(*args, **kwargs):
        raise gv.RenderError("dot -Tsvg failed: out of memory")

    monkeypatch.setattr(gv, "to_bytes", broken)
    with pytest.raises(gv.RenderError):
        gv.write(residual_chain(), target)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["g.svg"]


# -- notebooks -----------------------------------------------------------------------------

@has_dot
def test_a_graph_displays_itself_as_svg_in_notebooks():
    svg = residual_chain()._repr_svg_()
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
