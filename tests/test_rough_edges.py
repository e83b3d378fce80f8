"""The rough edges a new user hit (issue 17): each has its test here.

A misspelt command gets a did-you-mean; `export` takes -o like the other
commands; E305's help says what the layer does to the size and which padding
keeps it; `render` draws PNGs at a readable resolution (--dpi) and the paths
of a merge in the order they are written; curves.png has a loss panel and an
accuracy panel; the docs link to nothing outside the repository.
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

import archlang

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("word, hint", [("chek", "did you mean 'check'?"), ("shape", "did you mean 'shapes'?"),
                                        ("exprot", "did you mean 'export'?"), ("zzz", "commands: check")])
def test_a_misspelt_command_gets_a_did_you_mean(cli, word, hint):
    result = cli(word, "specs/lenet.arch")
    assert result.code == 2 and hint in result.err and result.err.count("\n") == 1, result


def test_export_takes_o_like_build_and_render(cli, tmp_path):
    onnx = pytest.importorskip("onnx")
    for flag in ("-o", "--output", "--onnx"):
        out = tmp_path / f"lenet{flag.strip('-')}.onnx"
        result = cli("export", "specs/lenet.arch", flag, out, "--no-verify")
        assert result.code == 0, result
        assert onnx.load(out).graph.node[0].op_type == "Conv"


@pytest.mark.parametrize("layer, size, help", [
    ("conv(8, k=7)", 4, "k=7 with p=0 takes 6 from the height: 4 becomes -2; p=3 keeps the height"),
    ("conv(8, k=4)", 3, 'k=4 with p=0 takes 3 from the height: 3 becomes 0; p="same" keeps the height'),
    ("conv(8, k=3, d=3)", 6, "k=3, d=3 with p=0 takes 6 from the height: 6 becomes 0; p=3 keeps the height"),
    ("conv(8, k=5, s=2)", 4, "k=5 with p=0 takes 4 from the height and the stride 2 divides what is left: "
                             "4 becomes 0"),
    ("maxpool(3)", 2, "k=3 with p=0 takes 2 from the height and the stride 3 divides what is left: 2 becomes 0"),
])
def test_e305_help_says_what_the_layer_does_to_the_size(layer, size, help):
    (diag,) = archlang.check(f"network N {{\n input [3, {size}, {size}]\n {layer}\n}}\n")
    assert diag.code == "E305" and help in diag.help, diag.help
    # the padding it suggests does keep the size (PyTorch's formula, through archlang)
    fix = re.search(r'; (p=(\d+|"same")) keeps', diag.help)
    if fix:
        fixed = layer[:-1] + f", {fix.group(1)})"
        graph = archlang.load(f"network N {{\n input [3, {size}, {size}]\n {fixed}\n}}\n").network()
        assert graph.output_shapes()[0][1:] == (size, size)


def _png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_render_png_resolution(cli, tmp_path):
    from archlang.backends import graphviz

    if not graphviz.dot_available():
        pytest.skip("Graphviz's dot is not installed")
    sizes = {}
    for dpi in (None, 96):
        out = tmp_path / f"lenet{dpi}.png"
        result = cli("render", "specs/lenet.arch", "-o", out, *(["--dpi", str(dpi)] if dpi else []))
        assert result.code == 0, result
        sizes[dpi] = _png_size(out)
    assert sizes[None][0] >= 300   # 149 px at Graphviz's own 96 dpi made the labels unreadable
    assert sizes[None][0] == pytest.approx(sizes[96][0] * graphviz.PNG_DPI / 96, abs=3)
    bad = cli("render", "specs/lenet.arch", "-o", tmp_path / "x.svg", "--dpi", "100")
    assert bad.code == 2 and "--dpi sets the resolution of a PNG" in bad.err


def _path_heads_left_to_right(graph, svg: str) -> list[list[int]]:
    """For each concat, the x of its paths' first layers in the drawing, in path order."""
    from archlang.backends.graphviz import _path_heads   # noqa: PLC2701 - the drawing's own notion, tested

    xs = {m.group(1): float(m.group(2))
          for m in re.finditer(r"<title>n(\d+)</title>.*?<text[^>]*? x=\"([-\d.]+)\"", svg, re.S)}
    return [[xs[str(h.id)] for h in _path_heads(graph, n)] for n in graph.nodes if n.op == "concat"]


@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_render_draws_paths_in_the_order_written(direction):
    from archlang.backends import graphviz

    if not graphviz.dot_available():
        pytest.skip("Graphviz's dot is not installed")
    graph = archlang.load(ROOT / "specs" / "googlenet.arch").network()
    svg = graphviz.to_bytes(graphviz.to_dot(graph, direction=direction), "svg").decode()
    if direction == "LR":   # left to right: the paths go top to bottom, y grows downwards in SVG
        svg = re.sub(r'<text([^>]*?) x="[-\d.]+" y="([-\d.]+)"', r'<text\1 x="\2"', svg)
    rows = _path_heads_left_to_right(graph, svg)
    assert len(rows) == 9 and all(len(r) == 4 for r in rows)
    for xs in rows:
        assert xs == sorted(xs), xs


def test_long_paths_are_left_to_dot():
    """Finding a path's first layer walks back at most MAX_PATH_WALK layers: a merge of two
    chains of thousands of layers drew in quadratic time (a fuzzing mutant took 10 s)."""
    from archlang.backends import graphviz

    n = 3 * graphviz.MAX_PATH_WALK
    text = ("network N { input [3, 8, 8]\n t = conv(4, k=1)\n a = t -> " + "relu " * n
            + "\n b = t -> " + "relu " * n + "\n add(a, b) }")
    graph = archlang.load(text).network()
    merge = graph.nodes[-1]
    assert graphviz._path_heads(graph, merge) == []   # noqa: PLC2701
    short = archlang.load("network N { input [3, 8, 8]\n t = conv(4, k=1)\n a = t -> relu relu\n "
                          "b = t -> relu\n add(a, b) }").network()
    assert [h.name for h in graphviz._path_heads(short, short.nodes[-1])] == ["relu1", "relu3"]


def test_curves_have_a_loss_panel_and_an_accuracy_panel():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from archlang.train.metrics import History
    from archlang.train.plot import curves_figure

    history = History()
    for step, (loss, acc) in enumerate([(2.3, 0.1), (1.2, 0.6), (0.6, 0.8)]):
        history.add_point((step + 1) / 3, train_loss=loss, train_acc=acc)
    history.add_point(1, test_acc=0.75)
    fig = curves_figure(history, epochs=1)
    try:
        loss, accuracy = fig.axes
        assert [line.get_label() for line in loss.lines] == ["train loss"]
        assert list(loss.lines[0].get_ydata()) == [2.3, 1.2, 0.6]
        assert [line.get_label() for line in accuracy.lines] == ["train acc", "test acc"]
        assert list(accuracy.lines[1].get_ydata()) == [0.75] and accuracy.get_ylim() == (0.0, 1.0)
        assert (loss.get_ylabel(), accuracy.get_ylabel()) == ("loss", "accuracy")
    finally:
        plt.close(fig)


# -- the docs stand alone ---------------------------------------------------------------------

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FOUNDING_NOTES = re.compile(r"LANGUAGE\.md|DESIGN\.md|ANCHORS\.md|\bshared/|shared folder|/work/")
LINK = re.compile(r"\]\(([^)\s]+)\)|<img[^>]*src=\"([^\"]+)\"")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_link_only_inside_the_repository(doc):
    text = doc.read_text(encoding="utf-8")
    found = FOUNDING_NOTES.search(text)
    assert found is None, f"{doc.name} mentions {found.group(0)!r}: the docs must stand alone"
    for match in LINK.finditer(text):
        target = (match.group(1) or match.group(2)).split("#")[0]
        if not target or re.match(r"[a-z]+:", target):   # an anchor on the page, or a web address
            continue
        path = (doc.parent / target).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name} links to {target}, outside the repository"
        assert path.exists(), f"{doc.name} links to {target}, which does not exist"
