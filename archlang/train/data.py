"""What `--data` names, loaded: both splits, the class count, the native shape.

    digits              scikit-learn's 1797 real 8x8 handwritten digits (offline; the default)
    synthetic[:N]       N random images of the spec's input shape (benchmarks)
    mnist:DIR           MNIST IDX files, read through torchvision with download off
    fashion-mnist:DIR   Fashion-MNIST likewise
    folder:DIR          an image folder: DIR/<class>/*.png, or DIR/train/<class> and DIR/test/<class>

Sources that fit in memory come back as `TensorData` (uint8 or float tensors,
sliced into batches on the device later); a folder comes back as `FolderData`
(read by DataLoader workers). Nothing here resizes: fit.py decides that once
the spec's input is known.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..source import shown_name
from .errors import SetupError

SOURCES = "digits, synthetic[:N], mnist:DIR, fashion-mnist:DIR, folder:DIR"
DIGITS_SPLIT_SEED = 0          # the digits split never depends on --seed: one test set for all runs
DIGITS_TEST_FRACTION = 0.2
FOLDER_TEST_FRACTION = 0.2
SYNTHETIC_DEFAULT = 4096


@dataclass(frozen=True)
class DataArg:
    kind: str                 # digits, synthetic, mnist, fashion-mnist, folder
    path: Path | None = None
    count: int | None = None  # synthetic:N

    def __str__(self) -> str:
        if self.path is not None:
            return f"{self.kind}:{self.path}"
        return f"{self.kind}:{self.count}" if self.count else self.kind


def parse_data(text: str) -> DataArg:
    kind, sep, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind == "digits" and not sep:
        return DataArg("digits")
    if kind == "synthetic":
        if not sep:
            return DataArg("synthetic", count=SYNTHETIC_DEFAULT)
        if rest.isdigit() and int(rest) >= 2:
            return DataArg("synthetic", count=int(rest))
        raise SetupError(f"--data synthetic:N expects a count of at least 2, got {rest!r}")
    if kind in ("mnist", "fashion-mnist", "folder"):
        if not rest:
            raise SetupError(f"--data {kind}:DIR needs a directory, e.g. --data {kind}:data/")
        return DataArg(kind, path=Path(rest))
    raise SetupError(f"unknown --data source {text!r}; expected one of: {SOURCES}")


@dataclass
class Split:
    images: torch.Tensor  # [N, C, H, W], values in [0, scale]
    labels: torch.Tensor  # [N], int64

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class TensorData:
    """A data set that fits in memory, both splits as tensors."""

    name: str
    train: Split
    test: Split
    classes: int
    scale: float        # the pixel value that means 1.0: 16 for digits, 255 for IDX files
    auto_resize: bool   # resized to the spec's input without being asked (digits, synthetic)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])


@dataclass
class FolderData:
    """An image folder; images vary in size, so they are always resized."""

    name: str
    train: object       # torch Dataset (ImageFolder or a Subset of one)
    test: object
    classes: int
    class_names: list[str]
    channels: int       # 1 when the first image is grayscale, else 3
    folders: list       # the ImageFolder objects, whose transform batches.fit_folders sets
    auto_resize: bool = True

    @property
    def shape(self) -> tuple[int, None, None]:
        return (self.channels, None, None)


def load_data(arg: DataArg, spec_shape: tuple, classes: int) -> TensorData | FolderData:
    """Load the source. `spec_shape` and `classes` shape the synthetic data only."""
    if arg.kind == "digits":
        return load_digits()
    if arg.kind == "synthetic":
        return synthetic(arg.count, spec_shape, classes)
    if arg.kind in ("mnist", "fashion-mnist"):
        from .idx import load_idx
        return load_idx(arg.kind, arg.path)
    return load_folder(arg.path)


def load_digits() -> TensorData:
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1)   # [1797, 1, 8, 8], 0..16
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    n_test = round(len(labels) * DIGITS_TEST_FRACTION)
    test, train = order[:n_test], order[n_test:]
    return TensorData("digits", Split(images[train], labels[train]), Split(images[test], labels[test]),
                      classes=10, scale=16.0, auto_resize=True)


def synthetic(count: int, spec_shape: tuple, classes: int) -> TensorData:
    """Random images in [0, 1] and random labels: for measuring speed, not learning."""
    if not all(isinstance(d, int) for d in spec_shape):
        raise SetupError(f"synthetic data needs a concrete input shape, the spec's is "
                         f"[{', '.join(map(str, spec_shape))}]; give --input")
    gen = torch.Generator().manual_seed(0)
    n_test = max(1, count // 4)

    def split(n: int) -> Split:
        return Split(torch.rand((n, *spec_shape), generator=gen),
                     torch.randint(0, classes, (n,), generator=gen))

    return TensorData(f"synthetic:{count}", split(count), split(n_test), classes=classes, scale=1.0,
                      auto_resize=True)


def load_folder(root: Path) -> FolderData:
    from torchvision.datasets import ImageFolder

    if not root.is_dir():
        raise SetupError(f"--data folder:{root}: no such directory")
    train_dir, test_dir = root / "train", next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    try:
        if train_dir.is_dir() and test_dir is not None:
            train, test = ImageFolder(str(train_dir)), ImageFolder(str(test_dir))
            folders = [train, test]
            if train.classes != test.classes:
                raise SetupError(f"--data folder:{root}: {train_dir} and {test_dir} hold different classes "
                                 f"({', '.join(train.classes)} vs {', '.join(test.classes)})")
            train_set, test_set = train, test
        else:
            whole = ImageFolder(str(root))
            folders = [whole]
            train_set, test_set = _split(whole, FOLDER_TEST_FRACTION)
    except (FileNotFoundError, OSError) as exc:
        raise SetupError(f"--data folder:{root}: {exc} (expected DIR/<class>/<image> files, "
                         f"or DIR/train/<class> and DIR/test/<class>)") from None
    first = folders[0]
    channels = _channels_of(first.samples[0][0])
    mode = "L" if channels == 1 else "RGB"
    for f in folders:  # one mode for every image, so batches stack
        f.loader = ImageLoader(mode)
    return FolderData(f"folder:{root}", train_set, test_set, classes=len(first.classes),
                      class_names=list(first.classes), channels=channels, folders=folders)


def _split(dataset, test_fraction: float):
    from torch.utils.data import Subset

    n = len(dataset)
    if n < 2:
        raise SetupError(f"--data folder:{dataset.root}: {n} image; at least 2 are needed to train and test")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED)).tolist()
    n_test = min(n - 1, max(1, round(n * test_fraction)))
    return Subset(dataset, order[n_test:]), Subset(dataset, order[:n_test])


def _channels_of(path: str) -> int:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return 1 if img.mode in ("1", "L", "I", "I;16", "F") else 3
    except OSError as exc:
        raise SetupError(f"cannot read image {shown_name(path)}: {exc}") from None


class ImageLoader:
    """A picklable loader (DataLoader workers pickle it) that opens an image in one mode."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, path: str):
        from PIL import Image

        with open(path, "rb") as f:
            return Image.open(f).convert(self.mode)
