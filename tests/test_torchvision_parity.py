"""torchvision parity: the tv_* specs are torchvision's networks, parameter for parameter.

Each spec's built file (`archlang build`, which `compile` executes) gives a
module whose parameters and buffers correspond one to one (same order, same
shapes) with torchvision's model; after copying
torchvision's weights and batch-norm statistics by position, the outputs agree
within 1e-5 in eval mode.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

import archlang
from archlang.backends import torch_source

ROOT = Path(__file__).resolve().parent.parent
PAIRS = {
    "tv_resnet18.arch": torchvision.models.resnet18,
    "tv_resnet34.arch": torchvision.models.resnet34,
    "tv_vgg11.arch": torchvision.models.vgg11,
    "tv_densenet121.arch": torchvision.models.densenet121,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tensors(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return list(model.named_parameters()) + list(model.named_buffers())


def perturb_batch_norms(model: nn.Module) -> None:
    """Statistics and affine parameters away from 0 and 1, so that a misplaced one shows."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)


def built(spec: str, tmp_path: Path) -> nn.Module:
    """The network of the file `archlang build` writes (compile runs the same text)."""
    emitted = torch_source.emit(archlang.load(ROOT / "specs" / spec).network())
    path = tmp_path / "built.py"
    path.write_text(emitted.source)
    loader = importlib.util.spec_from_file_location(f"built_{path.stem}_{spec[:-5]}", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return getattr(module, emitted.network_class)()


@pytest.mark.parametrize("spec", sorted(PAIRS))
def test_torchvision_parity(spec, tmp_path):
    torch.manual_seed(0)
    ours = built(spec, tmp_path).eval()
    theirs = PAIRS[spec](weights=None).eval()
    perturb_batch_norms(theirs)
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))
    with torch.no_grad():
        for (our_name, a), (their_name, b) in zip(tensors(ours), tensors(theirs), strict=True):
            assert a.shape == b.shape, f"{our_name} {tuple(a.shape)} vs {their_name} {tuple(b.shape)}"
            a.copy_(b)
        x = torch.randn(2, 3, 224, 224)
        expected = theirs(x)
        torch.testing.assert_close(ours(x), expected, rtol=0, atol=1e-5)
    assert expected.abs().max() > 1e-2  # a real signal, not two vanishing outputs
