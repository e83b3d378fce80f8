"""Same spec, same bytes: build, render, shapes and export do not depend on the run.

Each output is made in fresh interpreters with different PYTHONHASHSEED
values (set iteration order, string hashes) and compared byte for byte: the
generated PyTorch source, the DOT text and the SVG Graphviz draws from it,
the shapes table and its JSON, and the ONNX file exported with fixed weights.
Also twice in one process, which catches counters and caches that leak from
one build into the next.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ["specs/googlenet.arch", "specs/tv_densenet121.arch", "specs/resnet18.arch", "examples/unet.arch",
         "examples/inception_lost_padding.arch", "specs/d2l_blocks.arch"]
HASH_SEEDS = ("0", "1", "4242")

# Run in a fresh interpreter: the digest of every output of every network of every spec, made twice.
DIGESTS = r"""
import hashlib, json, sys
import archlang
from archlang.backends import graphviz, table, torch_source

def digest(text):
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()

out = {}
for spec in sys.argv[1:]:
    program = archlang.load(spec)
    for name in program.networks:
        for attempt in (1, 2):
            graph = program.elaborate(name, input=[3, 64, 64] if "unet" in spec else None)
            key = f"{spec}:{name}:{attempt}"
            out[key + ":dot"] = digest(graphviz.to_dot(graph, depth=1))
            out[key + ":shapes"] = digest(table.render(graph, "table") + json.dumps(table.to_json(graph)))
            out[key + ":diagnostics"] = digest(archlang.diagnostics.render_json(graph.diagnostics))
            if graph.ok:
                out[key + ":build"] = digest(torch_source.generate(graph))
            if graphviz.dot_available() and attempt == 1:
                out[key + ":svg"] = digest(graphviz.to_bytes(graphviz.to_dot(graph), "svg"))
print(json.dumps(out))
"""


def in_fresh_interpreter(code: str, *args: str, hash_seed: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": hash_seed}
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_build_render_and_shapes_are_byte_identical_across_runs_and_hash_seeds():
    runs = [json.loads(in_fresh_interpreter(DIGESTS, *SPECS, hash_seed=s).stdout) for s in HASH_SEEDS]
    first = runs[0]
    assert any(k.endswith(":build") for k in first) and any(k.endswith(":dot") for k in first)
    for seed, other in zip(HASH_SEEDS[1:], runs[1:]):
        differ = sorted(k for k in first if first[k] != other.get(k))
        assert not differ and first.keys() == other.keys(), f"PYTHONHASHSEED={seed} changed: {differ}"
    twice = sorted(k.rsplit(":", 2)[0] + ":" + k.rsplit(":", 1)[1] for k in first
                   if k.split(":")[-2] == "2" and first[k] != first.get(k.replace(":2:", ":1:")))
    assert not twice, f"a second build in the same process differs: {twice}"


def test_build_files_are_byte_identical(tmp_path):
    """The CLI's own output file, written by processes with different hash seeds."""
    outputs = []
    for seed in HASH_SEEDS[:2]:
        target = tmp_path / f"model_{seed}.py"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-m", "archlang", "build", "specs/googlenet.arch", "-o", str(target)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]


EXPORT = r"""
import sys
import archlang
from archlang.backends import onnx
graph = archlang.load(sys.argv[1]).network()
onnx.export(graph, sys.argv[3], weights=sys.argv[2], verify=False)
"""


def test_onnx_bytes_are_identical_with_fixed_weights(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import archlang

    torch.manual_seed(0)
    model = archlang.compile(ROOT / "specs/lenet_bn.arch")
    weights = tmp_path / "weights.pt"
    torch.save(model.state_dict(), weights)
    files = []
    for seed in HASH_SEEDS[:2]:
        target = tmp_path / f"lenet_{seed}.onnx"
        in_fresh_interpreter(EXPORT, str(ROOT / "specs/lenet_bn.arch"), str(weights), str(target), hash_seed=seed)
        files.append(target.read_bytes())
    assert len(files[0]) > 1000 and files[0] == files[1]
