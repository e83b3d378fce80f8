"""archlang.compile: the runtime nn.Module.

Every spec runs forward and backward with the shapes the checker predicted;
errors are SpecErrors; batch norm follows PyTorch's conventions as the spec
writes them; the module survives what training code does to a model (deepcopy,
pickle into another process, TorchScript, torch.export, channels_last,
autocast, torch.compile).
"""
from __future__ import annotations

import copy
import inspect
import linecache
import pickle
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import pytest
import torch
from torch import nn

import archlang
from archlang import ops, shapes
from archlang.backends import torch_common, torch_module

ROOT = Path(__file__).resolve().parent.parent
# Every network of every spec: (file name, network name).
NETWORKS = [(p.name, name) for p in sorted((ROOT / "specs").glob("*.arch")) for name in archlang.load(p).networks]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def graph_of(spec: str, network: str | None = None, **params):
    return archlang.load(ROOT / "specs" / spec).network(network, **params)


def inputs_for(graph) -> list[torch.Tensor]:
    """Two samples: batch norm in training needs more than one value per channel."""
    torch.manual_seed(0)
    return [torch.randn(2, *graph.nodes[p.node].shape) for p in graph.inputs]


# -- every spec: forward, backward, shapes at run time equal the checker's ---------

def assert_runs_as_checked(graph) -> None:
    """Forward and backward; every layer's input and output shapes equal the checker's."""
    torch.manual_seed(0)
    model = torch_module.build_module(graph)
    paths = torch_common.module_paths(torch_common.plan(graph))
    by_path = {path: graph.nodes[node_id] for node_id, path in paths.items() if graph.nodes[node_id].op != "parameter"}
    # a parameter is no module: the parameter of its block's module at its path, of its shape
    declared = dict(model.named_parameters())
    for node_id, path in paths.items():
        if graph.nodes[node_id].op == "parameter":
            assert tuple(declared[path].shape) == graph.nodes[node_id].shape, path
    seen: dict[str, tuple] = {}

    def record(name):
        def hook(module, args, output):
            seen[name] = (tuple(tuple(a.shape[1:]) for a in args), tuple(output.shape[1:]))
        return hook

    for name, module in model.named_modules():
        if name in by_path:
            module.register_forward_hook(record(name))
    out = model(*inputs_for(graph))
    outs = out if isinstance(out, tuple) else (out,)
    sum(o.float().square().mean() for o in outs).backward()

    assert set(seen) == set(by_path), "every layer of the graph is a module that runs"
    for name, (in_shapes, out_shape) in seen.items():
        node = by_path[name]
        assert out_shape == node.shape, f"{name}: ran {out_shape}, checker said {node.shape}"
        assert in_shapes == tuple(graph.nodes[i].shape for i in node.inputs), name
    assert [tuple(o.shape[1:]) for o in outs] == graph.output_shapes()
    params = list(model.parameters())
    assert sum(p.numel() for p in params) == graph.params_total
    assert all(p.grad is not None for p in params), "every parameter takes part in the loss"


@pytest.mark.parametrize(("spec", "network"), NETWORKS)
def test_spec_runs_with_the_checked_shapes(spec, network):
    assert_runs_as_checked(graph_of(spec, network))


EVERY_OP = textwrap.dedent("""\
    network Images {
        input [3, 12, 12]
        conv(8, k=3, p=1) bn relu
        a = cur -> conv(8, k=[1, 3], p=[0, 1], groups=2, bias=false) relu6
        b = cur -> maxpool(3, s=1, p=1) avgpool(3, s=1, p=1, ceil=true) lrn(3) sigmoid
        c = add(a, b) -> tanh gelu
        d = cat(c, a) -> conv(4, k=3, p="same", d=2) silu elu leaky_relu(0.2)
        e = d -> upsample(2, mode="bilinear") maxpool(2) adaptive_avgpool([3, 3])
        f = e -> gap flatten linear(6) bn dropout(0.25) softmax
        g = e -> conv_transpose(4, k=3, s=2, p=1, output_padding=1, groups=2) groupnorm(2) layernorm(eps=1e-6)
        g2 = g -> channel_linear(6) gelu(approximate="tanh") hardswish channel_shuffle(3) stochastic_depth(0.2)
        g3 = g2 -> scale_shift([1, 2, 3, 4, 5, 6], 0.5) hardsigmoid
        h = f -> layernorm channel_linear(3, bias=false)
        m = mul(e, e -> gap sigmoid)
        scale = parameter([4, 1, 1], fill=0.5)
        bias = parameter([4, 3, 3])
        m2 = mul(scale, e) -> scale_shift(2.0)
        m3 = add(m2, bias)
        p, q = e -> chunk(2)
        r = cat(q, p -> chunk(2, index=1))
        k = d -> crop(like=g)
        z = e -> resize(like=d, mode="bicubic")
        output f, e, g3, h, m, r, k, z, m3
    }
    network Sequences {
        input [4, 16]
        conv(6, k=3, s=2) bn relu maxpool(2) upsample(2, mode="linear") gap flatten linear(2)
    }
    network SequencesUp {
        input [4, 16]
        conv_transpose(6, k=4, s=2, p=1) layernorm channel_shuffle(2) stochastic_depth(0.5, mode="batch")
    }
    network Volumes {
        input [2, 4, 6, 6]
        conv(3, k=3, p=1) bn leaky_relu avgpool(2) adaptive_avgpool(1) flatten linear(2, bias=false)
    }
    network VolumesUp {
        input [2, 4, 6, 6]
        conv_transpose(4, k=[2, 3, 1], s=[2, 1, 1], d=[1, 2, 1]) groupnorm(4, affine=false) scale_shift(2.0)
    }
""")


def test_every_op_of_the_table_at_every_rank_runs_as_checked():
    program = archlang.load(EVERY_OP)
    graphs = [program.network(name) for name in program.networks]
    used = {n.op for g in graphs for n in g.layers()}
    assert used == set(ops.OPS), f"add the new ops to EVERY_OP: {sorted(set(ops.OPS) - used)}"
    for graph in graphs:
        assert_runs_as_checked(graph)


def test_every_op_of_the_table_scripts():
    # TorchScript refuses `super().forward`, which torch_layers.ChannelLinear once used.
    # (torch.export of the layers torch.nn lacks: test_torch_layers.py.)
    program = archlang.load(EVERY_OP)
    for name in program.networks:
        graph = program.network(name)
        model = torch_module.build_module(graph)
        xs = inputs_for(graph)
        with pytest.warns(FutureWarning):  # deprecated in favour of torch.export, still used
            scripted = torch.jit.script(model)
        for training in (True, False):
            model.train(training)
            scripted.train(training)
            torch.manual_seed(3)  # dropout and stochastic depth draw the same masks
            expected = model(*xs)
            torch.manual_seed(3)
            torch.testing.assert_close(scripted(*xs), expected, rtol=0, atol=0, msg=name)


def test_compile_api_returns_a_module_with_ports():
    model = archlang.compile(ROOT / "specs" / "lenet_bn.arch", classes=7)
    assert isinstance(model, nn.Module)
    assert model.arch_inputs == [(model.arch_inputs[0][0], (1, 28, 28))]
    assert [shape for _, shape in model.arch_outputs] == [(7,)]
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 7)


def test_module_paths_are_the_graph_names():
    graph = graph_of("tv_resnet18.arch")
    model = torch_module.build_module(graph)
    layers = {n.name for n in graph.layers() if n.op not in torch_common.MERGES}
    leaves = {name for name, m in model.named_modules() if not list(m.children())}
    assert leaves == layers
    assert "layer2.basicblock1.downsample.conv1.weight" in model.state_dict()


def test_instances_of_a_block_share_its_class():
    model = archlang.compile(ROOT / "specs" / "tv_resnet18.arch")
    blocks = {name: type(m) for name, m in model.named_modules() if name.count(".") == 1 and name.startswith("layer")}
    assert len(blocks) == 8
    # Widths, strides and the projection are the constructor's arguments: one class for all eight.
    assert len(set(blocks.values())) == 1
    assert model.layer2.basicblock1.downsample is not None and model.layer2.basicblock2.downsample is None
    assert model.layer3.basicblock1.conv1.stride == (2, 2) and model.layer3.basicblock2.conv1.stride == (1, 1)


# -- errors ------------------------------------------------------------------------

def test_spec_with_errors_raises_spec_error_with_diagnostics():
    text = "network N {\n    input [3, 8, 8]\n    conv(4, k=3) linear(10)\n}\n"
    with pytest.raises(archlang.SpecError) as info:
        archlang.compile(text)
    codes = [d.code for d in info.value.diagnostics]
    assert "E306" in codes
    assert "error[E306]" in str(info.value) and "-->" in str(info.value)


def test_symbolic_input_builds_and_runs_at_any_size():
    text = "network N {\n    input [3, H, W]\n    conv(8, k=3, p=1) bn relu maxpool(2) gap flatten linear(5)\n}\n"
    model = archlang.compile(text)
    for size in (8, 13, 32):
        assert model(torch.randn(2, 3, size, size + 2)).shape == (2, 5)


def test_symbolic_layer_argument_is_a_located_error():
    # The checker rejects a symbolic argument first (E204); the backend still refuses one
    # by itself, naming the layer, rather than building a module from a formula.
    graph = archlang.load("network N {\n    input [3, H, W]\n    avgpool(2)\n}\n").network()
    pool = graph.layers()[0]
    pool.args = {**pool.args, "k": shapes.Expr.symbol("H")}
    with pytest.raises(archlang.SpecError) as info:
        torch_module.build_module(graph)
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.span.line) == ("E211", 3)
    assert "H" in diag.message and "--input" in diag.help


# -- batch norm as the notes teach it -----------------------------------------------

def test_batch_norm_uses_batch_statistics_in_training_and_running_ones_in_eval():
    text = "network N {\n    input [4, 5, 5]\n    bn(eps=1e-3, momentum=0.25)\n}\n"
    model = archlang.compile(text)
    norm = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert (norm.eps, norm.momentum) == (1e-3, 0.25)
    x = torch.randn(6, 4, 5, 5) * 3 + 2
    y = model(x)
    mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
    expected = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + 1e-3)
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-4)
    # PyTorch's convention: running = (1 - momentum) * running + momentum * batch (unbiased var).
    torch.testing.assert_close(norm.running_mean, 0.25 * mean)
    torch.testing.assert_close(norm.running_var, 0.75 + 0.25 * x.var(dim=(0, 2, 3), unbiased=True))
    model.eval()
    expected = (x - norm.running_mean[None, :, None, None]) / torch.sqrt(norm.running_var[None, :, None, None] + 1e-3)
    torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4)


def test_bn_after_linear_is_batchnorm1d():
    model = archlang.compile(ROOT / "specs" / "lenet_bn.arch")
    kinds = [type(m).__name__ for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert kinds == ["BatchNorm2d", "BatchNorm2d", "BatchNorm1d", "BatchNorm1d"]


# -- several inputs and outputs ------------------------------------------------------

TWO_PORTS = textwrap.dedent("""\
    network Two {
        input a: [3, 8, 8]
        input b: [5, 8, 8]
        f = a -> conv(4, k=1)
        g = cat(f, b) -> conv(2, k=3, p=1)
        h = add(f, f) -> gap flatten
        output g, h
    }
""")


def test_inputs_in_declared_order_and_a_tuple_of_outputs():
    model = archlang.compile(TWO_PORTS).eval()
    a, b = torch.randn(2, 3, 8, 8), torch.randn(2, 5, 8, 8)
    g, h = model(a, b)
    assert g.shape == (2, 2, 8, 8) and h.shape == (2, 4)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    f = convs[0](a)
    torch.testing.assert_close(g, convs[1](torch.cat([f, b], dim=1)))
    torch.testing.assert_close(h, (f + f).mean(dim=(2, 3)))
    assert [name for name, _ in model.arch_inputs] == ["a", "b"]


# -- in place where it is safe -----------------------------------------------------

IN_PLACE_TRAPS = textwrap.dedent("""\
    network Traps {
        input [4, 6, 6]
        a = conv(4, k=3, p=1)
        b = a -> conv(4, k=1)       # this conv saves a for its backward
        c = add(a, b) -> relu       # so the add writes into b; its result dies at the relu: in place
        d = c -> sigmoid relu       # sigmoid's backward reads its output: not in place
        e = add(d, d) -> bn
        f = e -> flatten            # a view of e, returned
        g = e -> relu               # so this relu must not overwrite e
        h = add(g, c)
        output f, g, h
    }
""")


def test_in_place_steps_change_neither_values_nor_gradients():
    model = archlang.compile(IN_PLACE_TRAPS)
    assert [m.inplace for m in model.modules() if isinstance(m, nn.ReLU)] == [True, False, False]
    conv1, conv2, norm = model.conv1, model.conv2, model.bn1
    x = torch.randn(3, 4, 6, 6, requires_grad=True)
    outs = model(x)
    sum(o.sum() * (i + 1) for i, o in enumerate(outs)).backward()
    got = [o.detach() for o in outs] + [x.grad, conv1.weight.grad, conv2.weight.grad]

    model.zero_grad()
    x.grad = None
    a = conv1(x)
    c = torch.relu(a + conv2(a))
    e = norm(2 * torch.relu(torch.sigmoid(c)))
    f, g = e.flatten(1), torch.relu(e)
    expected = [f, g, g + c]
    sum(o.sum() * (i + 1) for i, o in enumerate(expected)).backward()
    for mine, theirs in zip(got, [o.detach() for o in expected] + [x.grad, conv1.weight.grad, conv2.weight.grad]):
        torch.testing.assert_close(mine, theirs)


# -- what training code does to a model ----------------------------------------------

@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    model = archlang.compile(ROOT / "specs" / "resnet18.arch").eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        y = model(x)
    return model, x, y


def test_deepcopy_is_independent_and_equal(resnet):
    model, x, y = resnet
    twin = copy.deepcopy(model)
    assert type(twin) is type(model)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), y)
        next(twin.parameters()).add_(1.0)
    assert not torch.equal(next(twin.parameters()), next(model.parameters()))


def test_pickle_loads_in_a_fresh_process(resnet, tmp_path):
    model, x, y = resnet
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    torch.save({"x": x, "y": y}, tmp_path / "data.pt")
    script = textwrap.dedent(f"""
        import pickle, torch
        model = pickle.loads(open({str(tmp_path / 'model.pkl')!r}, 'rb').read())
        data = torch.load({str(tmp_path / 'data.pt')!r})
        with torch.no_grad():
            torch.testing.assert_close(model(data["x"]), data["y"])
        print(type(model).__name__)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == type(model).__name__


def test_torchscript_and_export(resnet):
    model, x, y = resnet
    with pytest.warns(FutureWarning):  # deprecated in favour of torch.export, still used
        scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), y)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), y)


def test_channels_last_gives_the_same_outputs(resnet):
    model, x, y = resnet
    twin = copy.deepcopy(model).to(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(twin(x.to(memory_format=torch.channels_last)), y, rtol=1e-4, atol=1e-5)


def test_bf16_autocast_on_cpu(resnet):
    model, x, y = resnet
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), y, rtol=0.1, atol=0.1)


def test_tracebacks_show_the_generated_line_and_its_spec_line():
    model = archlang.compile(ROOT / "specs" / "lenet_bn.arch")
    linecache.clearcache()  # the source comes back from the module's loader
    with pytest.raises(RuntimeError) as info:
        model(torch.randn(2, 3, 28, 28))  # three channels where the spec says one
    frames = [f for f in traceback.extract_tb(info.tb) if f.filename.startswith("<archlang>/")]
    assert [f.line.split("  #")[0] for f in frames] == ["x = self.conv1(x)"]
    # The spec's place is the line's comment, or the comment above it where the line would be
    # too long (a long checkout path): either way it is what the reader sees beside the frame.
    lines = linecache.getlines(frames[0].filename)
    shown = lines[frames[0].lineno - 1] + lines[frames[0].lineno - 2]
    assert f"# (N, 6, 24, 24)  {ROOT}/specs/lenet_bn.arch:15" in shown
    assert "def forward(self, x):" in inspect.getsource(type(model))


def test_distributed_data_parallel_trains(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        model = nn.parallel.DistributedDataParallel(archlang.compile(ROOT / "specs" / "lenet_bn.arch"))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0]
    finally:
        dist.destroy_process_group()


def test_torch_compile_matches_eager():
    torch.manual_seed(0)
    model = archlang.compile(ROOT / "specs" / "lenet_bn.arch").eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(torch.compile(model)(x), expected, rtol=1e-4, atol=1e-5)
