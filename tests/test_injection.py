"""Spec text can never become code: generated Python, DOT and ONNX names stay data.

Every place a spec's text reaches an output is tried with hostile text:
network, block, label, input, output and parameter names that Python,
nn.Module, the generated code or DOT use themselves (`class`, `self`,
`forward`, `torch`, `nn`, `super`, `None`, `__init__`, `x`...), string
arguments and parameter values with quotes, backslashes, newlines-in-disguise
and NUL bytes, and file names with triple quotes, backslashes and spaces.

The generated source must parse, define the network's class, run (on the
meta device: no memory) with the shapes the spec promises, import nothing but
torch, and never execute a payload. The DOT must be read by Graphviz with
exactly the nodes archlang drew and the labels it meant. ONNX names are the
spec's names.
"""
from __future__ import annotations

import ast as python_ast
import builtins
import json
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import pytest

import archlang
from archlang.backends import graphviz as graphviz_backend
from archlang.naming import module_name_problem

torch = pytest.importorskip("torch")

from archlang.backends import torch_source  # noqa: E402

# A payload that, if it ever ran, would leave a mark in builtins.
PAYLOAD_MARK = "ARCHLANG_INJECTED"
PAYLOADS = (
    f'"""; import builtins; builtins.{PAYLOAD_MARK} = 1; """',
    f"\"); import builtins; builtins.{PAYLOAD_MARK} = 1 #",
    f"\\\\\"\"\"\\\n__import__('builtins').{PAYLOAD_MARK} = 1",
    "a\\N{BULLET}b",  # a Python escape that would be a syntax error in a normal string
    "x\x00y\x0bz\x0c\u2028end",
    '"]; evil [label="x',  # DOT
)

# Names the generated code, nn.Module, Python or DOT use themselves.
HOSTILE = ("class", "self", "forward", "torch", "nn", "super", "None", "True", "False", "__init__", "x", "y",
           "t3", "training", "train", "_modules", "ValueError", "print", "arch_params", "Module", "lambda",
           "node", "edge", "graph", "subgraph", "strict", "__class__", "_")


@pytest.fixture(autouse=True)
def no_mark():
    yield
    assert not hasattr(builtins, PAYLOAD_MARK), "a payload from a spec was executed"


def build(text: str, path: Path, **params) -> tuple[str, object]:
    """The generated source of the only network of `text` (written at `path`), and its graph."""
    path.write_text(text, encoding="utf-8")
    graph = archlang.load(path).network(**params)
    return torch_source.generate(graph), graph


def check_source(source: str, graph) -> None:
    """The source parses, imports only torch, and its network runs on meta tensors with the spec's shapes."""
    tree = python_ast.parse(source)
    imports = [n for n in python_ast.walk(tree) if isinstance(n, (python_ast.Import, python_ast.ImportFrom))]
    assert all((getattr(n, "module", None) or n.names[0].name) == "torch" for n in imports), \
        [python_ast.unparse(n) for n in imports]
    called = {n.func.id for n in python_ast.walk(tree) if isinstance(n, python_ast.Call)
              and isinstance(n.func, python_ast.Name)}
    assert called <= {"super", "ValueError", "getattr"} | {c.name for c in tree.body if isinstance(c, python_ast.ClassDef)}, called
    namespace: dict = {}
    exec(compile(tree, "<generated>", "exec"), namespace)  # noqa: S102 - the point of the test
    cls = namespace[torch_source.emit(graph).network_class]
    with torch.device("meta"):
        model = cls()
        inputs = [torch.empty(2, *shape) for _, shape in cls.arch_inputs]
        out = model(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    assert [tuple(o.shape[1:]) for o in outs] == [tuple(s) for _, s in cls.arch_outputs]
    assert [n for n, _ in cls.arch_inputs] == [p.name for p in graph.inputs]


# -- names ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_everywhere(tmp_path, name):
    """One name as the network, a block, a label, an input, an output, a parameter and a binding."""
    block = name if name[:1].isupper() or name in ("None", "True", "False") else name.capitalize()
    # A label is its module's name, so one no module can have is an error (tests/test_module_names.py).
    label = name if module_name_problem(name) is None else "labelled"
    text = f"""
block {block}({name} = 2) {{
    {label}: conv(4 * {name}, k=1)
    relu
}}
block Other {{ conv(8, k=3, p=1) }}
network {name}({name} = 1) {{
    input {name}: [3, 8, 8]
    input other: [3, 8, 8]
    a = {name} -> {block}({name}) Other
    b = other -> conv(8, k=1)
    {name}2 = cat(a, b) -> conv(4, k=1)
    output {name}2, a
}}
"""
    source, graph = build(text, tmp_path / "spec.arch", **{name: 1})
    check_source(source, graph)


def test_inputs_whose_renamed_names_collide(tmp_path):
    """`self` becomes `self_`; a second input already named `self_` must not become a duplicate argument."""
    text = """
network Net {
    input self: [3, 8, 8]
    input self_: [3, 8, 8]
    input class: [3, 8, 8]
    input class_: [3, 8, 8]
    y = add(self, self_, class, class_) -> conv(4, k=1)
}
"""
    source, graph = build(text, tmp_path / "spec.arch")
    check_source(source, graph)


def test_parameters_named_like_the_generated_code_uses(tmp_path):
    text = """
network Net(nn = 4, torch = 2, super = 3, ValueError = 5, self = 6, x = 7) {
    input x: [3, 8, 8]
    concat { | conv(nn, k=1) | conv(torch, k=1) }
    conv(super + ValueError + self + x, k=1)
}
"""
    source, graph = build(text, tmp_path / "spec.arch")
    check_source(source, graph)


# -- strings -------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload", PAYLOADS)
def test_strings_in_parameters_and_block_arguments(tmp_path, payload):
    literal = json.dumps(payload)  # an archlang string needs no escapes but its delimiter: use '...' if it has "
    quoted = f"'{payload}'" if "'" not in payload and "\n" not in payload else None
    if quoted is None:
        pytest.skip("this payload cannot be written as an archlang string literal")
    text = f"""
block Tagged(tag, c) {{
    conv(c, k=1)
}}
network Net(tag = {quoted}) {{
    input [3, 8, 8]
    Tagged({quoted}, 4)
    Tagged(tag, 4)
}}
"""
    source, graph = build(text, tmp_path / "spec.arch")
    assert graph.params["tag"] == payload, literal
    check_source(source, graph)


def test_string_parameter_from_the_command_line(tmp_path):
    spec = tmp_path / "spec.arch"
    spec.write_text("network Net(tag = \"a\") {\n    input [3, 8, 8]\n    conv(4, k=1)\n}\n")
    for payload in PAYLOADS:
        graph = archlang.load(spec).network(tag=payload)
        check_source(torch_source.generate(graph), graph)


def test_enumerated_arguments_are_checked_against_their_values():
    text = "network Net {\n    input [3, 8, 8]\n    upsample(2, mode='nearest\"); import os #')\n}\n"
    diags = archlang.check(text)
    assert [d.code for d in diags] == ["E211"] and "must be one of" in diags[0].message


# -- file names -----------------------------------------------------------------------------------

FILE_NAMES = ('tri"""ple.arch', "back\\slash.arch", "back\\N.arch", "sp ace.arch", "quote'.arch",
              "end\\.arch", "new\x0bline.arch", 'a"""; import os; os.system("x") #.arch')


@pytest.mark.parametrize("file_name", FILE_NAMES)
def test_file_names_in_the_generated_source(tmp_path, file_name):
    text = "block B(c) { conv(c, k=1) }\nnetwork Net {\n    input [3, 8, 8]\n    B(4) relu\n}\n"
    source, graph = build(text, tmp_path / file_name)
    check_source(source, graph)
    docstring = python_ast.get_docstring(python_ast.parse(source))
    assert docstring.startswith("Net: PyTorch source generated by archlang")


# -- DOT --------------------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


def drawn(dot_text: str) -> dict:
    """What Graphviz itself makes of the text: its SVG's nodes, cluster titles and tooltips."""
    proc = subprocess.run(["dot", "-Tsvg"], input=dot_text.encode("utf-8"), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    root = ElementTree.fromstring(proc.stdout)
    groups = list(root.iter(f"{SVG}g"))
    return {
        "nodes": [g for g in groups if g.get("class") == "node"],
        "clusters": [" ".join(t.text or "" for t in g.findall(f"{SVG}text")) for g in groups
                     if g.get("class") == "cluster"],
        "tooltips": [a.get(f"{XLINK}title") for a in root.iter(f"{SVG}a")],
    }


def shown(text: str) -> str:
    """Spec text as labels show it: control characters as escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


@pytest.mark.skipif(not graphviz_backend.dot_available(), reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("payload", [p for p in PAYLOADS if "'" not in p and "\n" not in p])
def test_dot_labels_stay_labels(tmp_path, payload):
    text = f"""
block Tagged(tag, c) {{ conv(c, k=1) relu }}
network Net {{
    input [3, 8, 8]
    node: Tagged('{payload}', 4)
    edge: Tagged('{payload}', 4)
    graph: conv(4, k=1)
}}
"""
    path = tmp_path / 'we"ird\\name <b>.arch'
    path.write_text(text)
    graph = archlang.load(path).network()
    svg = drawn(graphviz_backend.to_dot(graph))
    assert len(svg["nodes"]) == len(graph.nodes) + len(graph.outputs)   # nothing added, nothing lost
    assert sorted(svg["clusters"]) == [f'edge: Tagged("{shown(payload)}", 4)', f'node: Tagged("{shown(payload)}", 4)']
    assert len(svg["tooltips"]) == len(graph.layers())
    assert all(t.startswith(f"{n.name} ({path}:") for t, n in zip(svg["tooltips"], graph.layers())), svg["tooltips"]


# -- ONNX -------------------------------------------------------------------------------------

def test_onnx_names_are_the_spec_names(tmp_path):
    pytest.importorskip("onnx")
    from archlang.backends import onnx as onnx_backend

    text = """
network None {
    input self: [3, 8, 8]
    input torch: [3, 8, 8]
    a = self -> conv(4, k=1)
    b = torch -> conv(4, k=1)
    add(a, b)
    Module: conv(4, k=1)
    super: relu
    nn: conv(2, k=1)
}
"""
    (tmp_path / 'x"y.arch').write_text(text)
    graph = archlang.load(tmp_path / 'x"y.arch').network()
    result = onnx_backend.export(graph, tmp_path / "m.onnx", verify=True)
    import onnx

    model = onnx.load(str(result.path))
    assert [i.name for i in model.graph.input] == ["self", "torch"]
    assert [o.name for o in model.graph.output] == ["y"]
    names = " ".join(n.name for n in model.graph.node)
    assert all(label in names for label in ("Module", "super", "nn")), names


@pytest.mark.parametrize("param", ["name", "self", "input_", "limits"])
def test_network_parameters_named_like_the_api_s_own(cli, tmp_path, param):
    """`--set name=3` reached Program.elaborate(name, ..., name=3): a TypeError, an internal error."""
    spec = tmp_path / "spec.arch"
    spec.write_text(f"network Net({param} = 1) {{\n    input [3, 8, 8]\n    conv(4 * {param}, k=1)\n}}\n")
    result = cli("shapes", spec, "--set", f"{param}=2", "--format", "json")
    assert result.code == 0, result
    assert json.loads(result.out)["outputs"][0]["shape"] == [8, 8, 8]
