"""Nothing lost: every file archlang writes is written whole or not at all.

A failure in the middle of a write (a serializer that raises after writing
half, Ctrl-C, a full disk, a rename that fails) must leave the previous file
byte for byte and no temporary file beside it. The disk is made full for
real in a child process with RLIMIT_FSIZE (the kernel refuses the write with
EFBIG, as it refuses a full disk with ENOSPC), for `build`, `render` and
`export`, and with a 16 KiB tmpfs where the machine lets a test mount one;
in-process, `open` and the serializers are replaced by ones that fail
half-way. A scan of the package checks that nothing writes a file
without going through archlang.fsutil.
"""
from __future__ import annotations

import ast as python_ast
import errno
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from archlang import fsutil

ROOT = Path(__file__).resolve().parent.parent
PREVIOUS = b"the previous file, which must survive\n"


def previous_file(path: Path) -> Path:
    path.write_bytes(PREVIOUS)
    return path


def assert_untouched(path: Path) -> None:
    assert path.read_bytes() == PREVIOUS
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]
    assert not leftovers, f"temporary files left behind: {leftovers}"


class HalfWriter:
    """A file object that writes half of what it is given, then fails like a full disk."""

    def __init__(self, real):
        self.real = real

    def write(self, data):
        self.real.write(data[: len(data) // 2])
        self.real.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()

    def __getattr__(self, name):
        return getattr(self.real, name)


# -- fsutil itself ---------------------------------------------------------------------------------

def test_a_write_replaces_the_file_and_keeps_its_permissions(tmp_path):
    target = previous_file(tmp_path / "out.txt")
    os.chmod(target, 0o640)
    fsutil.atomic_write(target, "new text")
    assert target.read_text() == "new text"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_a_new_file_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        fsutil.atomic_write(tmp_path / "new.txt", b"x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644


def test_a_full_disk_half_way_through(tmp_path, monkeypatch):
    target = previous_file(tmp_path / "model.py")
    real_open = open
    monkeypatch.setattr(fsutil, "open", lambda *a, **k: HalfWriter(real_open(*a, **k)), raising=False)
    with pytest.raises(OSError, match="No space left"):
        fsutil.atomic_write(target, "x" * 100_000)
    assert_untouched(target)


@pytest.mark.parametrize("failure", [ValueError("the serializer broke"), KeyboardInterrupt()])
def test_a_writer_that_fails_half_way(tmp_path, failure):
    target = previous_file(tmp_path / "graph.svg")
    with pytest.raises(type(failure)):
        with fsutil.atomic_path(target) as tmp:
            tmp.write_bytes(b"<svg half")
            raise failure
    assert_untouched(target)


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_the_last_steps_failing(tmp_path, monkeypatch, step):
    target = previous_file(tmp_path / "metrics.json")

    def fail(*args, **kwargs):
        raise OSError(errno.EIO, f"{step} failed")

    monkeypatch.setattr(fsutil.os, step, fail)
    with pytest.raises(OSError, match=f"{step} failed"):
        fsutil.atomic_write(target, "{}")
    monkeypatch.undo()
    assert_untouched(target)


# -- the commands, on a disk that is full for real --------------------------------------------------

FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
    from archlang.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def run_on_full_disk(limit: int, *argv, cwd: Path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", FULL_DISK, str(limit), *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command, output", [
    (["build", ROOT / "specs/lenet_bn.arch", "-o"], "model.py"),
    (["render", ROOT / "specs/lenet_bn.arch", "-o"], "graph.dot"),
    (["render", ROOT / "specs/lenet_bn.arch", "-o"], "graph.svg"),
])
def test_commands_on_a_full_disk(tmp_path, command, output):
    if output.endswith(".svg"):
        from archlang.backends.graphviz import dot_available
        if not dot_available():
            pytest.skip("Graphviz's dot is not installed")
    target = previous_file(tmp_path / output)
    proc = run_on_full_disk(1000, *command, target, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"archlang: cannot write {target}: File too large"
    assert_untouched(target)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 16 KiB tmpfs, where the machine lets us mount one (root on Linux); else the test is skipped."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("cannot run mount here")
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=30)


def test_build_on_a_really_full_disk(cli, tiny_disk, tmp_path):
    """ENOSPC from the kernel: the source of 400 layers does not fit in 16 KiB."""
    spec = tmp_path / "long.arch"
    spec.write_text("network Long {\n    input [3, 8, 8]\n" + "    conv(4, k=1) relu\n" * 200 + "}\n")
    target = previous_file(tiny_disk / "model.py")
    result = cli("build", spec, "-o", target)
    assert result.code == 2 and result.err.strip() == f"archlang: cannot write {target}: No space left on device"
    assert_untouched(target)


def test_export_on_a_full_disk(tmp_path):
    pytest.importorskip("onnx")
    target = previous_file(tmp_path / "lenet.onnx")
    proc = run_on_full_disk(20_000, "export", ROOT / "specs/lenet.arch", "--onnx", target, "--no-verify",
                            cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "cannot write" in proc.stderr and "Traceback" not in proc.stderr
    assert_untouched(target)


# -- serializers that fail half-way -------------------------------------------------------------------

def test_a_checkpoint_whose_serializer_fails(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from archlang.train import checkpoint

    target = tmp_path / "last.pt"
    checkpoint.save(target, {"step": 1})
    before = target.read_bytes()

    def half_then_fail(obj, f):
        f.write(b"PK\x03\x04 half a zip")
        raise RuntimeError("serializer failed")

    monkeypatch.setattr(checkpoint.torch, "save", half_then_fail)
    with pytest.raises(RuntimeError, match="serializer failed"):
        checkpoint.save(target, {"step": 2})
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert torch.load(target, weights_only=True) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_metrics_and_curves_on_a_full_disk(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from archlang.train.errors import WriteError
    from archlang.train.metrics import History
    from archlang.train.runfolder import RunFolder

    folder = RunFolder(tmp_path)
    for name in ("metrics.csv", "metrics.json", "curves.png"):
        previous_file(tmp_path / name)
    real_open = open
    monkeypatch.setattr(fsutil, "open", lambda *a, **k: HalfWriter(real_open(*a, **k)), raising=False)
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'metrics.csv'}: No space left on device"):
        folder.write_metrics(History(), {"network": "Net"}, epochs=1, title="t", final=True)
    monkeypatch.undo()

    def half_png(self, path, **kwargs):
        Path(path).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device")

    import matplotlib.figure
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_png)
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'curves.png'}: No space left on device"):
        folder.write_metrics(History(), {"network": "Net"}, epochs=1, title="t", final=True)
    for name in ("metrics.csv", "metrics.json"):
        assert (tmp_path / name).read_bytes() != PREVIOUS   # written whole by the second call
    assert_untouched(tmp_path / "curves.png")


def test_an_export_that_fails_verification_writes_nothing(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    import archlang
    from archlang.backends import onnx as onnx_backend
    from archlang.backends import onnx_verify

    target = previous_file(tmp_path / "lenet.onnx")
    graph = archlang.load(ROOT / "specs/lenet.arch").network()

    def disagree(*args, **kwargs):  # the file is written and checked; then onnxruntime disagrees
        raise onnx_backend.ExportError("onnxruntime and PyTorch disagree; nothing was written")

    monkeypatch.setattr(onnx_verify, "verify_file", disagree)
    with pytest.raises(onnx_backend.ExportError, match="nothing was written"):
        onnx_backend.export(graph, target)
    assert_untouched(target)


def test_a_drawing_that_fails_writes_nothing(tmp_path, monkeypatch):
    import archlang
    from archlang.backends import graphviz as graphviz_backend

    target = previous_file(tmp_path / "graph.png")
    graph = archlang.load(ROOT / "specs/lenet.arch").network()
    monkeypatch.setattr(graphviz_backend, "dot_available", lambda: True)

    def broken(text, fmt):
        raise graphviz_backend.RenderError("dot -Tpng failed: out of memory")

    monkeypatch.setattr(graphviz_backend, "to_bytes", broken)
    with pytest.raises(graphviz_backend.RenderError):
        graphviz_backend.write(graph, target)
    assert_untouched(target)


# -- nothing writes around fsutil ----------------------------------------------------------------------

# Writes that are not files of the user's: a scratch copy in a TemporaryDirectory, /dev/null.
# onnx_model.save writes the temporary files that backends/onnx.py's atomic_path gives it (the model
# and its external data, renamed together only after both are checked and verified).
ALLOWED = {("train/idx.py", "open"), ("cli.py", "open"), ("backends/onnx_model.py", "open")}
WRITERS = {"write_text", "write_bytes", "save", "savefig", "render", "dump"}


def _writes(tree: python_ast.AST):
    """(line, what) of every call that may write a file: open(..., "w"/"a"/"x"), Path.write_*, save..."""
    for node in python_ast.walk(tree):
        if not isinstance(node, python_ast.Call):
            continue
        func = node.func
        if isinstance(func, python_ast.Name) and func.id == "open":
            mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"),
                                                                None)
            if isinstance(mode, python_ast.Constant) and any(c in str(mode.value) for c in "wax+"):
                yield node, "open"
        elif isinstance(func, python_ast.Attribute) and func.attr in WRITERS:
            yield node, func.attr


def _inside_atomic_path(tree: python_ast.AST, call: python_ast.Call) -> bool:
    for node in python_ast.walk(tree):
        if isinstance(node, python_ast.With) and any(
                isinstance(item.context_expr, python_ast.Call) and "atomic_path" in python_ast.unparse(
                    item.context_expr.func) for item in node.items):
            if any(inner is call for inner in python_ast.walk(node)):
                return True
    return False


def test_every_file_archlang_writes_goes_through_fsutil():
    package = ROOT / "archlang"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if rel == "fsutil.py":
            continue
        tree = python_ast.parse(path.read_text(encoding="utf-8"))
        for call, what in _writes(tree):
            if (rel, what) in ALLOWED or _inside_atomic_path(tree, call):
                continue
            if what in ("save", "dump", "render") and not python_ast.unparse(call.func).split(".")[0] in (
                    "torch", "onnx", "json", "pickle", "fig", "graph", "g"):
                continue  # a method of ours that happens to share the name
            offenders.append(f"archlang/{rel}:{call.lineno}: {python_ast.unparse(call)[:100]}")
    assert not offenders, "writes that do not go through archlang.fsutil:\n" + "\n".join(offenders)


def test_the_scan_sees_plain_writes_and_atomic_ones():
    code = textwrap.dedent("""
        def bad(p, m):
            open(p, "w").write("x")
            p.write_text("x")
            torch.save(m, p)
        def good(p, m):
            with atomic_path(p) as tmp:
                torch.save(m, tmp)
            open(p).read()
    """)
    tree = python_ast.parse(code)
    found = [(call.lineno, what, _inside_atomic_path(tree, call)) for call, what in _writes(tree)]
    assert sorted(found) == [(3, "open", False), (4, "write_text", False), (5, "save", False), (8, "save", True)]
