"""A run folder belongs to one run at a time, and a killed run leaves nothing that misleads the next.

Real processes: a second `archlang train` into a folder where one is
running is refused with the running one's pid; a run killed with SIGKILL in
the middle of saving a checkpoint leaves its temporary file and its lock,
and the next run of that folder reports the stale lock, removes the
temporary file (and nothing of the user's) and finds the previous `last.pt`
whole.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
TINY = """\
network Tiny(classes = 10, hidden = 16) {
    input [1, 8, 8]
    flatten linear(hidden) relu linear(classes)
}
"""


def start_train(cwd: Path, *argv) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "archlang", "train", *map(str, argv)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, what: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} after {timeout} s")
        time.sleep(0.001)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)    # the run saves and leaves (exit 130)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.communicate()


def test_a_second_run_into_a_running_folder_is_refused(cli, tmp_path, monkeypatch):
    (tmp_path / "net.arch").write_text(TINY)
    running = start_train(tmp_path, "net.arch", "--data", "synthetic:4096", "--batch-size", "8", "--epochs", "100",
                          "--lr", "0.01", "--quiet")
    monkeypatch.chdir(tmp_path)   # the second runs (in this process: a flock is per open file) start here too
    try:
        wait_for(lambda: (tmp_path / "runs" / "Tiny" / "command.txt").exists(), "run folder", running)
        for extra in ([], ["--resume"]):
            second = cli("train", "net.arch", "--data", "synthetic:64", "--epochs", "1", "--out", "runs/Tiny",
                         *extra)
            assert second.code == 2, second
            assert second.err.strip() == (f"archlang: runs/Tiny is in use by another archlang train (pid "
                                          f"{running.pid} on {socket.gethostname()}, started "
                                          f"{lock_of(tmp_path / 'runs' / 'Tiny')['started']}); wait for it "
                                          f"to finish, or choose another --out"), second
        # without --out, the next free folder: the running one counts as taken
        beside = cli("train", "net.arch", "--data", "synthetic:64", "--epochs", "1", "--quiet")
        assert beside.code == 0, beside
        assert (tmp_path / "runs" / "Tiny-2" / "last.pt").is_file()
        assert running.poll() is None
    finally:
        stop(running)
    assert running.returncode == 130
    assert not (tmp_path / "runs" / "Tiny" / ".archlang-train.lock").exists()


def lock_of(folder: Path) -> dict:
    return json.loads((folder / ".archlang-train.lock").read_text())


def test_a_stale_lock_is_reported_and_taken_over(cli, tmp_path):
    net, out = tmp_path / "net.arch", tmp_path / "run"
    net.write_text(TINY)
    out.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (out / ".archlang-train.lock").write_text(json.dumps(
        {"pid": gone.pid, "host": socket.gethostname(), "started": "2026-01-01 10:00:00", "command": "x"}))
    r = cli("train", net, "--data", "synthetic:64", "--epochs", "1", "--out", out, "--quiet")
    assert r.code == 0, r
    assert (f"note: {out} was locked by a run that is gone (pid {gone.pid} on {socket.gethostname()}, "
            f"started 2026-01-01 10:00:00); taking it over") in r.err
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def saving(out: Path) -> bool:
    return (out / "last.pt").exists() and any(p.startswith(".last.pt.") and p != ".last.pt.notes"
                                              for p in os.listdir(out))


def test_kill_9_while_saving_leaves_nothing_that_misleads_the_next_run(cli, tmp_path):
    net, out = tmp_path / "net.arch", tmp_path / "run"
    net.write_text(TINY)
    out.mkdir()
    mine = [out / ".last.pt.notes", out / ".model.py.archlang-tmp-abcdefgh.py", out / "last.pt.bak"]
    for path in mine:   # the user's files, and another command's temporary file: never touched
        path.write_text("mine")
    # a model of ~40 MB: each save takes long enough for the kill to land inside it (tried again if not)
    for attempt in range(3):
        run = start_train(tmp_path, net, "--set", "hidden=150000", "--data", "synthetic:64", "--batch-size", "64",
                          "--epochs", "1000", "--lr", "0.001", "--out", out, "--quiet")
        wait_for(lambda: saving(out), "save of last.pt after the first", run)
        run.kill()
        run.communicate()
        left = sorted(p.name for p in out.iterdir() if p.name.startswith(".last.pt.") and p not in mine)
        if left:
            break
    assert left, "the kill did not land in a save"
    assert zipfile.ZipFile(out / "last.pt").testzip() is None       # the previous one, whole
    epochs = torch.load(out / "last.pt", weights_only=True)["epoch"]

    r = cli("train", net, "--set", "hidden=150000", "--data", "synthetic:64", "--out", out, "--resume",
            "--epochs", "1")
    assert r.code == 0, r
    assert f"already holds {epochs} epochs" in r.out
    assert f"was locked by a run that is gone (pid {run.pid}" in r.err
    assert f"note: removed {', '.join(left)}, left by a save that was interrupted" in r.err
    assert not [p for p in out.iterdir() if p.name.startswith(".last.pt.") and p not in mine]
    assert all(p.read_text() == "mine" for p in mine)
