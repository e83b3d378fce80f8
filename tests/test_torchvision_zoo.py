"""specs/torchvision/: torchvision's builders as parameterised specs.

specs/torchvision/models.tsv lists each builder a spec reaches: its file,
network, `--set` settings and a small input used here. For every row, on the
meta device (no memory, no initialisation): the compiled module's state_dict
has torchvision's keys, in torchvision's order, with the same shapes, so
torchvision's state_dict loads by name (strict); its parameter count is
torchvision's, and its MACs are torchinfo's less the terms docs/ops.md names.
For one builder per family, the outputs agree in eval mode with torchvision's
weights and randomised batch-norm statistics.
"""
from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path
from unittest import mock

import pytest
import torch
import torchinfo
from torch import nn
from torchvision import models
from torchvision.models import regnet

import archlang
from archlang.backends.torch_module import build_module
from archlang.commands.common import parse_sets

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "specs" / "torchvision"
DOC = ROOT / "docs" / "torchvision.md"
ROWS = {row["builder"]: row for row in csv.DictReader((ZOO / "models.tsv").open(encoding="utf-8"), delimiter="\t")}
# One builder per family, and per kind of block where a family has two (BasicBlock, grouped Bottleneck).
NUMERIC = ["alexnet", "convnext_tiny", "deeplabv3_mobilenet_v3_large", "deeplabv3_resnet50", "densenet121",
           "efficientnet_b0", "efficientnet_v2_s", "fcn_resnet50", "googlenet", "inception_v3",
           "lraspp_mobilenet_v3_large", "mnasnet0_5", "mobilenet_v2", "mobilenet_v3_small", "regnet_y_400mf",
           "resnet18", "resnext50_32x4d", "shufflenet_v2_x0_5", "squeezenet1_1", "vgg11_bn"]
# The segmentation builders' default weights_backbone downloads ImageNet weights: the rows are at None.
SEGMENTATION = set(models.list_models(module=models.segmentation))

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def graph_of(row: dict, small_input: bool = False):
    settings = parse_sets(row["settings"].split()) if row["settings"] else {}
    size = [3, *map(int, row["input"].split("x"))] if small_input else None
    return archlang.load(ZOO / row["file"]).network(row["network"], input=size, **settings)


def on_meta(row: dict) -> tuple[nn.Module, nn.Module, object]:
    """(ours, torchvision's, our graph), both modules on the meta device."""
    graph = graph_of(row)
    with torch.device("meta"):
        return build_module(graph), torchvisions(row["builder"]), graph


def torchvisions(builder: str) -> nn.Module:
    """torchvision's model at its defaults (weights=None; weights_backbone=None for segmentation), on the
    current device (meta here). RegNet computes its widths with torch tensors it turns into lists
    (BlockParams), which the meta device cannot: on the CPU."""
    extra = {"weights_backbone": None} if builder in SEGMENTATION else {}
    with mock.patch.object(regnet.BlockParams, "from_init_params", classmethod(block_params_on_cpu)):
        with warnings.catch_warnings():   # googlenet's and inception_v3's FutureWarning on init_weights
            warnings.simplefilter("ignore", FutureWarning)
            return models.get_model(builder, weights=None, **extra)


def block_params_on_cpu(cls, *args, **kwargs):
    with torch.device("cpu"):
        return BLOCK_PARAMS(cls, *args, **kwargs)


BLOCK_PARAMS = regnet.BlockParams.from_init_params.__func__


def test_the_table_lists_each_builder_once_with_a_spec_that_exists():
    listed = set(models.list_models(module=models)) | SEGMENTATION
    for builder, row in ROWS.items():
        assert builder in listed, builder
        assert (ZOO / row["file"]).is_file(), row["file"]
        assert row["network"] in archlang.load(ZOO / row["file"]).networks


@pytest.mark.parametrize("builder", sorted(ROWS))
def test_parameters_and_buffers_are_torchvisions_in_order(builder):
    ours, theirs, graph = on_meta(ROWS[builder])
    assert graph.diagnostics == [], [d.short() for d in graph.diagnostics]
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(reference), first_difference(list(mine), list(reference))
    assert [tuple(t.shape) for t in mine.values()] == [tuple(t.shape) for t in reference.values()]
    ours.load_state_dict(reference, strict=True, assign=True)
    settings, expected = leaf_settings(ours), leaf_settings(theirs)
    common = settings.keys() & expected.keys()
    assert {k: settings[k] for k in common} == {k: expected[k] for k in common}
    assert graph.params_total == sum(p.numel() for p in theirs.parameters())
    # MACs: torchinfo's Mult-Adds are ours plus the bias and normalisation terms (docs/ops.md).
    mult_adds = torchinfo.summary(theirs, input_size=(1, *graph.input_shapes()[0]), device="meta",
                                  verbose=0).total_mult_adds
    assert mult_adds == graph.macs_total + torchinfo_extra(graph)
    assert table_row(builder, graph, mult_adds) in DOC.read_text(encoding="utf-8").splitlines(), \
        f"docs/torchvision.md's row for {builder} should read\n{table_row(builder, graph, mult_adds)}"


# What a state_dict does not hold: batch norm's eps and momentum, the dropout and stochastic depth
# probabilities, the geometry of convs and pools.
SETTINGS = ("eps", "momentum", "p", "mode", "approximate", "negative_slope", "groups", "stride", "padding",
            "dilation", "kernel_size", "ceil_mode", "output_size")


def leaf_settings(model: nn.Module) -> dict[str, dict]:
    """{module name: settings} of the modules without children. Compared where both have the name:
    torchvision calls some functions (torch.flatten) and builds modules it never calls (efficientnet's
    stochastic_depth where a block has no residual); the classes may differ (convnext's nn.LayerNorm
    after a Permute is archlang's layer norm over the channels)."""
    def pair(value):  # AdaptiveAvgPool2d keeps output_size as given: 7 and (7, 7) are one size
        return (value, value) if isinstance(value, int) else value
    return {name: {a: pair(getattr(m, a)) if a == "output_size" else getattr(m, a) for a in SETTINGS if hasattr(m, a)}
            for name, m in model.named_modules() if not list(m.children())}


def first_difference(mine: list[str], theirs: list[str]) -> str:
    i = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
    return f"key {i}: ours {mine[i:i + 1]}, torchvision's {theirs[i:i + 1]} ({len(mine)} and {len(theirs)} keys)"


def torchinfo_extra(graph) -> int:
    """What torchinfo counts beyond the weights' multiply-accumulates: a bias add per output
    element of a conv or linear, and 2 * C per sample for a batch, group or layer norm; less, for
    a linear over the channels (convnext's), which torchinfo counts once, not at every position."""
    extra = 0
    for node in graph.layers():
        if node.id in graph.training_nodes:              # torchinfo runs eval mode, as our MACs count
            continue
        if node.op == "channel_linear":  # torchinfo: an nn.Linear's weights once per sample, whatever the positions
            extra += node.params - node.macs
        elif node.op in ("conv", "linear") and node.args["bias"]:
            extra += math.prod(node.shape) if node.op == "conv" else node.shape[0]
        elif node.op in ("bn", "groupnorm", "layernorm") and node.args["affine"]:
            extra += 2 * node.shape[0]
    return extra


def table_row(builder: str, graph, mult_adds: int) -> str:
    row = ROWS[builder]
    settings = f"`{row['settings']}`" if row["settings"] else ""
    return (f"| {builder} | {row['file']} | {settings} | {graph.params_total:,} | {graph.macs_total:,} | "
            f"{mult_adds:,} | {mult_adds - graph.macs_total:,} |")


def randomised(model: nn.Module) -> nn.Module:
    """Weights and batch-norm statistics away from their initial values, so a misplaced one shows."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif t.is_floating_point():
                fan_in = t[0].numel() if t.dim() > 1 else 1
                t.copy_(torch.randn(t.shape, generator=gen) / fan_in ** 0.5)
    return model


@pytest.mark.parametrize("builder", NUMERIC)
def test_outputs_equal_torchvisions_in_eval_mode(builder):
    row = ROWS[builder]
    graph = graph_of(row, small_input=True)
    with torch.device("meta"):
        ours, theirs = build_module(graph), torchvisions(builder)
    ours, theirs = ours.to_empty(device="cpu").eval(), randomised(theirs.to_empty(device="cpu")).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, *graph.nodes[graph.inputs[0].node].shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
        if builder in SEGMENTATION:                      # a dict, {"out": ...}
            assert list(got) == list(expected)
            expected, got = expected["out"], got["out"]
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))
    assert float(expected.std()) > 1e-3                  # a real signal, not two vanishing outputs


@pytest.mark.parametrize("builder", ["googlenet", "inception_v3"])
def test_training_mode_returns_the_aux_heads_as_torchvision_does(builder):
    # (logits, aux2, aux1) for googlenet, (logits, aux) for inception_v3, on the meta device.
    row = ROWS[builder]
    graph = graph_of(row, small_input=True)
    with torch.device("meta"):
        ours, theirs = build_module(graph).train(), torchvisions(builder).train()
        x = torch.empty(2, *graph.nodes[graph.inputs[0].node].shape)
        expected, got = theirs(x), ours(x)
    assert type(got) is tuple and len(got) == len(expected)
    assert [tuple(t.shape) for t in got] == [tuple(t.shape) for t in expected]
    assert [p.training for p in graph.outputs] == [False] + [True] * (len(got) - 1)


@pytest.mark.parametrize(("builder", "train", "evaluate"), [("inception_v3", 299, 75), ("googlenet", 15, 15)])
def test_the_smallest_inputs_in_training_and_eval_are_torchvisions(builder, train, evaluate):
    # At [3, H, W]: inception_v3's aux head needs 299 in training; eval mode, which does not run it,
    # takes torchvision's min_size, 75. torchvision's own model, on the meta device, is the oracle:
    # it runs at each smallest size and fails one below.
    row = ROWS[builder]
    graph = archlang.load(ZOO / row["file"]).network(row["network"], input=[3, "H", "W"])
    assert graph.smallest_input == [(3, train, train)]
    assert graph.smallest_eval_input == (None if evaluate == train else [(3, evaluate, evaluate)])
    with torch.device("meta"):
        theirs = torchvisions(builder)

        def runs(training: bool, size: int) -> bool:
            try:
                theirs.train(training)(torch.empty(2, 3, size, size))
            except (RuntimeError, ValueError):
                return False
            return True

        assert runs(True, train) and not runs(True, train - 1)
        assert runs(False, evaluate) and not runs(False, evaluate - 1)


def test_transform_input_is_torchvisions():
    # googlenet with transform_input=True (the default of its ImageNet weights): scale_shift per channel.
    ours = archlang.compile(ZOO / "googlenet.arch", input=[3, 64, 64], transform_input=True).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = randomised(models.googlenet(weights=None, transform_input=True, init_weights=False)).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = theirs(x)
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))
