"""Elaboration: AST to graph.

Names and scopes, blocks and their call stacks, repeat/if/let/expect,
`cur` and `in`, DAG bindings, the limits, and the examples of LANGUAGE.md
section 9 with their output shapes.
"""
from __future__ import annotations

import time

import pytest

import archlang
from archlang.limits import Limits
from archlang.shapes import UNKNOWN, Expr

H, W = Expr.symbol("H"), Expr.symbol("W")

SECTION_9 = """
block Residual(c, s = 1) {
    add {
      | conv(c, k=3, p=1, s=s) bn relu
        conv(c, k=3, p=1) bn
      | if s != 1 or in.c != c { conv(c, k=1, s=s) }
    }
    relu
}

block Stage(c, n, first = false) {
    Residual(c, s = 1 if first else 2)
    repeat n - 1 { Residual(c) }
}

network ResNet18(classes = 10) {
    input [1, 96, 96]
    stem: conv(64, k=7, s=2, p=3) bn relu maxpool(3, s=2, p=1)
    Stage(64, 2, first=true)
    Stage(128, 2)
    Stage(256, 2)
    Stage(512, 2)
    expect [512, 3, 3]
    gap flatten linear(classes)
}

network DenseNet(classes = 10, growth = 32) {
    input [1, 96, 96]
    conv(64, k=7, s=2, p=3) bn relu maxpool(3, s=2, p=1)
    repeat 4 as i {
        dense(4, growth)
        if i < 3 { transition(cur.c // 2) }   # halve what the dense block produced
    }
    bn relu gap flatten linear(classes)
}

network TinyUNet {
    input x: [3, H, W]
    e1 = x  -> conv(16, k=3, p=1) relu
    e2 = e1 -> maxpool(2) conv(32, k=3, p=1) relu
    y  = cat(e2 -> upsample(2), e1) -> conv(2, k=1)
    output y
}
"""


@pytest.fixture(scope="module")
def section9():
    return archlang.load(SECTION_9)


def graph_of(body: str, blocks: str = "", **params):
    """The graph of a one-network spec; it may carry errors."""
    return archlang.load(f"{blocks}\nnetwork N {{\n{body}\n}}\n").elaborate(**params)


def clean(body: str, blocks: str = "", **params):
    graph = graph_of(body, blocks, **params)
    assert graph.ok, [d.short() for d in graph.diagnostics]
    return graph


def codes(graph) -> list[str]:
    return [d.code for d in graph.diagnostics]


def names(graph) -> list[str]:
    return [n.name for n in graph.nodes]


# -- the examples of LANGUAGE.md ---------------------------------------------------------------
def test_resnet18_yields_ten_classes(section9) -> None:
    graph = section9.network("ResNet18")
    assert graph.output_shapes() == [(10,)] and not graph.diagnostics
    assert graph.params_total == 11_178_378  # DESIGN.md's figure for d2l's ResNet-18 on 1x96x96


def test_densenet_yields_ten_classes(section9) -> None:
    graph = section9.network("DenseNet")
    assert graph.output_shapes() == [(10,)] and not graph.diagnostics
    # 64 + 4 * 32 = 192, halved to 96, ... the last dense block leaves 120 + 128 = 248 channels.
    assert [n.shape for n in graph.nodes if n.op == "bn"][-1] == (248, 3, 3)


def test_tiny_unet_is_symbolic_with_conditions(section9) -> None:
    graph = section9.network("TinyUNet")
    assert graph.output_shapes() == [(2, H, W)]
    assert graph.symbols == ["H", "W"]
    assert graph.smallest_input == [(3, 2, 2)]
    assert graph.conditions  # H and W must be even for the skip connection to fit
    assert [p.name for p in graph.inputs] == ["x"] and [p.name for p in graph.outputs] == ["y"]


def test_parameters_follow_the_call(section9) -> None:
    assert section9.network("ResNet18", classes=7).output_shapes() == [(7,)]
    assert section9.network("DenseNet", growth=16).output_shapes() == [(10,)]


def test_input_override(section9) -> None:
    graph = section9.network("TinyUNet", input=[3, 64, "W"])
    assert graph.output_shapes() == [(2, 64, W)] and graph.symbols == ["W"]
    bigger = section9.elaborate("ResNet18", input=[1, 224, 224])
    assert bigger.input_shapes() == [(1, 224, 224)]
    assert [d.code for d in bigger.diagnostics] == ["E307"]  # its expect line was written for 96x96


# -- names and scopes ------------------------------------------------------------------------------
def test_automatic_names_count_per_op_and_scope() -> None:
    graph = clean("input [3, 8, 8]\nconv(4, k=1) relu conv(4, k=1) bn relu")
    assert names(graph) == ["x", "conv1", "relu1", "conv2", "bn1", "relu2"]


def test_labels_name_layers_and_reserve_their_names() -> None:
    graph = clean("input [3, 8, 8]\nconv(4, k=1)\nconv1: conv(4, k=1)\nfc: relu")
    assert names(graph) == ["x", "conv2", "conv1", "fc"]  # the unlabelled conv does not take conv1


def test_a_labelled_chain_is_a_group_scope() -> None:
    graph = clean("input [3, 8, 8]\nstem: conv(4, k=3, p=1) bn relu\nrelu")
    assert names(graph) == ["x", "stem.conv1", "stem.bn1", "stem.relu1", "relu1"]
    (stem,) = graph.root.children
    assert (stem.path, stem.block, stem.entry, stem.exit) == ("stem", "stem", 0, 3)


def test_block_instances_and_paths() -> None:
    blocks = "block Pair(c) { concat { | identity | conv(c, k=1) relu } }"
    graph = clean("input [3, 8, 8]\nPair(4)\nsecond: Pair(4)\nPair(2)", blocks)
    assert names(graph)[1:4] == ["pair1.conv1", "pair1.relu1", "pair1.concat1"]
    assert [s.path for s in graph.root.children] == ["pair1", "second", "pair2"]
    first, second, third = graph.root.children
    assert first.call == "Pair(4)" and first.block == "Pair"
    assert (first.entry, first.exit) == (0, 3)
    assert first.key != second.key  # same arguments, but the input has 7 channels now
    assert graph.output_shapes() == [(3 + 4 + 4 + 2,) + (8, 8)]


def test_equal_instances_have_equal_keys() -> None:
    blocks = "block B(c) { conv(c, k=3, p=1) relu }"
    graph = clean("input [4, 8, 8]\nB(4)\nB(4)\nB(8)", blocks)
    a, b, c = graph.root.children
    assert a.key == b.key != c.key


def test_call_text_shows_evaluated_arguments() -> None:
    graph = clean("input [192, 28, 28]\nlet w = 32\ninception(64, [96, 128], [16, w], w)")
    (scope,) = graph.root.children
    assert scope.call == "inception(64, [96, 128], [16, 32], 32)"
    assert graph.output_shapes() == [(64 + 128 + 32 + 32, 28, 28)]


def test_layers_in_paths_are_numbered_through_the_scope() -> None:
    # No path prefixes: a person numbers conv1, conv2 across the paths of a block (issue 13).
    graph = clean("input x: [4, 8, 8]\nresidual { conv(4, k=3, p=1) } shortcut { conv(4, k=1) }\n"
                  "add { | relu | bn }\nconcat { | relu | x -> conv(2, k=1) }")
    assert names(graph)[1:] == ["conv1", "conv2", "residual1", "relu1", "bn1", "add1", "relu2", "conv3", "concat1"]


def test_names_are_unique_and_dotted() -> None:
    graph = archlang.load(SECTION_9).network("ResNet18")
    assert len(set(names(graph))) == len(graph.nodes)
    assert "stage2.residual1.conv3" in names(graph)  # the projection of the first block of stage 2
    assert "stage1.residual1.conv3" not in names(graph)  # no projection where the channels agree


# -- cur and in -----------------------------------------------------------------------------------
def test_cur_is_the_tensor_the_layer_receives() -> None:
    graph = clean("input [3, 8, 8]\nconv(16, k=1) conv(cur.c * 2, k=1) conv(cur.h, k=1)")
    assert [n.shape[0] for n in graph.nodes] == [3, 16, 32, 8]


def test_in_is_what_entered_the_innermost_body() -> None:
    blocks = "block Widen(c) { conv(in.c + c, k=1) conv(in.c, k=1) }"
    graph = clean("input [3, 8, 8]\nconv(5, k=1)\nWiden(2)\n"
                  "repeat 2 { conv(in.c * 2, k=1) }\n"
                  "concat { | conv(in.c, k=1) | identity }", blocks)
    assert [n.shape[0] for n in graph.nodes] == [3, 5, 7, 5, 10, 20, 20, 40]


def test_an_if_condition_sees_the_body_around_it() -> None:
    blocks = "block B(c) { conv(c, k=1); if in.c != c { relu } }"
    graph = clean("input [3, 8, 8]\nB(3)\nB(4)", blocks)
    assert [n.op for n in graph.nodes] == ["input", "conv", "conv", "relu"]


def test_shape_attributes_by_rank() -> None:
    graph = clean("input [3, 8, 6]\nconv(cur.w, k=1)\nflatten\nlinear(cur.f // 8)\n"
                  "let s = cur.shape\nlinear(s[0] + cur.rank)")
    assert graph.output_shapes() == [(37,)]  # [6, 8, 6] -> [288] -> [36] -> 36 + rank 1


def test_missing_shape_attribute_is_e213() -> None:
    graph = graph_of("input [3, 8, 8]\nconv(cur.l, k=1)")
    (d,) = graph.diagnostics
    assert d.code == "E213" and d.span.text == "cur.l"
    assert "`.c`, `.h`, `.w`" in d.notes[0]


# -- repeat, if, let, expect -----------------------------------------------------------------------
def test_repeat_counts_and_loop_variable() -> None:
    graph = clean("input [1, 8, 8]\nrepeat 0 { relu }\nrepeat 3 as i { conv(i + 1, k=1) }")
    assert [n.shape[0] for n in graph.nodes[1:]] == [1, 2, 3]


def test_repeat_over_the_limit_is_checked_before_looping() -> None:
    start = time.perf_counter()
    graph = archlang.load("network N {\n input [1, 8, 8]\n repeat 1000000000 { relu }\n}\n",
                          limits=Limits(max_repeat=100)).elaborate()
    assert time.perf_counter() - start < 5
    (d,) = graph.diagnostics
    assert d.code == "E404" and d.span.text == "1000000000"


def test_too_many_layers_stops_with_one_error() -> None:
    program = archlang.load("network N {\n input [1, 8, 8]\n repeat 10 { repeat 10 { relu } }\n}\n",
                            limits=Limits(max_layers=50))
    graph = program.elaborate()
    assert codes(graph) == ["E404"] and len(graph.nodes) == 50


def test_nesting_too_deep() -> None:
    blocks = "block A(c) { relu }\nblock B(c) { A(c) }\nblock C(c) { B(c) }"
    graph = archlang.load(blocks + "\nnetwork N {\n input [1, 8, 8]\n C(1)\n}\n",
                          limits=Limits(max_depth=2)).elaborate()
    assert codes(graph) == ["E403"] and graph.diagnostics[0].span.text == "A(c)"


def test_if_else_chain() -> None:
    body = "input [1, 8, 8]\nlet k = {k}\nif k == 1 {{ relu }} else if k == 2 {{ bn }} else {{ gap }}"
    assert [n.op for n in clean(body.format(k=1)).nodes] == ["input", "relu"]
    assert [n.op for n in clean(body.format(k=2)).nodes] == ["input", "bn"]
    assert [n.op for n in clean(body.format(k=3)).nodes] == ["input", "gap"]


def test_let_is_local_to_its_body_and_constants_are_global() -> None:
    blocks = "let width = 8\nblock B() { let w = width * 2; conv(w, k=1) }"
    graph = clean("input [1, 8, 8]\nB()\nrepeat 2 as i { let w = i + 1; conv(w, k=1) }\nconv(width, k=1)", blocks)
    assert [n.shape[0] for n in graph.nodes[1:]] == [16, 1, 2, 8]


def test_defaults_may_use_earlier_parameters_and_in() -> None:
    blocks = "block B(c = in.c, d = c * 2) { conv(d, k=1) }"
    graph = clean("input [3, 8, 8]\nB()\nB(5)", blocks)
    assert [n.shape[0] for n in graph.nodes[1:]] == [6, 10]


def test_expect_passes_fails_and_matches_anything_with_underscore() -> None:
    assert clean("input [3, 8, 8]\nexpect [3, _, 8]").ok
    graph = graph_of("input [3, 8, 8]\nconv(4, k=3)\nexpect [4, 8, 8]")
    (d,) = graph.diagnostics
    assert d.code == "E307" and "[4, 8, 8]" in d.message and "[4, 6, 6]" in d.message


def test_expect_with_symbols_of_the_input() -> None:
    assert clean("input [3, H, W]\nconv(4, k=1)\nexpect [4, H, W]").ok
    graph = graph_of("input [3, 8, 8]\nexpect [3, Height, _]")
    assert codes(graph) == ["E209"]


def test_symbols_are_sizes_in_every_expression_of_the_network() -> None:
    graph = clean("input [3, H, W]\nlet h = H // 2\nconv(16, k=3, p=1, s=2)\nmaxpool(2, s=1)\n"
                  "expect [16, (H - 1) // 2, W // 2 + W % 2 - 1]\nexpect [16, h + H % 2 - 1, _]")
    assert graph.output_shapes() == [(16, (H - 1) // 2, (W - 1) // 2)]
    (d,) = graph_of("input [3, H, W]\nmaxpool(2)\nexpect [3, H // 2, W * 2]").diagnostics
    assert d.code == "E307" and "[3, H // 2, 2 * W]" in d.message


@pytest.mark.parametrize("expr, message", [
    ("H + \"a\"", 'cannot add a symbolic size (H) and a string ("a")'),
    ("H / 2", "`H / 2` mixes a symbolic size with /"),
    ("[1, 2][W]", "an index must be an int, got W"),
    ("Hight // 2", "unknown name `Hight`: not a symbol of the input (its symbols: H, W)"),
])
def test_symbol_errors_speak_of_sizes(expr: str, message: str) -> None:
    (d,) = graph_of(f"input [3, H, W]\nexpect [3, _, {expr}]").diagnostics
    assert message in d.message and "string (\"H" not in d.message


def test_a_symbol_is_no_argument_and_no_block_sees_the_network_symbols() -> None:
    (d,) = graph_of("input [3, H, W]\nconv(H // 2, k=1)").diagnostics
    assert d.code == "E204" and "H // 2 (a symbolic size)" in d.message
    (d,) = graph_of("input [3, H, W]\nB()", "block B { expect [3, H, _] }").diagnostics
    assert d.code == "E209" and d.call_stack[0].call == "B()" and "a block does not see" in d.message


def test_input_sizes_are_ints_or_plain_symbols() -> None:
    for shape in ('[3, 2 * H, W]', '[3, "H", 8]'):
        (d,) = graph_of(f"input {shape}").diagnostics
        assert d.code == "E211" and "an int or a symbol" in d.message


# -- DAGs ------------------------------------------------------------------------------------------
def test_bindings_merges_and_outputs() -> None:
    graph = clean("input x: [3, 8, 8]\n"
                  "a = x -> conv(4, k=1)\n"
                  "b = x -> conv(4, k=3, p=1) relu\n"
                  "s = add(a, b)\n"
                  "c = cat(s, a -> relu, x)\n"
                  "output c, s")
    assert [(p.name, graph[p.node].shape) for p in graph.outputs] == [("c", (11, 8, 8)), ("s", (4, 8, 8))]
    merge = graph[graph.outputs[0].node]
    assert merge.op == "concat" and len(merge.inputs) == 3


def test_a_binding_becomes_the_current_tensor() -> None:
    graph = clean("input x: [3, 8, 8]\ny = x -> conv(4, k=1)\nrelu")
    assert graph.output_shapes() == [(4, 8, 8)] and graph.outputs[0].name == "y"


def test_several_inputs() -> None:
    graph = clean("input a: [3, 8, 8]\ninput b: [5, 8, 8]\nc = cat(a, b)\noutput c")
    assert [p.name for p in graph.inputs] == ["a", "b"] and graph.output_shapes() == [(8, 8, 8)]


def test_unused_tensor_warning() -> None:
    graph = graph_of("input x: [3, 8, 8]\na = x -> relu\nb = x -> bn\noutput b")
    assert codes(graph) == ["W504"] and graph.diagnostics[0].span.text == "a"


# -- errors and their call stacks -------------------------------------------------------------------
def test_errors_in_blocks_carry_the_call_stack() -> None:
    blocks = ("block Inner(c) { conv(c, k=9) }\n"
              "block Outer(c) { Inner(c * 2) }")
    graph = graph_of("input [1, 4, 4]\nOuter(8)", blocks)
    (d,) = graph.diagnostics
    assert d.code == "E305"
    assert [(f.block, f.call, f.span.line) for f in d.call_stack] == [("Outer", "Outer(8)", 5),
                                                                   ("Inner", "Inner(16)", 2)]


def test_expression_errors_inside_blocks_carry_the_call_stack() -> None:
    blocks = "block B(c2) { conv(c2[2], k=1) }"
    graph = graph_of("input [1, 4, 4]\nB([1, 2])", blocks)
    (d,) = graph.diagnostics
    assert d.code == "E212" and "out of range" in d.message and d.call_stack[0].call == "B([1, 2])"


def test_one_bad_block_argument_used_twice_is_one_error() -> None:
    (d,) = graph_of("input [192, 28, 28]\ninception(64, 96, [16, 32], 32)").diagnostics
    assert d.code == "E212" and d.message == "cannot index an int (96)"
    assert d.call_stack[0].call == "inception(64, 96, [16, 32], 32)"
    blocks = "block B(c) { conv(c, k=1) relu conv(c, k=3) }"
    graph = graph_of("input [3, 8, 8]\nB(0)\nB(0)", blocks)  # once per call: each call is a mistake
    assert [(d.code, d.call_stack[0].span.line) for d in graph.diagnostics] == [("E211", 4), ("E211", 5)]


def test_a_float_where_an_int_is_needed_gets_help_that_fits_the_cause() -> None:
    program = archlang.load("network N(c = 8) {\n input [3, 8, 8]\n conv(c, k=3)\n conv(c / 2, k=1)\n}\n")
    assert [d.help for d in program.elaborate(c=8.5).diagnostics] == [  # as from --set c=8.5
        "out takes a whole number, such as 8 or 9", "use // for integer division"]
    assert [d.help for d in program.elaborate().diagnostics] == ["use // for integer division"]


def test_unknown_layers_suggest_names() -> None:
    graph = graph_of("input [3, 8, 8]\nconv2d(4, k=1)\nReLU\nResidul(4)", "block Residual(c) { relu }")
    helps = [d.help for d in graph.diagnostics]
    assert codes(graph) == ["E201", "E201", "E201"]
    assert helps == ["did you mean `conv`?", "did you mean `relu`?", "did you mean `Residual`?"]


def test_block_argument_errors() -> None:
    blocks = "block B(c, s = 1) { conv(c, k=1, s=s) }"
    graph = graph_of("input [3, 8, 8]\nB()\nB(1, 2, 3)\nB(1, c=2)\nB(1, ss=2)", blocks)
    assert codes(graph) == ["E202", "E214", "E210", "E203"]
    assert graph.diagnostics[3].help == "did you mean `s`?"


def test_duplicate_names_in_a_body() -> None:
    graph = graph_of("input x: [3, 8, 8]\nfc: relu\nfc: relu\na = x -> relu\na = x -> bn\n"
                     "let k = 1\nlet k = 2\nrepeat 2 { r: relu }\noutput a")
    assert codes(graph) == ["E207"] * 4


def test_unknown_expression_names_suggest() -> None:
    graph = archlang.load("network N(channels = 4) {\n input [3, 8, 8]\n conv(chanels, k=1)\n}\n").elaborate()
    (d,) = graph.diagnostics
    assert (d.code, d.help) == ("E209", "did you mean `channels`?")


@pytest.mark.parametrize("expr, message", [
    ("256 // 0", "division by zero"),
    ("[1, 2][5]", "out of range"),
    ("\"a\" * 2.5", "cannot multiply"),
    ("true + 1", "cannot add"),
    ("cur.h > 4", "depends on the input size"),
])
def test_expression_errors(expr: str, message: str) -> None:
    graph = graph_of(f"input [3, H, 8]\nlet v = {expr}")
    (d,) = graph.diagnostics
    assert d.code == "E212" and message in d.message


def test_statements_in_the_wrong_place() -> None:
    blocks = "block B(c) { input [3, 8, 8] }\nblock O(c) { output y: cur }"   # a block's output takes no key
    graph = graph_of("input [3, 8, 8]\nB(1)\nO(1)\nrepeat 1 { output x }", blocks)
    assert codes(graph) == ["E215", "E218", "E218"]


def test_network_without_input() -> None:
    graph = archlang.load("network N {\n relu\n}\n").elaborate()
    assert codes(graph) == ["E215"] and graph.diagnostics[0].span.line == 1


def test_unknown_tensors() -> None:
    graph = graph_of("input x: [3, 8, 8]\ny = cat(x, e0) -> relu\noutput y, z")
    assert codes(graph) == ["E217", "E217"]
    assert graph.diagnostics[0].span.text == "e0"


def test_one_root_cause_one_error() -> None:
    graph = graph_of("input [3, 8, 8]\nconv(0, k=3)\nconv(cur.c, k=3) linear(10)\nexpect [99]\nrelu")
    assert codes(graph) == ["E211"]
    assert all(n.shape is UNKNOWN for n in graph.nodes[1:])


def test_unknown_network_parameters_and_missing_ones() -> None:
    program = archlang.load("network N(classes, width = 8) {\n input [3, 8, 8]\n conv(width, k=1) "
                            "flatten linear(classes)\n}\n")
    assert program.elaborate(classes=3).output_shapes() == [(3,)]
    graph = program.elaborate(classes=3, widht=4)
    assert codes(graph) == ["E203"] and graph.diagnostics[0].help == "did you mean `width`?"
    assert "E202" in codes(program.elaborate())


def test_unused_chain_warning() -> None:
    graph = graph_of("input x: [3, 8, 8]\nconv(4, k=1) relu\ny = x -> bn\noutput y")
    (d,) = graph.diagnostics
    assert d.code == "W504" and d.span.text == "conv(4, k=1) relu" and "chain" in d.message
    # Read by the next statement, the default output, an explicit output, or a merge: no warning.
    assert clean("input x: [3, 8, 8]\nconv(4, k=1)\nrelu\nexpect [4, 8, 8]").diagnostics == []
    assert clean("input x: [3, 8, 8]\ny = x -> bn\nconv(4, k=1)\noutput y, cur").diagnostics == []
    assert clean("input x: [3, 8, 8]\nconv(4, k=1)\ny = cat(x, cur)\noutput y").diagnostics == []
    # One warning for a bound tensor: at the binding, not also at the block line that made it.
    graph = graph_of("input x: [3, 8, 8]\na = x -> B\ny = x -> bn\noutput y", "block B { conv(4, k=1) }")
    assert [(d.code, d.span.text, d.call_stack) for d in graph.diagnostics] == [("W504", "a", ())]


def test_a_block_call_binds_equal_positional_values_by_position() -> None:
    # SqueezeNet's Fire(16, 64, 64): the second 64 was bound to e1 again, and e3 was "missing" (E202).
    graph = graph_of("input [3, 8, 8]\nFire(16, 64, 64)", "block Fire(s, e1, e3) { conv(s, k=1) conv(e1, k=1) "
                                                        "conv(e3, k=1) }")
    assert codes(graph) == []
    assert graph.output_shapes() == [(64, 8, 8)]
