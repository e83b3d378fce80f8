"""The training loop through the library API, on plain nn.Modules: learning,
the run folder, resuming (at an epoch's end and after Ctrl-C in the middle of
one), a diverging loss, and the checks made before training starts."""
from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch
from torch import nn

from archlang.train import ModuleModel, TrainConfig, train
from archlang.train.errors import Diverged, SetupError


def lenet_bn() -> nn.Module:
    """The notes' concise LeNet with batch norm (d2l 7.5)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.Linear(256, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(), nn.Linear(84, 10))


def small_net() -> nn.Module:
    """A quick learner on 8x8 digits, for the tests about files and resuming."""
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 10))


def source(factory=small_net, shape=(1, 8, 8), classes=10, name="Small"):
    return ModuleModel(factory, shape, classes, name)


def config(tmp_path: Path, name: str = "run", **kw) -> TrainConfig:
    defaults = dict(epochs=1, batch_size=64, lr=0.1, out=tmp_path / name, quiet=True)
    return TrainConfig(**{**defaults, **kw})


def weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# -- learning --------------------------------------------------------------------------


def test_one_epoch_of_lenet_bn_on_digits_learns(tmp_path, capsys):
    # The notes' defaults (SGD, lr 0.9, Xavier init) at batch 32: 45 steps. Measured test
    # accuracy after one epoch over seeds 0-4: 0.877, 0.897, 0.916, 0.908, 0.922 (chance: 0.1).
    result = train(source(lenet_bn, (1, 28, 28), name="LeNetBN"), config(tmp_path, batch_size=32, lr=None))
    record = result.history.last
    assert record.test_acc > 0.75
    assert record.train_loss < 2.0 and record.examples == 1438
    out = capsys.readouterr().out
    # --quiet: the notes' summary line only
    assert out.startswith(f"loss {record.train_loss:.3f}, train acc {record.train_acc:.3f}, "
                          f"test acc {record.test_acc:.3f}, ") and out.rstrip().endswith("examples/sec on cpu")


def test_the_run_folder_holds_metrics_curves_checkpoints_and_the_command(tmp_path, capsys):
    cfg = config(tmp_path, epochs=2, quiet=False, command=["archlang", "train", "x.arch", "--epochs", "2"])
    result = train(source(), cfg)
    out = cfg.out
    assert {p.name for p in out.iterdir()} == {"metrics.csv", "metrics.json", "curves.png", "last.pt", "best.pt",
                                               "final.pt", "command.txt", "config.json"}
    assert (out / "command.txt").read_text() == "archlang train x.arch --epochs 2\n"
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss,train_acc,test_acc") and len(rows) == 3
    doc = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in doc["epochs"]] == [1, 2] and doc["best"]["epoch"] in (1, 2)
    # the notes' animator: a point every steps // 5 steps and at the epoch's end (23 steps: 4, 8, ... 20, 23)
    assert [p["epoch"] for p in doc["curve"] if "train_loss" in p][:6] == pytest.approx(
        [4 / 23, 8 / 23, 12 / 23, 16 / 23, 20 / 23, 1.0], abs=1e-4)
    assert [p["epoch"] for p in doc["curve"] if "test_acc" in p] == [1, 2]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # final.pt and best.pt are plain state_dicts of the network
    model = small_net()
    model.load_state_dict(weights(out / "final.pt"))
    assert_same_weights(weights(out / "final.pt"), {k: v.cpu() for k, v in result_state(out).items()})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("training Small on cpu: digits, 1438 train / 359 test images [1, 8, 8]")
    assert lines[1].startswith("epoch 1/2: loss ") and lines[2].startswith("epoch 2/2: loss ")
    assert "examples/sec" in lines[1] and lines[1].endswith(" s")
    assert result.status == "done" and result.exit_code == 0


def result_state(out: Path) -> dict:
    return torch.load(out / "last.pt", weights_only=True)["model"]


# -- resuming -----------------------------------------------------------------------------


def test_resume_continues_the_epoch_count_and_the_metrics(tmp_path):
    straight = train(source(), config(tmp_path, "straight", epochs=2))
    train(source(), config(tmp_path, "split", epochs=1))
    resumed = train(source(), config(tmp_path, "split", epochs=2, resume=True))
    assert [r.epoch for r in resumed.history.epochs] == [1, 2]
    assert len((tmp_path / "split" / "metrics.csv").read_text().splitlines()) == 3
    # same batch order, same optimizer state, same RNG: the very same weights and numbers
    assert_same_weights(weights(tmp_path / "straight" / "final.pt"), weights(tmp_path / "split" / "final.pt"))
    assert [r.test_acc for r in resumed.history.epochs] == [r.test_acc for r in straight.history.epochs]


class Interrupting(nn.Module):
    """Sends this process SIGINT during its `at`-th training forward, as Ctrl-C would."""

    def __init__(self, at: int | None) -> None:
        super().__init__()
        self.net, self.at, self.calls = small_net(), at, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                signal.raise_signal(signal.SIGINT)
        return self.net(x)


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_exactly_as_without_it(tmp_path, capsys):
    straight = train(source(lambda: Interrupting(None)), config(tmp_path, "straight", epochs=2, momentum=0.9))
    # 23 steps an epoch: stop in the middle of the second epoch
    stopped = train(source(lambda: Interrupting(30)), config(tmp_path, "cut", epochs=2, momentum=0.9))
    assert stopped.status == "interrupted" and stopped.exit_code == 130
    assert "stopped in epoch 2 after step 7 of 23" in capsys.readouterr().err
    state = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (1, 7)
    resumed = train(source(lambda: Interrupting(None)), config(tmp_path, "cut", epochs=2, momentum=0.9, resume=True))
    assert resumed.status == "done"
    assert_same_weights(weights(tmp_path / "straight" / "final.pt"), weights(tmp_path / "cut" / "final.pt"))
    a, b = straight.history.last, resumed.history.last
    assert (a.train_loss, a.train_acc, a.test_acc, a.examples) == pytest.approx(
        (b.train_loss, b.train_acc, b.test_acc, b.examples), rel=1e-12)


def test_resume_with_nothing_left_to_do(tmp_path, capsys):
    train(source(), config(tmp_path))
    result = train(source(), config(tmp_path, resume=True, quiet=False))
    assert result.status == "nothing-to-do" and "already holds 1 epochs" in capsys.readouterr().out


# -- divergence --------------------------------------------------------------------------------


class BlowsUp(nn.Module):
    """Returns NaN from its `at`-th training forward on."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.net, self.at, self.calls = small_net(), at, 0

    def forward(self, x):
        y = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.at:
                y = y * float("nan")
        return y


def test_a_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(Diverged) as err:
        train(source(lambda: BlowsUp(30)), config(tmp_path, epochs=3))
    msg = str(err.value)
    assert msg == (f"the loss became nan in epoch 2 by step 8 of 23; {tmp_path / 'run' / 'last.pt'} holds the "
                   f"weights after epoch 1, whose loss was checked finite; lr 0.1 is likely too high for this "
                   f"network: try --lr 0.01, or state it in the spec, network Small(..., lr = 0.01), so that "
                   f"every run starts from it")
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (1, 0)
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 2


# -- checks before training ------------------------------------------------------------------------


def test_an_unwritable_run_folder_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SetupError, match="cannot write the run folder .*file/run"):
        train(source(lambda: pytest.fail("built a model")), config(tmp_path, out=blocker / "run"))


def test_an_existing_run_is_never_overwritten(tmp_path):
    train(source(), config(tmp_path))
    with pytest.raises(SetupError, match="already holds a training run .*--resume"):
        train(source(), config(tmp_path))


def test_resume_without_a_checkpoint(tmp_path):
    with pytest.raises(SetupError, match="nothing to resume"):
        train(source(), config(tmp_path, resume=True))


def test_too_few_outputs_for_the_data_classes(tmp_path):
    with pytest.raises(SetupError, match="digits has 10 classes but Small outputs 5.*--set classes=10"):
        train(source(classes=5), config(tmp_path))


@pytest.mark.parametrize("kw, words", [
    (dict(epochs=0), "--epochs must be at least 1"),
    (dict(lr=-1.0), "--lr must be a finite number above 0, got -1.0"),
    (dict(optimizer="adam", momentum=0.9), "--momentum applies to sgd"),
    (dict(device="tpu"), "--device expects auto, cpu, cuda"),
])
def test_bad_settings(tmp_path, kw, words):
    with pytest.raises(SetupError, match=words):
        train(source(), config(tmp_path, **kw))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_cuda_without_a_gpu(tmp_path):
    with pytest.raises(SetupError, match="no CUDA device is available here; use --device cpu"):
        train(source(), config(tmp_path, device="cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_one_epoch_on_the_gpu_with_amp_and_channels_last(tmp_path):
    result = train(source(lenet_bn, (1, 28, 28)), config(tmp_path, batch_size=32, lr=None, device="cuda",
                                                         amp=True, channels_last=True))
    assert result.history.last.test_acc > 0.5


def test_a_folder_of_images_trains_through_dataloader_workers(tmp_path):
    from test_train_data import write_folder

    write_folder(tmp_path / "imgs", classes=("a", "b", "c"), per_class=8)
    net = lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    result = train(source(net, (3, 8, 8), classes=3, name="Folder"),
                   config(tmp_path, data=f"folder:{tmp_path / 'imgs'}", batch_size=8, workers=1))
    record = result.history.last
    assert (record.examples, result.status) == (19, "done")   # 24 images, 5 held out for testing
