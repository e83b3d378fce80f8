"""Shared test fixtures: running the CLI in-process or as a process, golden files.

- `--update-golden` rewrites golden files instead of comparing with them.
- `cli("shapes", "x.arch")` runs `archlang.cli.main` in-process and returns
  a `CliResult` (exit code, stdout, stderr): fast, for most CLI tests.
- `archlang_process("check", "x.arch")` runs `python -m archlang` in a fresh
  interpreter, for the end-to-end tests (real exit codes, imports, streams).
- `golden(path, text)` compares text with a golden file, or writes it.
- `one_torch_thread`: torch on one thread for a module's tests
  (`pytestmark = pytest.mark.usefixtures("one_torch_thread")`).
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files under tests/golden/ from the current output")


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def __str__(self) -> str:  # what pytest shows when an assertion on the result fails
        return f"exit {self.code}\n--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}"


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `archlang ARGS...` in-process, from the repository root, without colour."""
    from archlang.cli import main

    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(ROOT)

    def run(*argv: str) -> CliResult:
        capsys.readouterr()  # start clean
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


def run_archlang_process(*argv: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 120) -> CliResult:
    """Run `python -m archlang ARGS...` in a fresh interpreter."""
    full_env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "archlang", *map(str, argv)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def archlang_process():
    return run_archlang_process


@pytest.fixture
def golden(request):
    """`golden(path, text)`: assert text equals the golden file, or rewrite it with --update-golden."""
    update = request.config.getoption("--update-golden")

    def check(path: Path, text: str) -> None:
        if update:
            from archlang.fsutil import atomic_write
            atomic_write(path, text)
            return
        if not path.exists():
            pytest.fail(f"no golden file {path.relative_to(ROOT)}; run pytest with --update-golden to create it")
        expected = path.read_text(encoding="utf-8")
        assert text == expected, (f"output differs from {path.relative_to(ROOT)} "
                                  f"(if the change is intended, rerun with --update-golden)")

    return check


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread: on a small shared machine, threads fighting for cores cost more than they give."""
    import torch  # here, not at the top: the tests that check torch stays unimported share this file

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
