"""`--watch`: a real process reruns when the spec or a file it imports changes; Ctrl-C exits 0.

The waits are ceilings against a hang (generous: the machine may be loaded),
not speed assertions.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 90

LIB = "block Head(n) {\n    gap flatten linear(n)\n}\n"
MAIN = 'import "lib.arch"\n\nnetwork N {\n    input [3, 8, 8]\n    conv(8, k=3, p=1)\n    Head(10)\n}\n'


class Watcher:
    """`archlang ARGS --watch` with its merged output read line by line."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "archlang", *args, "--watch"], cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.seen: list[str] = []

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def until(self, needle: str) -> list[str]:
        """The lines up to the one that contains `needle` (and the next "watching" line)."""
        got: list[str] = []
        deadline = time.monotonic() + WAIT_S
        while not any(needle in g for g in got) or not got[-1].startswith("archlang: watching"):
            try:
                got.append(self.lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"no {needle!r} after {WAIT_S} s; got {got}")
        self.seen += got
        return got

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        rest = self.proc.communicate(timeout=WAIT_S)[0]
        return self.proc.returncode, rest


def test_check_watch_reruns_on_changes_to_the_spec_and_its_imports(tmp_path: Path) -> None:
    (tmp_path / "lib.arch").write_text(LIB)
    spec = tmp_path / "main.arch"
    spec.write_text(MAIN)
    w = Watcher("check", "main.arch", cwd=tmp_path)
    first = w.until("main.arch: N: [3, 8, 8] -> [10]")
    assert first[-1] == "archlang: watching 2 files for changes (Ctrl-C stops)\n"

    spec.write_text(MAIN.replace("    Head(10)\n", "    linear(10)\n"))        # the spec breaks
    assert any("error[E306]" in line for line in w.until("1 error"))

    spec.write_text(MAIN)                                                       # mended
    w.until("main.arch: N: [3, 8, 8] -> [10]")

    tmp = tmp_path / "lib.arch.tmp"                                             # an import, saved by rename
    tmp.write_text(LIB.replace("linear(n)", "linear(n * 2)"))
    tmp.replace(tmp_path / "lib.arch")
    w.until("main.arch: N: [3, 8, 8] -> [20]")

    code, rest = w.stop()
    assert code == 0 and "Traceback" not in rest and "interrupted" not in rest, rest


def test_shapes_watch_prints_the_table_again(tmp_path: Path) -> None:
    spec = tmp_path / "net.arch"
    spec.write_text("network N {\n    input [3, 8, 8]\n    conv(8, k=1)\n}\n")
    w = Watcher("shapes", str(spec), cwd=tmp_path)
    w.until("Params: 32;")
    spec.write_text("network N {\n    input [3, 8, 8]\n    conv(16, k=1)\n}\n")
    w.until("Params: 64;")
    code, _ = w.stop()
    assert code == 0


def test_a_usage_error_on_the_first_run_ends_the_watch(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "archlang", "check", "missing.arch", "--watch"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=WAIT_S,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and "missing.arch: no such file" in proc.stderr


# -- shell completion (argcomplete) ------------------------------------------------------------------
def _complete(line: str, tmp_path: Path) -> list[str]:
    out = tmp_path / "completions"
    proc = subprocess.run([sys.executable, "-m", "archlang"], cwd=ROOT, capture_output=True, text=True,
                          timeout=WAIT_S, env={**os.environ, "PYTHONPATH": str(ROOT), "_ARGCOMPLETE": "1",
                                               "COMP_LINE": line, "COMP_POINT": str(len(line)),
                                               "_ARGCOMPLETE_IFS": "\n", "_ARGCOMPLETE_STDOUT_FILENAME": str(out)})
    assert proc.returncode == 0, proc.stderr
    return [c.strip() for c in out.read_text().split("\n")]   # a single match carries its trailing space


def test_shell_completion_of_commands_flags_and_files(tmp_path: Path) -> None:
    assert {"check", "shapes", "render", "fmt", "lsp"} <= set(_complete("archlang ", tmp_path))
    assert _complete("archlang sh", tmp_path) == ["shapes"]
    assert _complete("archlang check --wa", tmp_path) == ["--watch"]
    assert set(_complete("archlang fmt --", tmp_path)) >= {"--check", "--diff"}
    assert "specs/resnet18.arch" in _complete("archlang check specs/res", tmp_path)
