"""Damaged or unusable weights are refused, with the file and what failed.

A checkpoint is a zip archive whose members carry a CRC-32 (torch.save writes
them; torch.load never checks them): one flipped byte in a tensor's bytes is
found before `--resume` or `export --weights` uses the file, in real
processes. Weights that are not finite, and integer or boolean tensors where
the network has floating-point ones, are refused rather than exported as
"verified" or cast silently, and resuming from weights that are not finite
is refused too.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
TINY = "network Tiny(classes = 10) {\n    input [1, 8, 8]\n    flatten linear(16) relu linear(classes)\n}\n"


def flip_a_byte(path: Path, member_suffix: str) -> str:
    """Flip one byte inside the stored bytes of the first member ending with `member_suffix`."""
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.endswith(member_suffix) and i.file_size > 8)
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
        where = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
        f.seek(where)
        byte = f.read(1)[0]
        f.seek(where)
        f.write(bytes([byte ^ 0x10]))
    return info.filename


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch run: last.pt and best.pt, as `archlang train` writes them."""
    from archlang.cli import main

    folder = tmp_path_factory.mktemp("weights")
    (folder / "net.arch").write_text(TINY)
    assert main(["train", str(folder / "net.arch"), "--data", "synthetic:64", "--epochs", "1", "--out",
                 str(folder / "run"), "--quiet"]) == 0
    return folder


def test_a_flipped_byte_in_a_checkpoint_is_refused_by_resume_and_export(archlang_process, trained, tmp_path):
    pytest.importorskip("onnx")
    net = trained / "net.arch"
    run = tmp_path / "run"
    run.mkdir()
    for name in ("last.pt", "best.pt", "net.arch"):
        (run / name).write_bytes((trained / "run" / name).read_bytes())
    last_member = flip_a_byte(run / "last.pt", "data/0")
    best_member = flip_a_byte(run / "best.pt", "data/1")

    resumed = archlang_process("train", net, "--data", "synthetic:64", "--epochs", "2", "--out", run, "--resume")
    assert resumed.code == 2, resumed
    assert resumed.err.strip() == (f"archlang: --resume: {run / 'last.pt'} is damaged: the checksum of "
                                   f"{last_member} (a tensor's bytes) does not match its contents; "
                                   f"nothing was loaded from it"), resumed.err
    for weights, member in ((run / "last.pt", last_member), (run / "best.pt", best_member)):
        exported = archlang_process("export", net, "--weights", weights, "--onnx", tmp_path / "m.onnx")
        assert exported.code == 2, exported
        assert exported.err.strip().endswith(f"--weights {weights} is damaged: the checksum of {member} "
                                             f"(a tensor's bytes) does not match its contents; nothing was "
                                             f"loaded from it"), exported.err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("poison, words", [
    (lambda t: torch.full_like(t, float("nan")), "holds 1024 non-finite values (NaN or infinity)"),
    (lambda t: t.to(torch.int8), "holds int8 values, not floating-point weights"),
    (lambda t: t > 0, "holds bool values, not floating-point weights"),
])
def test_unusable_weights_are_refused(cli, trained, tmp_path, poison, words):
    pytest.importorskip("onnx")
    safetensors = pytest.importorskip("safetensors.torch")
    state = torch.load(trained / "run" / "best.pt", weights_only=True)
    state["linear1.weight"] = poison(state["linear1.weight"] * 10)
    weights = tmp_path / "w.safetensors"
    safetensors.save_file(state, str(weights))
    r = cli("export", trained / "net.arch", "--weights", weights, "--onnx", tmp_path / "m.onnx")
    assert r.code == 2, r
    assert r.err.strip() == f"archlang: export failed: {weights}: linear1.weight {words}", r.err
    assert "verified" not in r.out and not (tmp_path / "m.onnx").exists()


def test_resume_refuses_a_checkpoint_whose_weights_are_not_finite(cli, trained, tmp_path):
    """A last.pt an older archlang saved after a divergence: resumed, its NaN would read as this run's."""
    run = tmp_path / "run"
    run.mkdir()
    state = torch.load(trained / "run" / "last.pt", weights_only=True)
    state["model"]["linear2.bias"] = torch.full_like(state["model"]["linear2.bias"], float("inf"))
    torch.save(state, run / "last.pt")
    r = cli("train", trained / "net.arch", "--data", "synthetic:64", "--epochs", "2", "--out", run, "--resume")
    assert r.code == 2, r
    assert r.err.strip() == (f"archlang: --resume: {run / 'last.pt'}: linear2.bias holds 10 non-finite values "
                             f"(NaN or infinity)"), r.err
