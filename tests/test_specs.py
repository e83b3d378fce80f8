"""specs/ and examples/ against their oracles.

- Every spec in specs/ checks with no error and no warning.
- The course notes' networks (d2l): the parameter count equals the
  hand-written PyTorch network's (tests/reference_nets.py), the input is the
  one the notes print their table at, and the spec's expect lines are that
  table: every shape the reference network prints after a stage appears, in
  order, among the expect lines (which the checker proves hold). The notes'
  checks of single blocks (specs/d2l_blocks.arch) likewise.
- torchvision's networks: the same parameters, module for module and in
  order, and MACs within 0.5% of torchinfo's count.
- The examples: the good ones check clean and equal what they claim to equal;
  the broken ones report the codes examples/README.md shows.
- examples/README.md and docs/language.md show the real output of their
  commands.

Reference networks are built on the meta device: shapes and parameter counts
without allocating or initialising a single weight, and torchinfo's forward
pass on meta tensors does no arithmetic. The whole file takes seconds.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import archlang
from archlang.diagnostics import render_pretty
from archlang.fsutil import atomic_write

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
torchinfo = pytest.importorskip("torchinfo")

import reference_nets as ref_nets  # noqa: E402
from reference_nets import input_for, reference_for, stage_shapes  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
EXAMPLES = ROOT / "examples"

D2L = ["lenet", "lenet_bn", "alexnet", "vgg11", "nin", "googlenet", "resnet18", "densenet"]
TORCHVISION = {  # spec -> torchvision constructor
    "tv_resnet18": "resnet18",
    "tv_resnet34": "resnet34",
    "tv_vgg11": "vgg11",
    "tv_densenet121": "densenet121",
}
MACS_TOLERANCE = 0.005


def spec_path(name: str) -> Path:
    return SPECS / f"{name}.arch"


def network(path: Path, **params):
    """The checked graph of the file's only network."""
    return archlang.load(str(path)).network(**params)


def meta(build):
    with torch.device("meta"):
        return build()


# -- every spec ----------------------------------------------------------------------

ALL_SPECS = sorted(SPECS.glob("*.arch"))


@pytest.mark.parametrize("path", ALL_SPECS, ids=[p.stem for p in ALL_SPECS])
def test_spec_checks_clean(path: Path) -> None:
    diags = archlang.check(str(path))
    assert not diags, f"{path.name} should check with no diagnostics:\n{render_pretty(diags)}"


def test_every_network_of_the_notes_has_a_spec() -> None:
    present = {p.stem for p in ALL_SPECS}
    missing = (set(D2L) | set(TORCHVISION)) - present
    assert not missing, f"specs/ lacks {sorted(missing)}"


# -- the notes' networks against the hand-written PyTorch ----------------------------

EXPECT = re.compile(r"^\s*(?:.*;\s*)?expect\s*(\[[^\]]*\])")


def expect_lines(path: Path, params: dict) -> list[tuple]:
    """The shapes of the network body's expect lines, in order; `_` is None and a
    network parameter (`classes`, `size // 4`) its value. Blocks of these specs hold none."""
    shapes = []
    in_network = False
    for line in path.read_text(encoding="utf-8").splitlines():
        in_network = in_network or line.startswith("network ")
        match = EXPECT.match(line.split("#", 1)[0]) if in_network else None
        if match:
            items = [s.strip() for s in match.group(1)[1:-1].split(",")]
            shapes.append(tuple(_dim(s, params) for s in items))
    return shapes


def _dim(text: str, params: dict):
    """One expect item: `_`, a number, a parameter, or `parameter // number` (resnet18's `size // 4`)."""
    if text == "_":
        return None
    if text.isdigit():
        return int(text)
    name, _, divisor = (part.strip() for part in text.partition("//"))
    return params[name] // int(divisor) if divisor else params[name]


def _matches(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))


def unmatched_stages(stages: list[tuple], expects: list[tuple]) -> list[tuple]:
    """The stage shapes that do not appear, in order, among the expect lines."""
    missing, pos = [], 0
    for shape in stages:
        found = next((i for i in range(pos, len(expects)) if _matches(shape, expects[i])), None)
        if found is None:
            missing.append(shape)
        else:
            pos = found  # the next stage may match the same line (an activation keeps the shape)
    return missing


@pytest.fixture(scope="module")
def d2l_graphs():
    return {name: network(spec_path(name)) for name in D2L}


@pytest.mark.parametrize("name", D2L)
def test_d2l_parameters_equal_the_reference(name: str, d2l_graphs) -> None:
    ref = meta(lambda: reference_for(name))
    assert d2l_graphs[name].params_total == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("name", D2L)
def test_d2l_input_is_the_notes(name: str, d2l_graphs) -> None:
    assert d2l_graphs[name].input_shapes() == [input_for(name)]


@pytest.mark.parametrize("name", D2L)
def test_d2l_expect_lines_are_the_reference_table(name: str, d2l_graphs) -> None:
    graph = d2l_graphs[name]
    ref = meta(lambda: reference_for(name))
    stages = stage_shapes(ref, input_for(name))
    expects = expect_lines(spec_path(name), graph.params)
    assert expects, f"{name}.arch has no expect lines"
    missing = unmatched_stages(stages, expects)
    assert not missing, (f"{name}: the reference prints {stages};\n"
                         f"these do not appear in order among the expect lines {expects}: {missing}")
    assert graph.output_shapes() == [stages[-1]]


@pytest.mark.parametrize("name", D2L)
def test_d2l_classes_is_a_parameter(name: str) -> None:
    graph = network(spec_path(name), classes=7)
    assert graph.output_shapes() == [(7,)]
    assert not graph.diagnostics  # the expect lines follow `classes` too


# The notes' checks of single blocks (specs/d2l_blocks.arch): network -> the
# hand-written blocks in order, and the input the notes feed them.
BLOCK_DEMOS = {
    "ResidualKeepsShape": (lambda: [ref_nets.Residual(3, 3)], (3, 6, 6)),
    "ResidualHalves": (lambda: [ref_nets.Residual(3, 6, use_1x1conv=True, strides=2)], (3, 6, 6)),
    "DenseAndTransition": (lambda: [ref_nets.DenseBlock(2, 3, 10), ref_nets.transition_block(23, 10)], (3, 8, 8)),
}


@pytest.mark.parametrize("name", BLOCK_DEMOS)
def test_d2l_block_demos_equal_the_reference(name: str) -> None:
    graph = archlang.load(str(spec_path("d2l_blocks"))).network(name)
    build, shape = BLOCK_DEMOS[name]
    blocks = meta(build)
    assert graph.input_shapes() == [shape]
    assert graph.params_total == sum(p.numel() for b in blocks for p in b.parameters())
    assert graph.output_shapes() == [stage_shapes(torch.nn.Sequential(*blocks), shape)[-1]]


# -- torchvision's networks ------------------------------------------------------------

@pytest.fixture(scope="module")
def tv_models():
    return {spec: meta(lambda ctor=ctor: getattr(torchvision.models, ctor)(weights=None))
            for spec, ctor in TORCHVISION.items()}


@pytest.fixture(scope="module")
def tv_graphs():
    return {spec: network(spec_path(spec)) for spec in TORCHVISION}


def module_param_counts(model) -> list[tuple[str, int]]:
    """(module name, parameter count) for every module that owns parameters, in
    `model.parameters()` order: the order weights are copied by."""
    return [(name, sum(p.numel() for p in module.parameters(recurse=False)))
            for name, module in model.named_modules()
            if any(True for _ in module.parameters(recurse=False))]


@pytest.mark.parametrize("spec", TORCHVISION)
def test_torchvision_parameters_layer_by_layer(spec: str, tv_models, tv_graphs) -> None:
    graph = tv_graphs[spec]
    tv = module_param_counts(tv_models[spec])
    ours = [(node.name, node.params) for node in graph.nodes if node.params]
    assert graph.params_total == sum(p.numel() for p in tv_models[spec].parameters())
    assert len(ours) == len(tv), f"{spec}: {len(ours)} layers with parameters, torchvision has {len(tv)}"
    for i, ((tv_name, tv_count), (our_name, our_count)) in enumerate(zip(tv, ours)):
        assert tv_count == our_count, f"{spec}: layer {i}: torchvision {tv_name} has {tv_count}, {our_name} has {our_count}"


@pytest.mark.parametrize("spec", TORCHVISION)
def test_torchvision_parameter_shapes_in_order(spec: str, tv_models) -> None:
    """The module archlang builds lists torchvision's parameter shapes in
    torchvision's order, so weights copy across by position."""
    ours = meta(lambda: archlang.compile(str(spec_path(spec))))
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in tv_models[spec].parameters()]


@pytest.mark.parametrize("spec", TORCHVISION)
def test_torchvision_macs_match_torchinfo(spec: str, tv_models, tv_graphs) -> None:
    summary = torchinfo.summary(tv_models[spec], input_size=(1, 3, 224, 224), device="meta", verbose=0)
    ours = tv_graphs[spec].macs_total
    assert abs(ours - summary.total_mult_adds) <= MACS_TOLERANCE * summary.total_mult_adds, (
        f"{spec}: archlang counts {ours:,} MACs, torchinfo {summary.total_mult_adds:,}")


# -- examples -----------------------------------------------------------------------------

GOOD_EXAMPLES = ["bottleneck", "unet", "densenet_loop", "alexnet_notes"]
BROKEN_EXAMPLES = {  # example -> the codes it must report
    "inception_lost_padding": ["E303"],
    "residual_without_projection": ["E304"],
    "lenet_no_padding": ["E307"] * 5,
}


def test_examples_are_all_listed() -> None:
    present = {p.stem for p in EXAMPLES.glob("*.arch")}
    assert present == set(GOOD_EXAMPLES) | set(BROKEN_EXAMPLES)


@pytest.mark.parametrize("name", GOOD_EXAMPLES)
def test_good_example_checks_clean(name: str) -> None:
    diags = archlang.check(str(EXAMPLES / f"{name}.arch"))
    assert not diags, render_pretty(diags)


@pytest.mark.parametrize("name", sorted(BROKEN_EXAMPLES))
def test_broken_example_reports_its_error(name: str) -> None:
    diags = archlang.check(str(EXAMPLES / f"{name}.arch"))
    assert sorted(d.code for d in diags) == BROKEN_EXAMPLES[name], render_pretty(diags)


def test_bottleneck_example_is_torchvision_resnet50() -> None:
    graph = network(EXAMPLES / "bottleneck.arch")
    tv = meta(lambda: torchvision.models.resnet50(weights=None))
    assert [n.params for n in graph.nodes if n.params] == [c for _, c in module_param_counts(tv)]


def test_densenet_loop_is_the_densenet_spec(d2l_graphs) -> None:
    loop = network(EXAMPLES / "densenet_loop.arch")
    spec = d2l_graphs["densenet"]
    assert [(n.op, n.shape, n.params) for n in loop.layers()] == [(n.op, n.shape, n.params) for n in spec.layers()]


def test_unet_example_is_checked_for_every_size() -> None:
    graph = network(EXAMPLES / "unet.arch")
    assert graph.symbols == ["H", "W"]
    assert graph.smallest_input == [(3, 4, 4)]
    small = network(EXAMPLES / "unet.arch", input=[3, 64, 96])
    assert small.output_shapes() == [(2, 64, 96)]


def test_alexnet_notes_example_infers_1024_features() -> None:
    graph = network(EXAMPLES / "alexnet_notes.arch")
    flatten = next(n for n in graph.nodes if n.op == "flatten")
    assert flatten.shape == (1024,)
    first_linear = next(n for n in graph.nodes if n.op == "linear")
    assert first_linear.params == 1024 * 4096 + 4096


# -- the docs show real output --------------------------------------------------------------

DOCS_WITH_OUTPUT = [EXAMPLES / "README.md", ROOT / "docs" / "language.md", ROOT / "docs" / "torchvision.md",
                    ROOT / "docs" / "design.md"]
CONSOLE = re.compile(r"```console\n\$ archlang (?P<args>[^\n]*)\n(?P<output>.*?)```", re.S)


@pytest.mark.parametrize("doc", DOCS_WITH_OUTPUT, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_show_real_output(doc: Path, cli, request) -> None:
    """Every ```console block is the output of its command (diagnostics on
    stderr, then the summary or table on stdout). With --update-golden the
    blocks are rewritten from the current output."""
    text = doc.read_text(encoding="utf-8")
    blocks = list(CONSOLE.finditer(text))
    assert blocks, f"{doc.name} has no console blocks"

    def run(match: re.Match) -> str:
        result = cli(*shlex.split(match["args"]))
        return result.err + result.out

    if request.config.getoption("--update-golden"):
        atomic_write(doc, CONSOLE.sub(lambda m: f"```console\n$ archlang {m['args']}\n{run(m)}```", text))
        return
    for match in blocks:
        assert match["output"] == run(match), (
            f"{doc.relative_to(ROOT)}: the output of `archlang {match['args']}` has changed "
            "(if intended, rerun pytest with --update-golden)")
