"""The ONNX lowering, straight from the IR: every op lowers, what cannot lower is
a located error before any work, the weights the emitter declares are the
module's state_dict and are drawn as PyTorch draws them, onnxruntime optimises
the file to torchvision's own graph, and `archlang export` runs without torch.
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import archlang
from archlang import ops
from archlang.backends import onnx as export_onnx
from archlang.backends import onnx_emit, weights
from archlang.backends.torch_module import build_module
from archlang.diagnostics import SpecError

from test_onnx import ALL_OPS, ALL_OPS_NETWORKS, graph_of

ROOT = Path(__file__).resolve().parent.parent


def declared(graph, opset: int = 20) -> dict:
    lowered = onnx_emit.lower(graph, opset)
    return {k: (p.shape, p.init) for k, p in lowered.params.items()}


# -- what cannot lower -----------------------------------------------------------------------

def test_every_op_of_the_table_has_an_onnx_lowering():
    assert [name for name, spec in ops.OPS.items() if spec.onnx is None] == []


def test_an_op_without_a_lowering_is_a_located_error(monkeypatch):
    monkeypatch.setitem(ops.OPS, "lrn", dataclasses.replace(ops.OPS["lrn"], onnx=None))
    graph = graph_of(ALL_OPS, "Image")
    with pytest.raises(SpecError) as err:
        onnx_emit.lower(graph, 20)
    found = err.value.diagnostics       # one per layer that cannot lower, and nothing else
    assert [(d.code, d.span.text, d.label) for d in found] == [("E601", "lrn(3)", "layer lrn1"),
                                                               ("E601", "lrn(4)", "layer lrn2")]
    assert found[0].message == "lrn cannot be exported to ONNX: the op table has no ONNX lowering for `lrn`"


def test_an_opset_without_an_operator_is_refused_for_every_layer_before_any_work(tmp_path):
    spec = "network G {\n    input [3, 8, 8]\n    conv(4, k=3) gelu conv(4, k=1) gelu\n}\n"
    with pytest.raises(SpecError) as err:   # the weights file does not exist: it is never read
        export_onnx.export(graph_of(spec), tmp_path / "g.onnx", opset=18, weights=tmp_path / "missing.pt")
    assert [(d.code, d.span.line, d.span.col) for d in err.value.diagnostics] == [("E601", 3, 18), ("E601", 3, 36)]
    first = err.value.diagnostics[0]
    assert first.message == "gelu cannot be exported to ONNX: needs ONNX opset 20 or later (its Gelu operator); " \
                            "the export asks for opset 18"
    assert first.help == "export with --opset 20 or later"
    assert list(tmp_path.iterdir()) == []


def test_adaptive_pooling_of_a_symbolic_size_is_refused_with_the_reason():
    spec = "network A {\n    input [3, H, W]\n    conv(4, k=3) adaptive_avgpool([2, 2]) gap\n}\n"
    with pytest.raises(SpecError) as err:
        onnx_emit.lower(graph_of(spec), 20)
    (d,) = err.value.diagnostics
    assert d.code == "E601" and "adaptive_avgpool to [2, 2] of the symbolic size [4, H - 2, W - 2]: ONNX has no adaptive pooling" in d.message
    to_one = "network B {\n    input [3, H, W]\n    conv(4, k=3) adaptive_avgpool(1)\n}\n"
    assert [n.op_type for n in onnx_emit.lower(graph_of(to_one), 20).nodes] == ["Conv", "GlobalAveragePool"]


# -- the weights it declares ------------------------------------------------------------------

RELABELLED = """\
network Named {
    input [3, 8, 8]
    train_: conv(4, k=3)
    self: bn
    flatten
    fc_: linear(2)
}
"""   # labels are module names as written (a label no module can have is E207: tests/test_module_names.py)


@pytest.mark.parametrize("text, network", [(ALL_OPS, n) for n in ALL_OPS_NETWORKS] + [(RELABELLED, None)])
def test_declared_weights_are_the_modules_state_dict(text, network):
    graph = graph_of(text, network)
    module = build_module(graph)
    ours = declared(graph)
    assert {k: shape for k, (shape, _) in ours.items()} == {k: tuple(v.shape) for k, v in module.state_dict().items()}
    assert list(ours) == list(module.state_dict())          # in state_dict order


def test_fresh_weights_are_drawn_as_pytorch_draws_them():
    """Same bounds and spread as the module's own initialisation, parameter by parameter."""
    graph = graph_of(ROOT / "specs/lenet_bn.arch")
    torch.manual_seed(0)
    module = build_module(graph)
    ours = declared(graph)
    drawn = weights.fresh(ours)
    for key, tensor in module.state_dict().items():
        theirs, mine = tensor.numpy(), drawn[key]
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape, key
        init = ours[key][1]
        if init.kind == "fill":
            assert (mine == theirs).all(), key
            continue
        bound = init.value
        assert np.abs(theirs).max() <= bound * (1 + 1e-6) and np.abs(mine).max() <= bound * (1 + 1e-6), key
        if theirs.size >= 1000:   # U(-b, b) has standard deviation b / sqrt(3)
            assert theirs.std() == pytest.approx(bound / 3 ** 0.5, rel=0.1), key
            assert mine.std() == pytest.approx(bound / 3 ** 0.5, rel=0.1), key
    assert weights.fresh(ours)["conv1.weight"].tobytes() == drawn["conv1.weight"].tobytes()   # seeded


# -- onnxruntime's optimised graph -------------------------------------------------------------

def optimised_nodes(path: Path, tmp_path: Path) -> int:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.optimized_model_filepath = str(tmp_path / f"{path.stem}.optimised.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return len(onnx.load(options.optimized_model_filepath).graph.node)


def test_onnxruntime_optimises_it_to_torchvisions_own_graph(tmp_path):
    """As many nodes after onnxruntime's optimisation as torchvision's resnet18 through torch's exporter (25)."""
    torchvision = pytest.importorskip("torchvision")
    ours = tmp_path / "archlang.onnx"
    export_onnx.export(graph_of(ROOT / "specs/tv_resnet18.arch"), ours, verify=False)
    theirs = tmp_path / "torchvision.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # the TorchScript exporter's deprecation notice
        torch.onnx.export(torchvision.models.resnet18().eval(), (torch.randn(1, 3, 224, 224),), str(theirs),
                          dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    assert optimised_nodes(ours, tmp_path) == optimised_nodes(theirs, tmp_path) == 25


# -- without torch --------------------------------------------------------------------------------

NO_TORCH = textwrap.dedent("""
    import sys
    sys.modules["torch"] = None          # `import torch` fails, as in a venv without it
    from archlang.cli import main
    spec, weights, out, fresh = sys.argv[1:]
    codes = [main(["export", spec, "--onnx", out, "--weights", weights, "--no-verify"]),
             main(["export", spec, "--onnx", fresh])]
    print("CODES", codes)
    print("TORCH", sorted(m for m in sys.modules if m.split(".")[0] == "torch" and sys.modules[m] is not None))
""")


def test_export_with_safetensors_needs_no_torch(tmp_path):
    from safetensors.torch import save_file

    graph = graph_of(ROOT / "specs/lenet_bn.arch")
    module = build_module(graph).eval()
    with torch.no_grad():
        module.bn1.running_mean.uniform_(-1, 1)
    save_file(module.state_dict(), str(tmp_path / "w.safetensors"))
    out, fresh = tmp_path / "m.onnx", tmp_path / "fresh.onnx"
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, str(ROOT / "specs/lenet_bn.arch"),
                           str(tmp_path / "w.safetensors"), str(out), str(fresh)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith(("CODES", "TORCH")))
    assert lines == {"CODES": "[0, 0]", "TORCH": "[]"}, proc.stdout + proc.stderr
    assert "not verified in onnxruntime (--no-verify)" in proc.stdout
    assert "not verified in onnxruntime (torch is not installed)" in proc.stdout
    x = torch.randn(3, 1, 28, 28)
    sess = export_onnx.session(out)
    with torch.no_grad():
        np.testing.assert_allclose(sess.run(None, {"x": x.numpy()})[0], module(x).numpy(), rtol=1e-4, atol=1e-5)
    assert fresh.exists()


# -- the file ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fp16", [False, True])
def test_the_streamed_file_is_protobufs_own_serialisation(tmp_path, fp16):
    """`write` streams the weights from numpy; the bytes are those onnx.save_model would write."""
    from archlang.backends import onnx_model

    graph = graph_of(ROOT / "specs/lenet_bn.arch")
    lowered = onnx_emit.lower(graph, 20)
    assembled = onnx_model.assemble(lowered, weights.fresh(declared(graph)), fold_bn=True, fp16=fp16)
    onnx_model.write(assembled, tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").read_bytes() == assembled.full_model().SerializeToString()
