"""`archlang import`: PyTorch models and ONNX files as specs, checked by rebuilding them.

The oracle is the source model itself: the imported spec, compiled, must
load the model's state_dict strictly and give its outputs in eval mode (batch
norm statistics randomised, so that they matter), or, for an ONNX file,
onnxruntime's outputs on the file with the weights --weights-out wrote.
Representative torchvision builders of each family run here (the keys and
shapes on the meta device, outputs for some at a small input);
`bench/import_roundtrip.py` runs all 68.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archlang
from archlang.importer import ImportFailure, import_module

torchvision = pytest.importorskip("torchvision")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parent.parent


def builder(name: str, device: str = "cpu") -> nn.Module:
    # googlenet's and inception_v3's auxiliary heads: their eval forward skips them
    kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    with torch.device(device):
        return getattr(torchvision.models, name)(**kwargs).eval()


def non_comment_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def randomise_statistics(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def imported(model: nn.Module, shape, tmp_path: Path, name: str = "Imported") -> Path:
    path = tmp_path / f"{name}.arch"
    path.write_text(archlang.import_module(model, input=list(shape), network=name))
    return path


# --------------------------------------------------------------------------- torchvision round trips

@pytest.mark.parametrize("name,size", [("resnet18", 32), ("mobilenet_v3_small", 32), ("googlenet", 32),
                                       ("regnet_y_400mf", 32), ("squeezenet1_1", 64), ("shufflenet_v2_x0_5", 32)])
def test_builder_round_trips_to_equal_outputs(name, size, tmp_path):
    original = builder(name)
    randomise_statistics(original)
    path = imported(original, (3, size, size), tmp_path)
    assert archlang.check(path) == []
    model = archlang.compile(path).eval()
    model.load_state_dict(original.state_dict(), strict=True)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = original(x), model(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))


@pytest.mark.parametrize("name", ["densenet121", "vgg11_bn", "inception_v3", "mnasnet0_5", "alexnet",
                                  "resnext50_32x4d", "efficientnet_b0", "mobilenet_v2"])
def test_builder_imports_with_its_state_dict_keys_and_shapes(name, tmp_path):
    """On the meta device: no weights, no memory; the spec's module has the builder's state_dict."""
    original = builder(name, "meta")
    path = imported(original, (3, 96, 96), tmp_path)
    assert archlang.check(path) == []
    with torch.device("meta"):
        model = archlang.compile(path)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in original.state_dict().items()}
    graph = archlang.load(path).network("Imported")
    assert graph.params_total == sum(p.numel() for p in original.parameters())


def test_parameter_count_is_torchinfos(tmp_path):
    torchinfo = pytest.importorskip("torchinfo")
    original = builder("resnet18")
    path = imported(original, (3, 32, 32), tmp_path)
    stats = torchinfo.summary(original, input_size=(1, 3, 32, 32), verbose=0)
    assert archlang.load(path).network("Imported").params_total == stats.total_params == 11_689_512


@pytest.mark.parametrize("name,most,repeats", [("resnet50", 80, True), ("densenet121", 80, True),
                                               ("mobilenet_v3_large", 100, True), ("efficientnet_b0", 100, False)])
def test_imported_specs_read_like_a_persons(name, most, repeats):
    """Blocks, parameters and repeats recovered: the spec is short, and says repeat where torchvision
    loops over equal blocks (efficientnet's stochastic depth differs in every block: no repeat)."""
    text = import_module(builder(name, "meta"), input=[3, 224, 224])
    assert non_comment_lines(text) <= most, text
    assert "block " in text and ("repeat" in text) == repeats


def test_resnet50_reads_as_one_bottleneck_block_and_layers(tmp_path):
    text = import_module(builder("resnet50", "meta"), input=[3, 224, 224], network="ResNet50")
    blocks = [line.split("(")[0].split()[1] for line in text.splitlines() if line.startswith("block ")]
    assert blocks == ["Bottleneck", "Layer"]
    assert [line.split(":")[0].strip() for line in text.splitlines() if "Layer(" in line and ":" in line] == \
        ["layer1", "layer2", "layer3", "layer4"]


# --------------------------------------------------------------------------- what cannot be imported

class Sorting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.inner = nn.Sequential(nn.ReLU())

    def forward(self, x):
        x = self.inner(self.conv(x))
        return torch.sort(x, dim=1).values           # no op of archlang sorts


class Branching(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        if x.sum() > 0:                              # a choice on the data: no spec can hold it
            return self.conv(x)
        return x


class Dilated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2, dilation=2))

    def forward(self, x):
        return self.block(x)


def test_an_unsupported_function_is_located_with_its_module_and_op():
    with pytest.raises(ImportFailure) as info:
        import_module(Sorting(), input=[3, 8, 8])
    (d,) = info.value.diagnostics
    assert d.code == "E701" and "torch.sort" in d.message
    assert d.span is not None and Path(d.span.file).name == Path(__file__).name
    assert "torch.sort(x, dim=1)" in d.span.source.line_text(d.span.line)


def test_a_layer_attribute_archlang_lacks_is_named():
    with pytest.raises(ImportFailure) as info:
        import_module(Dilated(), input=[3, 16, 16])
    (d,) = info.value.diagnostics
    assert "block.1" in d.message and "dilation" in d.message


class TwoProblems(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Dilated().block

    def forward(self, x):
        return torch.sort(self.block(x), dim=1).values


def test_every_problem_is_reported_at_once_and_none_twice():
    """The dilated pool and the sort after it: two errors (not the `.values` of the failed sort)."""
    with pytest.raises(ImportFailure) as info:
        import_module(TwoProblems(), input=[3, 16, 16])
    assert [("block.1" in d.message, "torch.sort" in d.message) for d in info.value.diagnostics] == \
        [(True, False), (False, True)]


def test_weights_the_forward_skips_are_refused_not_dropped():
    with pytest.raises(ImportFailure) as info:
        import_module(builder("googlenet", "meta").__class__(aux_logits=True, init_weights=False).to("meta"),
                      input=[3, 64, 64])
    assert "aux1" in str(info.value) and "aux_logits=False" in str(info.value)


def test_convnext_says_which_tensor_needs_an_op():
    """convnext's blocks multiply by a learnt tensor, `layer_scale`, that no op holds, and run their
    layers channels-last between permutes: each named, in every block."""
    with pytest.raises(ImportFailure) as info:
        import_module(builder("convnext_tiny", "meta"), input=[3, 32, 32])
    messages = [d.message for d in info.value.diagnostics]
    assert sum("layer_scale itself" in m for m in messages) == 18          # one per block
    assert "features.1.0.layer_scale" in messages[0] and "torch.permute" in messages[1]


def test_a_shared_layer_with_weights_is_refused():
    conv = nn.Conv2d(4, 4, 3, padding=1)
    with pytest.raises(ImportFailure) as info:
        import_module(nn.Sequential(conv, nn.ReLU(), conv), input=[4, 8, 8])
    assert "called a second time" in info.value.diagnostics[0].message


class SizeBranch(nn.Module):
    """A forward that needs its sizes as numbers: torch.fx alone cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = self.conv(x)
        if x.size(-1) > 4:
            x = F.max_pool2d(x, x.size(-1) // 4)
        return self.fc(x.view(x.size(0), -1))


@pytest.mark.parametrize("size", [4, 16])
def test_control_flow_on_sizes_is_traced_at_the_input_size(size, tmp_path):
    original = SizeBranch().eval()
    path = imported(original, (3, size, size), tmp_path)
    assert ("maxpool(4)" in path.read_text()) == (size == 16)
    model = archlang.compile(path).eval()
    model.load_state_dict(original.state_dict(), strict=True)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(model(x), original(x), rtol=1e-5, atol=1e-6)


def test_control_flow_on_the_data_is_one_clear_error(tmp_path, cli, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    out = tmp_path / "out.arch"
    out.write_text("# mine\n")
    result = cli("import", "test_import:Branching", "-o", str(out), "--input", "3x8x8")
    assert result.code == 1, result
    assert "E701" in result.err and "cannot trace" in result.err and "x.sum() > 0" in result.err
    assert "Traceback" not in result.err
    assert out.read_text() == "# mine\n"                 # nothing written over


def test_cli_writes_the_spec_and_refuses_usage_errors(tmp_path, cli, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    out = tmp_path / "d.arch"
    result = cli("import", "test_import:Dilated", "-o", str(out), "--input", "3x16x16")
    assert result.code == 1 and not out.exists(), result
    assert cli("import", "no_such_module_here:x", "-o", str(out)).code == 2
    assert cli("import", "test_import:Nothing", "-o", str(out)).code == 2
    assert cli("import", "torchvision.models:resnet18", "-o", str(out), "--weights-out", "w.safetensors").code == 2
    assert not out.exists()
    result = cli("import", "torchvision.models:resnet18", "-o", str(out), "--input", "3x32x32", "-n", "R18")
    assert result.code == 0, result
    assert "network R18 {" in out.read_text() and archlang.check(out) == []


# --------------------------------------------------------------------------- ONNX

def export_resnet18(path: Path, size: int = 64) -> nn.Module:
    model = builder("resnet18")
    randomise_statistics(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the TorchScript exporter's deprecation notice
        # constant folding would fold batch norm into the convs: the file would hold another network
        torch.onnx.export(model, (torch.randn(1, 3, size, size),), str(path), dynamo=False, do_constant_folding=False)
    return model


def test_onnx_resnet18_imports_with_its_parameters_and_onnxruntimes_outputs(tmp_path, cli):
    ort = pytest.importorskip("onnxruntime")
    from safetensors.torch import load_file
    source, spec, weights = tmp_path / "r18.onnx", tmp_path / "r18.arch", tmp_path / "r18.safetensors"
    export_resnet18(source)
    result = cli("import", str(source), "-o", str(spec), "--weights-out", str(weights), "-n", "R18")
    assert result.code == 0, result
    assert archlang.check(spec) == []
    assert archlang.load(spec).network("R18").params_total == 11_689_512
    model = archlang.compile(spec).eval()
    state = load_file(weights)
    assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    assert "momentum" not in spec.read_text() and "eps" not in spec.read_text()   # 0.9 and 1e-05 in float32
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * float(np.abs(expected).max()))


class Small(nn.Module):
    """A block of torchvision's kind, twice, under a Sequential: names, scopes, a residual."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.blocks = nn.Sequential(Residual(8), Residual(8))
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


class Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(x + self.bn(self.conv(x)))


def test_onnx_from_the_dynamo_exporter_keeps_names_and_outputs(tmp_path):
    """torch.onnx.export's default exporter: names in the nodes' metadata, shape arithmetic
    (Shape, Expand, Concat of constants) computed once, a conv's zero bias it made up dropped."""
    ort = pytest.importorskip("onnxruntime")
    from archlang.importer import read_onnx
    original = Small().eval()
    randomise_statistics(original)
    source = tmp_path / "small.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(original, (torch.randn(1, 3, 8, 8),), str(source), optimize=False, verbose=False)
    result = read_onnx(source, network="Small")
    (tmp_path / "small.arch").write_text(result.text)
    model = archlang.compile(tmp_path / "small.arch").eval()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in result.weights.items()}, strict=True)
    assert set(model.state_dict()) == set(original.state_dict())
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        np.testing.assert_allclose(model(torch.from_numpy(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_corrupt_onnx_file_is_one_error_and_nothing_written(tmp_path, cli):
    source, spec = tmp_path / "bad.onnx", tmp_path / "bad.arch"
    source.write_bytes(b"\x08\x07garbage")
    result = cli("import", str(source), "-o", str(spec), "--weights-out", str(tmp_path / "w.safetensors"))
    assert result.code == 1 and "E701" in result.err and "no valid ONNX model" in result.err, result
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


def test_an_onnx_node_without_an_op_is_named(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    from archlang.importer import read_onnx
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="/act/Relu"), helper.make_node("Erf", ["r"], ["y"], name="/erf/Erf")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])])
    path = tmp_path / "erf.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ImportFailure) as info:
        read_onnx(path)
    (d,) = info.value.diagnostics
    assert "Erf" in d.message and "/erf/Erf" in d.message


# --------------------------------------------------------------------------- the spec's own functions

def test_functional_calls_and_arithmetic_become_ops(tmp_path):
    """F.relu, x * 0.5 + 1, torch.cat and x.mean([2, 3]) in a forward: outputs equal."""
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3, padding=1)
            self.b = nn.Conv2d(3, 2, 1)
            self.fc = nn.Linear(6, 5)

        def forward(self, x):
            y = torch.cat([F.relu(self.a(x)), torch.sigmoid(self.b(x))], dim=1)
            y = F.max_pool2d(y * 0.5 + 1, 2)
            return self.fc(y.mean([2, 3]))

    original = Net().eval()
    path = imported(original, (3, 8, 8), tmp_path)
    model = archlang.compile(path).eval()
    model.load_state_dict(original.state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), original(x), rtol=1e-5, atol=1e-6)
