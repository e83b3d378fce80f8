"""Highlighting: the Pygments lexer, the TextMate grammar and the VS Code extension folder.

The word lists come from the grammar and the op table; the tests check that
the TextMate grammar is exactly what scripts/editor_grammar.py makes of them
now (so it cannot drift), that every spec of the repository lexes without an
Error token, and that `pygmentize -l arch` finds the lexer through its entry
point.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pygments.token import Comment, Error, Keyword, Name, Number, Operator

from archlang import ops, parser
from archlang.diagnostics import Collector
from archlang.highlight import ArchLexer, words
from archlang.source import Source

ROOT = Path(__file__).resolve().parent.parent
EDITORS = ROOT / "editors"
VSCODE = EDITORS / "vscode"
sys.path.insert(0, str(ROOT / "scripts"))
import editor_grammar  # noqa: E402


def _specs() -> list[Path]:
    dirs = [ROOT / d for d in ("specs", "examples", "tests", "bench/specs")]
    return sorted(p for d in dirs for p in d.rglob("*.arch")) + [ROOT / "archlang" / "prelude.arch"]


def test_every_spec_that_parses_lexes_without_an_error_token() -> None:
    lexer = ArchLexer()
    checked = 0
    for path in _specs():
        text = path.read_text(encoding="utf-8", errors="replace")
        tokens = list(lexer.get_tokens(text))
        assert "".join(v for _, v in tokens) == text.replace("\r\n", "\n") + ("" if text.endswith("\n") else "\n")
        if parser.parse(Source(str(path), text), Collector()) is None:
            continue  # tests/bad: a stray character is an Error token, rightly
        checked += 1
        errors = [v for t, v in tokens if t in Error]
        assert not errors, f"{path}: {errors}"
    assert checked > 50


def test_what_the_lexer_colours() -> None:
    text = ('block Unit(c) { conv(c, k=3) relu }\nnetwork N(classes = 10) {\n    input x: [3, 8, 8]\n'
            '    stem: Unit(8) dense(2, 4)  # note\n    if true and cur.c > 1 { identity }\n}\n')
    kinds: dict = {}
    for t, v in ArchLexer().get_tokens(text):
        kinds.setdefault(v, t)   # the first occurrence: `Unit` is defined, then called
    assert kinds["block"] in Keyword and kinds["network"] in Keyword and kinds["if"] in Keyword
    assert kinds["Unit"] is Name.Function and kinds["N"] is Name.Class
    assert kinds["conv"] is Name.Builtin and kinds["relu"] is Name.Builtin and kinds["dense"] is Name.Builtin
    assert kinds["k"] is Name.Attribute and kinds["stem"] is Name.Label and kinds["x"] is Name
    assert kinds["3"] in Number and kinds["# note"] in Comment and kinds["true"] is Keyword.Constant
    assert kinds["and"] is Operator.Word and kinds["cur"] is Name.Builtin.Pseudo


def test_labels_of_every_form_and_no_slice() -> None:
    # `0:`, `"layer{i}":`, a keyword (`block:`) and a label along a chain are labels; `a[1:]` is a slice.
    text = ('network N {\n    input x: [3, 8, 8]\n    0: conv(8, k=1)\n    "layer{1}": relu\n    block: bn\n'
            '    s = x -> fc1: conv(max(2, 3), k=1)\n    let t = [4, 5][1:]\n    conv(t[0], k=1)\n}\n')
    tokens = list(ArchLexer().get_tokens(text))
    labels = [v for t, v in tokens if t is Name.Label]
    assert labels == ["0", '"layer{1}"', "block", "fc1"]
    assert (Name.Builtin, "max") in tokens and (Name, "x") in tokens
    grammar = editor_grammar.grammar()["repository"]
    label = re.compile(grammar["label"]["match"], re.M)
    assert [m.group(1) for m in label.finditer(text)] == ["0", '"layer{1}"', "block", "fc1"]
    assert re.compile(grammar["function"]["match"]).search("c = round(2.5)").group() == "round"


def test_word_lists_follow_the_grammar_and_the_op_table() -> None:
    w = words()
    grammar_words = set(parser.keywords_of(parser.terminals()))
    assert set(w["keywords"]) | set(w["constants"]) | set(w["word_operators"]) == grammar_words
    assert set(w["layers"]) == {n for n, s in ops.OPS.items() if not s.merge} | {"identity"}
    assert set(w["prelude_blocks"]) == {"dense", "transition", "inception"}
    assert {"min", "max", "round", "int", "floor", "ceil"} <= set(w["functions"])


def test_pygmentize_finds_the_lexer_through_its_entry_point(tmp_path: Path) -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pygments.lexers"]
    assert declared == {"arch": "archlang.highlight:ArchLexer"}
    spec = tmp_path / "net.arch"
    spec.write_text("network N {\n    input [3, 8, 8]\n    conv(8, k=3)\n}\n")
    proc = subprocess.run([sys.executable, "-m", "pygments", "-l", "arch", "-f", "html", str(spec)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert '<span class="k">network</span>' in proc.stdout and '<span class="nb">conv</span>' in proc.stdout


# -- the TextMate grammar ------------------------------------------------------------------------
def _patterns(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("match", "begin", "end") and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


@pytest.mark.parametrize("path", editor_grammar.TARGETS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_textmate_grammar_is_generated_from_the_language(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text == editor_grammar.text(), "out of date: run scripts/editor_grammar.py"
    grammar = json.loads(text)
    assert grammar["scopeName"] == "source.arch"
    for pattern in _patterns(grammar):
        re.compile(pattern)
    keyword = re.compile(grammar["repository"]["keyword"]["match"])
    assert all(keyword.fullmatch(k) for k in words()["keywords"])
    assert keyword.fullmatch("conv") is None and keyword.fullmatch("network2") is None
    layer = re.compile(grammar["repository"]["layer"]["match"])
    assert all(layer.fullmatch(n) for n in ops.OPS if not ops.OPS[n].merge)
    for include in grammar["patterns"]:
        assert include["include"][1:] in grammar["repository"]


# -- the VS Code extension --------------------------------------------------------------------------
def test_the_vscode_extension_is_complete() -> None:
    package = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    (language,) = package["contributes"]["languages"]
    (grammar,) = package["contributes"]["grammars"]
    assert language["extensions"] == [".arch"] and grammar["language"] == language["id"]
    assert (VSCODE / grammar["path"]).is_file() and (VSCODE / language["configuration"]).is_file()
    assert grammar["scopeName"] == json.loads((VSCODE / grammar["path"]).read_text())["scopeName"]
    config = json.loads((VSCODE / language["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"]["lineComment"] == "#"
    assert package["contributes"]["configuration"]["properties"]["archlang.server.command"]["default"] == \
        ["archlang", "lsp"]
    assert f"onLanguage:{language['id']}" in package["activationEvents"]
    main = VSCODE / package["main"]
    assert "vscode-languageclient" in package["dependencies"] and 'require("vscode-languageclient/node")' in \
        main.read_text(encoding="utf-8")
    node = shutil.which("node")
    assert node, "node checks extension.js's syntax (apt-get install nodejs)"
    proc = subprocess.run([node, "--check", str(main)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
