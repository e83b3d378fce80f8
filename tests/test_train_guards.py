"""Training keeps no poisoned checkpoint and refuses settings that cannot work, before any work.

A checkpoint is written only from weights whose loss was checked finite: the
oracle is torch itself, the saved weights loaded into `archlang.compile`'s
module and run on the digits. Every bad hyper-parameter (infinite, NaN,
beyond float32, a momentum that never forgets) is a one-line usage error
before the run folder is made; batch norm that would see one value per
channel is refused with the layer named; a disk that fills during a save
is a clear error, not an internal one.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import archlang
from test_atomic_writes import run_on_full_disk

MLP = "network Mlp(classes = 10) {\n    input [1, 8, 8]\n    flatten linear(64) relu linear(classes)\n}\n"
BN_AFTER_LINEAR = ("network Bn1(classes = 10) {\n    input [1, 8, 8]\n"
                   "    flatten linear(32) bn relu linear(classes)\n}\n")
BN_AFTER_CONV = ("network Bn2(classes = 10) {\n    input [1, 8, 8]\n"
                 "    conv(4, k=3, p=1) bn relu flatten linear(classes)\n}\n")


def spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "net.arch"
    path.write_text(text)
    return path


def digits_loss(net: Path, state: dict) -> float:
    """The mean cross-entropy of these weights on all the digits, by torch alone."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16
    y = torch.tensor(bunch.target)
    model = archlang.compile(str(net)).eval()
    model.load_state_dict(state)
    with torch.no_grad():
        return float(F.cross_entropy(model(x), y))


# -- item 4: only checked weights are saved ----------------------------------------------------------

def test_a_checkpoint_holds_only_weights_whose_loss_was_checked_finite(cli, tmp_path):
    # lr 1e12, one step an epoch: the loss of each step is finite, but the weights after
    # epoch 2 give inf logits; they were saved as last.pt, "the last good checkpoint"
    net, out = spec(tmp_path, MLP), tmp_path / "run"
    r = cli("train", net, "--lr", "1e12", "--batch-size", "2048", "--epochs", "3", "--out", out, "--quiet")
    assert r.code == 1, r
    last = torch.load(out / "last.pt", weights_only=True)
    kept = last["epoch"]
    assert r.err.strip().endswith(f"{out / 'last.pt'} holds the weights after epoch {kept}, whose loss was "
                                  f"checked finite; lr 1e+12 is likely too high for this network: try --lr "
                                  f"1e+11, or state it in the spec, network Mlp(..., lr = 1e+11), so that every "
                                  f"run starts from it"), r.err
    for name in ("last.pt", "best.pt", "final.pt"):
        if (out / name).exists():
            state = torch.load(out / name, weights_only=True)
            loss = digits_loss(net, state["model"] if name == "last.pt" else state)
            assert torch.isfinite(torch.tensor(loss)), f"{name} holds weights whose loss is {loss}"
    resumed = cli("train", net, "--lr", "1e-9", "--batch-size", "2048", "--epochs", str(kept + 1), "--out", out,
                  "--resume", "--quiet")
    assert resumed.code == 0, resumed


# -- item 5: bad hyper-parameters -----------------------------------------------------------------------

@pytest.mark.parametrize("flag, value, words", [
    ("--lr", "inf", "--lr must be a finite number above 0, got inf"),
    ("--lr", "nan", "--lr must be a finite number above 0, got nan"),
    ("--lr", "1e39", "--lr 1e+39 is beyond float32"),
    ("--momentum", "nan", "--momentum must be at least 0 and below 1, got nan"),
    ("--momentum", "-1", "--momentum must be at least 0 and below 1, got -1.0"),
    ("--momentum", "1", "--momentum must be at least 0 and below 1, got 1.0"),
    ("--weight-decay", "1e39", "--weight-decay 1e+39 is beyond float32"),
    ("--weight-decay", "nan", "--weight-decay must be a finite number of at least 0, got nan"),
    ("--seed", "99999999999999999999999", "--seed must be from"),
    ("--workers", "-1", "--workers must be at least 0"),
])
def test_bad_hyper_parameters_are_usage_errors_before_any_work(cli, tmp_path, flag, value, words):
    out = tmp_path / "run"
    r = cli("train", spec(tmp_path, MLP), "--epochs", "1", "--out", out, flag, value)
    assert r.code == 2, r
    assert r.err.strip() == f"archlang: {words}" or r.err.startswith(f"archlang: {words}"), r.err
    assert len(r.err.strip().splitlines()) == 1 and "internal error" not in r.err
    assert not out.exists()


def test_batch_norm_with_one_value_per_channel_is_refused_before_training(cli, tmp_path):
    net, out = spec(tmp_path, BN_AFTER_LINEAR), tmp_path / "run"
    r = cli("train", net, "--batch-size", "1", "--epochs", "1", "--out", out)
    assert r.code == 2, r
    assert r.err.strip() == (f"archlang: --batch-size 1: batch norm bn1 ({net}:3:24) would see one value per "
                             f"channel ([32] at a batch of 1 per process) and cannot train on it; give "
                             f"--batch-size 2 or more"), r.err
    assert not out.exists()
    # after a convolution it sees 8 x 8 values per channel: a batch of 1 trains
    r = cli("train", spec(tmp_path, BN_AFTER_CONV), "--batch-size", "1", "--data", "synthetic:8", "--epochs", "1",
            "--out", out, "--quiet")
    assert r.code == 0, r


def test_export_with_a_batch_beyond_memory_is_a_usage_error(cli, tmp_path):
    pytest.importorskip("onnx")
    r = cli("export", spec(tmp_path, MLP), "--onnx", tmp_path / "m.onnx", "--batch", "100000000")
    assert r.code == 2, r
    assert "internal error" not in r.err and "--batch 100000000" in r.err and "memory" in r.err
    r = cli("export", spec(tmp_path, MLP), "--onnx", tmp_path / "m.onnx", "--batch", "9" * 30)
    assert r.code == 2 and "internal error" not in r.err and "--batch" in r.err, r
    assert not (tmp_path / "m.onnx").exists()


def test_a_disk_that_fills_during_a_save_is_a_clear_error(tmp_path):
    out = tmp_path / "run"
    proc = run_on_full_disk(12_000, "train", spec(tmp_path, MLP), "--epochs", "1", "--out", out, "--quiet",
                            cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"archlang: cannot write {out / 'last.pt'}: File too large"
    assert "Traceback" not in proc.stderr and not list(out.glob(".last.pt.*"))
