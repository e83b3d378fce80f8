"""Training settings a spec states (network parameters named lr, epochs, batch_size, optimizer,
momentum, weight_decay) and the warning for a run that does not learn."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from archlang.cli import build_parser
from archlang.commands.train import config_from
from archlang.train.metrics import EpochRecord, History
from archlang.train.session import not_learning

STATES = """\
network Tiny(classes = 10, lr = 10000.0, epochs = 2, batch_size = 32) {
    input [1, 8, 8]
    conv(8, k=3, p=1) bn relu maxpool(2)
    flatten linear(classes)
}
"""


def _args(*argv):
    return build_parser(["train"]).parse_args(["train", "net.arch", *argv])


def test_a_flag_overrides_the_spec_which_overrides_the_default():
    params = {"classes": 10, "lr": 0.05, "epochs": 30, "optimizer": "adam"}
    config = config_from(_args("--lr", "0.1"), params)
    assert (config.lr, config.epochs, config.optimizer, config.batch_size) == (0.1, 30, "adam", 256)
    assert config_from(_args(), {"classes": 10}).lr is None     # the notes' default, chosen by the optimizer
    assert config_from(_args("--epochs", "10"), params).epochs == 10   # equal to the default, still a flag


def test_a_setting_of_the_wrong_type_is_a_usage_error(cli, tmp_path):
    path = tmp_path / "net.arch"
    path.write_text(STATES.replace("epochs = 2", "epochs = 2.5"), encoding="utf-8")
    result = cli("train", path, "--data", "synthetic:64")
    assert result.code == 2 and "epochs = 2.5 is a training setting (--epochs); it must be an integer" in result.err


def test_settings_are_no_unused_parameters(cli, tmp_path):
    path = tmp_path / "net.arch"
    path.write_text(STATES, encoding="utf-8")
    result = cli("check", path)
    assert result.code == 0 and "W502" not in result.err, result
    block = tmp_path / "block.arch"   # a block's parameter lr is not a setting: unused, it warns
    block.write_text("block B(lr) { relu }\nnetwork N { input [3, 4, 4]\n B(1) }\n", encoding="utf-8")
    assert "W502" in cli("check", block).err


def test_a_run_takes_the_specs_settings_and_advises_a_lower_lr(cli, tmp_path):
    path = tmp_path / "net.arch"
    path.write_text(STATES, encoding="utf-8")
    result = cli("train", path, "--data", "synthetic:64", "--out", tmp_path / "run")
    # lr 10000 blows the weights up: the loss grows (a warning, exit 0) or stops being finite (exit 1)
    assert result.code in (0, 1), result
    assert result.out.splitlines()[0] == "settings from the spec: lr 10000.0, epochs 2, batch_size 32 (a flag overrides)"
    about = json.loads((tmp_path / "run" / "config.json").read_text())
    assert about["lr"] == 10000.0
    assert (about["settings"]["epochs"], about["settings"]["batch_size"]) == (2, 32)
    assert "try --lr 1000, or state it in the spec, network Tiny(..., lr = 1000)" in result.err, result


def _history(*epochs) -> History:
    history = History()
    for i, (loss, acc) in enumerate(epochs):
        history.epochs.append(EpochRecord(i + 1, loss, acc, acc, 100, 1.0, 0.9))
    return history


@pytest.mark.parametrize("epochs, steps, warned", [
    ([(2.40, 0.10), (2.303, 0.11)], 400, "learns nothing"),     # ResNet-20 at lr 0.9: chance, loss ln 10
    ([(2.40, 0.10), (2.303, 0.11)], 10, None),                  # too few steps to tell
    ([(2.30, 0.10), (1.90, 0.30)], 400, None),                  # learning
    ([(2.30, 0.12), (2.20, 0.14)], 400, None),                  # slow, but the loss is below ln 10
    ([(2.30, 0.10), (9.1e7, 0.15)], 2, "grew from 2.300 to 9.1e+07"),
])
def test_not_learning(epochs, steps, warned):
    text = not_learning(_history(*epochs), 10, 0.9, "ResNet20", steps)
    if warned is None:
        assert text is None
    else:
        assert warned in text and "try --lr 0.09" in text and "ResNet20(..., lr = 0.09)" in text
