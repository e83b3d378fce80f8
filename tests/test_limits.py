"""Resource bounds: every limit of archlang/limits.py, its E4xx, its flag, its default.

- A spec that asks for too much (10**12 parameters, `repeat 1000000000`, a
  product of repeats, tensors larger than memory) is rejected with a located
  E4xx before anything is built: these tests bound the Python memory the
  check allocates (tracemalloc), which is what "allocating nothing" means
  for a compiler that never makes a tensor. (Times are measured, not
  asserted: `bench/fuzz.py --bounds` prints them; see docs/hardening.md.)
- Recursion among blocks (E208) and import cycles (E206) are located errors.
- The defaults admit every real network: ResNet-152, VGG-19 and DenseNet-201
  at 224x224 (parameters as torchvision counts them) check clean.
- Every bound has its flag, the flag raises it, and the two bounds the
  compiler's own recursion depends on have a ceiling that is safe even when
  archlang is called from deep in a caller's stack.
"""
from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pytest

import archlang
from archlang.limits import DEFAULT_LIMITS, Limits

PEAK_BYTES = 4 << 20   # what checking a small spec may allocate, at most


def codes(diags) -> list[str]:
    return [d.code for d in diags]


def checked_with_peak(text: str, limits: Limits | None = None) -> tuple[list, int]:
    """The diagnostics of `text` and the most Python memory the check held at once."""
    archlang.check("network Warm {\n    input [3, 8, 8]\n    relu\n}\n")  # grammar and prelude, once
    tracemalloc.start()
    try:
        diags = archlang.check(text, limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return diags, peak


def net(*body: str, params: str = "") -> str:
    return "network Net" + params + " {\n" + "".join(f"    {line}\n" for line in body) + "}\n"


# -- asking for too much ------------------------------------------------------------------------

@pytest.mark.parametrize("body, code", [
    (["input [1000000]", "linear(1000000)"], "E401"),                         # 10**12 parameters
    (["input [3, 8, 8]", "repeat 1000000000 { conv(8, k=1) }"], "E404"),       # repeat 10**9
    (["input [3, 8, 8]", "repeat 100000 * 100000 { relu }"], "E404"),         # a product, 10**10
    (["input [3, 8, 8]", "repeat 10000 * 10000 * 10000 * 10000 { relu }"], "E404"),
    (["input [3, 100000, 100000]", "conv(1000, k=1)"], "E402"),               # 10**13 activations
    (["input [3, 8, 8]", "let s = [1] * 1000000000"], "E404"),                # a list of 10**9 items
    (["input [3, 8, 8]", 'let s = "a" * 1000000000'], "E404"),
    (["input [3, 8, 8]", "let n = 9223372036854775807 * 2"], "E212"),        # past int64
])
def test_huge_asks_are_rejected_allocating_nothing(body, code):
    diags, peak = checked_with_peak(net(*body))
    assert code in codes(diags), [d.short() for d in diags]
    error = next(d for d in diags if d.code == code)
    assert error.span is not None and error.span.line >= 1   # located
    assert peak < PEAK_BYTES, f"checking it held {peak:,} bytes"


def test_repeat_over_the_bound_makes_no_layer():
    prog = archlang.load(net("input [3, 8, 8]", "repeat 1000000000 { conv(8, k=1) relu }"))
    graph = prog.elaborate()
    assert codes(graph.diagnostics) == ["E404"]
    assert [n.op for n in graph.nodes] == ["input"]
    d = graph.diagnostics[0]
    assert (d.span.line, d.span.col, d.span.text) == (3, 12, "1000000000")


def test_a_product_of_repeats_stops_at_the_layer_bound():
    limits = Limits(max_layers=1000)
    graph = archlang.load(net("input [3, 8, 8]", "repeat 10000 { repeat 10000 { relu } }"), limits).elaborate()
    assert codes(graph.diagnostics) == ["E404"]
    assert len(graph.nodes) <= limits.max_layers
    assert "more than 1,000 layers" in graph.diagnostics[0].message


def test_a_tensor_too_large_for_any_machine_stops_there():
    """Channels doubled 10,000 times: E402 at the concat, and nothing after it says more."""
    diags, peak = checked_with_peak(net("input [3, 8, 8]", "repeat 10000 { concat { | identity | identity } }",
                                        "conv(8, k=1) gap flatten linear(10)"))
    assert codes(diags) == ["E402"]
    assert diags[0].span.text.startswith("concat")
    assert peak < 16 << 20


def test_deep_nesting_is_e403_at_the_level_past_the_bound():
    body = ["input [3, 8, 8]"] + ["repeat 1 {"] * 70 + ["relu"] + ["}"] * 70
    diags = archlang.check(net(*body))
    assert codes(diags) == ["E403"]
    assert diags[0].span.line == 2 + DEFAULT_LIMITS.max_depth + 1  # the 65th `repeat`
    assert archlang.check(net(*body), limits=Limits(max_depth=70)) == []


def test_deep_expressions_are_e403():
    diags = archlang.check(net("input [3, 8, 8]", "conv(" + "1 + " * 200 + "1, k=1)"))
    assert codes(diags) == ["E403"]


# -- recursion and cycles --------------------------------------------------------------------------

def test_a_block_calling_itself_is_located():
    text = "block A(c) {\n    conv(c, k=1)\n    A(c)\n}\n" + net("input [3, 8, 8]", "A(4)")
    (d,) = [d for d in archlang.check(text) if d.is_error]
    assert d.code == "E208" and (d.span.line, d.span.col) == (3, 5) and "A calls itself" in d.message


def test_blocks_calling_each_other_are_located_once():
    text = ("block A { relu B }\nblock B { C }\nblock C { bn A }\n" + net("input [3, 8, 8]", "A"))
    errors = [d for d in archlang.check(text) if d.is_error]
    assert codes(errors) == ["E208"]
    assert (errors[0].span.line, errors[0].span.text) == (1, "B")
    assert "A -> B -> C -> A" in errors[0].message


def test_an_import_cycle_is_located(tmp_path: Path):
    (tmp_path / "a.arch").write_text('import "b.arch"\nblock A { relu }\n')
    (tmp_path / "b.arch").write_text('# b\nimport "a.arch"\nblock B { relu }\n')
    (tmp_path / "main.arch").write_text('import "a.arch"\n' + net("input [3, 8, 8]", "A B"))
    (d,) = archlang.check(tmp_path / "main.arch")
    assert d.code == "E206"
    assert (Path(d.span.file).name, d.span.line, d.span.col, d.span.text) == ("b.arch", 2, 8, '"a.arch"')
    assert re.search(r"a\.arch -> \S*b\.arch -> \S*a\.arch", d.message), d.message


def test_a_file_importing_itself_is_a_cycle(tmp_path: Path):
    (tmp_path / "main.arch").write_text('import "./main.arch"\n' + net("input [3, 8, 8]", "relu"))
    assert codes(archlang.check(tmp_path / "main.arch")) == ["E206"]


def test_imports_nested_too_deep(tmp_path: Path):
    for i in range(40):
        (tmp_path / f"f{i}.arch").write_text(f'import "f{i + 1}.arch"\n' if i < 39 else "block Z { relu }\n")
    (tmp_path / "main.arch").write_text('import "f0.arch"\n' + net("input [3, 8, 8]", "Z"))
    (d,) = archlang.check(tmp_path / "main.arch")
    assert d.code == "E406" and d.span is not None
    assert archlang.check(tmp_path / "main.arch", limits=Limits(max_import_depth=45)) == []


# -- file size ------------------------------------------------------------------------------------

def test_a_file_over_the_size_bound_is_not_read(tmp_path: Path):
    big = tmp_path / "big.arch"
    with open(big, "wb") as f:
        f.write(net("input [3, 8, 8]", "relu").encode())
        f.write(b"# " + b"x" * (DEFAULT_LIMITS.max_file_bytes + 10) + b"\n")
    tracemalloc.start()
    try:
        diags = archlang.check(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert codes(diags) == ["E405"]
    assert peak < 1 << 20, "the file was read although it is over the bound"
    assert codes(archlang.check(big, limits=Limits(max_file_bytes=8_000_000))) == []


def test_an_imported_file_over_the_size_bound(tmp_path: Path):
    (tmp_path / "lib.arch").write_text("block L { relu }\n" + "# padding\n" * 200)
    (tmp_path / "main.arch").write_text('import "lib.arch"\n' + net("input [3, 8, 8]", "L"))
    (d,) = archlang.check(tmp_path / "main.arch", limits=Limits(max_file_bytes=1000))
    assert d.code == "E405" and (Path(d.span.file).name, d.span.line) == ("main.arch", 1)


# -- flags and ceilings ---------------------------------------------------------------------------

def test_every_bound_has_a_flag_that_raises_it(cli):
    result = cli("check", "--help")
    for flag, field in Limits.FLAGS.items():
        assert flag in result.out and f"{getattr(DEFAULT_LIMITS, field):,}" in result.out
    assert set(Limits.FLAGS.values()) == set(DEFAULT_LIMITS.__dataclass_fields__)


def test_a_flag_raises_the_bound(cli, tmp_path: Path):
    spec = tmp_path / "wide.arch"
    spec.write_text(net("input [1000000]", "linear(1000000)"))
    assert cli("check", spec).code == 1
    assert cli("check", spec, "--max-params", "2000000000000").code == 0


@pytest.mark.parametrize("flag", ["--max-depth", "--max-import-depth"])
def test_ceilings_are_usage_errors(cli, flag):
    over = cli("check", "specs/lenet.arch", flag, "101")
    assert over.code == 2 and len(over.err.strip().splitlines()) == 1 and "at most 100" in over.err
    assert cli("check", "specs/lenet.arch", flag, "100").code == 0
    assert cli("check", "specs/lenet.arch", flag, "0").code == 2
    with pytest.raises(ValueError):
        Limits(**{flag[2:].replace("-", "_"): 101})


NESTINGS = {
    "repeat": ("repeat 1 {", "}"),
    "if": ("if true {", "}"),
    "concat": ("concat { |", "}"),
    "residual": ("residual {", "}"),
    "add": ("add { | conv(3, k=1) |", "}"),
}


def _deep_stack(frames: int, fn):
    return fn() if frames == 0 else _deep_stack(frames - 1, fn)


@pytest.mark.parametrize("kind", sorted(NESTINGS) + ["blocks"])
def test_the_depth_ceiling_is_safe_from_a_deep_caller(kind, tmp_path: Path):
    """At --max-depth 100, one level more is E403 (not RecursionError), with 200 frames below archlang,
    and every stage (elaborate, table, DOT, PyTorch source) copes with the deepest allowed nesting."""
    from fuzzing.harness import run_file  # every stage

    depth = Limits.CEILINGS["max_depth"]
    limits = Limits(max_depth=depth)
    for levels, expected in ((depth, []), (depth + 1, ["E403"])):
        if kind == "blocks":
            text = "".join(f"block B{i}(c = 1) {{ B{i + 1}(c + 1) }}\n" for i in range(levels - 1))
            text += f"block B{levels - 1}(c = 1) {{ conv(" + " + ".join(["c"] * 45) + ", k=1) }\n"
            text += net("input [3, 8, 8]", "B0")
        else:
            opener, closer = NESTINGS[kind]
            text = net("input [3, 8, 8]", *([opener] * levels), "relu", *([closer] * levels))
        path = tmp_path / f"deep{levels}.arch"
        path.write_text(text)
        outcome = _deep_stack(200, lambda: run_file(path, limits))
        assert outcome.status == "ok", outcome.trace
        assert [c for c in outcome.codes if c.startswith("E")] == expected


# -- the defaults admit real networks -----------------------------------------------------------

RESNET152 = """
block Bottleneck(c, s = 1) {
    add {
      | conv(c, k=1, bias=false) bn relu
        conv(c, k=3, s=s, p=1, bias=false) bn relu
        conv(4 * c, k=1, bias=false) bn
      | if s != 1 or in.c != 4 * c { conv(4 * c, k=1, s=s, bias=false) bn }
    }
    relu
}
block Layer(c, n, s = 1) {
    Bottleneck(c, s=s)
    repeat n - 1 { Bottleneck(c) }
}
network ResNet152 {
    input [3, 224, 224]
    conv(64, k=7, s=2, p=3, bias=false) bn relu maxpool(3, s=2, p=1)
    Layer(64, 3)
    Layer(128, 8, s=2)
    Layer(256, 36, s=2)
    Layer(512, 3, s=2)
    gap flatten linear(1000)
}
"""

VGG19 = """
block Stage(n, c) {
    repeat n { conv(c, k=3, p=1) relu }
    maxpool(2)
}
network VGG19 {
    input [3, 224, 224]
    Stage(2, 64) Stage(2, 128) Stage(4, 256) Stage(4, 512) Stage(4, 512)
    adaptive_avgpool(7) flatten
    linear(4096) relu dropout
    linear(4096) relu dropout
    linear(1000)
}
"""

DENSENET201 = """
block Layer(growth) {
    concat { | identity | bn relu conv(4 * growth, k=1, bias=false) bn relu conv(growth, k=3, p=1, bias=false) }
}
block Transition(c) { bn relu conv(c, k=1, bias=false) avgpool(2) }
network DenseNet201(growth = 32) {
    input [3, 224, 224]
    conv(64, k=7, s=2, p=3, bias=false) bn relu maxpool(3, s=2, p=1)
    repeat 6 { Layer(growth) }
    Transition(cur.c // 2)
    repeat 12 { Layer(growth) }
    Transition(cur.c // 2)
    repeat 48 { Layer(growth) }
    Transition(cur.c // 2)
    repeat 32 { Layer(growth) }
    bn relu gap flatten linear(1000)
}
"""


@pytest.mark.parametrize("text, params", [
    (RESNET152, 60_192_808), (VGG19, 143_667_240), (DENSENET201, 20_013_928),
], ids=["resnet152", "vgg19", "densenet201"])
def test_defaults_admit_real_networks(text, params):
    graph = archlang.load(text).network()
    assert graph.params_total == params   # torchvision's count for the same network
    assert graph.params_total * 10 < DEFAULT_LIMITS.max_params
    assert len(graph.nodes) * 100 < DEFAULT_LIMITS.max_layers


# -- huge asks through the command line -------------------------------------------------------------

@pytest.mark.parametrize("args, code, words", [
    (["--input", "1x" + "9" * 5000 + "x28"], 2, "too large for a size"),
    (["--set", "classes=" + "9" * 5000], 2, "too large"),
    (["--set", "classes=" + "[" * 3000 + "]" * 3000], 2, "nested more than"),
    (["--input", "1x\u00b2x28"], 2, "not a positive size"),   # a superscript two is a digit to str.isdigit
    (["--set", "classes=1e999"], 1, "E211"),
    (["--set", "classes=9223372036854775808"], 1, "E211"),
    (["--input", "1x99999999999999999x28"], 1, "E402"),
    (["--max-params", "9" * 5000], 2, "invalid int value"),
])
def test_huge_asks_from_the_command_line(cli, args, code, words):
    result = cli("check", "specs/lenet.arch", *args)
    assert result.code == code, result
    assert words in result.err and "internal error" not in result.err
    if code == 2:
        assert len(result.err.strip().splitlines()) == 1
