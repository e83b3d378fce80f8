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
    at = 2 * len(g.nodes)  # a span of its own for each node, as elaboration gives
    node = g.add_node(op, dict(args), tuple(inputs), SRC.span(at, at + 1), name, scope)
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
        conv = _layer(g, "conv", CONV, (cur,), f"res{i}.conv1", s, (8, 8, 8), params=584)
        relu = _layer(g, "relu", {}, (conv.id,), f"res{i}.relu1", s, (8, 8, 8))
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


def test_a_block_whose_output_is_a_network_output_does_not_fold():
    g = residual_chain()
    g.outputs.append(Port("mid", g.root.children[0].exit))
    nodes = node_lines(gv.to_dot(g, depth=0))
    assert nodes["b0"].startswith('label="Res(8)\\nres1')
    assert nodes["out1"].startswith('label="output mid"')


def test_full_depth_never_folds():
    assert " x 3" not in gv.to_dot(residual_chain())
    assert gv.to_dot(residual_chain(), depth=5) == gv.to_dot(residual_chain())


def test_failing_node_is_red_and_what_depends_on_it_is_dashed():
    g = fail_from(residual_chain(), "res2.conv1")
    dot = gv.to_dot(g)
    nodes = node_lines(dot)
    assert 'color="#cc0000"' in nodes["n5"] and "dashed" not in nodes["n5"]
    assert "dashed" in nodes["n6"] and "#cc0000" not in nodes["n6"]
    assert ("n5", "n6", "?") in edges(dot)
    assert ("n4", "n5", "[8, 8, 8]") in edges(dot)      # up to the failure, shapes as usual
    red_clusters = re.findall(r'cluster_(\w+) \{\s*color="#cc0000"', dot)
    assert red_clusters == ["res2"]


def test_failed_blocks_never_fold_and_are_red_as_boxes():
    g = fail_from(residual_chain(), "res2.conv1")
    nodes = node_lines(gv.to_dot(g, depth=0))
    assert nodes["b0"].startswith('label="Res(8)\\nres1') and "#cc0000" not in nodes["b0"]
    assert "#cc0000" in nodes["b1"]                                   # where the error is
    assert "dashed" in nodes["b2"] and "#cc0000" not in nodes["b2"]   # downstream of it


def test_error_codes_appear_on_the_failing_node_of_that_block_instance():
    from archlang.diagnostics import Diagnostic
    g = fail_from(residual_chain(), "res2.conv1")
    conv = g.nodes[5]
    g.diagnostics.append(Diagnostic("E301", "channel mismatch", conv.span, call_stack=conv.scope.frames()))
    nodes = node_lines(gv.to_dot(g))
    assert "error[E301]" in nodes["n5"]
    assert not any("error[" in attrs for name, attrs in nodes.items() if name != "n5")


def test_an_error_on_a_statement_without_a_layer_points_at_the_layer_before():
    """A failed `expect` makes no node: the layer whose output it checked is outlined in red."""
    from archlang.diagnostics import Diagnostic
    g = residual_chain()
    flatten = g.nodes[11]
    after = SRC.span(flatten.span.end, flatten.span.end + 1)  # between flatten1 and linear1
    g.diagnostics.append(Diagnostic("E307", "expected a tensor [7], got [512]", after))
    attrs = node_lines(gv.to_dot(g))["n11"]
    assert "error[E307]" in attrs and 'color="#cc0000"' in attrs and "#f4cccc" not in attrs


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


# -- real specs: golden DOT files, the command, scale -----------------------------------------

GOLDEN_CASES = [
    # (golden file, spec, depth, direction)
    ("lenet_bn.dot", "specs/lenet_bn.arch", None, "TB"),
    ("resnet18.depth1.dot", "specs/resnet18.arch", 1, "TB"),
    ("googlenet.depth0.lr.dot", "specs/googlenet.arch", 0, "LR"),
    ("inception_lost_padding.dot", "examples/inception_lost_padding.arch", None, "TB"),
]


def _elaborate(spec: str) -> Graph:
    import archlang
    return archlang.load(Path(spec)).elaborate()


@pytest.mark.parametrize("name, spec, depth, direction", GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_dot_golden_files(name, spec, depth, direction, golden, monkeypatch):
    monkeypatch.chdir(ROOT)  # spans, and so tooltips, name the spec as given: relative
    golden(GOLDEN / name, gv.to_dot(_elaborate(spec), depth=depth, direction=direction))


@has_dot
def test_every_spec_renders_to_svg_that_parses(monkeypatch):
    monkeypatch.chdir(ROOT)
    import archlang
    for spec in sorted(Path("specs").glob("*.arch")):
        program = archlang.load(spec)
        for name in program.networks:  # a file may hold several
            graph = program.network(name)
            root = ET.fromstring(gv.to_svg(graph, depth=1))
            assert root.tag == "{http://www.w3.org/2000/svg}svg", (spec, name)


def test_render_command_writes_the_drawing(cli, tmp_path):
    out = tmp_path / "lenet.svg"
    result = cli("render", "specs/lenet.arch", "-o", out, "--direction", "lr")
    assert result.code == 0, result
    assert result.out.strip() == f"wrote {out} (LeNet, 12 layers)"
    if gv.dot_available():
        assert ET.fromstring(out.read_bytes()).tag.endswith("svg")


def test_render_command_defaults_to_network_name_svg(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("render", ROOT / "specs/lenet.arch", "--depth", "0")
    assert result.code == 0, result
    assert [p.name for p in tmp_path.iterdir()] == ["LeNet.svg" if gv.dot_available() else "LeNet.dot"]


def test_render_command_draws_up_to_the_failure_and_exits_1(cli, tmp_path):
    out = tmp_path / "bad.dot"
    result = cli("render", "examples/residual_without_projection.arch", "-o", out)
    assert result.code == 1, result
    assert "error[E304]" in result.err and out.exists()
    dot = out.read_text()
    assert re.search(r'label="add\\nadd1\\nerror\[E304\]" color="#cc0000" fillcolor="#f4cccc"', dot)
    assert '" ? "' in dot  # edges after the failure carry no shape


def test_render_command_without_a_graph_writes_nothing(cli, tmp_path):
    spec = tmp_path / "broken.arch"
    spec.write_text("network N {\n    input [1, 8, 8]\n    conv(4, k=3\n}\n")
    result = cli("render", spec, "-o", tmp_path / "g.svg")
    assert result.code == 1 and "error[E1" in result.err, result
    assert not (tmp_path / "g.svg").exists()


@pytest.mark.parametrize("argv, message", [
    (["-o", "g.jpeg"], "the suffix picks the format"),
    (["--depth", "-1"], "--depth must be 0 or more"),
    (["--direction", "up"], "invalid choice"),
])
def test_render_usage_errors_exit_2(cli, tmp_path, argv, message):
    result = cli("render", "specs/lenet.arch", *[str(tmp_path / a) if a.startswith("g.") else a for a in argv])
    assert result.code == 2 and message in result.err, result
    assert list(tmp_path.iterdir()) == []


def test_render_without_dot_writes_dot_and_says_how_to_install(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(gv.shutil, "which", lambda name: None)
    result = cli("render", "specs/lenet.arch", "-o", tmp_path / "lenet.png")
    assert result.code == 0, result
    assert "apt-get install graphviz" in result.err and f"dot -Tpng {tmp_path / 'lenet.dot'}" in result.err
    assert (tmp_path / "lenet.dot").read_text().startswith("digraph LeNet {")
    assert not (tmp_path / "lenet.png").exists()


def deep_spec(layers: int) -> str:
    """At least `layers` layers: residual blocks in a row, then plain conv bn relu."""
    k = -(-layers // 7)  # a Unit is 4 nodes (conv bn relu add), a plain row 3
    return textwrap.dedent(f"""\
        block Unit(c) {{
            add {{
              | conv(c, k=3, p=1) bn relu
              | identity
            }}
        }}
        network Deep {{
            input [8, 16, 16]
            repeat {k} {{ Unit(8) }}
            repeat {k} {{ conv(8, k=3, p=1) bn relu }}
        }}
        """)


@has_dot
def test_a_thousand_layer_spec_renders():
    """Timing is in bench/render_scale.py; here: every layer is drawn, and depth 0 folds the blocks."""
    import archlang
    graph = archlang.load(deep_spec(1000)).network()
    assert len(graph.layers()) >= 1000
    svg = gv.to_svg(graph)
    assert svg.count('class="node"') == len(graph.nodes) + len(graph.outputs)
    folded = node_lines(gv.to_dot(graph, depth=0))
    assert folded["b0"].startswith(f'label="Unit(8) x {len(graph.root.children)}\\n')


def test_render_never_imports_torch(tmp_path):
    probe = textwrap.dedent("""
        import sys
        from archlang.cli import main
        code = main(["render", "specs/resnet18.arch", "-o", sys.argv[1], "--depth", "1"])
        heavy = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.") or m in ("onnx", "onnxruntime"))
        print("RESULT", code, heavy)
    """)
    env = {"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "r.dot")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)
    assert "RESULT 0 []" in proc.stdout, proc.stdout + proc.stderr
