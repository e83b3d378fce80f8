"""The data's shape against the spec's input, decided once before training.

The rules (docs/training.md):
- `--resize N` (or `HxW`) resizes every image; the result must match the spec.
- digits and synthetic data are resized to the spec's input without being
  asked: that is what they are for. Folder images vary in size and are always
  resized, to the spec's input or `--resize`.
- MNIST and Fashion-MNIST keep their 28x28 unless `--resize` says otherwise,
  as in the notes (`load_data_fashion_mnist(batch_size, resize=96)`).
- One-channel data feeds a three-channel spec by repeating the channel (said
  so on the console). Any other channel difference is an error.
- A symbolic spec dimension (`input [1, H, W]`) takes the data's size.

A disagreement is an error that shows both shapes and the fix, before any
training starts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .data import FolderData, TensorData
from .errors import SetupError


@dataclass(frozen=True)
class Fit:
    size: tuple[int, int]          # the images' H, W as the network sees them
    channels: int                  # the spec's channel count
    replicate: bool                # one-channel data repeated to three channels
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.size)


def fit(data: TensorData | FolderData, spec_shape: tuple, resize: tuple[int, int] | None,
        network: str, where: str = "") -> Fit:
    if len(spec_shape) != 3:
        raise SetupError(f"train feeds images [C, H, W], but {network}'s input is {_fmt(spec_shape)}"
                         f"{_at(where)}; declare an image input such as [1, 28, 28] and `flatten` in the spec")
    c, h, w = spec_shape
    dc, dh, dw = data.shape
    size = _target_size(data, (h, w), resize, network)
    wrong_size = any(isinstance(s, int) and s != t for s, t in zip((h, w), size))
    replicate = dc == 1 and c == 3
    if wrong_size or (dc != c and not replicate):
        raise SetupError(_mismatch(data, (dc, *size), spec_shape, resize, network, where))
    notes = []
    if dh is not None and (dh, dw) != size:
        notes.append(f"{data.name} resized from {dh}x{dw} to {size[0]}x{size[1]} (bilinear)")
    if replicate:
        notes.append(f"{data.name} has 1 channel; repeated to the 3 channels of {network}'s input")
    return Fit(size, c, replicate, notes)


def _target_size(data, spec_hw: tuple, resize, network: str) -> tuple[int, int]:
    if resize is not None:
        return resize
    concrete = all(isinstance(d, int) for d in spec_hw)
    if data.auto_resize and concrete:
        return tuple(spec_hw)
    if data.shape[1] is None:
        raise SetupError(f"{data.name}: images vary in size and {network}'s input size is symbolic "
                         f"{_fmt(spec_hw)}; give --resize, e.g. --resize 96")
    return tuple(data.shape[1:])


def _mismatch(data, got: tuple, spec_shape: tuple, resize, network: str, where: str) -> str:
    c, h, w = spec_shape
    how = f" after --resize {resize[0]}x{resize[1]}" if resize else ""
    fixes = []
    if any(isinstance(s, int) and s != t for s, t in zip((h, w), got[1:])):
        fixes.append(f"--resize {h}" if h == w else f"--resize {h}x{w}")
    fixes.append(f"change the spec's input to {_fmt(got)}")
    return (f"the data {data.name} yields images {_fmt(got)}{how}, but {network}'s input is "
            f"{_fmt(spec_shape)}{_at(where)}; use {' or '.join(fixes)}")


def _fmt(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _at(where: str) -> str:
    return f" ({where})" if where else ""


def prepare(images: torch.Tensor, scale: float, fit_: Fit) -> torch.Tensor:
    """Raw images [N, C, H, W] in [0, scale] to what the network eats: float in [0, 1], fitted."""
    x = images.float()
    if scale != 1.0:
        x = x / scale
    if tuple(x.shape[-2:]) != fit_.size:
        # antialias matters only when shrinking; torchvision's Resize does the same
        x = F.interpolate(x, size=fit_.size, mode="bilinear", align_corners=False, antialias=True)
    if fit_.replicate:
        x = x.expand(-1, 3, -1, -1)
    return x.contiguous()


def folder_transform(fit_: Fit):
    """What a DataLoader worker does to each folder image."""
    from torchvision import transforms

    return transforms.Compose([transforms.Resize(fit_.size, antialias=True), transforms.ToTensor()])
