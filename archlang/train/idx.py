"""MNIST and Fashion-MNIST from their IDX files, read through torchvision with download off.

torchvision expects DIR/FashionMNIST/raw/<four files>, uncompressed. Users
also keep the four files straight in DIR, often still gzipped as downloaded,
so both layouts are accepted: the folder is found here, gzipped files are
unpacked into a scratch directory, and torchvision reads from there. Nothing
is ever downloaded; a missing file is an error that names the four files and
where to get them.
"""
from __future__ import annotations

import contextlib
import gzip
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .data import Split, TensorData
from ..source import shown_name
from .errors import SetupError

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def dataset_class(kind: str):
    from torchvision.datasets import MNIST, FashionMNIST

    return {"mnist": MNIST, "fashion-mnist": FashionMNIST}[kind]


def load_idx(kind: str, root: Path) -> TensorData:
    cls = dataset_class(kind)
    found = find_files(kind, root)
    with _plain_files(found) as raw_dir:
        reader = _reader_for(cls, raw_dir)
        try:
            train, test = reader(str(root), train=True), reader(str(root), train=False)
        except (AssertionError, TypeError, ValueError, KeyError, RuntimeError, OSError) as exc:
            where = found[FILES[0]].parent
            raise SetupError(f"--data {kind}:{root}: the IDX files in {where} could not be read "
                             f"({type(exc).__name__}: {exc}); are they the real {cls.__name__} files?") from None
    splits = [_split(ds, kind, root) for ds in (train, test)]
    return TensorData(f"{kind}:{root}", splits[0], splits[1], classes=len(cls.classes), scale=255.0,
                      auto_resize=False)


def find_files(kind: str, root: Path) -> dict[str, Path]:
    """The four files, plain or .gz, from the first folder that holds all of them."""
    cls = dataset_class(kind)
    candidates = [root / cls.__name__ / "raw", root / "raw", root]
    for folder in candidates:
        found = {name: p for name in FILES if (p := _plain_or_gz(folder / name)) is not None}
        if len(found) == len(FILES):
            return found
    raise SetupError(missing_message(kind, root, candidates))


def missing_message(kind: str, root: Path, searched: list[Path]) -> str:
    cls = dataset_class(kind)
    mirror = cls.mirrors[0]
    if not root.is_dir():
        head = f"--data {kind}:{root}: no such directory"
    else:
        best = max(searched, key=lambda f: sum(_plain_or_gz(f / n) is not None for n in FILES))
        missing = [n for n in FILES if _plain_or_gz(best / n) is None]
        head = f"--data {kind}:{root}: missing {', '.join(missing)} in {best}"
    return (f"{head}; {cls.__name__} needs the four IDX files {', '.join(FILES)} (plain or .gz) "
            f"in DIR or DIR/{cls.__name__}/raw; download them from {mirror} "
            f"(e.g. {mirror}{FILES[0]}.gz); archlang never downloads")


def _plain_or_gz(path: Path) -> Path | None:
    for p in (path, path.with_name(path.name + ".gz")):
        if p.is_file():
            return p
    return None


@contextlib.contextmanager
def _plain_files(found: dict[str, Path]) -> Iterator[Path]:
    """A folder holding the four files uncompressed: theirs when it can be, else a scratch copy."""
    folders = {p.parent for p in found.values()}
    if len(folders) == 1 and all(p.name == name for name, p in found.items()):
        yield folders.pop()
        return
    with tempfile.TemporaryDirectory(prefix="archlang-idx-") as tmp:
        for name, path in found.items():
            target = Path(tmp) / name
            if path.suffix == ".gz":
                try:
                    with gzip.open(path, "rb") as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                except (OSError, EOFError) as exc:
                    raise SetupError(f"cannot unpack {shown_name(path)}: {exc}") from None
            else:
                target.symlink_to(path.resolve())
        yield Path(tmp)


def _reader_for(cls, raw_dir: Path):
    """torchvision's own class, told where the raw files are. Download stays off."""

    class Reader(cls):
        @property
        def raw_folder(self) -> str:
            return str(raw_dir)

        def __init__(self, root: str, train: bool) -> None:
            super().__init__(root, train=train, download=False)

    Reader.__name__ = cls.__name__  # torchvision names its folders after the class
    return Reader


def _split(dataset, kind: str, root: Path) -> Split:
    images, labels = dataset.data, dataset.targets
    if len(images) != len(labels):
        raise SetupError(f"--data {kind}:{root}: {len(images)} images but {len(labels)} labels "
                         f"in the {'training' if dataset.train else 'test'} files")
    return Split(images.unsqueeze(1), labels.long())   # uint8 [N, 1, 28, 28]: a quarter of float32
