"""`archlang build`: standalone PyTorch source.

The generated file is imported on its own and compared with archlang.compile
on every spec (same state_dict keys, same outputs); three specs have golden
files; the text is byte-identical from run to run, depends on torch only and
is laid out as black lays it out.
"""
from __future__ import annotations

import ast
import csv
import importlib.util
from pathlib import Path

import pytest
import torch

import archlang
from archlang.backends import torch_module, torch_source
from archlang.commands.common import parse_sets

ROOT = Path(__file__).resolve().parent.parent
# Every network of every spec: (file name, network name).
NETWORKS = [(p.name, name) for p in sorted((ROOT / "specs").glob("*.arch")) for name in archlang.load(p).networks]
GOLDEN = ROOT / "tests" / "golden" / "source"
GOLDEN_SPECS = ("lenet_bn", "resnet18", "googlenet")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def graph_of(spec: str, network: str | None = None, **params):
    # Relative paths, as users type them: the file name is part of the comments.
    return archlang.load(f"specs/{spec}").network(network, **params)


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def import_file(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("spec", "network"), NETWORKS)
def test_generated_source_equals_the_compiled_module(spec, network, tmp_path):
    graph = graph_of(spec, network)
    emitted = torch_source.emit(graph)
    path = tmp_path / "model.py"
    path.write_text(emitted.source)
    generated_cls = getattr(import_file(path, f"generated_{spec[:-5]}_{network}"), emitted.network_class)
    torch.manual_seed(0)
    compiled = torch_module.build_module(graph)
    with torch.device("meta"):  # no second initialisation: the weights come from `compiled`
        generated = generated_cls()
    assert list(generated.state_dict()) == list(compiled.state_dict())
    generated.load_state_dict(compiled.state_dict(), assign=True)
    torch.manual_seed(1)
    xs = [torch.randn(2, *graph.nodes[p.node].shape) for p in graph.inputs]
    for mode in ("eval", "train"):
        compiled.train(mode == "train")
        generated.train(mode == "train")
        torch.manual_seed(2)  # dropout draws the same masks in both
        expected = compiled(*xs)
        torch.manual_seed(2)
        torch.testing.assert_close(generated(*xs), expected, rtol=0, atol=0, msg=f"{spec} in {mode} mode")


@pytest.mark.parametrize("name", GOLDEN_SPECS)
def test_golden_source(name, golden):
    golden(GOLDEN / f"{name}.py", torch_source.generate(graph_of(f"{name}.arch")))


@pytest.mark.parametrize("spec", ["resnet18.arch", "tv_densenet121.arch", "googlenet.arch"])
def test_depends_on_torch_only_and_lines_fit(spec):
    text = torch_source.generate(graph_of(spec))
    tree = ast.parse(text)
    imported = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"torch"}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.lstrip().startswith("#"):  # own-line comments may run long, as black allows
            assert len(line) <= 88, f"line {number} is {len(line)} long: {line}"


# Each network of the zoo, at the settings of its first row in models.tsv (several blocks, ifs and loops
# each; some networks, as RegNet, have no defaults): (file, network, settings as --set writes them).
ZOO_ROWS: dict[tuple[str, str], str] = {}
for _row in csv.DictReader((ROOT / "specs" / "torchvision" / "models.tsv").open(encoding="utf-8"), delimiter="\t"):
    ZOO_ROWS.setdefault((_row["file"], _row["network"]), _row["settings"])
for _file in sorted((ROOT / "specs" / "torchvision").glob("*.arch")):   # and any network no row names
    for _network in archlang.load(_file).networks:
        ZOO_ROWS.setdefault((_file.name, _network), "")
ALL_SOURCES = """
import sys
import archlang
from archlang.backends import torch_source
from archlang.commands.common import parse_sets
for spec, network, settings in zip(*[iter(sys.argv[1:])] * 3):
    sets = parse_sets(settings.split()) if settings else {}
    sys.stdout.write(torch_source.generate(archlang.load(f"specs/{spec}").network(network, **sets)))
"""


def every_network(papers: bool = False) -> list[tuple[str, str, str]]:
    """(spec, network, settings): every network of specs/ (and specs/papers/), and the zoo's as
    models.tsv sets them."""
    own = [(spec, network, "") for spec, network in NETWORKS]
    if papers:
        own += [(p.relative_to(ROOT / "specs").as_posix(), name, "")
                for p in sorted((ROOT / "specs" / "papers").glob("*.arch")) for name in archlang.load(p).networks]
    return own + [("torchvision/" + file, network, settings) for (file, network), settings in ZOO_ROWS.items()]


def test_every_spec_is_byte_identical_across_processes():
    """All of specs/ and specs/torchvision/, built in two interpreters with other hash seeds."""
    import subprocess
    import sys

    networks = every_network(papers=True)
    runs = [subprocess.run([sys.executable, "-c", ALL_SOURCES, *(a for row in networks for a in row)], cwd=ROOT,
                           capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed},
                           timeout=300) for seed in ("1", "2")]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[0].stdout == runs[1].stdout   # different hash seeds change set orders: the text must not move
    here = "".join(torch_source.generate(graph_of(spec, network, **(parse_sets(settings.split()) if settings else {})))
                   for spec, network, settings in networks)
    assert runs[0].stdout == here


@pytest.mark.parametrize(("spec", "network", "settings"), every_network())
def test_black_would_not_change_it(spec, network, settings):
    import black  # a test dependency (pyproject's `test` extra)

    text = torch_source.generate(graph_of(spec, network, **(parse_sets(settings.split()) if settings else {})))
    assert black.format_str(text, mode=black.Mode()) == text, spec


def test_forward_lines_carry_shape_and_spec_line():
    text = torch_source.generate(graph_of("lenet_bn.arch"))
    lines = [line.strip() for line in text.splitlines()]
    assert "x = self.conv1(x)  # (N, 6, 24, 24)  specs/lenet_bn.arch:15" in lines
    assert "from torch import nn" in lines and "import torch" not in lines  # no concat: no torch.cat


def test_one_class_per_block_its_differences_constructor_arguments():
    text = torch_source.generate(graph_of("tv_resnet18.arch"))
    tree = ast.parse(text)
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    # Eight BasicBlocks of four widths and two strides, four Layers of 64 to 512 channels: one class each,
    # the downsample group a class of its own, called before it is defined nowhere.
    assert list(classes) == ["Downsample", "BasicBlock", "Layer", "TVResNet18"]
    init = next(f for f in classes["BasicBlock"].body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
    assert [a.arg for a in init.args.args] == ["self", "in_channels", "c", "s"]
    assert "if s != 1 or in_channels != c:" in text and "if self.downsample is not None:" in text
    assert "class Layer(nn.Sequential):" in text
    assert 'self.add_module(f"basicblock{i + 2}", BasicBlock(c, c))' in text


def test_spec_text_cannot_escape_comments_or_docstrings(tmp_path):
    # File names and calls as written land in comments and docstrings, escaped.
    weird = tmp_path / 'we"""ird\nname.arch'
    weird.write_text('block B(c) {\n    conv(c, k=1)\n}\nnetwork N {\n    input [3, 4, 4]\n    B(2)\n}\n')
    text = torch_source.generate(archlang.load(weird).network())
    tree = ast.parse(text)
    assert [type(n).__name__ for n in tree.body] == ["Expr", "ImportFrom", "ClassDef", "ClassDef"]
    assert f"{tmp_path}/we\"\"\"ird\\nname.arch." in ast.get_docstring(tree).split()
    assert "# (N, 2, 4, 4)  " + str(tmp_path) + '/we"""ird\\nname.arch:6' in text


RESERVED_NAMES = """\
block B(c) { conv(c, k=1) }
network Net(nn = 4, torch = 2, self = 1, super = 3) {
    input torch: [3, 4, 4]
    input self: [3, 4, 4]
    a = torch -> B(nn)
    b = self -> B(nn)
    c = cat(a, b)
    train_: conv(nn, k=1)
    super: relu
    nn: relu
}
"""


def test_names_python_or_nn_module_reserve_are_renamed():
    """Parameters and inputs become Python names clear of the generated code's; labels are the
    modules' names as written (a label no module can have is E207: tests/test_module_names.py)."""
    graph = archlang.load(RESERVED_NAMES).network()
    text = torch_source.generate(graph)
    assert "def __init__(self, nn_=4, torch_=2, self_=1, super_=3):" in text
    assert "def forward(self, torch_, self_):" in text
    model = torch_module.build_module(graph)
    assert [k for k in model.state_dict() if not k.startswith("b")] == [
        "train_.weight", "train_.bias"]
    assert {"super", "nn"} <= {name for name, _ in model.named_children()}
    assert model(torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)).shape == (2, 4, 4, 4)
    assert model.arch_params == {"nn": 4, "torch": 2, "self": 1, "super": 3}


def test_relu_after_batch_norm_and_the_residual_add_work_in_place_as_torchvision():
    text = torch_source.generate(graph_of("tv_resnet18.arch"))
    block = text[text.index("class BasicBlock(nn.Module):"):text.index("class Layer(nn.Sequential):")]
    assert "self.relu1 = nn.ReLU(inplace=True)" in block
    assert "        out += x  # (N, c, ...)" in block
    # A block never overwrites its input: the caller may still hold it.
    assert "x += " not in block and "x = self.relu" not in block


def test_constructor_takes_the_parameters_it_can_compute(tmp_path):
    emitted = torch_source.emit(graph_of("lenet_bn.arch", classes=7))
    path = tmp_path / "lenet.py"
    path.write_text(emitted.source)
    cls = getattr(import_file(path, "generated_lenet_params"), emitted.network_class)
    assert cls().arch_params == {"classes": 7} and cls.arch_params == {"classes": 7}
    assert cls()(torch.randn(2, 1, 28, 28)).shape == (2, 7)
    other = cls(classes=10)
    assert other(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert other.arch_params == {"classes": 10} and other.arch_outputs == [("y", (10,))]


def test_constructor_takes_a_list_parameter_as_a_list_or_a_tuple(tmp_path):
    spec = ("network Net(widths = [4, 6], k = 3) {\n    input [3, 8, 8]\n"
            "    conv(widths[0], k=k) relu conv(widths[1], k=k) gap flatten linear(2)\n}\n")
    emitted = torch_source.emit(archlang.load(spec).network())
    path = tmp_path / "widths.py"
    path.write_text(emitted.source)
    cls = getattr(import_file(path, "generated_list_params"), emitted.network_class)
    assert cls(widths=[4, 6]).arch_params == cls(widths=(4, 6)).arch_params == {"widths": (4, 6), "k": 3}
    wider = cls(widths=[4, 7])   # channels: the constructor computes them
    assert wider.state_dict()["conv2.weight"].shape == (7, 4, 3, 3)
    assert wider(torch.randn(2, 3, 8, 8)).shape == (2, 2)
    with pytest.raises(ValueError, match=r"k=3 is built into this class: it sets `kernel_size` of `conv1` at "):
        cls(k=5)   # a kernel size: the sizes after it are numbers in the class


# -- the command ---------------------------------------------------------------------

def test_build_prints_source_on_stdout(cli):
    result = cli("build", "specs/lenet_bn.arch", "--set", "classes=3")
    assert result.code == 0, result
    assert result.out == torch_source.generate(graph_of("lenet_bn.arch", classes=3))


def test_build_writes_the_file_atomically(cli, tmp_path):
    target = tmp_path / "out" / "model.py"
    result = cli("build", "specs/nin.arch", "-o", target)
    assert result.code == 0, result
    assert target.read_text() == torch_source.generate(graph_of("nin.arch"))
    assert result.out == "" and "wrote" in result.err
    assert [p.name for p in target.parent.iterdir()] == ["model.py"]  # no temporary left behind


def test_build_of_a_bad_spec_writes_nothing(cli, tmp_path):
    bad = tmp_path / "bad.arch"
    bad.write_text("network N {\n    input [3, 8, 8]\n    conv(4, k=3) linear(10)\n}\n")
    target = tmp_path / "model.py"
    target.write_text("previous")
    result = cli("build", bad, "-o", target)
    assert result.code == 1
    assert "error[E306]" in result.err
    assert target.read_text() == "previous"


def test_build_into_a_directory_is_a_usage_error(cli, tmp_path):
    result = cli("build", "specs/lenet.arch", "-o", tmp_path)
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err


def test_build_needs_network_for_several(cli, tmp_path):
    two = tmp_path / "two.arch"
    two.write_text("network A {\n input [3]\n linear(2)\n}\nnetwork B {\n input [3]\n linear(4)\n}\n")
    assert cli("build", two).code == 2
    result = cli("build", two, "--network", "B")
    assert result.code == 0 and "class B(nn.Module)" in result.out


@pytest.mark.parametrize("text", ['arch="large" is built in', "it's", "plain", 'x"y\'z"', 'a \\"b', 'é "q"', ""])
def test_string_literals_are_written_as_black_writes_them(text):
    """Black keeps double quotes unless single ones need fewer escapes; a refusal quoting
    `arch="large"` came out escaped in double quotes and the file was not black-clean."""
    import ast

    import black

    from archlang.backends.pylayout import string

    line = f"x = {string(text)}\n"
    assert ast.literal_eval(string(text)) == text
    assert black.format_str(line, mode=black.Mode()) == line
