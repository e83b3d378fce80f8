"""torchvision parity: the tv_* specs are torchvision's networks, parameter for parameter.

Each spec compiles to a module whose parameters and buffers correspond one to
one (same order, same shapes) with torchvision's model; after copying
torchvision's weights and batch-norm statistics by position, the outputs agree
within 1e-5 in eval mode.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

import archlang

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


@pytest.mark.parametrize("spec", sorted(PAIRS))
def test_torchvision_parity(spec):
    torch.manual_seed(0)
    ours = archlang.compile(ROOT / "specs" / spec).eval()
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
