"""The language server's parts that need no client: positions, quick fixes, completion
contexts, the analysis of broken and odd documents (the server end to end: test_lsp.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from archlang.lsp import fixes, navigation
from archlang.lsp.analysis import analyse, path_for
from archlang.lsp.completion import complete
from archlang.lsp.positions import offset, position
from archlang.lsp.publish import lsp_diagnostics
from archlang.source import Source

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "bad"


# -- positions -------------------------------------------------------------------------------------
def test_columns_are_utf16_units() -> None:
    text = "# \U0001F600 é\nnetwork N { input [3] }\r\nlet a = 1\n"
    src = Source("t.arch", text)
    after_emoji = text.index(" é")
    assert position(src, after_emoji) == types.Position(line=0, character=4)   # '#', ' ', two units
    assert offset(src, types.Position(line=0, character=4)) == after_emoji
    let = src.text.index("let")
    assert position(src, let) == types.Position(line=2, character=0)
    assert offset(src, types.Position(line=2, character=0)) == let
    for at in range(len(src.text) + 1):     # round trip everywhere but inside the emoji's two units
        assert offset(src, position(src, at)) == at
    assert offset(src, types.Position(line=99, character=0)) == len(src.text)
    assert offset(src, types.Position(line=1, character=999)) == src.text.index("\nlet")


# -- quick fixes: each kind on the diagnostic the compiler really gives ----------------------------
def _apply(text: str, fix: fixes.Fix) -> str:
    return text[:fix.start] + fix.text + text[fix.end:]


def _fixes(path: Path, text: str | None = None):
    a = analyse(str(path), text if text is not None else path.read_text(encoding="utf-8"))
    return a, [(d, fixes.fixes_for(d, a)) for d in a.diagnostics]


@pytest.mark.parametrize("spec, code, title, changed", [
    ("e306_linear_without_flatten.arch", "E306", "Add `flatten` before `linear`", "    flatten linear(120) sigmoid"),
    ("e203_unknown_argument.arch", "E203", "Replace `kernel_size` with `k`", "    conv(16, k=3) relu"),
    ("e203_unknown_argument.arch", "E203", "Remove `in_channels`", "    conv(16, k=1)"),
    ("e201_unknown_layer.arch", "E201", "Replace `conv2d` with `conv`", "    conv(16, k=3) relu"),
    ("e209_unknown_name.arch", "E209", "Replace `chanels` with `channels`", "conv(channels, k=3, p=1)"),
    ("e204_float_channels.arch", "E204", "Use `//` (integer division)", "    conv(width // 2, k=3, p=1) relu"),
    ("e303_inception_lost_padding.arch", "E303", "Add `p=1`", "conv(c2[1], k=3, p=1) relu"),
])
def test_a_quick_fix_removes_its_error(spec: str, code: str, title: str, changed: str) -> None:
    path = BAD / spec
    text = path.read_text(encoding="utf-8")
    a, found = _fixes(path)
    diag, fix = next((d, f) for d, fs in found for f in fs if f.title == title)
    assert diag.code == code
    fixed = _apply(a.source.text, fix)
    assert changed in fixed
    after = analyse(str(path), fixed)
    assert not [d for d in after.diagnostics if d.code == code and d.span.line == diag.span.line
                and d.message == diag.message], "the fix did not remove the error"
    assert len(after.diagnostics) < len(a.diagnostics)
    assert text  # the file itself is untouched


def test_padding_fix_replaces_a_wrong_padding(tmp_path: Path) -> None:
    text = ("network N {\n    input [3, 12, 12]\n    concat {\n      | conv(8, k=1)\n"
            "      | conv(8, k=3, p=0)\n    }\n}\n")
    a, found = _fixes(tmp_path / "n.arch", text)
    (fix,) = [f for _, fs in found for f in fs]
    assert fix.title == "Set `p=1`" and _apply(text, fix).count("conv(8, k=3, p=1)") == 1
    assert not analyse(str(tmp_path / "n.arch"), _apply(text, fix)).diagnostics


def test_advice_is_no_quick_fix() -> None:
    """A projection on an identity path, or raising a limit, is advice: no edit."""
    _, found = _fixes(BAD / "e304_residual_no_projection.arch")
    assert found and all(not fs for _, fs in found)


def test_fixes_travel_in_the_published_diagnostic(tmp_path: Path) -> None:
    a = analyse(str(tmp_path / "n.arch"), "network N {\n    input [1, 8, 8]\n    linear(3)\n}\n")
    (d,) = lsp_diagnostics(a, lambda p: Path(p).as_uri())
    first = d.data["fixes"][0]
    assert first == {"title": "Add `flatten` before `linear`", "text": "flatten ",
                     "range": {"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 4}}}


# -- completion contexts ------------------------------------------------------------------------------
def _labels(text: str, blocks=None) -> list[str]:
    cursor = text.index("|")
    return [i.label for i in complete(text[:cursor] + text[cursor + 1:], cursor, blocks or {})]


def test_completion_contexts() -> None:
    assert _labels("|") == ["import", "let", "block", "network"]
    assert _labels("network N {\n    input [3, 8, 8]\n    con|") [:3] == ["adaptive_avgpool", "avgpool", "bn"]
    assert "conv" in _labels("network N {\n    conv(8, k=1) |")
    assert _labels("network N {\n    maxpool(2, |") == ["k=", "s=", "p=", "ceil="]
    assert _labels("network N {\n    maxpool(2, kernel=3, |") == ["s=", "p=", "ceil="]
    assert _labels("network N {\n    maxpool(2, s=|") == []          # a value
    assert _labels("network N {\n    # conv|") == []                 # a comment
    assert _labels('network N {\n    upsample(2, mode="ne|') == []   # a string
    assert _labels("network N {\n    input [3, |") == []            # a shape


def test_completion_of_a_block_call_gives_its_parameters(tmp_path: Path) -> None:
    a = analyse(str(tmp_path / "n.arch"), "block B(c, s = 1) { conv(c, k=3, s=s) }\n"
                                          "network N { input [3, 8, 8]; B(8) }\n")
    assert _labels("network N {\n    B(8, |", a.blocks) == ["c=", "s="]
    assert _labels("network N {\n    B(8, s=2, |", a.blocks) == ["c="]


# -- odd documents ----------------------------------------------------------------------------------
def test_a_document_that_does_not_parse_still_answers(tmp_path: Path) -> None:
    a = analyse(str(tmp_path / "n.arch"), "network N {\n    conv(6 k=5)\n")
    assert "E101" in [d.code for d in a.diagnostics]
    assert a.tree is None and a.program is None and a.graphs == []
    assert navigation.hover(a, 20) is None and navigation.symbols(a) == []
    assert navigation.definition(a, 20) is None


def test_a_compiler_crash_is_reported_not_raised(tmp_path: Path, monkeypatch) -> None:
    import archlang

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(archlang, "load", broken)
    a = analyse(str(tmp_path / "n.arch"), "network N { input [3] }\n")
    (d,) = lsp_diagnostics(a, lambda p: p)
    assert "internal error: ZeroDivisionError: boom" in d.message


def test_untitled_documents_get_a_path_in_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert path_for(None, "untitled:Untitled-1") == str(tmp_path / "Untitled-1.arch")
    assert path_for("/x/y/../z.arch", "file:///x/z.arch") == "/x/z.arch"


def test_hover_on_a_prelude_block_call_and_a_named_tensor() -> None:
    path = ROOT / "examples" / "densenet_loop.arch"
    text = path.read_text(encoding="utf-8")
    a = analyse(str(path), text)
    hover = navigation.hover(a, text.index("dense(num_convs[i]") + 1).contents.value
    assert hover.startswith("block `dense`") and "4 instances" in hover
    assert "| `dense1` | [192, 24, 24] |" in hover
    unet = ROOT / "examples" / "unet.arch"
    text = unet.read_text(encoding="utf-8")
    hover = navigation.hover(analyse(str(unet), text), text.index("e2 = e1")).contents.value
    assert hover.startswith("tensor `e2`") and "**[32, H // 2, W // 2]**" in hover
    target = navigation.definition(analyse(str(unet), text), text.index("DoubleConv(16)"))
    assert target.line == text[:text.index("block DoubleConv")].count("\n") + 1


def test_secondary_labels_become_related_locations(tmp_path: Path) -> None:
    text = "block B { relu }\nblock B { bn }\nnetwork N { input [3]; B }\n"
    a = analyse(str(tmp_path / "n.arch"), text)
    (d,) = [d for d in a.diagnostics if d.code == "E207"]
    assert d.related, "E207 names the first definition"
    (lsp,) = [x for x in lsp_diagnostics(a, lambda p: Path(p).as_uri()) if x.code == "E207"]
    span, label = d.related[0]
    assert lsp.related_information[0].message == label
    assert lsp.related_information[0].location.range.start.line == span.line - 1
