"""`archlang train` as users run it: specs in, exit codes, lines and files out."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from test_train_data import write_idx

ROOT = Path(__file__).resolve().parent.parent
LENET_BN = ROOT / "specs" / "lenet_bn.arch"

TINY = """\
network Tiny(classes = 10) {
    input [1, 8, 8]
    conv(8, k=3, p=1) bn relu maxpool(2)
    flatten linear(classes)
}
"""


def spec(tmp_path: Path, text: str, name: str = "net.arch") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_lenet_bn_from_the_spec_learns_the_digits_in_one_epoch(cli, tmp_path):
    # Measured after one epoch at batch 32 (45 steps, the notes' lr 0.9, seed 0): test acc 0.877 (seeds 1-4: 0.897, 0.916, 0.908, 0.922).
    out = tmp_path / "run"
    r = cli("train", LENET_BN, "--epochs", "1", "--batch-size", "32", "--out", out)
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0].startswith("training LeNetBN on cpu: digits, 1438 train / 359 test images [1, 28, 28]")
    assert lines[1] == "note: digits resized from 8x8 to 28x28 (bilinear)"
    assert lines[2].startswith("epoch 1/1: loss ")
    assert lines[3].startswith("loss ") and lines[3].endswith("examples/sec on cpu")
    test_acc = json.loads((out / "metrics.json").read_text())["epochs"][0]["test_acc"]
    assert test_acc > 0.75
    assert (out / "lenet_bn.arch").read_text() == LENET_BN.read_text()
    assert (out / "command.txt").read_text() == (
        f"archlang train {LENET_BN} --epochs 1 --batch-size 32 --out {out}\n")
    # best.pt is a plain state_dict of the compiled network
    import archlang
    model = archlang.compile(str(LENET_BN))
    model.load_state_dict(torch.load(out / "best.pt", weights_only=True))


def test_resume_through_the_command(cli, tmp_path):
    net, out = spec(tmp_path, TINY), tmp_path / "run"
    assert cli("train", net, "--epochs", "1", "--lr", "0.1", "--out", out, "--quiet").code == 0
    r = cli("train", net, "--epochs", "2", "--lr", "0.1", "--out", out, "--resume")
    assert r.code == 0, r
    assert "resuming" in r.out and "epoch 2/2" in r.out and "epoch 1/2" not in r.out
    assert len((out / "metrics.csv").read_text().splitlines()) == 3
    assert len((out / "command.txt").read_text().splitlines()) == 2
    again = cli("train", net, "--epochs", "2", "--out", out)
    assert again.code == 2 and "already holds a training run" in again.err


STAGE = "block Stage(c) {\n    conv(c, k=3, p=1) bn relu maxpool(2)\n}\n"
USES_STAGE = "network Net {\n    input [1, 8, 8]\n    Stage(4)\n    flatten linear(10)\n}\n"


def test_the_run_folder_holds_the_imports_and_compiles_on_its_own(cli, tmp_path):
    (tmp_path / "lib").mkdir()
    spec(tmp_path, STAGE, "lib/blocks.arch")
    net, out = spec(tmp_path, 'import "lib/blocks.arch"\n' + USES_STAGE), tmp_path / "run"
    assert cli("train", net, "--epochs", "1", "--lr", "0.1", "--out", out, "--quiet").code == 0
    assert (out / "net.arch").read_text() == net.read_text()
    assert (out / "lib" / "blocks.arch").read_text() == STAGE
    import archlang
    archlang.compile(str(out / "net.arch")).load_state_dict(torch.load(out / "final.pt", weights_only=True))
    # a change in an imported block is a change of the spec: --resume says so
    spec(tmp_path, STAGE.replace("relu", "sigmoid"), "lib/blocks.arch")
    r = cli("train", net, "--epochs", "2", "--lr", "0.1", "--out", out, "--resume")
    assert r.code == 0, r
    assert "note: the spec changed since the checkpoint" in r.out
    assert "sigmoid" in (out / "lib" / "blocks.arch").read_text()


def test_imports_from_outside_the_spec_folder_keep_their_places(tmp_path):
    import archlang
    from archlang.train.spec_source import SpecModel

    (tmp_path / "models").mkdir(), (tmp_path / "common").mkdir()
    spec(tmp_path, STAGE, "common/blocks.arch")
    net = spec(tmp_path, 'import "../common/blocks.arch"\n' + USES_STAGE, "models/net.arch")
    program = archlang.load(net)
    files = SpecModel(program, program.network(), str(net), {}).run_files()
    assert files == {"models/net.arch": net.read_text(), "common/blocks.arch": STAGE}
    alone = SpecModel(archlang.load(LENET_BN), archlang.load(LENET_BN).network(), str(LENET_BN), {})
    assert alone.run_files() == {"lenet_bn.arch": LENET_BN.read_text()}


def test_data_that_does_not_fit_the_spec_is_refused_before_training(cli, tmp_path):
    write_idx(tmp_path / "fm")
    net = spec(tmp_path, TINY.replace("[1, 8, 8]", "[1, 32, 32]"))
    r = cli("train", net, "--data", f"fashion-mnist:{tmp_path / 'fm'}", "--out", tmp_path / "run")
    assert r.code == 2 and r.out == ""
    assert len(r.err.strip().splitlines()) == 1
    assert "yields images [1, 28, 28]" in r.err and "Tiny's input is [1, 32, 32]" in r.err
    assert f"{net}:2:5" in r.err and "--resize 32" in r.err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_missing_idx_files(cli, tmp_path):
    r = cli("train", spec(tmp_path, TINY), "--data", f"mnist:{tmp_path}", "--out", tmp_path / "run")
    assert r.code == 2 and "train-images-idx3-ubyte" in r.err and "never downloads" in r.err


def test_an_unwritable_run_folder(cli, tmp_path):
    (tmp_path / "file").write_text("")
    r = cli("train", spec(tmp_path, TINY), "--out", tmp_path / "file" / "run")
    assert r.code == 2 and "cannot write the run folder" in r.err


@pytest.mark.parametrize("args, words", [
    (["--data", "imagenet"], "unknown --data source"),
    (["--resize", "0"], "--resize expects N or HxW"),
    (["--optimizer", "rmsprop"], "--optimizer expects one of sgd, adam, adamw"),
    (["--set", "classes=5"], "digits has 10 classes but Tiny outputs 5"),
])
def test_usage_errors_are_one_line(cli, tmp_path, args, words):
    r = cli("train", spec(tmp_path, TINY), "--out", tmp_path / "run", *args)
    assert r.code == 2 and words in r.err and len(r.err.strip().splitlines()) == 1, r


def test_a_spec_with_errors_prints_its_diagnostics(cli, tmp_path):
    r = cli("train", spec(tmp_path, TINY.replace("linear(classes)", "linear(classes) conv(3, k=1)")),
            "--out", tmp_path / "run")
    assert r.code == 1 and "error[E302]" in r.err


def test_a_network_that_is_not_a_classifier(cli, tmp_path):
    r = cli("train", spec(tmp_path, "network Seg {\n    input [1, 8, 8]\n    conv(2, k=1)\n}\n"),
            "--out", tmp_path / "run")
    assert r.code == 2 and "outputs [2, 8, 8], not [classes]" in r.err


def test_a_symbolic_input_takes_the_data_size_or_says_why_not(cli, tmp_path):
    ok = spec(tmp_path, "network Any {\n    input [1, H, W]\n    conv(8, k=3, p=1) relu gap flatten linear(10)\n}\n")
    r = cli("train", ok, "--epochs", "1", "--out", tmp_path / "a", "--quiet")
    assert r.code == 0, r
    assert json.loads((tmp_path / "a" / "config.json").read_text())["input"] == [1, 8, 8]
    big = spec(tmp_path, "network Big {\n    input [1, H, W]\n    conv(8, k=9) relu gap flatten linear(10)\n}\n",
               "big.arch")
    r = cli("train", big, "--out", tmp_path / "b")
    assert r.code == 1 and "error[E305]" in r.err


def test_export_onnx_writes_a_verified_model(cli, tmp_path):
    out = tmp_path / "run"
    r = cli("train", spec(tmp_path, TINY), "--data", "synthetic:64", "--epochs", "1", "--out", out,
            "--export-onnx", "--quiet")
    assert r.code == 0, r
    assert (out / "model.onnx").is_file()
    assert f"wrote {out / 'model.onnx'}" in r.out and "in onnxruntime" in r.out


def test_two_processes_through_nproc(archlang_process, tmp_path):
    out = tmp_path / "run"
    r = archlang_process("train", spec(tmp_path, TINY), "--epochs", "1", "--lr", "0.1", "--batch-size", "64",
                         "--nproc", "2", "--out", out, timeout=180)
    assert r.code == 0, r
    assert r.out.count("examples/sec on 2 x cpu") == 1 and r.out.count("training Tiny") == 1
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["device"] == "2 x cpu" and doc["epochs"][0]["examples"] == 1438
    command = (out / "command.txt").read_text()
    assert command.startswith("archlang train ") and "--nproc 2" in command   # what the user typed
    assert not (out / ".archlang-train.lock").exists()   # the launcher held it for its processes, and let go
