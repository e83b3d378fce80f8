"""`archlang train`'s data: the sources, the IDX files, image folders, and fitting
the data's shape to the spec's input (with the errors users see)."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

from archlang.train.batches import BatchPlan
from archlang.train.data import load_data, load_digits, load_folder, parse_data
from archlang.train.errors import SetupError
from archlang.train.fit import fit, prepare
from archlang.train.idx import FILES, load_idx

# -- --data -------------------------------------------------------------------


def test_parse_data_sources():
    assert parse_data("digits").kind == "digits"
    assert parse_data("synthetic").count == 4096
    assert parse_data("synthetic:64").count == 64
    arg = parse_data("fashion-mnist:data/fm")
    assert (arg.kind, arg.path) == ("fashion-mnist", Path("data/fm"))
    assert parse_data("folder:imgs").kind == "folder"


@pytest.mark.parametrize("text, words", [
    ("cifar", ["unknown --data source 'cifar'", "digits", "fashion-mnist:DIR"]),
    ("mnist", ["mnist:DIR needs a directory"]),
    ("synthetic:1", ["at least 2"]),
    ("synthetic:many", ["at least 2"]),
])
def test_parse_data_errors(text, words):
    with pytest.raises(SetupError) as err:
        parse_data(text)
    for w in words:
        assert w in str(err.value)


# -- digits ---------------------------------------------------------------------


def test_digits_are_the_real_ones_split_80_20_the_same_every_time():
    a, b = load_digits(), load_digits()
    assert (len(a.train), len(a.test)) == (1438, 359)
    assert a.shape == (1, 8, 8) and a.classes == 10 and a.scale == 16.0
    assert torch.equal(a.test.labels, b.test.labels) and torch.equal(a.train.images, b.train.images)
    assert float(a.train.images.max()) == 16.0 and float(a.train.images.min()) == 0.0
    # every class is in both splits
    assert set(a.test.labels.tolist()) == set(range(10)) == set(a.train.labels.tolist())


def test_digits_fit_to_the_spec_input_bilinear_in_0_1():
    data = load_digits()
    f = fit(data, (1, 28, 28), None, "LeNet")
    assert f.shape == (1, 28, 28) and not f.replicate
    assert any("resized from 8x8 to 28x28" in n for n in f.notes)
    x = prepare(data.train.images[:4], data.scale, f)
    assert x.shape == (4, 1, 28, 28) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    ref = torch.nn.functional.interpolate(data.train.images[:4] / 16, size=(28, 28), mode="bilinear",
                                          align_corners=False)
    assert torch.allclose(x, ref, atol=1e-6)


def test_one_channel_data_is_repeated_for_a_three_channel_spec_and_said_so():
    f = fit(load_digits(), (3, 32, 32), None, "ResNet")
    assert f.replicate and f.shape == (3, 32, 32)
    assert any("repeated to the 3 channels" in n for n in f.notes)
    x = prepare(load_digits().train.images[:2], 16.0, f)
    assert x.shape == (2, 3, 32, 32) and torch.equal(x[:, 0], x[:, 2])


def test_channel_mismatch_is_an_error_with_both_shapes():
    with pytest.raises(SetupError) as err:
        fit(load_digits(), (2, 28, 28), None, "Odd", "specs/odd.arch:3:5")
    msg = str(err.value)
    assert "yields images [1, 28, 28]" in msg and "Odd's input is [2, 28, 28] (specs/odd.arch:3:5)" in msg
    assert "change the spec's input to [1, 28, 28]" in msg and "--resize" not in msg


def test_resize_that_disagrees_with_the_spec_is_an_error_that_suggests_the_fix():
    with pytest.raises(SetupError) as err:
        fit(load_digits(), (1, 28, 28), (96, 96), "LeNetBN")
    msg = str(err.value)
    assert "[1, 96, 96] after --resize 96x96" in msg and "LeNetBN's input is [1, 28, 28]" in msg
    assert "--resize 28" in msg and "change the spec's input to [1, 96, 96]" in msg


def test_symbolic_spec_sizes_take_the_data_size():
    assert fit(load_digits(), (1, "H", "W"), None, "Net").shape == (1, 8, 8)
    assert fit(load_digits(), (1, "H", "W"), (32, 32), "Net").shape == (1, 32, 32)


def test_train_needs_an_image_input():
    with pytest.raises(SetupError, match=r"input is \[784\]"):
        fit(load_digits(), (784,), None, "MLP")


def test_synthetic_has_the_spec_shape_and_the_network_classes():
    data = load_data(parse_data("synthetic:40"), (3, 16, 16), classes=7)
    assert data.shape == (3, 16, 16) and len(data.train) == 40 and len(data.test) == 10
    assert int(data.train.labels.max()) < 7
    assert fit(data, (3, 16, 16), None, "Net").notes == []


# -- IDX files (MNIST / Fashion-MNIST) ---------------------------------------------


def write_idx(folder: Path, n_train: int = 12, n_test: int = 5, gz: bool = False, size: int = 28) -> dict:
    """The four IDX files as the real ones are laid out: magic, sizes big-endian, uint8 data."""
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(1)
    made = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = torch.randint(0, 256, (n, size, size), dtype=torch.uint8, generator=gen)
        labels = torch.randint(0, 10, (n,), dtype=torch.uint8, generator=gen)
        _write(folder / f"{prefix}-images-idx3-ubyte", struct.pack(">IIII", 0x0803, n, size, size)
               + images.numpy().tobytes(), gz)
        _write(folder / f"{prefix}-labels-idx1-ubyte", struct.pack(">II", 0x0801, n) + labels.numpy().tobytes(), gz)
        made[prefix] = (images, labels)
    return made


def _write(path: Path, data: bytes, gz: bool) -> None:
    if gz:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("layout", ["torchvision", "flat", "flat-gz"])
def test_idx_files_are_read_in_every_layout(tmp_path, layout):
    folder = tmp_path / "FashionMNIST" / "raw" if layout == "torchvision" else tmp_path
    made = write_idx(folder, gz=layout.endswith("gz"))
    data = load_idx("fashion-mnist", tmp_path)
    assert data.shape == (1, 28, 28) and data.classes == 10 and data.scale == 255.0
    assert torch.equal(data.train.images[:, 0], made["train"][0])
    assert torch.equal(data.test.labels, made["t10k"][1].long())
    assert not data.auto_resize   # 28x28 stays 28x28 unless --resize says otherwise


def test_idx_data_keeps_its_size_so_a_32x32_spec_needs_resize(tmp_path):
    write_idx(tmp_path)
    data = load_idx("mnist", tmp_path)
    with pytest.raises(SetupError) as err:
        fit(data, (1, 32, 32), None, "LeNet", "specs/lenet.arch:2:5")
    assert "yields images [1, 28, 28]" in str(err.value) and "use --resize 32" in str(err.value)
    f = fit(data, (1, 32, 32), (32, 32), "LeNet")
    assert prepare(data.train.images[:3], data.scale, f).shape == (3, 1, 32, 32)


def test_missing_idx_files_are_named_with_where_to_get_them(tmp_path):
    write_idx(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(SetupError) as err:
        load_idx("fashion-mnist", tmp_path)
    msg = str(err.value)
    assert f"missing t10k-labels-idx1-ubyte in {tmp_path}" in msg
    for name in FILES:
        assert name in msg
    assert "DIR/FashionMNIST/raw" in msg and "http" in msg and "never downloads" in msg


def test_idx_directory_that_does_not_exist(tmp_path):
    with pytest.raises(SetupError, match="no such directory"):
        load_idx("mnist", tmp_path / "nowhere")


def test_corrupt_idx_file_is_a_clear_error(tmp_path):
    write_idx(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"not an idx file at all")
    with pytest.raises(SetupError, match="could not be read"):
        load_idx("mnist", tmp_path)


# -- image folders ---------------------------------------------------------------------


def write_folder(root: Path, classes=("cat", "dog"), per_class: int = 5, mode: str = "RGB") -> None:
    from PIL import Image

    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new(mode, (12 + i, 10), color=(40 * c + i) if mode == "L" else (40 * c, i, 0)).save(
                root / name / f"{i}.png")


def test_folder_is_split_and_resized_to_the_spec(tmp_path):
    write_folder(tmp_path)
    data = load_folder(tmp_path)
    assert data.classes == 2 and data.channels == 3 and len(data.train) + len(data.test) == 10
    f = fit(data, (3, 8, 8), None, "Net")
    from archlang.train.batches import fit_folders
    fit_folders(data, f)
    x, y = data.train[0]
    assert x.shape == (3, 8, 8) and y in (0, 1)


def test_folder_with_train_and_test_subfolders(tmp_path):
    write_folder(tmp_path / "train")
    write_folder(tmp_path / "test", per_class=2)
    data = load_folder(tmp_path)
    assert (len(data.train), len(data.test)) == (10, 4)


@pytest.mark.parametrize("make, words", [
    (lambda root: None, "no such directory"),
    (lambda root: root.mkdir(), "expected DIR/<class>/<image>"),
])
def test_bad_folders_give_clear_errors(tmp_path, make, words):
    root = tmp_path / "imgs"
    make(root)
    with pytest.raises(SetupError, match=words):
        load_folder(root)


def test_grayscale_folder_with_a_symbolic_spec_needs_resize(tmp_path):
    write_folder(tmp_path, mode="L")
    data = load_folder(tmp_path)
    assert data.channels == 1
    with pytest.raises(SetupError, match="images vary in size.*give --resize"):
        fit(data, (1, "H", "W"), None, "Net")


# -- the batch plan ---------------------------------------------------------------------


def test_processes_split_each_global_batch_and_together_see_it_all():
    single = BatchPlan(12, 4, seed=3)
    halves = [BatchPlan(12, 4, rank=r, world=2, seed=3) for r in (0, 1)]
    assert single.steps == halves[0].steps == 3
    for step in range(3):
        whole = single.local(single.order(1), step)
        parts = [p.local(p.order(1), step) for p in halves]
        assert torch.equal(torch.cat(parts), whole)
        assert single.global_size(step) == len(whole)


def test_a_training_tail_too_small_for_batch_norm_is_dropped():
    # BatchNorm cannot train on one example per process; evaluation keeps every example
    assert BatchPlan(9, 4).steps == 2
    assert BatchPlan(10, 4).steps == 3 and BatchPlan(10, 4).global_size(2) == 2
    assert BatchPlan(10, 4, rank=1, world=2).steps == 2
    assert BatchPlan(9, 4, drop_small_tail=False).steps == 3


def test_order_depends_on_seed_and_epoch_only():
    plan = BatchPlan(50, 8, seed=1)
    assert torch.equal(plan.order(2), BatchPlan(50, 8, seed=1).order(2))
    assert not torch.equal(plan.order(2), plan.order(3))
    assert not torch.equal(plan.order(2), BatchPlan(50, 8, seed=2).order(2))
    assert torch.equal(BatchPlan(5, 2, shuffle=False).order(7), torch.arange(5))
