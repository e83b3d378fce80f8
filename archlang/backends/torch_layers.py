"""The layers torch.nn lacks, written as torchvision writes them.

Some ops of the table have no class in torch.nn: layer norm over the
channels (torchvision's LayerNorm2d), a linear layer over the channels
(convnext's permute, Linear, permute), stochastic depth
(torchvision.ops.StochasticDepth), a constant per-channel affine map
(inception_v3's transform_input) and the centre crop to another tensor's
size (U-Net's copy and crop). Their classes live here, each a few lines
that use `torch` and `nn` only. The op table names them like torch.nn
classes; `layer_class` finds either. `torch_source` copies the definition of
each one a network uses into the generated file (`class_source`), so a built
file still depends on torch alone, and `archlang.compile` runs that same text.

State_dict entries are torchvision's: `ChannelLayerNorm` and `ChannelLinear`
subclass nn.LayerNorm and nn.Linear (`weight`, `bias`, same shapes);
`StochasticDepth`, `ScaleShift` and `CenterCrop` have none.
"""
from __future__ import annotations

import inspect

import torch
from torch import nn


class ChannelLayerNorm(nn.LayerNorm):
    """Layer norm over the channels of (N, C, ...): torchvision's LayerNorm2d."""

    def forward(self, x):
        x = x.movedim(1, -1)
        x = nn.functional.layer_norm(
            x, self.normalized_shape, self.weight, self.bias, self.eps
        )
        return x.movedim(-1, 1)


class ChannelLinear(nn.Linear):
    """nn.Linear over the channels of (N, C, ...): convnext's permute-Linear-permute."""

    def forward(self, x):
        x = nn.functional.linear(x.movedim(1, -1), self.weight, self.bias)
        return x.movedim(-1, 1)


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: in training, zero whole samples ("row") or the
    whole batch ("batch") with probability p and scale the rest by 1 / (1 - p); the
    identity in eval."""

    def __init__(self, p, mode="row"):
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"


class ScaleShift(nn.Module):
    """x * scale + shift per channel, constants: no parameters, no state_dict entries
    (inception_v3's transform_input)."""

    def __init__(self, scale, shift):
        super().__init__()
        self.register_buffer("scale", torch.tensor(scale), persistent=False)
        self.register_buffer("shift", torch.tensor(shift), persistent=False)

    def forward(self, x):
        per_channel = (-1,) + (1,) * (x.ndim - 2)
        return x * self.scale.reshape(per_channel) + self.shift.reshape(per_channel)


class CenterCrop(nn.Module):
    """The centre of x (N, C, ...) of like's spatial size, as much off each side: U-Net's copy
    and crop (the sizes differ by an even number, which archlang checks)."""

    def forward(self, x, like):
        for axis in range(2, x.dim()):   # narrow, axis by axis: TorchScript takes it, and it is a view
            top = (x.size(axis) - like.size(axis)) // 2
            x = x.narrow(axis, top, like.size(axis))
        return x


EXTRA: dict[str, type[nn.Module]] = {
    cls.__name__: cls for cls in (ChannelLayerNorm, ChannelLinear, StochasticDepth, ScaleShift, CenterCrop)
}


def layer_class(name: str) -> type[nn.Module]:
    """The class an op's torch constructor names: torch.nn's, or one of EXTRA."""
    cls = EXTRA.get(name) or getattr(nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"an op names {name!r}, which is neither a torch.nn class nor one of {', '.join(EXTRA)}")
    return cls


def class_source(name: str) -> str:
    """The definition of an EXTRA class, as the generated file carries it."""
    return inspect.getsource(EXTRA[name]).rstrip("\n")
