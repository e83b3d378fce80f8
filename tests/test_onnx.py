"""ONNX export, end to end: every spec exports, passes onnx.checker, runs in
onnxruntime at batch 1 and 3 and matches PyTorch; every op of the table in
every rank, in float32 and float16; names follow the spec; weights from every
source; batch-norm folding; symbolic sizes; external data; failed exports
leave nothing behind; the provider choice; `archlang export`.

The whole of specs/ is exported once (the slow part: VGG's weights alone are
half a gigabyte); everything else uses small specs. The lowering itself, torch
free, is tested in test_onnx_lowering.py.
"""
from __future__ import annotations

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
from archlang import ops
from archlang.backends import onnx as export_onnx
from archlang.backends import onnx_model, onnx_verify
from archlang.backends.onnx_inputs import probes
from archlang.backends.torch_module import build_module

from test_torchvision_zoo import ROWS as ZOO_TABLE  # noqa: E402 - a sibling test module
from test_torchvision_zoo import graph_of as zoo_graph  # noqa: E402

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

# Every op of the table, in every rank it takes, with non-default arguments;
# each stage is an output of its own, so that nothing squashes an error on the way.
ALL_OPS = """\
block Act {
    relu6 gelu silu elu leaky_relu(slope=0.2) tanh sigmoid relu
}
network Image {
    input x: [3, 16, 16]
    a = x -> conv(8, k=3, p="same") bn Act lrn(3) dropout(0.3) lrn(4)
    b = a -> conv(8, k=[1, 3], p=[0, 1], d=[1, 2], groups=2, bias=false) bn relu
    c = b -> upsample(2) conv(8, k=3, s=2, p=1) upsample(2, mode="bilinear") upsample(1.5, mode="bicubic")
    d = c -> maxpool(3, s=2, p=1, ceil=true) avgpool(2, p=1, ceil=true) adaptive_avgpool([3, 2])
    e = d -> conv_transpose(8, k=3, s=2, p=1, output_padding=1, groups=2) bn groupnorm(4) layernorm(eps=1e-6)
    f = e -> channel_linear(8) bn hardswish channel_shuffle(2) stochastic_depth(0.1) hardsigmoid
    g = f -> scale_shift([1, 2, 3, 4, 5, 6, 7, 8], 0.5) gelu(approximate="tanh")
    h = g -> softmax gap flatten linear(12) bn layernorm dropout linear(4) softmax
    output a, b, c, d, e, f, g, h
}
network Sequence {
    input x: [4, 32]
    a = x -> conv(8, k=3, p=1) bn relu lrn(3) maxpool(2) upsample(2, mode="linear") avgpool(2)
    b = a -> conv_transpose(4, k=4, s=2, p=1) bn layernorm
    c = b -> adaptive_avgpool(5) gap flatten linear(3)
    output a, b, c
}
network Volume {
    input x: [2, 8, 8, 8]
    a = x -> conv(4, k=3, p=1) bn relu lrn(2) maxpool(2) upsample(2, mode="trilinear")
    b = a -> conv_transpose(4, k=2, s=2, groups=2) bn groupnorm(2)
    c = b -> adaptive_avgpool([3, 2, 4]) flatten linear(3)
    output a, b, c
}
network Merges {
    input a: [4, 8, 8]
    input b: [4, 8, 8]
    s = add(a, b) -> conv(4, k=1)
    c = cat(s, a -> relu) -> conv(2, k=3, p=1)
    d = add(s, s, a)
    m = mul(s, s -> gap sigmoid)
    p, q = a -> chunk(2)
    r = cat(q, p -> chunk(2, index=1))
    t = c -> conv(2, k=5)
    k = c -> conv(4, k=3) crop(like=t)
    z = k -> resize(like=a) resize(like=b, mode="nearest") resize(like=s, mode="bicubic", align_corners=true)
    scale = parameter([4, 1, 1], fill=0.5)
    shift = parameter([4, 8, 8])
    n = mul(scale, s)
    o = add(shift, n)
    output s, c, d, m, r, t, k, z, o
}
"""
ALL_OPS_NETWORKS = ["Image", "Sequence", "Volume", "Merges"]


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


def dims(value) -> list:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


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
        assert dims(value) == ["batch", *shape]
    v = result.verification
    assert v.batches == (1, 3) and v.ok and v.max_abs_diff <= v.tolerance, v
    assert model.graph.name == graph.name


# specs/torchvision/: each file once, at the first builder models.tsv lists for it, at its small input
ZOO_ROWS = list({row["file"]: row for row in reversed(list(ZOO_TABLE.values()))}.values())[::-1]


@pytest.mark.parametrize("row", ZOO_ROWS, ids=[row["file"] for row in ZOO_ROWS])
def test_every_torchvision_spec_exports_and_matches_pytorch(row, tmp_path):
    graph = zoo_graph(row, small_input=True)
    result = export_onnx.export(graph, tmp_path / "m.onnx")
    v = result.verification
    assert v.batches == (1, 3) and v.ok, v


def test_all_ops_uses_every_op_of_the_table():
    """A new op needs its case in ALL_OPS (and with it an ONNX lowering, which the next test runs)."""
    used = {n.op for name in ALL_OPS_NETWORKS for n in graph_of(ALL_OPS, name).layers()}
    assert used == set(ops.OPS), f"add the new ops to ALL_OPS: {sorted(set(ops.OPS) - used)}"


@pytest.mark.parametrize("fp16", [False, True], ids=["float32", "float16"])
@pytest.mark.parametrize("network", ALL_OPS_NETWORKS)
def test_every_op_exports_in_every_rank(network, fp16, tmp_path):
    graph = graph_of(ALL_OPS, network)
    module = build_module(graph).eval()
    random_statistics(module)
    result = export_onnx.export(graph, tmp_path / "m.onnx", module=module, fold_bn=True, fp16=fp16)
    assert result.verification.ok and result.verification.fp16 is fp16, result.verification
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert [i.name for i in model.graph.input] == [p.name for p in graph.inputs]
    assert [o.name for o in model.graph.output] == [p.name for p in graph.outputs]


@pytest.mark.parametrize("network", ALL_OPS_NETWORKS)
def test_every_op_agrees_with_the_reference_interpreter(network, tmp_path):
    """An oracle written apart from both backends (tests/oracle: torch's functional ops, float64,
    node by node): `archlang export` of each network, run in onnxruntime with the interpreter's
    weights, gives the interpreter's outputs."""
    from oracle.differential import Invocation, check_spec

    assert check_spec(ALL_OPS, tmp_path, Invocation(network), build=False, onnx=True) == []


# -- the verification itself ---------------------------------------------------------------

def test_verification_compares_with_the_module_it_is_given(exported):
    graph, module, path, _ = exported("lenet", "LeNet")
    same = onnx_verify.verify_file(path, module, probes(graph, None))
    assert same.ok and same.max_abs_diff < 1e-5
    changed = onnx_verify.reference(graph, {k: v.numpy() for k, v in module.state_dict().items()})
    with torch.no_grad():
        changed.linear3.bias += 0.01  # the file no longer matches this module
    different = onnx_verify.verify_file(path, changed, probes(graph, None))
    assert not different.ok and different.max_abs_diff == pytest.approx(0.01, rel=1e-3)


def test_onnxruntime_agrees_at_batch_1_and_3_on_its_own(tmp_path):
    """Independently of verify_file: run the file by hand and compare with the module."""
    graph = graph_of(ROOT / "specs/lenet_bn.arch")
    module = build_module(graph).eval()
    random_statistics(module)
    out = tmp_path / "lenet_bn.onnx"
    export_onnx.export(graph, out, module=module, verify=False)
    for batch in (1, 3):
        x = torch.randn(batch, 1, 28, 28)
        (got,) = run_onnx(out, x)
        with torch.no_grad():
            np.testing.assert_allclose(got, module(x).numpy(), rtol=1e-4, atol=1e-5)


def test_fresh_weights_are_the_ones_verified_and_written(tmp_path):
    """Without weights, the file holds the drawn weights, and the module verified holds the same."""
    graph = graph_of(ROOT / "specs/lenet.arch")
    out = tmp_path / "lenet.onnx"
    result = export_onnx.export(graph, out)
    assert result.weights is None and result.verification.ok
    written = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer}
    module = build_module(graph).eval()
    module.load_state_dict({k: torch.from_numpy(written[k].copy()) for k in module.state_dict()})
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        np.testing.assert_allclose(run_onnx(out, x)[0], module(x).numpy(), rtol=1e-4, atol=1e-5)


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


def test_tensors_and_parameters_are_named_after_layers_and_state_dict_keys(exported):
    graph, module, out, _ = exported("lenet", "LeNet")
    g = onnx.load(str(out)).graph
    conv = next(n for n in g.node if n.name == "conv1")
    assert list(conv.input) == ["x", "conv1.weight", "conv1.bias"] and list(conv.output) == ["conv1"]
    assert {t.name for t in g.initializer} == set(module.state_dict())


# -- batch, opset ----------------------------------------------------------------------------

def test_a_fixed_batch_is_fixed_and_verified_at_that_size(tmp_path):
    out = tmp_path / "lenet.onnx"
    result = export_onnx.export(graph_of(ROOT / "specs/lenet.arch"), out, batch=4)
    assert dims(onnx.load(str(out)).graph.input[0]) == [4, 1, 28, 28]
    assert result.verification.batches == (4,)


@pytest.mark.parametrize("opset", [13, 18])
def test_older_opsets(tmp_path, opset):
    out = tmp_path / "lenet.onnx"
    result = export_onnx.export(graph_of(ROOT / "specs/lenet_bn.arch"), out, opset=opset)
    model = onnx.load(str(out))
    assert result.opset == opset and [o.version for o in model.opset_import if o.domain == ""] == [opset]
    assert result.verification.ok


def test_an_opset_before_13_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(export_onnx.ExportError, match="opsets 13 to"):
        export_onnx.export(graph_of(ROOT / "specs/lenet.arch"), tmp_path / "x.onnx", opset=12)
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


def test_fold_bn_keeps_a_conv_whose_output_is_also_read_elsewhere(tmp_path):
    """Folding `bn` into `conv1` would change `a`, a network output, and what `relu` reads."""
    spec = """\
network Shared {
    input x: [3, 8, 8]
    a = x -> conv(4, k=3, p=1)
    b = a -> bn
    c = x -> conv(4, k=3, p=1)
    d = c -> bn
    e = c -> relu
    output a, b, d, e
}
"""
    graph = graph_of(spec)
    module = build_module(graph).eval()
    random_statistics(module)
    result = export_onnx.export(graph, tmp_path / "m.onnx", module=module, fold_bn=True)
    assert result.folded == [] and result.verification.ok
    assert op_types(tmp_path / "m.onnx").count("BatchNormalization") == 2


# -- float16 ------------------------------------------------------------------------------------

def test_fp16_writes_float16_weights_inputs_and_outputs(tmp_path):
    graph = graph_of(ROOT / "specs/lenet_bn.arch")
    module = build_module(graph).eval()
    random_statistics(module)
    out = tmp_path / "m.onnx"
    result = export_onnx.export(graph, out, module=module, fp16=True)
    model = onnx.load(str(out))
    half = onnx.TensorProto.FLOAT16
    assert {v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]} == {half}
    assert {t.data_type for t in model.graph.initializer if t.data_type != onnx.TensorProto.INT64} == {half}
    v = result.verification
    assert v.fp16 and v.ok and v.tolerance > export_onnx.FP16_ATOL   # float16's tolerance, not float32's
    assert v.max_abs_diff > 1e-6     # float16 really computes in float16: it differs from float32


def test_fp16_refuses_weights_beyond_its_range(tmp_path):
    graph = graph_of(ROOT / "specs/lenet.arch")
    module = build_module(graph).eval()
    with torch.no_grad():
        module.conv1.weight[0, 0, 0, 0] = 1e5
    with pytest.raises(export_onnx.ExportError, match="conv1.weight holds 1e.05, beyond float16"):
        export_onnx.export(graph, tmp_path / "m.onnx", module=module, fp16=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("layer", ["conv_transpose(6, k=3, s=2, groups=3, bias=false)",
                                   "conv_transpose(6, k=[2, 3], s=2, p=1, d=2, groups=1)", "channel_linear(6)"])
def test_fold_bn_into_transposed_conv_and_channel_linear_is_exact(layer, tmp_path):
    # A transposed conv keeps its output channels in dim 1 of the weight, per group.
    graph = graph_of(f"network N {{ input [3, 5, 5]\n conv(6, k=1) {layer} bn relu }}")
    module = build_module(graph).eval()
    random_statistics(module, seed=4)
    result = export_onnx.export(graph, tmp_path / "m.onnx", module=module, fold_bn=True)
    assert result.folded == ["bn1"] and "BatchNormalization" not in op_types(tmp_path / "m.onnx")
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", x)[0], module(x).numpy(), rtol=1e-5, atol=1e-5)


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


@pytest.mark.parametrize("form", ["state_dict", "checkpoint", "ddp", "safetensors"])
def test_weights_are_loaded_from_what_users_save(tmp_path, trained, form):
    graph, module, state = trained
    if form == "safetensors":
        from safetensors.torch import save_file
        weights = tmp_path / "w.safetensors"
        save_file(state, str(weights))
    else:
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


def test_bfloat16_safetensors_and_batch_norms_saved_without_their_counter(tmp_path, trained):
    """bfloat16 weights widen to float32 (exactly); a state_dict from a PyTorch that did not save
    num_batches_tracked loads, as load_state_dict accepts it."""
    from safetensors.torch import save_file

    graph, module, state = trained
    state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()
             if not k.endswith("num_batches_tracked")}
    save_file(state, str(tmp_path / "w.safetensors"))
    module.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)   # the bfloat16 values
    result = export_onnx.export(graph, tmp_path / "m.onnx", weights=tmp_path / "w.safetensors")
    assert result.verification.ok
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", x)[0], module(x).numpy(), rtol=1e-4, atol=1e-5)


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


@pytest.mark.parametrize("bad, message", [
    (float("nan"), "conv1.weight holds 1 non-finite value"),
    ("int", "conv1.weight holds int32 values, not floating-point weights"),
])
def test_weights_that_are_not_finite_floats_are_refused(tmp_path, trained, bad, message):
    graph, _, state = trained
    if bad == "int":
        state["conv1.weight"] = state["conv1.weight"].to(torch.int32)
    else:
        state["conv1.weight"][0, 0, 0, 0] = bad
    weights = tmp_path / "w.pt"
    torch.save(state, weights)
    with pytest.raises(export_onnx.ExportError, match=message):
        export_onnx.export(graph, tmp_path / "m.onnx", weights=weights)
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
    junk.rename(tmp_path / "junk.safetensors")
    with pytest.raises(export_onnx.ExportError, match="not a safetensors file"):
        export_onnx.export(graph, tmp_path / "m.onnx", weights=tmp_path / "junk.safetensors")


# -- atomic writes, external data ------------------------------------------------------------------

def _corrupting(monkeypatch):
    """Make the exported file compute something else: the verification must catch it."""
    real = onnx_model.assemble

    def corrupted(*args, **kwargs):
        assembled = real(*args, **kwargs)
        assembled.initializers["linear3.bias"] = assembled.initializers["linear3.bias"] + 1.0
        return assembled

    monkeypatch.setattr(onnx_model, "assemble", corrupted)


def test_a_failed_verification_leaves_no_file(tmp_path, monkeypatch):
    _corrupting(monkeypatch)
    with pytest.raises(export_onnx.ExportError, match="largest difference 1 exceeds the tolerance"):
        export_onnx.export(graph_of(ROOT / "specs/lenet.arch"), tmp_path / "lenet.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_leaves_the_previous_files_intact(tmp_path, monkeypatch):
    out, data = tmp_path / "lenet.onnx", tmp_path / "lenet.onnx.data"
    out.write_bytes(b"previous model")
    data.write_bytes(b"previous data")
    _corrupting(monkeypatch)
    for external in (False, True):
        with pytest.raises(export_onnx.ExportError):
            export_onnx.export(graph_of(ROOT / "specs/lenet.arch"), out, external_data=external)
        assert out.read_bytes() == b"previous model" and data.read_bytes() == b"previous data"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet.onnx", "lenet.onnx.data"]


def test_external_data_beside_the_model(tmp_path):
    """What models past 2 GB get (regnet_y_128gf): the weights in `OUT.onnx.data`, named relative to the model."""
    graph = graph_of(ROOT / "specs/lenet.arch")
    module = build_module(graph).eval()
    out = tmp_path / "lenet.onnx"
    result = export_onnx.export(graph, out, module=module, external_data=True)
    assert result.data == tmp_path / "lenet.onnx.data" and result.verification.ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet.onnx", "lenet.onnx.data"]
    model = onnx.load(str(out), load_external_data=False)
    locations = {e.value for t in model.graph.initializer for e in t.external_data if e.key == "location"}
    assert locations == {"lenet.onnx.data"} and out.stat().st_size < 20_000
    moved = tmp_path / "elsewhere"                 # the pair works wherever it is moved together
    moved.mkdir()
    for p in (out, result.data):
        p.rename(moved / p.name)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        np.testing.assert_allclose(run_onnx(moved / "lenet.onnx", x)[0], module(x).numpy(), rtol=1e-4, atol=1e-5)


def test_export_to_stdout_and_the_models_that_cannot_go_there(tmp_path, monkeypatch, capsysbinary):
    """`--onnx -`: the model on stdout, whole; one that needs a data file beside it is refused."""
    from archlang.cli import main

    monkeypatch.chdir(ROOT)
    assert main(["export", "specs/lenet.arch", "--onnx", "-", "--no-verify"]) == 0
    out, err = capsysbinary.readouterr()
    assert len(onnx.load_from_string(out).graph.node) == 12 and err.decode().splitlines()[1].startswith("wrote -")
    monkeypatch.setattr(onnx_model, "EXTERNAL_DATA_ABOVE", 100_000)
    assert main(["export", "specs/lenet.arch", "--onnx", "-", "--no-verify"]) == 2
    out, err = capsysbinary.readouterr()
    assert out == b"" and "need a file of their own beside the model" in err.decode()


def test_models_past_two_gigabytes_write_external_data(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_model, "EXTERNAL_DATA_ABOVE", 100_000)   # LeNet's 44,426 parameters are 178 kB
    result = export_onnx.export(graph_of(ROOT / "specs/lenet.arch"), tmp_path / "m.onnx", verify=False)
    assert result.data == tmp_path / "m.onnx.data" and result.data.stat().st_size > 170_000


# -- symbolic sizes ----------------------------------------------------------------------------------

def test_symbolic_sizes_stay_symbolic_and_are_verified_at_two_sizes(tmp_path):
    graph = graph_of(ROOT / "examples/unet.arch")
    module = build_module(graph).eval()
    out = tmp_path / "unet.onnx"
    result = export_onnx.export(graph, out, module=module)
    model = onnx.load(str(out))
    assert dims(model.graph.input[0]) == ["batch", 3, "H", "W"]
    assert dims(model.graph.output[0]) == ["batch", 2, "H", "W"]   # named as archlang writes them
    # the smallest valid input `shapes` reports, then a round size; H and W multiples of 4 in both
    assert [p.shapes[0] for p in result.verification.probes] == [(1, 3, 4, 4), (3, 3, 96, 64)]
    assert result.verification.ok
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["archlang.conditions"] == "H and W multiples of 4"
    assert meta["archlang.smallest_input"] == "[3, 4, 4]" and "H and W multiples of 4" in model.doc_string
    x = torch.randn(2, 3, 32, 48)                                    # a size it was not verified at
    (got,) = run_onnx(out, x)
    with torch.no_grad():
        np.testing.assert_allclose(got, module(x).numpy(), rtol=1e-4, atol=1e-5)


def test_symbolic_output_sizes_are_archlang_expressions(tmp_path):
    spec = "network Strided {\n    input x: [3, H, W]\n    conv(8, k=3, s=2) relu conv(8, k=3, s=2, p=1)\n}\n"
    out = tmp_path / "s.onnx"
    export_onnx.export(graph_of(spec), out)
    assert dims(onnx.load(str(out)).graph.output[0]) == ["batch", 8, "(H - 3) // 4 + 1", "(W - 3) // 4 + 1"]


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
    assert result.err == "note: no --weights given: exported freshly initialised weights\n"
    assert out.exists()


def test_export_command_options(cli, tmp_path, trained):
    weights = tmp_path / "w.pt"
    torch.save(trained[2], weights)
    out = tmp_path / "m.onnx"
    result = cli("export", "specs/lenet_bn.arch", "--onnx", out, "--weights", weights, "--fold-bn",
                 "--batch", "2", "--opset", "18", "--fp16", "--no-verify")
    assert result.code == 0, result
    assert "opset 18" in result.out and "batch 2, float16)" in result.out
    assert "folded 4 batch norms" in result.out and "not verified in onnxruntime (--no-verify)" in result.out
    assert result.err == ""
    assert "BatchNormalization" not in op_types(out)


@pytest.mark.parametrize("argv, code, message", [
    (["--batch", "0"], 2, "--batch expects 'dynamic' or a positive size"),
    (["--opset", "12"], 2, "export failed: --opset 12"),
    (["--weights", "missing.pt"], 2, "no such file"),
    (["--opset", "18", "--network", "Image"], 1, "error[E601]: gelu cannot be exported to ONNX: needs ONNX opset 20"),
])
def test_export_command_errors(cli, tmp_path, argv, code, message):
    spec = tmp_path / "all_ops.arch"
    spec.write_text(ALL_OPS)
    out = tmp_path / "x.onnx"
    result = cli("export", spec if "Image" in argv else "specs/lenet.arch", "--onnx", out, *argv)
    assert result.code == code and message in result.err, result
    assert not out.exists()


def test_export_command_on_a_spec_with_errors_exits_1(cli, tmp_path):
    out = tmp_path / "x.onnx"
    result = cli("export", "examples/residual_without_projection.arch", "--onnx", out)
    assert result.code == 1 and "error[E304]" in result.err, result
    assert not out.exists()


def test_a_concrete_input_fixes_the_sizes(cli, tmp_path):
    out = tmp_path / "unet.onnx"
    result = cli("export", "examples/unet.arch", "--onnx", out, "--input", "3x32x32")
    assert result.code == 0, result
    assert "dynamic H" not in result.out and "at batch 1 and 3" in result.out
    assert dims(onnx.load(str(out)).graph.input[0]) == ["batch", 3, 32, 32]


def test_export_prints_nothing_from_onnxruntime_or_the_exporter(tmp_path):
    """A fresh process, as users run it: only archlang's own lines on stdout and stderr."""
    proc = subprocess.run([sys.executable, "-m", "archlang", "export", "specs/lenet.arch", "--onnx",
                           str(tmp_path / "m.onnx")], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "PATH": "/usr/bin:/bin",
                               "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "note: no --weights given: exported freshly initialised weights\n"
    assert [line.split(" ")[0] for line in proc.stdout.splitlines()] == ["wrote", "verified"]


def test_the_public_onnx_api_is_the_backend():
    assert archlang.onnx.session is export_onnx.session and archlang.onnx.export is export_onnx.export
    assert archlang.onnx.ExportError is export_onnx.ExportError


# -- folding, against the reference interpreter (tests/oracle) ------------------------------------------

FOLD_CASES = {
    # The conv's output is a network output too: folding made the exported `a` bn(a) (issue 10, case 7).
    "the conv is an output": """\
network N {
    input x: [2, 5, 5]
    a = x -> conv(3, k=3, p=1)
    b = a -> bn
    output a, b
}
""",
    "the conv is an output, by default": """\
network N {
    input x: [2, 5, 5]
    a = x -> conv(3, k=3, p=1)
    b = a -> bn
    output b, a
}
""",
    "a linear layer read by its bn only, and a conv read twice": """\
network N {
    input x: [2, 5, 5]
    a = x -> conv(3, k=3, p=1)
    y = add(a -> bn, a) -> gap flatten linear(4) bn
}
""",
}


@pytest.mark.parametrize("spec", FOLD_CASES.values(), ids=FOLD_CASES.keys())
def test_fold_bn_exports_what_the_interpreter_computes(spec, tmp_path):
    from oracle.differential import check_spec

    assert check_spec(spec, tmp_path, build=False, onnx=True, fold_bn=True) == []
