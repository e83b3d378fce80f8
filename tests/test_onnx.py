"""ONNX export: every spec exports, passes onnx.checker, runs in onnxruntime at
batch 1 and 3 and matches PyTorch; names follow the spec; weights, batch-norm
folding, fixed batches and opsets; failed exports leave nothing behind; the
provider choice; `archlang export`.

The whole of specs/ is exported once (the slow part, about a minute: VGG's
weights alone are half a gigabyte); everything else uses small specs.
"""
from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import archlang
import archlang.onnx
from archlang.backends import onnx as export_onnx
from archlang.backends import onnx_inputs
from archlang.backends import torch_inference
from archlang.backends.torch_module import build_module

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.arch"))
# every network of every spec file (a file may hold several): (file stem, network name)
NETWORKS = [(spec.stem, name) for spec in SPECS for name in archlang.load(spec).networks]

# conv without bias, conv with groups, bn after linear (1d), and a bn after a
# pool, which has no layer of its own to fold into.
FOLDABLE = """\
block Unit(c) {
    conv(c, k=3, p=1, bias=false) bn relu
}
network Small {
    input [3, 12, 12]
    Unit(8)
    conv(8, k=3, p=1, groups=4) bn relu
    maxpool(2) bn
    flatten linear(16) bn relu linear(5)
}
"""


# every op of the table, in every rank it takes, with non-default arguments
ALL_OPS = """\
block Act {
    relu6 gelu silu elu leaky_relu(slope=0.2) tanh sigmoid relu
}
network Image {
    input [3, 16, 16]
    conv(8, k=3, p="same") bn Act lrn(3) dropout(0.3)
    conv(8, k=[1, 3], p=[0, 1], groups=2, bias=false) bn relu
    upsample(2) conv(8, k=3, s=2, p=1) upsample(2, mode="bilinear")
    maxpool(3, s=2, p=1, ceil=true) avgpool(2, ceil=true) adaptive_avgpool([2, 2])
    conv_transpose(8, k=3, s=2, p=1, output_padding=1, groups=2) bn groupnorm(4) layernorm(eps=1e-6)
    channel_linear(8) bn hardswish channel_shuffle(2) stochastic_depth(0.1) hardsigmoid
    scale_shift([1, 2, 3, 4, 5, 6, 7, 8], 0.5) gelu(approximate="tanh")
    softmax gap flatten linear(12) bn layernorm dropout linear(4) softmax
}
network Sequence {
    input [4, 32]
    conv(8, k=3, p=1) bn relu maxpool(2) upsample(2, mode="linear") avgpool(2)
    conv_transpose(4, k=4, s=2, p=1) bn layernorm gap flatten linear(3)
}
network Volume {
    input [2, 8, 8, 8]
    conv(4, k=3, p=1) bn relu maxpool(2) upsample(2, mode="trilinear")
    conv_transpose(4, k=2, s=2, groups=2) bn groupnorm(2) gap flatten linear(3)
}
network Merges {
    input a: [4, 8, 8]
    input b: [4, 8, 8]
    s = add(a, b) -> conv(4, k=1)
    c = cat(s, a -> relu) -> conv(2, k=3, p=1)
    output s, c
}
"""


def graph_of(text_or_path, network: str | None = None):
    return archlang.load(text_or_path).network(network)


def random_statistics(module: torch.nn.Module, seed: int = 0) -> None:
    """Batch norms with statistics far from 0 and 1, so that folding them is a real change."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen))
                m.running_var.copy_(torch.rand(n, generator=gen) * 3 + 0.2)
                m.weight.copy_(torch.randn(n, generator=gen))
                m.bias.copy_(torch.randn(n, generator=gen))


def run_onnx(path, *inputs: torch.Tensor) -> list[np.ndarray]:
    sess = archlang.onnx.session(path)   # the public name users call
    return sess.run(None, {i.name: t.numpy() for i, t in zip(sess.get_inputs(), inputs)})


def op_types(path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


# -- every spec ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`exported(stem, network)` -> (graph, module, path, result), each exported once for this module."""
    done: dict[tuple, tuple] = {}
    workdir = tmp_path_factory.mktemp("exports")

    def get(stem: str, network: str | None = None):
        if (stem, network) not in done:
            graph = archlang.load(ROOT / "specs" / f"{stem}.arch").network(network)
            module = build_module(graph).eval()
            path = workdir / f"{stem}.{graph.name}.onnx"
            done[stem, network] = (graph, module, path, export_onnx.export(graph, path, module=module))
        return done[stem, network]

    yield get
    shutil.rmtree(workdir)  # VGG's files are half a gigabyte each: not for pytest's kept temp dirs


@pytest.mark.parametrize("stem, network", NETWORKS, ids=[f"{stem}:{name}" for stem, name in NETWORKS])
def test_every_spec_exports_checks_and_matches_pytorch(stem, network, exported):
    graph, _, path, result = exported(stem, network)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)  # export ran the full check on the file; this re-reads what it wrote
    # the spec's names, the batch dimension dynamic and every other one fixed
    assert [i.name for i in model.graph.input] == [p.name for p in graph.inputs]
    assert [o.name for o in model.graph.output] == [p.name for p in graph.outputs]
    for value, shape in zip(model.graph.input, graph.input_shapes()):
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == list(shape)
    v = result.verification
    assert v.batches == (1, 3) and v.ok and v.max_abs_diff <= v.tolerance, v
    assert model.graph.name == graph.name


def test_all_ops_uses_every_op_of_the_table():
    program = archlang.load(ALL_OPS)
    used = {n.op for name in program.networks for n in program.network(name).layers()}
    assert used == set(archlang.ops.OPS), f"add the new ops to ALL_OPS: {sorted(set(archlang.ops.OPS) - used)}"


@pytest.mark.parametrize("network", ["Image", "Sequence", "Volume", "Merges"])
def test_every_op_exports_in_every_rank(network, tmp_path):
    graph = graph_of(ALL_OPS, network)
    result = export_onnx.export(graph, tmp_path / "m.onnx", fold_bn=True)
    assert result.verification.ok, result.verification
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert [i.name for i in model.graph.input] == [p.name for p in graph.inputs]
    assert [o.name for o in model.graph.output] == [p.name for p in graph.outputs]


# -- the verification itself ---------------------------------------------------------------

def test_verification_compares_with_the_module_it_is_given(exported):
    graph, module, path, _ = exported("lenet", "LeNet")
    same = export_onnx.verify_file(path, module, onnx_inputs.probes(graph, None))
    assert same.ok and same.max_abs_diff < 1e-5
    changed = copy.deepcopy(module)
    with torch.no_grad():
        changed.linear3.bias += 0.01  # the file no longer matches this module
    different = export_onnx.verify_file(path, changed, onnx_inputs.probes(graph, None))
    assert not different.ok and different.max_abs_diff == pytest.approx(0.01, rel=1e-3)


def test_onnxruntime_agrees_at_batch_1_and_3_on_its_own(tmp_path):
    """Independently of verify_file: run the file by hand and compare with the module."""
    graph = graph_of(ROOT / "specs/lenet_bn.arch")
    module = build_module(graph).eval()
    random_statistics(module)
    out = tmp_path / "lenet_bn.onnx"
    export_onnx.export(graph, out, module=module)
    for batch in (1, 3):
        x = torch.randn(batch, 1, 28, 28)
        (got,) = run_onnx(out, x)
        with torch.no_grad():
            np.testing.assert_allclose(got, module(x).numpy(), rtol=1e-4, atol=1e-5)


# -- names ---------------------------------------------------------------------------------

def test_nodes_are_named_after_the_spec_layers_and_merges(exported):
    graph, _, out, _ = exported("googlenet", "GoogLeNet")
    nodes = onnx.load(str(out)).graph.node
    layers = {n.name for n in graph.layers()}
    assert {n.name for n in nodes} <= layers   # one ONNX node per layer, named like it
    assert {n.name for n in nodes if n.op_type == "Conv"} == {n.name for n in graph.layers() if n.op == "conv"}
    concats = [n.name for n in nodes if n.op_type == "Concat"]
    assert concats == [f"inception{i}.concat1" for i in range(1, 10)]
    stem = next(n for n in nodes if n.name == "stem.conv1")
    source = {p.key: p.value for p in stem.metadata_props}
    assert source == {"archlang.source": graph.nodes[1].span.location()}
    assert not any(p.key.startswith("pkg.") for n in nodes for p in n.metadata_props)


def test_tensors_and_constants_are_named_after_their_nodes(exported):
    out = exported("lenet", "LeNet")[2]
    g = onnx.load(str(out)).graph
    conv = next(n for n in g.node if n.name == "conv1")
    assert list(conv.input) == ["x", "conv1.weight", "conv1.bias"] and list(conv.output) == ["conv1"]
    reshape = next(n for n in g.node if n.op_type == "Reshape")
    assert list(reshape.input) == ["avgpool2", "flatten1.shape"]
    assert not any(p.key.startswith("pkg.") for v in [*g.input, *g.output, *g.value_info] for p in v.metadata_props)


# -- which sizes are dynamic, and where the checks run (torch-free planning) --------------------

def test_input_plan_of_a_concrete_spec():
    graph = graph_of(ROOT / "specs/lenet.arch")
    assert onnx_inputs.dynamic_axes(graph, None) == [[onnx_inputs.Axis(0, "batch", 1)]]
    assert onnx_inputs.dynamic_axes(graph, 4) == [[]]
    assert onnx_inputs.trace_shapes(graph, None) == ((2, 1, 28, 28),)
    assert [p.shapes for p in onnx_inputs.probes(graph, None)] == [((1, 1, 28, 28),), ((3, 1, 28, 28),)]
    assert [p.shapes for p in onnx_inputs.probes(graph, 4)] == [((4, 1, 28, 28),)]


def test_input_plan_of_a_symbolic_spec_meets_its_conditions():
    graph = graph_of(ROOT / "examples/unet.arch")   # H and W multiples of 4, at least 4
    assert onnx_inputs.dynamic_axes(graph, None) == [[onnx_inputs.Axis(0, "batch", 1), onnx_inputs.Axis(2, "H", 4),
                                                      onnx_inputs.Axis(3, "W", 4)]]
    assert onnx_inputs.symbol_sizes(graph) == [{"H": 64, "W": 64}, {"H": 96, "W": 64}]
    five_pools = "network P {\n    input [3, H, W]\n    repeat 5 { maxpool(2) }\n    upsample(32)\n}\n"
    sizes = onnx_inputs.symbol_sizes(graph_of(five_pools))         # multiples of 32 only
    assert sizes == [{"H": 64, "W": 64}, {"H": 96, "W": 64}]
    odd = "network Q {\n    input [3, H, W]\n    expect [3, 5, W]\n}\n"   # H must be 5: no round size fits
    assert onnx_inputs.symbol_sizes(graph_of(odd))[0]["H"] == 5


# -- batch, opset ----------------------------------------------------------------------------

def test_a_fixed_batch_is_fixed_and_verified_at_that_size(tmp_path):
    out = tmp_path / "lenet.onnx"
    result = export_onnx.export(graph_of(ROOT / "specs/lenet.arch"), out, batch=4)
    dim = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_value == 4 and not dim.dim_param
    assert result.verification.batches == (4,)


@pytest.mark.parametrize("opset", [18, 21])
def test_opsets_from_18(tmp_path, opset):
    out = tmp_path / "lenet.onnx"
    result = export_onnx.export(graph_of(ROOT / "specs/lenet.arch"), out, opset=opset)
    model = onnx.load(str(out))
    assert result.opset == opset and [o.version for o in model.opset_import if o.domain == ""] == [opset]


def test_an_opset_before_18_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(export_onnx.ExportError, match="opsets 18 to"):
        export_onnx.export(graph_of(ROOT / "specs/lenet.arch"), tmp_path / "x.onnx", opset=17)
    assert list(tmp_path.iterdir()) == []


# -- batch-norm folding ------------------------------------------------------------------------

def test_fold_bn_removes_foldable_batch_norms_and_still_matches_the_unfolded_model(tmp_path):
    graph = graph_of(FOLDABLE)
    module = build_module(graph).eval()
    random_statistics(module)
    plain, folded = tmp_path / "plain.onnx", tmp_path / "folded.onnx"
    export_onnx.export(graph, plain, module=module)
    result = export_onnx.export(graph, folded, module=module, fold_bn=True)
    assert op_types(plain).count("BatchNormalization") == 4
    assert op_types(folded).count("BatchNormalization") == 1          # the one after maxpool stays
    assert result.folded == ["unit1.bn1", "bn1", "bn3"]
    assert result.verification.ok                                      # against the unfolded module
    x = torch.randn(3, 3, 12, 12)
    (a,), (b,) = run_onnx(plain, x), run_onnx(folded, x)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert isinstance(module.bn1, torch.nn.BatchNorm2d)                # the caller's module is untouched


def test_fold_batchnorm_is_exact_in_pytorch():
    graph = graph_of(FOLDABLE)
    module = build_module(graph).eval()
    random_statistics(module, seed=3)
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        before = module(x)
        folded = torch_inference.fold_batchnorm(module, graph)
        after = module(x)
    assert len(folded) == 3 and isinstance(module.unit1.bn1, torch.nn.Identity)
    assert module.unit1.conv1.bias is not None                     # bias=false gained the folded shift
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer", ["conv_transpose(6, k=3, s=2, groups=3, bias=false)",
                                   "conv_transpose(6, k=[2, 3], s=2, p=1, d=2, groups=1)", "channel_linear(6)"])
def test_fold_batchnorm_into_transposed_conv_and_channel_linear_is_exact(layer):
    # A transposed conv keeps its output channels in dim 1 of the weight, per group.
    graph = graph_of(f"network N {{ input [3, 5, 5]\n conv(6, k=1) {layer} bn relu }}")
    module = build_module(graph).eval()
    random_statistics(module, seed=4)
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        before = module(x)
        assert torch_inference.fold_batchnorm(module, graph) == ["bn1"]
        after = module(x)
    assert isinstance(module.bn1, torch.nn.Identity)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


# -- weights ---------------------------------------------------------------------------------

@pytest.fixture
def trained(tmp_path):
    """A LeNet-BN module with weights that differ from a fresh one, and its state_dict."""
    graph = graph_of(ROOT / "specs/lenet_bn.arch")
    module = build_module(graph).eval()
    random_statistics(module, seed=7)
    with torch.no_grad():
        module.conv1.weight.mul_(3)
    return graph, module, {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("form", ["state_dict", "checkpoint", "ddp"])
def test_weights_are_loaded_from_what_users_save(tmp_path, trained, form):
    graph, module, state = trained
    saved = {"state_dict": state, "checkpoint": {"format": "archlang-train/1", "model": state, "epoch": 3},
             "ddp": {f"module.{k}": v for k, v in state.items()}}[form]
    weights = tmp_path / "w.pt"
    torch.save(saved, weights)
    out = tmp_path / "m.onnx"
    result = export_onnx.export(graph, out, weights=weights)
    assert result.weights == str(weights) and result.verification.ok
    x = torch.randn(2, 1, 28, 28)
    (got,) = run_onnx(out, x)
    with torch.no_grad():
        np.testing.assert_allclose(got, module(x).numpy(), rtol=1e-4, atol=1e-5)


def test_safetensors_weights(tmp_path, trained):
    safetensors = pytest.importorskip("safetensors.torch")
    graph, module, state = trained
    weights = tmp_path / "w.safetensors"
    safetensors.save_file(state, str(weights))
    out = tmp_path / "m.onnx"
    export_onnx.export(graph, out, weights=weights)
    x = torch.randn(1, 1, 28, 28)
    with torch.no_grad():
        np.testing.assert_allclose(run_onnx(out, x)[0], module(x).numpy(), rtol=1e-4, atol=1e-5)


def test_weights_of_another_network_are_refused_by_name(tmp_path, trained):
    graph, _, state = trained
    del state["conv1.weight"]
    state["extra.weight"] = torch.zeros(1)
    state["linear1.weight"] = torch.zeros(7, 7)
    weights = tmp_path / "w.pt"
    torch.save(state, weights)
    with pytest.raises(export_onnx.ExportError) as err:
        export_onnx.export(graph, tmp_path / "m.onnx", weights=weights)
    message = str(err.value)
    assert "missing conv1.weight" in message and "unexpected extra.weight" in message
    assert "wrong shape linear1.weight (7, 7) (the network has (120, 256))" in message
    assert not (tmp_path / "m.onnx").exists()


def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path, trained):
    graph = trained[0]
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(export_onnx.ExportError, match="not a state_dict saved by torch.save"):
        export_onnx.export(graph, tmp_path / "m.onnx", weights=junk)
    torch.save([1, 2, 3], junk)
    with pytest.raises(export_onnx.ExportError, match="expected a state_dict"):
        export_onnx.export(graph, tmp_path / "m.onnx", weights=junk)


# -- atomic writes -----------------------------------------------------------------------------

def _corrupting(monkeypatch):
    """Make the exported file compute something else: the verification must catch it."""
    real = export_onnx._to_onnx

    def corrupted(*args, **kwargs):
        proto = real(*args, **kwargs)
        bias = next(t for t in proto.graph.initializer if t.name == "linear3.bias")
        values = onnx.numpy_helper.to_array(bias) + 1.0
        bias.CopyFrom(onnx.numpy_helper.from_array(values, bias.name))
        return proto

    monkeypatch.setattr(export_onnx, "_to_onnx", corrupted)


def test_a_failed_verification_leaves_no_file(tmp_path, monkeypatch):
    _corrupting(monkeypatch)
    with pytest.raises(export_onnx.ExportError, match="largest difference 1 exceeds the tolerance"):
        export_onnx.export(graph_of(ROOT / "specs/lenet.arch"), tmp_path / "lenet.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_leaves_the_previous_file_intact(tmp_path, monkeypatch, exported):
    out = tmp_path / "lenet.onnx"
    shutil.copy(exported("lenet", "LeNet")[2], out)
    before = out.read_bytes()
    _corrupting(monkeypatch)
    with pytest.raises(export_onnx.ExportError):
        export_onnx.export(graph_of(ROOT / "specs/lenet.arch"), out)
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["lenet.onnx"]


# -- runtime providers -------------------------------------------------------------------------

def test_providers_ask_for_cuda_only_when_a_gpu_is_usable(monkeypatch):
    import onnxruntime as ort
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert export_onnx.choose_providers() == ["CPUExecutionProvider"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert export_onnx.choose_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_sessions_run_on_cuda_when_there_is_a_gpu(exported):
    out = exported("lenet", "LeNet")[2]
    assert export_onnx.session(out).get_providers()[0] == "CUDAExecutionProvider"


# -- the command -------------------------------------------------------------------------------

def test_export_command_reports_what_it_checked(cli, tmp_path):
    out = tmp_path / "lenet.onnx"
    result = cli("export", "specs/lenet.arch", "--onnx", out)
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0] == f"wrote {out} (LeNet, opset 20, 12 nodes, dynamic batch); onnx.checker: ok"
    assert lines[1].startswith("verified in onnxruntime (CPUExecutionProvider) against PyTorch at batch 1 and 3: "
                               "largest difference ")
    assert "(tolerance 1." in lines[1]
    assert result.err == "note: no --weights given: exporting freshly initialised weights\n"
    assert out.exists()


def test_export_command_options(cli, tmp_path, trained):
    weights = tmp_path / "w.pt"
    torch.save(trained[2], weights)
    out = tmp_path / "m.onnx"
    result = cli("export", "specs/lenet_bn.arch", "--onnx", out, "--weights", weights, "--fold-bn",
                 "--batch", "2", "--opset", "18", "--no-verify")
    assert result.code == 0, result
    assert "opset 18" in result.out and "batch 2)" in result.out
    assert "folded 4 batch norms" in result.out and "not verified in onnxruntime (--no-verify)" in result.out
    assert result.err == ""
    assert "BatchNormalization" not in op_types(out)


@pytest.mark.parametrize("argv, code, message", [
    (["--batch", "0"], 2, "--batch expects 'dynamic' or a positive size"),
    (["--opset", "12"], 2, "export failed: --opset 12"),
    (["--weights", "missing.pt"], 2, "no such file"),
])
def test_export_command_usage_errors(cli, tmp_path, argv, code, message):
    out = tmp_path / "x.onnx"
    result = cli("export", "specs/lenet.arch", "--onnx", out, *argv)
    assert result.code == code and message in result.err, result
    assert not out.exists()


def test_export_command_on_a_spec_with_errors_exits_1(cli, tmp_path):
    out = tmp_path / "x.onnx"
    result = cli("export", "examples/residual_without_projection.arch", "--onnx", out)
    assert result.code == 1 and "error[E304]" in result.err, result
    assert not out.exists()


def test_symbolic_sizes_stay_symbolic_and_are_verified_at_two_sizes(tmp_path):
    graph = graph_of(ROOT / "examples/unet.arch")
    module = build_module(graph).eval()
    out = tmp_path / "unet.onnx"
    result = export_onnx.export(graph, out, module=module)
    model = onnx.load(str(out))
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(model.graph.input[0]) == ["batch", 3, "H", "W"]
    assert dims(model.graph.output[0]) == ["batch", 2, "H", "W"]   # named as archlang writes them
    # H and W are multiples of 4 in a U-Net with two pools: both runs meet that, and differ
    assert [p.shapes[0] for p in result.verification.probes] == [(1, 3, 64, 64), (3, 3, 96, 64)]
    assert result.verification.ok
    x = torch.randn(2, 3, 32, 48)                                    # a size it was not verified at
    (got,) = run_onnx(out, x)
    with torch.no_grad():
        np.testing.assert_allclose(got, module(x).numpy(), rtol=1e-4, atol=1e-5)


def test_symbolic_output_sizes_are_archlang_expressions(tmp_path):
    spec = "network Strided {\n    input x: [3, H, W]\n    conv(8, k=3, s=2) relu conv(8, k=3, s=2, p=1)\n}\n"
    out = tmp_path / "s.onnx"
    export_onnx.export(graph_of(spec), out)
    dims = onnx.load(str(out)).graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 8, "(H - 3) // 4 + 1", "(W - 3) // 4 + 1"]


def test_a_concrete_input_fixes_the_sizes(cli, tmp_path):
    out = tmp_path / "unet.onnx"
    result = cli("export", "examples/unet.arch", "--onnx", out, "--input", "3x32x32")
    assert result.code == 0, result
    assert "dynamic H" not in result.out and "at batch 1 and 3" in result.out
    dims = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, 32, 32]


def test_export_prints_nothing_from_onnxruntime_or_the_exporter(tmp_path):
    """A fresh process, as users run it: only archlang's own lines on stdout and stderr."""
    proc = subprocess.run([sys.executable, "-m", "archlang", "export", "specs/lenet.arch", "--onnx",
                           str(tmp_path / "m.onnx")], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "PATH": "/usr/bin:/bin",
                               "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "note: no --weights given: exporting freshly initialised weights\n"
    assert [line.split(" ")[0] for line in proc.stdout.splitlines()] == ["wrote", "verified"]


def test_the_public_onnx_api_is_the_backend():
    assert archlang.onnx.session is export_onnx.session and archlang.onnx.export is export_onnx.export
    assert archlang.onnx.ExportError is export_onnx.ExportError
