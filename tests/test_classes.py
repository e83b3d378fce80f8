"""Generated classes (issue 13): one per block definition, constructors that take parameters.

The oracles are independent of the code generator: the values elaboration
computed (every term, evaluated at each instance's values, is that value),
a fresh elaboration at other parameter values (`archlang.compile(...,
classes=7)`: a class generated for the defaults, called with 7, must be that
network), and torchvision's own models at other class counts.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import torch
from torchvision import models

import archlang
from archlang.backends import torch_source
from term_check import check_terms

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.arch"))
NETWORKS = [(p.name, name) for p in SPECS for name in archlang.load(p).networks]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def built_class(path: Path, tmp_path: Path, network: str | None = None, **params):
    """The network's class from the text `archlang build` writes, and that text."""
    emitted = torch_source.emit(archlang.load(path).network(network, **params))
    file = tmp_path / f"{path.stem}_{network or 'net'}.py"
    file.write_text(emitted.source)
    spec = importlib.util.spec_from_file_location(f"built_{path.stem}_{network}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, emitted.network_class), emitted.source


def classes_and_lines(text: str) -> tuple[int, int]:
    return len(re.findall(r"^class ", text, flags=re.M)), text.count("\n")


# -- terms ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "network"), NETWORKS)
def test_every_term_is_the_value_elaboration_computed(spec, network):
    assert check_terms(archlang.load(ROOT / "specs" / spec).network(network)) > 0


# -- the measures ------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "most_classes", "most_lines"), [
    ("tv_densenet121.arch", 6, 300), ("resnet18.arch", 4, 150)])
def test_short_enough_to_keep_and_takes_classes(spec, most_classes, most_lines, tmp_path):
    cls, text = built_class(ROOT / "specs" / spec, tmp_path)
    classes, lines = classes_and_lines(text)
    assert classes <= most_classes and lines <= most_lines, (classes, lines)
    torch.manual_seed(0)
    ours = cls(classes=7).eval()
    fresh = archlang.compile(ROOT / "specs" / spec, classes=7).eval()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in fresh.parameters())
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, v.shape) for k, v in fresh.state_dict().items()]
    ours.load_state_dict(fresh.state_dict(), strict=True)
    x = torch.randn(1, *cls.arch_inputs[0][1])
    with torch.no_grad():
        expected = fresh(x)
        assert expected.shape == (1, 7)
        torch.testing.assert_close(ours(x), expected, rtol=0, atol=0)
    assert ours.arch_params["classes"] == 7 and ours.arch_outputs == [("y", (7,))]


def test_a_class_per_block_with_its_parameters_as_arguments(tmp_path):
    _, text = built_class(ROOT / "specs" / "tv_densenet121.arch", tmp_path)
    assert "class DenseLayer(nn.Module):" in text and "def __init__(self, in_channels, growth, bn_size=4):" in text
    assert "for i in range(layers):" in text   # repeat: a loop that keeps torchvision's denselayerN keys
    _, text = built_class(ROOT / "specs" / "resnet18.arch", tmp_path)
    assert "if use_1x1conv:" in text and "if self.conv3 is not None:" in text
    assert not re.search(r"class Residual\d", text)   # no ordinal variants


@pytest.mark.parametrize(("spec", "network"), NETWORKS)
def test_classes_are_named_after_their_blocks_never_by_an_ordinal(spec, network):
    path = ROOT / "specs" / spec
    program = archlang.load(path)
    network = network or next(iter(program.networks))
    text = torch_source.generate(program.network(network))
    blocks = {b[:1].upper() + b[1:] for b in program.definitions.blocks}
    labels = {label.capitalize() for label in re.findall(r"(\w+):", path.read_text())}
    for name in re.findall(r"^class (\w+)\(", text, flags=re.M):
        base = next((b for b in sorted(blocks | labels | {network}, key=len, reverse=True) if name.startswith(b)), None)
        assert base is not None, name
        assert name == base or re.fullmatch(r"(No|Fewer)?[A-Z][a-z]+", name[len(base):]), name


# -- free parameters against a fresh elaboration -------------------------------------------------

def other_value(value):
    """Another value of an int parameter that keeps most specs valid."""
    return value + 2 if value > 4 else None


SMALL = 30_000_000   # parameters: bigger networks are compared by their state_dict's shapes only (VGG's fc)


@pytest.mark.parametrize(("spec", "network"), NETWORKS)
def test_free_parameters_build_what_a_fresh_elaboration_builds(spec, network, tmp_path):
    path = ROOT / "specs" / spec
    graph = archlang.load(path).network(network)
    cls, _ = built_class(path, tmp_path, network)
    for name, value in graph.params.items():
        new = other_value(value) if type(value) is int else None
        if new is None:
            continue
        try:
            with torch.device("meta"):
                ours = cls(**{name: new})
        except ValueError as refused:   # built in: the class says how to build it for `new`
            assert f"--set {name}=VALUE`" in str(refused)
            continue
        try:
            with torch.device("meta"):
                fresh = archlang.compile(path, network, **{name: new})
        except archlang.SpecError:
            continue   # no valid network at that value: nothing to compare
        assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
            [(k, v.shape) for k, v in fresh.state_dict().items()], name
        assert ours.arch_params == fresh.arch_params and ours.arch_outputs == fresh.arch_outputs
        if sum(p.numel() for p in fresh.parameters()) > SMALL:
            continue
        torch.manual_seed(0)
        fresh = archlang.compile(path, network, **{name: new}).eval()
        ours.load_state_dict(fresh.state_dict(), assign=True)
        ours.eval()
        xs = [torch.randn(1, *shape) for _, shape in fresh.arch_inputs]
        with torch.no_grad():
            torch.testing.assert_close(ours(*xs), fresh(*xs), rtol=0, atol=0, msg=f"{spec} {name}={new}")


def test_a_fixed_parameter_is_refused_with_the_reason_and_the_set_to_use(tmp_path):
    cls, _ = built_class(ROOT / "specs" / "resnet18.arch", tmp_path)
    with pytest.raises(ValueError) as refused:
        cls(size=96)
    message = str(refused.value)
    assert re.search(r"^size=224 is built into this class: it sets the size of the input `x` at \S*specs/resnet18"
                     r"\.arch:31; for another value, build it again with `archlang build \S*specs/resnet18\.arch "
                     r"--network ResNet18 --set size=VALUE`$", message), message
    cls, _ = built_class(ROOT / "specs" / "tv_densenet121.arch", tmp_path)
    with pytest.raises(ValueError, match=r"`expect \[256, 56, 56\]` at \S*specs/tv_densenet121.arch:40 holds only"):
        cls(growth=16)


# -- torchvision at other parameter values -----------------------------------------------------------

@pytest.mark.parametrize(("file", "settings", "arguments", "builder", "theirs_arguments"), [
    ("resnet.arch", {"depth": 18}, {"classes": 7}, "resnet18", {"num_classes": 7}),
    ("resnet.arch", {"depth": 50}, {"groups": 32, "width_per_group": 4}, "resnext50_32x4d", {}),
    ("densenet.arch", {"depth": 121}, {"classes": 7, "bn_size": 2}, "densenet121", {"num_classes": 7, "bn_size": 2}),
])
def test_the_zoo_class_called_with_other_values_is_torchvisions(file, settings, arguments, builder, theirs_arguments,
                                                                 tmp_path):
    """The class built for one ResNet is ResNeXt when called with groups=32, width_per_group=4."""
    cls, _ = built_class(ROOT / "specs" / "torchvision" / file, tmp_path, None, input=[3, 32, 32], **settings)
    with torch.device("meta"):
        ours = cls(**arguments)
    theirs = models.get_model(builder, weights=None, **theirs_arguments).eval()
    state = theirs.state_dict()
    assert [v.shape for v in ours.state_dict().values()] == [v.shape for v in state.values()]
    ours.load_state_dict(dict(zip(ours.state_dict(), state.values())), strict=True, assign=True)
    ours.eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = theirs(x)
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))
    assert expected.shape == (2, arguments.get("classes", 1000))
