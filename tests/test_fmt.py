"""`archlang fmt`: the canonical layout, idempotent, every comment kept, meaning unchanged.

- The layout rules, each shown on a small input (the design, in examples).
- Meaning: every .arch file in the repository, formatted, gives the same
  diagnostics and the same shapes JSON as before (locations aside), and a
  file that does not parse is left alone.
- Generated programs (tests/fuzzing/strategies.py), laid out at random
  (tests/fuzzing/layouts.py: any spacing, line breaks where they are free,
  comments, stray `;`): the formatter is idempotent, keeps the AST and the
  comments, and gives one text for every horizontal spacing of a spec.
- The repository's own specs and the specs quoted in the docs are formatted
  (the CI check).
- The command: --check, --diff, rewriting in place, stdin, directories,
  files that do not parse or cannot be read.
"""
from __future__ import annotations

import json
import random
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import archlang
from archlang import formatter
from archlang.backends import table
from archlang.diagnostics import Collector
from archlang.formatter import NotFormatted, format_text, same_tree
from archlang.parser import parse
from archlang.source import Source
from fuzzing.layouts import scramble
from fuzzing.strategies import specs

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIRS = ("specs", "examples", "tests", "bench/specs")
GENERATED = 80    # bench-sized runs: ARCHLANG_FMT_EXAMPLES=3000 pytest tests/test_fmt.py -k generated


def fmt(text: str) -> str:
    return format_text(textwrap.dedent(text))


def tree(text: str):
    return parse(Source("<t>", text), Collector())


# -- the layout, rule by rule ----------------------------------------------------------------
LAYOUT_CASES = {
    "spacing": (
        "network  N(classes=10){\n  input[3,32,32]\n conv( 16,k = 3,p=1 )->relu\n  linear(classes*2//4)\n}\n",
        "network N(classes = 10) {\n    input [3, 32, 32]\n    conv(16, k=3, p=1) -> relu\n"
        "    linear(classes * 2 // 4)\n}\n"),
    "unary and attributes": (
        "let a = - 1\nlet b = [ -a , + 2 ]\nlet c = not( a<b )\nlet d = x . c [ 0 ] - - 1\n",
        "let a = -1\nlet b = [-a, +2]\nlet c = not (a < b)\nlet d = x.c[0] - -1\n"),
    "a body that spans lines opens and closes on its own lines": (
        "block B(c) { conv(c, k=1)\n  relu }\n",
        "block B(c) {\n    conv(c, k=1)\n    relu\n}\n"),
    "a body on one line stays there": (
        "block B(c) {\n repeat 2 {conv(c,k=1) ;relu}\n}\n",
        "block B(c) {\n    repeat 2 { conv(c, k=1); relu }\n}\n"),
    "else, shortcut and { join the line they continue": (
        "block B(c) {\n  if c > 1\n  {\n    relu\n  }\n  else { bn }\n"
        "  residual { relu }\n  shortcut { bn }\n}\n",
        "block B(c) {\n    if c > 1 {\n        relu\n    } else { bn }\n    residual { relu } shortcut { bn }\n}\n"),
    "paths: bars in the gutter, one per line": (
        "block B(c) {\n concat { | conv(c, k=1)\n | conv(c, k=3, p=1) relu\n bn | identity }\n}\n",
        "block B(c) {\n    concat {\n      | conv(c, k=1)\n      | conv(c, k=3, p=1) relu\n        bn\n"
        "      | identity\n    }\n}\n"),
    "a chain continued with ->": (
        "network N {\n input x: [3, 8, 8]\n y = x\n -> conv(8, k=3)\n     -> relu\n output y\n}\n",
        "network N {\n    input x: [3, 8, 8]\n    y = x\n        -> conv(8, k=3)\n        -> relu\n    output y\n}\n"),
    "brackets across lines: one level past the opening line": (
        "network N(\na = 1,\n      b = 2) {\n input [3, 8, 8]\n conv(8,\n k=3,\n  )\n}\n",
        "network N(\n    a = 1,\n    b = 2) {\n    input [3, 8, 8]\n    conv(8,\n        k=3,\n    )\n}\n"),
    "separators: ; only between statements": (
        "network N {;\n input [3, 8, 8];;\n relu ;bn; \n conv(8, k=1,);\n}\n",
        "network N {\n    input [3, 8, 8]\n    relu; bn\n    conv(8, k=1)\n}\n"),
    "aligned statements after ;": (
        "network N {\n input [3, 8, 8]\n conv(8, k=3, p=1) relu;expect [8, 8, 8]\n"
        " maxpool(2);   expect [8, 4, 4]\n\n gap;  expect [8, 1, 1]\n}\n",
        "network N {\n    input [3, 8, 8]\n    conv(8, k=3, p=1) relu; expect [8, 8, 8]\n"
        "    maxpool(2);             expect [8, 4, 4]\n\n    gap; expect [8, 1, 1]\n}\n"),
    "comments: trailing ones aligned, whole-line ones indented like the next line": (
        "# head\nnetwork N {   # net\n input [3, 8, 8] # in\n    # the layers\n relu     # a\n"
        " bn # b\n   # end\n}\n# tail\n",
        "# head\nnetwork N {          # net\n    input [3, 8, 8]  # in\n    # the layers\n    relu  # a\n"
        "    bn    # b\n    # end\n}\n# tail\n"),
    "blank lines: at most one, none at body edges, one around blocks": (
        "\n\nlet a = 1\nlet b = 2\nblock B { relu }\n# about N\nnetwork N {\n\n\n input [3]\n\n\n"
        " relu\n\n}\n\n\n",
        "let a = 1\nlet b = 2\n\nblock B { relu }\n\n# about N\nnetwork N {\n    input [3]\n\n    relu\n}\n"),
    "a comment where a line was joined stays on that line": (
        "block B(c) {\n  if c > 1 { relu }  # big\n  else { bn }\n}\n",
        "block B(c) {\n    if c > 1 { relu } else { bn }  # big\n}\n"),
    "a number before a dot keeps its space": (
        "let a = (1).c\nlet b = 1 .c\n",
        "let a = (1).c\nlet b = 1 .c\n"),
    "labels: numbers, computed strings kept as written, keywords, labels along a chain": (
        "network N {\n input x: [3, 8, 8]\n 0 :conv(8, k=1)\n \"layer{ 1+1 }\":relu\n block :bn\n"
        " s = x->fc1:conv(4, k=1)  act:relu\n}\n",
        "network N {\n    input x: [3, 8, 8]\n    0: conv(8, k=1)\n    \"layer{ 1+1 }\": relu\n    block: bn\n"
        "    s = x -> fc1: conv(4, k=1) act: relu\n}\n"),
    "functions: calls, slices and definitions are tight like Python's": (
        "let f (v, d = 8) = max ( d, int(v + d / 2) ) + sum(n [ :2 ]) + n[1 : ] + n[a : b]\n",
        "let f(v, d = 8) = max(d, int(v + d / 2)) + sum(n[:2]) + n[1:] + n[a:b]\n"),
}


@pytest.mark.parametrize("case", LAYOUT_CASES, ids=list(LAYOUT_CASES))
def test_layout_rule(case: str) -> None:
    source, expected = LAYOUT_CASES[case]
    assert format_text(source) == expected
    assert format_text(expected) == expected


def test_crlf_bom_and_tabs_become_the_canonical_text() -> None:
    text = "\ufeffnetwork N {\r\n\tinput [3]\r\n\trelu\r\n}\r\n"
    assert format_text(text) == "network N {\n    input [3]\n    relu\n}\n"


def test_empty_and_comment_only_files() -> None:
    assert format_text("") == ""
    assert format_text("\n\n") == ""
    assert format_text("  # only a comment   \n\n") == "# only a comment\n"


def test_a_file_that_does_not_parse_is_refused_with_its_errors() -> None:
    with pytest.raises(NotFormatted) as err:
        format_text("network N {\n    conv(6 k=5)\n}\n", "bad.arch")
    assert "does not parse" in str(err.value)
    assert [d.code for d in err.value.diagnostics] == ["E101"]


def test_the_safety_net_refuses_a_layout_that_changes_the_meaning(monkeypatch) -> None:
    """Were a spacing rule wrong (here: no space anywhere), the result would not be written."""
    monkeypatch.setattr(formatter, "_space", lambda a, b, roles: "")
    with pytest.raises(NotFormatted, match="would change its meaning"):
        format_text("network N {\n    input [3, 8, 8]\n    conv(8, k=1) relu bn\n}\n")


def test_same_tree_compares_deep_trees_without_recursion() -> None:
    deep = "network N {\n    input [3, 8, 8]\n    " + "concat { | " * 300 + "relu" + " }" * 300 + "\n}\n"
    with pytest.raises(RecursionError):
        assert tree(deep) == tree(deep)
    assert same_tree(tree(deep), tree(format_text(deep)))
    assert not same_tree(tree("let a = 1 + 2\n"), tree("let a = 1 - 2\n"))
    assert not same_tree(tree("let a = [1, 2]\n"), tree("let a = [1, [2]]\n"))


# -- meaning: every spec in the repository ---------------------------------------------------
def _meaning(path: Path, root: Path) -> list:
    """What a spec means: its diagnostics (code and message, file names relative) and, for
    each network that elaborates, its shapes JSON without source locations."""
    out: list = []
    try:
        diags = archlang.check(path)
    except archlang.UsageError as err:
        return [("usage", str(err).replace(str(root), "ROOT"))]
    out += sorted((d.code, d.message.replace(str(root), "ROOT")) for d in diags)
    try:
        prog = archlang.load(path)
    except archlang.SpecError:
        return out
    for name in prog.networks:
        graph = prog.elaborate(name)
        data = json.loads(table.render(graph, "json"))
        for layer in data.get("layers", []):
            layer.pop("source", None)
        out.append(data)
    return out


def _corpus(directory: str) -> list[Path]:
    return sorted(p for p in (ROOT / directory).rglob("*.arch") if p.is_file())


@pytest.mark.parametrize("directory", CORPUS_DIRS)
def test_formatting_keeps_the_meaning_of_every_spec_in_the_repository(directory: str, tmp_path: Path) -> None:
    """Each file formatted into a mirror of the folder (imports resolve alike), then both
    checked and measured: the same diagnostics and shapes. Files that do not parse are
    refused and copied as they are."""
    files = _corpus(directory)
    assert files
    mirror = tmp_path / directory
    refused = []
    for path in files:
        target = mirror / path.relative_to(ROOT / directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text(encoding="utf-8")
        try:
            formatted = format_text(text, str(path))
        except NotFormatted as err:
            assert err.diagnostics, f"{path}: refused without saying why"
            refused.append(path)
            formatted = text
        else:
            assert format_text(formatted) == formatted, f"{path}: not idempotent"
        target.write_text(formatted, encoding="utf-8")
    for path in files:
        target = mirror / path.relative_to(ROOT / directory)
        assert _meaning(target, mirror) == _meaning(path, ROOT / directory), f"{path}: the meaning changed"
    if directory != "tests":
        assert not refused, refused


# -- meaning: generated programs, laid out at random -----------------------------------------
def _examples() -> int:
    import os
    return int(os.environ.get("ARCHLANG_FMT_EXAMPLES", GENERATED))


@settings(max_examples=_examples(), derandomize=True, database=None, deadline=None,
          phases=[Phase.generate], suppress_health_check=list(HealthCheck))
@given(specs(), st.integers(0, 2**32 - 1))
def test_generated_specs_laid_out_at_random(text: str, seed: int) -> None:
    original = tree(text)
    if original is None:  # the generator can write a call of `cat`, which is a keyword
        return
    rng = random.Random(seed)
    canonical = format_text(text)
    assert format_text(canonical) == canonical
    # Only horizontal spacing changed: exactly the same text.
    assert format_text(scramble(text, rng, horizontal=True)) == canonical
    # Line breaks, comments and separators too: the same meaning, and a fixed point.
    messy = scramble(text, rng)
    assert same_tree(tree(messy), original), "the scrambler changed the meaning:\n" + messy
    tidy = format_text(messy)
    assert same_tree(tree(tidy), original)
    assert re.findall(r"# (?:note|line) \d+", tidy) == re.findall(r"# (?:note|line) \d+", messy)
    assert format_text(tidy) == tidy


@settings(max_examples=20, derandomize=True, database=None, deadline=None,
          phases=[Phase.generate], suppress_health_check=list(HealthCheck))
@given(specs(), st.integers(0, 2**32 - 1))
def test_generated_specs_have_the_same_shapes_formatted(text: str, seed: int) -> None:
    if tree(text) is None:
        return
    tidy = format_text(scramble(text, random.Random(seed)))

    def shapes(spec: str) -> list:
        prog = archlang.load(spec)  # parses: no SpecError for syntax; other errors compare below
        return [json.loads(table.render(prog.elaborate(n), "json")) for n in prog.networks]

    def strip(data: list) -> list:
        for net in data:
            for layer in net.get("layers", []):
                layer.pop("source", None)
        return data

    try:
        before = strip(shapes(text))
    except archlang.SpecError as err:
        with pytest.raises(archlang.SpecError) as again:
            shapes(tidy)
        assert [d.code for d in again.value.diagnostics] == [d.code for d in err.diagnostics]
        return
    assert strip(shapes(tidy)) == before


ORACLE_PROGRAMS = 60   # tests/oracle's generator: the whole language (2,000 were run once: no failure)


def test_the_oracle_generators_programs_laid_out_at_random() -> None:
    from oracle.generator import generate

    for seed in range(ORACLE_PROGRAMS):
        for path, text in generate(seed).files.items():
            canonical = format_text(text)
            assert format_text(canonical) == canonical, (seed, path)
            assert format_text(scramble(text, random.Random(seed), horizontal=True)) == canonical, (seed, path)
            messy = scramble(text, random.Random(seed))
            assert same_tree(tree(messy), tree(text)), f"the scrambler changed the meaning:\n{messy}"
            tidy = format_text(messy)
            assert format_text(tidy) == tidy, (seed, path)


# -- the repository is formatted ------------------------------------------------------------
def test_the_repository_specs_are_formatted(cli) -> None:
    result = cli("fmt", "--check", "specs", "examples", "archlang/prelude.arch")
    assert result.code == 0, result


FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.S | re.M)


def test_the_specs_quoted_in_the_docs_are_formatted() -> None:
    docs = [ROOT / "README.md", ROOT / "examples" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    unformatted = []
    for doc in docs:
        for m in FENCE.finditer(doc.read_text(encoding="utf-8")):
            if m[2] not in ("", "arch"):
                continue
            text = textwrap.dedent(m[3])
            try:
                formatted = format_text(text)
            except NotFormatted:
                continue  # fragments, console output
            if formatted != text:
                unformatted.append(f"{doc.relative_to(ROOT)}: {text.splitlines()[0]}")
    assert not unformatted, unformatted


# -- the command -----------------------------------------------------------------------------
MESSY = "network N {\n  input [3, 8, 8]\n  conv(8,k=1)  # c\n}\n"
TIDY = "network N {\n    input [3, 8, 8]\n    conv(8, k=1)  # c\n}\n"


def test_check_lists_what_would_change_and_writes_nothing(cli, tmp_path: Path) -> None:
    messy, tidy = tmp_path / "messy.arch", tmp_path / "tidy.arch"
    messy.write_text(MESSY)
    tidy.write_text(TIDY)
    result = cli("fmt", "--check", messy, tidy)
    assert result.code == 1
    assert result.err == f"would reformat {messy}\n"
    assert messy.read_text() == MESSY
    assert cli("fmt", "--check", tidy).code == 0


def test_diff_prints_the_change_and_writes_nothing(cli, tmp_path: Path) -> None:
    messy = tmp_path / "messy.arch"
    messy.write_text(MESSY)
    result = cli("fmt", "--diff", messy)
    assert result.code == 0
    assert result.out.startswith(f"--- {messy}\n+++ {messy} (formatted)\n")
    assert "\n-  conv(8,k=1)  # c\n+    input [3, 8, 8]\n+    conv(8, k=1)  # c\n" in result.out
    assert messy.read_text() == MESSY


def test_fmt_rewrites_files_and_directories_in_place(cli, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    a, b = tmp_path / "a.arch", tmp_path / "sub" / "b.arch"
    a.write_text(MESSY)
    b.write_bytes(TIDY.replace("\n", "\r\n").encode())  # CRLF: a change to LF
    (tmp_path / "notes.txt").write_text("not a spec {")
    result = cli("fmt", tmp_path)
    assert result.code == 0, result
    assert a.read_text() == TIDY and b.read_bytes() == TIDY.encode()
    assert result.err == f"reformatted {a}\nreformatted {b}\n"
    assert cli("fmt", tmp_path).err == ""


def test_a_file_that_does_not_parse_is_left_alone(cli, tmp_path: Path) -> None:
    bad, good = tmp_path / "bad.arch", tmp_path / "good.arch"
    bad.write_text("network N {\n    conv(6 k=5)\n}\n")
    good.write_text(MESSY)
    result = cli("fmt", bad, good)
    assert result.code == 1
    assert f"archlang: {bad}: not formatted: it does not parse\nerror[E101]" in result.err
    assert bad.read_text() == "network N {\n    conv(6 k=5)\n}\n"
    assert good.read_text() == TIDY


def test_stdin_to_stdout() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "archlang", "fmt", "-"], input=MESSY, capture_output=True,
                          text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, TIDY, "")
    bad = "network N {\n"
    proc = subprocess.run([sys.executable, "-m", "archlang", "fmt", "-"], input=bad, capture_output=True,
                          text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1 and proc.stdout == bad and "E102" in proc.stderr


def test_an_unreadable_file_is_a_usage_error_and_the_others_still_run(cli, tmp_path: Path) -> None:
    good = tmp_path / "good.arch"
    good.write_text(MESSY)
    (tmp_path / "latin1.arch").write_bytes(b"# caf\xe9\n")
    result = cli("fmt", tmp_path / "missing.arch", tmp_path / "latin1.arch", good)
    assert result.code == 2
    assert "missing.arch: no such file" in result.err and "not UTF-8" in result.err
    assert good.read_text() == TIDY
