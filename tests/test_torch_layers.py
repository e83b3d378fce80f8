"""The layers torch.nn lacks compute what torchvision computes, with torchvision's state_dict.

Each generated layer (archlang/backends/torch_layers.py) against the
torchvision code it stands for, on random inputs and weights: LayerNorm2d,
convnext's permute-Linear-permute, StochasticDepth in training (same random
draws), inception_v3's transform_input, shufflenet's channel_shuffle; and
the built file that carries them stays torch-only and black-clean.
"""
from __future__ import annotations

import ast

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import convnext, shufflenetv2

import archlang
from archlang.backends import torch_layers, torch_source

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def randomise(module: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))


def test_channel_layer_norm_is_torchvisions_layer_norm_2d():
    ours, theirs = torch_layers.ChannelLayerNorm(6, eps=1e-6), convnext.LayerNorm2d(6, eps=1e-6)
    randomise(theirs, 0)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 6, 5, 7)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(2, 6, 9), (2, 6, 3, 4, 5)])
def test_channel_layer_norm_normalises_the_channels_at_each_position_in_every_rank(shape):
    ours = torch_layers.ChannelLayerNorm(6)
    randomise(ours, 1)
    x = torch.randn(shape)
    expected = nn.functional.layer_norm(x.transpose(1, -1), (6,), ours.weight, ours.bias).transpose(1, -1)
    torch.testing.assert_close(ours(x), expected)


def test_channel_linear_is_convnexts_permute_linear_permute():
    ours = torch_layers.ChannelLinear(6, 10)
    theirs = nn.Sequential(torchvision.ops.Permute([0, 2, 3, 1]), nn.Linear(6, 10), torchvision.ops.Permute([0, 3, 1, 2]))
    randomise(theirs, 2)
    ours.load_state_dict(theirs[1].state_dict(), strict=True)
    assert ours.weight.shape == (10, 6)
    x = torch.randn(2, 6, 4, 3)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["row", "batch"])
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_stochastic_depth_draws_what_torchvision_draws(p, mode):
    ours, theirs = torch_layers.StochasticDepth(p, mode), torchvision.ops.StochasticDepth(p, mode)
    x = torch.randn(64, 3, 2, 2)
    for training in (True, False):
        ours.train(training)
        theirs.train(training)
        torch.manual_seed(5)
        expected = theirs(x)
        torch.manual_seed(5)
        torch.testing.assert_close(ours(x), expected, rtol=0, atol=0)
    assert ours.state_dict() == {} == theirs.state_dict()
    assert repr(ours) == repr(theirs)


def test_stochastic_depth_drops_whole_samples_in_training_only():
    layer = torch_layers.StochasticDepth(0.5, "row").train()
    torch.manual_seed(0)
    y = layer(torch.ones(400, 3, 2, 2))
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}          # dropped or scaled by 1 / (1 - p)
    assert (per_sample == per_sample[:, :1]).all()                  # a whole sample at once
    assert 150 < int((per_sample[:, 0] == 0).sum()) < 250
    x = torch.randn(4, 3)
    assert layer.eval()(x) is x


def test_scale_shift_is_inceptions_transform_input():
    theirs = torchvision.models.Inception3(transform_input=True, init_weights=False)
    ours = torch_layers.ScaleShift((0.229 / 0.5, 0.224 / 0.5, 0.225 / 0.5),
                                   ((0.485 - 0.5) / 0.5, (0.456 - 0.5) / 0.5, (0.406 - 0.5) / 0.5))
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(ours(x), theirs._transform_input(x), rtol=0, atol=0)
    assert list(ours.parameters()) == [] and ours.state_dict() == {}
    assert ours.to(torch.float64)(x.double()).dtype == torch.float64   # the constants follow the module


@pytest.mark.parametrize("groups", [2, 3, 4])
def test_channel_shuffle_is_shufflenets(groups):
    x = torch.randn(2, 12, 3, 5)
    torch.testing.assert_close(nn.ChannelShuffle(groups)(x), shufflenetv2.channel_shuffle(x, groups), rtol=0, atol=0)


EXTRAS = """\
network N {
    input [4, 6, 6]
    layernorm(eps=1e-6) channel_linear(8) stochastic_depth(0.1) scale_shift(2.0, [1, 2, 3, 4, 5, 6, 7, 8])
    gap flatten layernorm channel_linear(3)
}
"""


def test_built_file_defines_the_extra_layers_it_uses_and_stays_torch_only_and_black_clean():
    import black

    text = torch_source.generate(archlang.load(EXTRAS).network())
    tree = ast.parse(text)
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert classes == ["ChannelLayerNorm", "ChannelLinear", "StochasticDepth", "ScaleShift", "N"]
    assert "nn.LayerNorm(8)" in text and "nn.Linear(8, 3)" in text     # plain torch.nn on [F]
    imported = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"torch"}
    assert black.format_str(text, mode=black.Mode()) == text
    assert max(len(line) for line in text.splitlines() if not line.lstrip().startswith("#")) <= 88


def test_a_block_named_like_an_extra_layer_gets_another_class_name():
    spec = "block StochasticDepth(c) { conv(c, k=1) stochastic_depth(0.2) }\n" \
           "network N { input [2, 4, 4]\n StochasticDepth(3) }"
    text = torch_source.generate(archlang.load(spec).network())
    classes = [n.name for n in ast.parse(text).body if isinstance(n, ast.ClassDef)]
    assert classes == ["StochasticDepth", "StochasticDepth2", "N"]
    model = archlang.compile(spec)
    assert type(model.stochasticdepth1).__name__ == "StochasticDepth2"
    assert type(model.stochasticdepth1.stochastic_depth1).__name__ == "StochasticDepth"



def test_the_extra_layers_go_through_torch_export():
    model = archlang.compile(EXTRAS).eval()
    x = torch.randn(2, 4, 6, 6)
    exported = torch.export.export(model, (x,)).module()
    torch.testing.assert_close(exported(x), model(x), rtol=0, atol=0)
