"""The `check` and `shapes` commands: exit codes, formats, flags, and bad input.

Every bad input must give a located diagnostic (exit 1) or one usage line
(exit 2), never a traceback. Specs are written inline so the numbers below
can be checked by hand.
"""
from __future__ import annotations

import csv
import io
import json

import pytest

LENET = """\
# LeNet with batch normalization (d2l 7.5)
network LeNetBN(classes = 10) {
    input [1, 28, 28]
    conv(6, k=5)  bn  sigmoid  avgpool(2)
    conv(16, k=5) bn  sigmoid  avgpool(2)
    flatten
    linear(120) bn sigmoid
    linear(84)  bn sigmoid
    linear(classes)
}
"""
# params: 156 + 12 + 2416 + 32 + 30840 + 240 + 10164 + 168 + 850
LENET_PARAMS = 44878
# MACs: conv 6*24*24*25 + 16*8*8*150, linear 256*120 + 120*84 + 84*10
LENET_MACS = 86400 + 153600 + 30720 + 10080 + 840

TWO_NETS = """\
network Small {
    input [3, 8, 8]
    conv(4, k=3) relu gap flatten linear(2)
}

network Wide(width = 8) {
    input [3, 8, 8]
    conv(width, k=3, p=1) relu gap flatten linear(5)
}
"""

# linear on a rank-3 tensor (E306), line 4 col 5
BROKEN = """\
network Broken {
    input [1, 28, 28]
    conv(6, k=5) relu
    linear(10)
    relu
}
"""

BLOCKS = """\
block Pair(c) {
    conv(c, k=3, p=1) relu
    conv(c, k=3, p=1) relu
}

block Stage(c) {
    Pair(c)
    maxpool(2)
}

network Nested {
    input [3, 16, 16]
    stage1: Stage(8)
    stage2: Stage(16)
    gap flatten linear(4)
}
"""

SYMBOLIC = """\
network Fcn {
    input x: [3, H, W]
    conv(8, k=3, p=1) relu
    maxpool(2)
    conv(2, k=1)
}
"""


@pytest.fixture
def spec(tmp_path):
    """spec(text, name) writes an .arch file and returns its path."""
    def write(text: str, name: str = "net.arch"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return write


def no_traceback(result) -> None:
    assert "Traceback" not in result.err and "Traceback" not in result.out, result


# -- check ------------------------------------------------------------------------------

def test_check_ok_prints_one_summary_per_network(cli, spec):
    result = cli("check", spec(LENET))
    assert result.code == 0, result
    line, = result.out.strip().splitlines()
    assert "LeNetBN: [1, 28, 28] -> [10]" in line
    assert "44.9K params" in line and "281.6K MACs" in line
    assert result.err == ""


def test_check_checks_every_network_and_every_file(cli, spec):
    result = cli("check", spec(LENET, "a.arch"), spec(TWO_NETS, "b.arch"))
    assert result.code == 0, result
    out = result.out
    assert "LeNetBN:" in out and "Small:" in out and "Wide:" in out
    assert len(out.strip().splitlines()) == 3


def test_check_error_is_located_and_exits_1(cli, spec):
    path = spec(BROKEN)
    result = cli("check", path)
    assert result.code == 1, result
    assert "error[E306]" in result.err
    assert f"{path}:4:5" in result.err
    assert "1 error" in result.err
    no_traceback(result)


def test_check_reports_the_good_files_beside_the_bad(cli, spec):
    result = cli("check", spec(BROKEN, "bad.arch"), spec(LENET, "good.arch"))
    assert result.code == 1, result
    assert "LeNetBN:" in result.out
    assert "E306" in result.err


def test_check_syntax_error(cli, spec):
    result = cli("check", spec("network N {\n    input [1, 28, 28]\n    conv(6, k=5\n}\n"))
    assert result.code == 1, result
    assert "error[E1" in result.err
    no_traceback(result)


def test_check_json_schema(cli, spec):
    result = cli("check", "--format", "json", spec(BROKEN))
    assert result.code == 1, result
    data = json.loads(result.out)
    assert set(data) == {"ok", "diagnostics"}
    assert data["ok"] is False
    diag = data["diagnostics"][0]
    for key in ("severity", "code", "message", "file", "line", "col", "end_line", "end_col",
                "notes", "help", "call_stack"):
        assert key in diag, key
    assert (diag["severity"], diag["code"], diag["line"], diag["col"]) == ("error", "E306", 4, 5)
    assert diag["end_line"] >= diag["line"]


def test_check_json_ok(cli, spec):
    result = cli("check", "--format", "json", spec(LENET))
    assert result.code == 0, result
    assert json.loads(result.out) == {"ok": True, "diagnostics": []}


def test_check_short_is_one_line_per_diagnostic(cli, spec):
    path = spec(BROKEN)
    result = cli("check", "--format", "short", path)
    assert result.code == 1, result
    lines = result.err.strip().splitlines()
    assert lines[0].startswith(f"{path}:4:5: error[E306]: ")
    assert all("error[" in line or "warning[" in line for line in lines)


def test_check_network_flag_picks_one(cli, spec):
    result = cli("check", spec(TWO_NETS), "--network", "Wide")
    assert result.code == 0, result
    assert "Wide:" in result.out and "Small:" not in result.out


def test_check_unknown_network_lists_the_names(cli, spec):
    result = cli("check", spec(TWO_NETS), "--network", "Nope")
    assert result.code == 2, result
    assert "Small, Wide" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_check_set_overrides_a_parameter(cli, spec):
    result = cli("check", spec(LENET), "--set", "classes=3")
    assert result.code == 0, result
    assert "-> [3]" in result.out


def test_check_input_override(cli, spec):
    result = cli("check", spec(LENET), "--input", "1x32x32")
    assert result.code == 0, result
    assert "[1, 32, 32] -> [10]" in result.out


def test_check_blocks_only_file(cli, spec):
    result = cli("check", spec("block B(c) {\n    conv(c, k=1)\n}\n"))
    assert result.code == 0, result
    assert "no network" in result.out


# -- shapes -----------------------------------------------------------------------------

def test_shapes_table(cli, spec):
    result = cli("shapes", spec(LENET))
    assert result.code == 0, result
    out = result.out
    assert "Layer" in out and "Op" in out and "Output" in out and "Params" in out and "MACs" in out
    assert "conv(6, k=5)" in out and "[6, 24, 24]" in out and "[16, 4, 4]" in out
    assert "44,878" in out and "281,640" in out
    assert "Multiply-accumulates" in out and "FLOPs per sample" in out
    assert "Parameter memory: 179.5 kB" in out  # 44878 * 4 bytes


def test_shapes_json_matches_the_design(cli, spec):
    path = spec(LENET)
    result = cli("shapes", "--format", "json", path)
    assert result.code == 0, result
    data = json.loads(result.out)
    assert list(data) == ["network", "inputs", "outputs", "params", "trainable_params", "macs", "flops",
                          "activations", "layers"]
    assert data["network"] == "LeNetBN"
    assert data["inputs"][0]["shape"] == [1, 28, 28]
    assert data["outputs"][0]["shape"] == [10]
    assert (data["params"], data["trainable_params"], data["macs"]) == (LENET_PARAMS, LENET_PARAMS, LENET_MACS)
    layers = [row for row in data["layers"] if row["kind"] == "layer"]
    first = layers[0]
    assert set(first) == {"kind", "name", "level", "op", "call", "output", "params", "macs", "flops", "source",
                          "status"}
    assert (first["op"], first["output"], first["params"], first["macs"]) == ("conv", [6, 24, 24], 156, 86400)
    assert first["source"] == f"{path}:4:5"
    assert sum(layer["params"] for layer in layers) == LENET_PARAMS
    assert data["activations"] == sum(_elements(layer["output"]) for layer in layers)
    assert data["flops"] == sum(layer["flops"] for layer in layers)


def _elements(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def test_shapes_csv_is_exact(cli, spec):
    result = cli("shapes", "--format", "csv", spec(LENET))
    assert result.code == 0, result
    table = list(csv.DictReader(io.StringIO(result.out)))
    layers = [r for r in table if r["kind"] == "layer"]
    assert sum(int(r["params"]) for r in layers) == LENET_PARAMS
    assert sum(int(r["macs"]) for r in layers) == LENET_MACS


def test_shapes_markdown(cli, spec):
    result = cli("shapes", "--format", "markdown", spec(LENET))
    assert result.code == 0, result
    lines = result.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| Layer"))
    assert lines[header + 1].startswith("|:---")
    assert any("conv(16, k=5)" in line for line in lines)


def test_shapes_nested_blocks_and_depth(cli, spec):
    path = spec(BLOCKS)
    full = cli("shapes", path)
    assert full.code == 0, full
    rows = full.out.splitlines()
    stage = next(r for r in rows if r.startswith("stage1 "))
    pair = next(r for r in rows if r.lstrip().startswith("pair1 "))
    assert "Stage(8)" in stage and "[8, 8, 8]" in stage
    assert pair.startswith("  pair1") and "Pair(8)" in pair
    assert any(r.startswith("    conv") for r in rows)  # layers of Pair, two levels in

    folded = cli("shapes", path, "--depth", "0")
    assert folded.code == 0, folded
    assert "Stage(8)" in folded.out and "Pair(" not in folded.out
    assert not any(r.startswith("  ") for r in folded.out.splitlines())
    assert _totals(folded.out) == _totals(full.out)


def test_shapes_labelled_chain_is_a_group_row(cli, spec):
    text = BLOCKS.replace("stage1: Stage(8)", "head: conv(4, k=1) Pair(4) relu\n    stage1: Stage(8)")
    result = cli("shapes", spec(text))
    assert result.code == 0, result
    head = next(r for r in result.out.splitlines() if r.startswith("head "))
    assert "conv(4, k=1) Pair(4) relu" in head and "[4, 16, 16]" in head


def _totals(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("Params:", "Multiply"))]


def test_shapes_broken_spec_prints_table_then_errors(cli, spec):
    result = cli("shapes", spec(BROKEN))
    assert result.code == 1, result
    rows = result.out.splitlines()
    assert any("[6, 24, 24]" in r for r in rows)          # the table up to the failure
    assert any(r.startswith("linear") and "error" in r for r in rows)
    assert any(r.startswith("relu") and "?" in r for r in rows)  # downstream: unknown
    assert "error[E306]" in result.err
    no_traceback(result)


def test_shapes_symbolic_input(cli, spec):
    result = cli("shapes", "--format", "json", spec(SYMBOLIC))
    assert result.code == 0, result
    data = json.loads(result.out)
    assert data["inputs"] == [{"name": "x", "shape": [3, "H", "W"]}]
    channels, height, width = data["outputs"][0]["shape"]
    assert channels == 2 and "H" in height and "W" in width  # expressions, however simplified
    assert data["smallest_input"] == [[3, 2, 2]]
    assert isinstance(data["conditions"], list)
    # counts that depend on the sizes are taken at the smallest input: H = W = 2
    assert data["macs"] == 8 * 2 * 2 * 27 + 2 * 1 * 1 * 8


def test_shapes_needs_network_when_several(cli, spec):
    result = cli("shapes", spec(TWO_NETS))
    assert result.code == 2, result
    assert "--network" in result.err and "Small, Wide" in result.err


def test_shapes_set_and_input(cli, spec):
    path = spec(TWO_NETS)
    result = cli("shapes", path, "-n", "Wide", "--set", "width=12", "--input", "3x10x10", "--format", "json")
    assert result.code == 0, result
    data = json.loads(result.out)
    assert data["inputs"][0]["shape"] == [3, 10, 10]
    assert data["layers"][1]["output"] == [12, 10, 10]   # after the input row


def test_shapes_negative_depth_is_usage_error(cli, spec):
    result = cli("shapes", spec(LENET), "--depth", "-1")
    assert result.code == 2, result


# -- usage errors: exit 2, one line, never a traceback ------------------------------------

@pytest.mark.parametrize("command", ["check", "shapes"])
def test_missing_file(cli, tmp_path, command):
    result = cli(command, tmp_path / "nope.arch")
    assert result.code == 2, result
    assert "nope.arch" in result.err and len(result.err.strip().splitlines()) == 1
    no_traceback(result)


@pytest.mark.parametrize("command", ["check", "shapes"])
def test_directory(cli, tmp_path, command):
    result = cli(command, tmp_path)
    assert result.code == 2, result
    assert "directory" in result.err
    no_traceback(result)


@pytest.mark.parametrize("command", ["check", "shapes"])
def test_not_utf8(cli, tmp_path, command):
    path = tmp_path / "latin1.arch"
    path.write_bytes("network N {\n  input [1, 2, 2]  # caf\xe9\n}\n".encode("latin-1"))
    result = cli(command, path)
    assert result.code == 2, result
    assert "UTF-8" in result.err and ":2:" in result.err
    no_traceback(result)


@pytest.mark.parametrize("argv", [
    ["check", "--bogus", "x.arch"],
    ["shapes"],
    ["shapes", "x.arch", "--format", "yaml"],
    ["frobnicate"],
    [],
    ["check", "{file}", "--input", "3xfoo"],
    ["check", "{file}", "--set", "noequals"],
    ["check", "{file}", "--max-params", "0"],
])
def test_usage_errors(cli, spec, argv):
    path = spec(LENET)
    result = cli(*[a.replace("{file}", str(path)) for a in argv])
    assert result.code == 2, result
    assert result.out == ""
    no_traceback(result)


def test_colour_is_forced_or_refused_by_the_environment(cli, spec, monkeypatch):
    path = spec(BROKEN)
    assert "\x1b[" not in cli("check", path).err  # NO_COLOR, set by the fixture
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    coloured = cli("check", path)
    assert coloured.code == 1 and "\x1b[" in coloured.err


def test_help_exits_0(cli):
    result = cli("shapes", "--help")
    assert result.code == 0
    assert "--depth" in result.out and "--format" in result.out


# -- end to end, in a fresh interpreter -------------------------------------------------------

def test_process_exit_codes(archlang_process, spec):
    ok = archlang_process("check", spec(LENET, "ok.arch"))
    bad = archlang_process("check", spec(BROKEN, "bad.arch"))
    usage = archlang_process("shapes", spec(TWO_NETS, "two.arch"))
    assert (ok.code, bad.code, usage.code) == (0, 1, 2), (ok, bad, usage)
    assert "E306" in bad.err and "Small, Wide" in usage.err
    version = archlang_process("--version")
    assert version.code == 0 and version.out.startswith("archlang ")


def test_reader_leaving_early_is_not_an_error(spec):
    """`archlang shapes big.arch | head -1`: a closed pipe ends quietly."""
    import subprocess
    import sys

    from conftest import ROOT
    text = "network Long {\n    input [4, 8, 8]\n" + "    conv(4, k=1) relu\n" * 1500 + "}\n"
    proc = subprocess.run(f"'{sys.executable}' -m archlang shapes '{spec(text)}' | head -1; exit ${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.stdout.startswith("network Long")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception" not in proc.stderr, proc.stderr
