"""`check`, `shapes` (with --train and every column), `diff`, `render`, `fmt`, `archlang.summary`, the
language server and `import archlang` never import torch.

Nor networkx: it would double the start-up time of `archlang shapes`, which
bench/shapes_vs_torchinfo.py measures (`ir.Graph.nx` builds it on demand).

Run in a fresh interpreter: the test process itself may have torch loaded by
other tests. Uses the specs in specs/ when there are some, and a small
inline spec in any case.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SPEC = """\
block Residual(c, s = 1) {
    add {
      | conv(c, k=3, p=1, s=s) bn relu conv(c, k=3, p=1) bn
      | if s != 1 or in.c != c { conv(c, k=1, s=s) }
    }
    relu
}

network Tiny(classes = 10) {
    input [3, 32, 32]
    conv(16, k=3, p=1) bn relu
    Residual(32, s=2)
    gap flatten linear(classes)
}
"""

PROBE = textwrap.dedent("""
    import sys
    import archlang
    from archlang.cli import main
    spec, others = sys.argv[1], sys.argv[2:]
    out = sys.argv[-1]
    others = others[:-1]
    codes = [main(["check", spec, *others]), main(["shapes", spec]), main(["shapes", spec, "--format", "json"]),
             main(["fmt", "--diff", spec, *others]),
             main(["shapes", spec, "--train", "--batch", "8", "--columns", "flops,rf,stride", "-f", "json"]),
             main(["diff", spec, "--set", "classes=10", "--set", "classes=100"]),
             main(["render", spec, "-o", out + "/tiny.svg"]), main(["render", spec, "-o", out + "/tiny.dot"]),
             int(len(archlang.summary(spec, batch=4).rows) == 0)]
    heavy = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")
                   or m in ("torchvision", "onnx", "onnxruntime", "networkx"))
    print("CODES", codes)
    print("HEAVY", heavy)
""")


def test_check_and_shapes_never_import_torch(tmp_path):
    spec = tmp_path / "tiny.arch"
    spec.write_text(SPEC, encoding="utf-8")
    others = [str(p) for p in sorted((ROOT / "specs").glob("*.arch"))]
    proc = subprocess.run([sys.executable, "-c", PROBE, str(spec), *others, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith(("CODES", "HEAVY")))
    assert lines["CODES"] == "[0, 0, 0, 0, 0, 0, 0, 0, 0]", proc.stdout + proc.stderr
    assert lines["HEAVY"] == "[]", "check/shapes/diff/render/summary imported: " + lines["HEAVY"]


def test_the_language_server_starts_without_torch() -> None:
    """`archlang lsp` imports its server, pygls and lsprotocol: none of them may pull in torch."""
    probe = ("import sys; import archlang.lsp.server, archlang.formatter; "
             "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.') "
             "or m in ('torchvision', 'onnx', 'onnxruntime', 'networkx')))")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout
