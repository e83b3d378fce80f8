"""Labels as PyTorch code names modules: numbers, computed names, keywords, labels inside chains.

The oracle for the generated code is PyTorch itself: torch.nn.Sequential and
add_module name their children, and the state_dict of `archlang.compile` and
of the built file must carry exactly the names the spec wrote.
"""
from __future__ import annotations

import pytest

import archlang
from archlang import SpecError

torch = pytest.importorskip("torch")
from archlang.backends import torch_source  # noqa: E402

SEQUENTIAL = """
block Down(c, s) {
    0: conv(c, k=1, s=s, bias=false)
    1: bn
}

block Stage(c, n) {
    repeat n as i { "{i}": Down(c, 2 if i == 0 else 1) }
}

network Net(classes = 10) {
    input [3, 16, 16]
    features: 0: conv(8, k=3, p=1) 1: relu 2: maxpool(2)
    repeat 2 as i { "layer{i + 1}": Stage(8 * (i + 1), 2) }
    block: relu
    s = gap add: flatten fc1: linear(16) act: relu
    classifier: 0: dropout(0.5) 1: linear(classes)
}
"""

TORCH_NAMES = [
    "features.0.weight", "features.0.bias",
    *(f"layer{i}.{j}.{k}" for i in (1, 2) for j in (0, 1)
      for k in ("0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked")),
    "fc1.weight", "fc1.bias", "classifier.1.weight", "classifier.1.bias",
]


def test_numbers_computed_labels_keywords_and_labels_in_chains_name_the_modules():
    graph = archlang.load(SEQUENTIAL).network()
    assert graph.ok, [d.short() for d in graph.diagnostics]
    names = [n.name for n in graph.layers()]
    assert names[:3] == ["features.0", "features.1", "features.2"]
    assert "layer2.1.0" in names and "block" in names and "add" in names and "act" in names
    model = archlang.compile(SEQUENTIAL)
    assert list(model.state_dict()) == TORCH_NAMES


def test_the_built_file_registers_what_is_no_identifier_with_add_module(tmp_path):
    graph = archlang.load(SEQUENTIAL).network()
    text = torch_source.generate(graph)
    assert 'self.add_module("0", nn.Conv2d(3, 8, kernel_size=3, padding=1))' in text
    # Read back by getattr where a forward calls it; here `features` is a chain: an nn.Sequential, like torch's.
    assert 'getattr(self, "0")(x)' in text or "class Features(nn.Sequential):" in text
    namespace: dict = {}
    exec(compile(text, "net.py", "exec"), namespace)  # noqa: S102 - the generated file
    built = namespace["Net"]()
    assert list(built.state_dict()) == TORCH_NAMES
    # `features` is the module tree of torch's own nn.Sequential: its weights load by name.
    nn = torch.nn
    reference = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    built.features.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(built.features(x), reference(x))


def test_an_input_named_getattr_does_not_hide_the_builtin(tmp_path):
    text = """
network Net {
    input getattr: [3, 8, 8]
    0: conv(4, k=1)
}
"""
    model = archlang.compile(text)
    assert model(torch.zeros(2, 3, 8, 8)).shape == (2, 4, 8, 8)


@pytest.mark.parametrize("label, code, words", [
    ('"a.{i}"', "E211", "holds a `.`"),
    ('"-{i}"', "E211", "does not start with `-`"),
    ('"x{[i]}"', "E211", "must be an int or a string"),
    ('"x{i // 2}"', "E207", "gives `x0` again"),
    ('"x{j}"', "E209", "unknown name `j`"),
    ('"x{}"', "E101", "empty"),
    ('"x{i +}"', "E101", "not an expression"),
    ('"x{i"', "E103", "never closed"),
    ('"x}"', "E103", "closes no"),
    ("1.5", "E101", "a whole number"),
])
def test_computed_labels_that_cannot_name_a_module(label, code, words):
    text = f"network Net {{\n    input [3, 8, 8]\n    repeat 2 as i {{ {label}: relu }}\n}}\n"
    diagnostics = archlang.check(text)
    assert [d.code for d in diagnostics if d.is_error] == [code], [d.short() for d in diagnostics]
    assert words in diagnostics[0].message


def test_a_label_written_twice_in_a_repeat_says_how_to_compute_it():
    (d,) = archlang.check("network Net {\n    input [3, 8, 8]\n    repeat 2 { x: relu }\n}\n")
    assert d.code == "E207" and "inside a repeat" in d.message


def test_pythons_true_and_false_get_a_did_you_mean():
    diagnostics = archlang.check("network Net(a = True) {\n    input [3, 8, 8]\n    conv(4, k=1, bias=False)\n}\n")
    assert [(d.code, d.help) for d in diagnostics if d.is_error] == [
        ("E209", "did you mean `true`? archlang writes true and false in lower case"),
        ("E209", "did you mean `false`? archlang writes true and false in lower case"),
    ]


def test_a_keyword_is_a_label_only_right_before_a_colon():
    # `block:` is a label; `block B` still starts a block, and a missing `}` before it is still E102.
    diagnostics = archlang.check("network Net {\n    input [3, 8, 8]\n    block: relu\n\nblock B { relu }\n")
    assert [d.code for d in diagnostics] == ["E102"]
    with pytest.raises(SpecError):
        archlang.load("network Net {\n    input [3, 8, 8]\n    block relu\n}\n")


def test_a_statement_cut_short_takes_its_next_line_along_not_two_errors():
    # `3` after `let x =` could start a label (`3: relu`); its line is still the same mistake.
    diagnostics = archlang.check("network N {\n    let x =\n    3\n    relu\n}\n")
    assert [d.code for d in diagnostics] == ["E101"]
