"""The course notes' networks, written by hand in PyTorch as d2l writes them.

These are the oracles for specs/ (parameter counts, the shape after every
stage) and the hand-written side of the benchmarks. Each function returns the
network as d2l builds it: an `nn.Sequential` whose children are the rows of the
shape table the book prints (`for layer in net: X = layer(X); print(...)`).

Where the notes in ../shared/seeds differ from d2l, d2l wins and the
difference is named in a comment; the specs carry the same comments.

To get shapes without allocating weights, build under `torch.device("meta")`:

    with torch.device("meta"):
        net = reference_for("vgg11")
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F


# -- LeNet (d2l 6.6) and LeNet with batch norm (d2l 7.5) ----------------------

def lenet(classes: int = 10) -> nn.Sequential:
    """d2l 6.6: padding=2 on the first conv keeps Fashion-MNIST's 28x28."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, classes))


def lenet_bn(classes: int = 10) -> nn.Sequential:
    """d2l 7.5, the concise version. Some notes use MaxPool2d; d2l uses AvgPool2d
    (the shapes are the same). No padding, so the flatten is 16 * 4 * 4."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
        nn.Linear(84, classes))


# -- AlexNet (d2l 7.1) ----------------------------------------------------------

def alexnet(classes: int = 10) -> nn.Sequential:
    """d2l 7.1. The notes write the first conv as kernel_size=5 and the first
    pool as MaxPool2d(kernel_size=5, padding=2): with those, the flatten is
    256 * 2 * 2 = 1024 and `nn.Linear(6400, 4096)` fails at run time. d2l's
    kernel_size=11 and MaxPool2d(3, 2) give 256 * 5 * 5 = 6400."""
    return nn.Sequential(
        nn.Conv2d(1, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, classes))


# -- VGG-11 (d2l 7.2) -------------------------------------------------------------

VGG11_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def vgg_block(num_convs: int, in_channels: int, out_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg11(classes: int = 10, conv_arch=VGG11_ARCH) -> nn.Sequential:
    blocks = []
    in_channels = 1
    for num_convs, out_channels in conv_arch:
        blocks.append(vgg_block(num_convs, in_channels, out_channels))
        in_channels = out_channels
    return nn.Sequential(
        *blocks, nn.Flatten(),
        nn.Linear(in_channels * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, classes))


# -- NiN (d2l 7.3) ------------------------------------------------------------------

def nin_block(in_channels: int, out_channels: int, kernel_size: int, strides: int, padding: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())


def nin(classes: int = 10) -> nn.Sequential:
    """d2l 7.3 (the notes misspell one keyword as `kernel_szie`)."""
    return nn.Sequential(
        nin_block(1, 96, kernel_size=11, strides=4, padding=0),
        nn.MaxPool2d(3, stride=2),
        nin_block(96, 256, kernel_size=5, strides=1, padding=2),
        nn.MaxPool2d(3, stride=2),
        nin_block(256, 384, kernel_size=3, strides=1, padding=1),
        nn.MaxPool2d(3, stride=2),
        nn.Dropout(0.5),
        nin_block(384, classes, kernel_size=3, strides=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten())


# -- GoogLeNet (d2l 7.4) ------------------------------------------------------------

class Inception(nn.Module):
    """d2l's Inception block. The notes' copy has three slips: the 3x3 conv of
    path 2 lost its padding=1 (the concat then fails: 10x10 against 12x12),
    and path 3 uses c2 instead of c3 with a stray padding=1 on its 1x1 conv."""

    def __init__(self, in_channels: int, c1: int, c2, c3, c4: int) -> None:
        super().__init__()
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)


def googlenet(classes: int = 10) -> nn.Sequential:
    b1 = nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(nn.Conv2d(64, 64, kernel_size=1), nn.ReLU(),
                       nn.Conv2d(64, 192, kernel_size=3, padding=1), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b3 = nn.Sequential(Inception(192, 64, (96, 128), (16, 32), 32),
                       Inception(256, 128, (128, 192), (32, 96), 64),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b4 = nn.Sequential(Inception(480, 192, (96, 208), (16, 48), 64),
                       Inception(512, 160, (112, 224), (24, 64), 64),
                       Inception(512, 128, (128, 256), (24, 64), 64),
                       Inception(512, 112, (144, 288), (32, 64), 64),
                       Inception(528, 256, (160, 320), (32, 128), 128),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b5 = nn.Sequential(Inception(832, 256, (160, 320), (32, 128), 128),
                       Inception(832, 384, (192, 384), (48, 128), 128),
                       nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024, classes))


# -- ResNet-18 (d2l 7.6) ------------------------------------------------------------

class Residual(nn.Module):
    """d2l's residual block (the notes' copy names an undefined `output_channels`
    in conv3; d2l passes num_channels)."""

    def __init__(self, input_channels: int, num_channels: int, use_1x1conv: bool = False, strides: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3 = (nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides)
                      if use_1x1conv else None)
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3 is not None:
            X = self.conv3(X)
        return F.relu(Y + X)


def resnet_block(input_channels: int, num_channels: int, num_residuals: int, first_block: bool = False) -> list[nn.Module]:
    blk: list[nn.Module] = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
        else:
            blk.append(Residual(num_channels, num_channels))
    return blk


def resnet18(classes: int = 10) -> nn.Sequential:
    b1 = nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3),
                       nn.BatchNorm2d(64), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(*resnet_block(64, 64, 2, first_block=True))
    b3 = nn.Sequential(*resnet_block(64, 128, 2))
    b4 = nn.Sequential(*resnet_block(128, 256, 2))
    b5 = nn.Sequential(*resnet_block(256, 512, 2))
    return nn.Sequential(b1, b2, b3, b4, b5, nn.AdaptiveAvgPool2d((1, 1)),
                         nn.Flatten(), nn.Linear(512, classes))


# -- DenseNet (d2l 7.7) --------------------------------------------------------------

def conv_block(input_channels: int, num_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(input_channels), nn.ReLU(),
        nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1))


class DenseBlock(nn.Module):
    def __init__(self, num_convs: int, input_channels: int, num_channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(*[conv_block(num_channels * i + input_channels, num_channels)
                                   for i in range(num_convs)])

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        for blk in self.net:
            Y = blk(X)
            X = torch.cat((X, Y), dim=1)  # concatenate each block's input and output on channels
        return X


def transition_block(input_channels: int, num_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(input_channels), nn.ReLU(),
        nn.Conv2d(input_channels, num_channels, kernel_size=1),
        nn.AvgPool2d(kernel_size=2, stride=2))


def densenet(classes: int = 10, growth_rate: int = 32, num_convs_in_dense_blocks=(4, 4, 4, 4)) -> nn.Sequential:
    b1 = nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3),
                       nn.BatchNorm2d(64), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    num_channels = 64
    blks: list[nn.Module] = []
    for i, num_convs in enumerate(num_convs_in_dense_blocks):
        blks.append(DenseBlock(num_convs, num_channels, growth_rate))
        num_channels += num_convs * growth_rate
        if i != len(num_convs_in_dense_blocks) - 1:  # halve the channels between dense blocks
            blks.append(transition_block(num_channels, num_channels // 2))
            num_channels = num_channels // 2
    return nn.Sequential(b1, *blks, nn.BatchNorm2d(num_channels), nn.ReLU(),
                         nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                         nn.Linear(num_channels, classes))


# -- lookup --------------------------------------------------------------------------

REFERENCES: dict[str, Callable[..., nn.Module]] = {
    "lenet": lenet,
    "lenet_bn": lenet_bn,
    "alexnet": alexnet,
    "vgg11": vgg11,
    "nin": nin,
    "googlenet": googlenet,
    "resnet18": resnet18,
    "densenet": densenet,
}

# The input each network is printed at in the notes (channels, height, width).
INPUTS: dict[str, tuple[int, int, int]] = {
    "lenet": (1, 28, 28),
    "lenet_bn": (1, 28, 28),
    "alexnet": (1, 224, 224),
    "vgg11": (1, 224, 224),
    "nin": (1, 224, 224),
    "googlenet": (1, 96, 96),
    "resnet18": (1, 224, 224),
    "densenet": (1, 96, 96),
}


def _key(name: str) -> str:
    """`specs/lenet_bn.arch`, `lenet_bn` and the network name `LeNetBN` all find lenet_bn."""
    stem = name.rsplit("/", 1)[-1].removesuffix(".arch").lower()
    if stem in REFERENCES:
        return stem
    squashed = stem.replace("_", "").replace("-", "")
    for key in REFERENCES:
        if key.replace("_", "") == squashed:
            return key
    raise KeyError(f"no reference network for {name!r}; known: {', '.join(REFERENCES)}")


def reference_for(spec_name: str, **kwargs) -> nn.Module:
    """The hand-written network for a d2l spec (file path, file stem or network name)."""
    return REFERENCES[_key(spec_name)](**kwargs)


def input_for(spec_name: str) -> tuple[int, int, int]:
    """The input shape (without batch) the notes run that network at."""
    return INPUTS[_key(spec_name)]


def stage_shapes(net: nn.Module, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The shape after each child of a Sequential, without the batch: the table
    d2l prints. Runs on the meta device, so no arithmetic is done. A batch of
    two, because BatchNorm1d refuses one sample per channel in training mode."""
    x = torch.empty((2, *input_shape), device="meta")
    shapes = []
    for layer in net.to("meta"):
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    return shapes
