"""Training memory (archlang/memory.py) against what autograd really keeps.

The oracle: the unique storages `torch.autograd.graph.saved_tensors_hooks`
sees on a forward pass of the compiled module in training, parameters and
buffers left out. Per op (each facet `OpSpec.saves` exactly, on a CPU), and
per spec: every network of specs/ and each file of specs/torchvision/ at two
batch sizes, within the 10% the design promises (they agree exactly today).
Mixed precision is checked against torch.autocast on the CPU (bfloat16).
The peak is a model of the step (no allocator here to compare with on a CPU;
bench/memory.py compares it with torch.cuda.max_memory_allocated on a GPU):
its properties are checked instead.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import archlang  # noqa: E402
from archlang.commands.common import parse_sets  # noqa: E402
from archlang import memory, ops  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.arch"))


def saved_bytes(model, inputs: list, autocast: bool = False) -> int:
    """Bytes of the distinct storages autograd keeps for backward (not parameters or buffers).

    A storage is known by its StorageImpl (`_cdata`), which views and in-place
    results share, on any device: on the meta device too, where nothing is computed.
    """
    own = {t.untyped_storage()._cdata for t in [*model.parameters(), *model.buffers()]}
    seen: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage._cdata not in own:
            seen[storage._cdata] = storage.nbytes()
        return t

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(*inputs)
    return sum(seen.values())


def measured(source, network=None, batch=2, input=None, params=None, autocast=False, device="cpu") -> int:
    """What autograd keeps on a forward pass of the compiled module in training.

    On the meta device, PyTorch runs the same autograd formulas without computing
    anything (what dropout and adaptive pooling save is the CPU's, as the estimate
    with device="cpu" says): whole networks take milliseconds instead of seconds.
    """
    with torch.device(device):   # weights made on the meta device are never drawn
        model = archlang.compile(source, network, input=input, **(params or {}))
    model.train()
    inputs = [torch.randn((batch, *shape), device=device) for _, shape in model.arch_inputs]
    return saved_bytes(model, inputs, autocast)


def estimated(source, network=None, batch=2, input=None, params=None, dtype="fp32") -> memory.Estimate:
    graph = archlang.load(source).network(network, input=input, **(params or {}))
    return memory.estimate(graph, batch=batch, dtype=dtype, device="cpu")


# -- each op's facet, exactly -------------------------------------------------------------

# Layers after a conv (so that their input is a tensor of the graph, as in a network),
# on [4, 6, 6] unless the case gives its own input. Every op of the table must be here.
CASES = {
    "conv": ["conv(3, k=3, p=1)", "conv(4, k=3, s=2, groups=2, bias=false)"],
    "conv_transpose": ["conv_transpose(3, k=3, s=2)"],
    "bn": ["bn", ("input [6]\n linear(5)", "bn")],
    "groupnorm": ["groupnorm(2)"],
    "layernorm": ["layernorm", ("input [6]\n linear(5)", "layernorm")],
    "relu": ["relu"], "relu6": ["relu6"], "sigmoid": ["sigmoid"], "tanh": ["tanh"],
    "gelu": ["gelu", 'gelu(approximate="tanh")'], "hardswish": ["hardswish"], "hardsigmoid": ["hardsigmoid"],
    "silu": ["silu"], "elu": ["elu"], "leaky_relu": ["leaky_relu(0.2)"], "softmax": ["softmax"],
    "dropout": ["dropout(0.3)", "dropout(0)", "dropout(1)"],
    "stochastic_depth": ["stochastic_depth(0.2)", 'stochastic_depth(0.2, mode="batch")', "stochastic_depth(0)"],
    "maxpool": ["maxpool(2)", "maxpool(3, s=2, p=1, ceil=true)"],
    "avgpool": ["avgpool(2)"],
    "gap": ["gap"],
    "adaptive_avgpool": ["adaptive_avgpool(3)", "adaptive_avgpool(1)"],
    "flatten": ["flatten linear(3)", "maxpool(2) flatten"],
    "linear": [("input [6]\n linear(5)", "linear(3)")],
    "channel_linear": ["channel_linear(5)", ("input [6]\n linear(5)", "channel_linear(3)")],
    "channel_shuffle": ["channel_shuffle(2)"],
    "scale_shift": ["scale_shift([1, 2, 3, 4], 0.5)"],
    "upsample": ["upsample(2)", 'upsample(2, mode="bilinear")'],
    "lrn": ["lrn(3)", "lrn(2)"],
    "concat": ["concat { | relu | conv(2, k=1) }"],
    "add": ["add { | sigmoid | conv(4, k=1) }", "relu add { | identity | conv(4, k=1) relu }"],
    "mul": ["mul { | sigmoid | conv(4, k=1) }", "mul { | relu | gap conv(4, k=1) sigmoid }"],
    # A parameter is no activation: mul keeps it for backward, but as the parameter it is.
    "parameter": [("input [4, 6, 6]\n y = conv(4, k=1)\n g = parameter([4, 1, 1], fill=0.5)", "mul(y, g)")],
    "chunk": ["chunk(2, index=1) conv(2, k=1)", "chunk(4, index=0) sigmoid"],
    "crop": [("input x: [4, 8, 8]\n s = x -> conv(4, k=3)", "x -> conv(4, k=1) crop(like=s) sigmoid"),
             ("input x: [4, 10, 10]\n s = x -> conv(4, k=5)", "x -> conv(4, k=1) crop(like=s) conv(2, k=3)")],
    "resize": [("input x: [4, 6, 6]\n s = x -> conv(4, k=3)", "s -> conv(4, k=1) resize(like=x) sigmoid"),
               ("input x: [4, 7, 5]\n s = x -> conv(4, k=3)",
                's -> conv(4, k=1) resize(like=x, mode="bicubic") conv(2, k=1)')],
}


def case_spec(case) -> str:
    head, layers = case if isinstance(case, tuple) else ("input [4, 6, 6]\n conv(4, k=1)", case)
    return f"network Case {{\n {head}\n {layers}\n}}\n"


def test_every_op_has_a_memory_case_and_declares_its_facets():
    assert set(CASES) == set(ops.OPS), "ops without a memory case: " + ", ".join(sorted(set(ops.OPS) - set(CASES)))
    for name, spec in ops.OPS.items():
        assert spec.saves is not None and spec.reads is not None and spec.flops is not None, name
        assert spec.autocast in ("", "lower", "fp32"), name


@pytest.mark.parametrize("case", [c for cases in CASES.values() for c in cases],
                         ids=lambda c: c if isinstance(c, str) else c[1] + " on [F]")
def test_each_op_saves_what_autograd_keeps(case):
    spec = case_spec(case)
    assert estimated(spec).activations_saved == measured(spec) == measured(spec, device="meta")


# -- whole specs, two batch sizes -------------------------------------------------------------

def _torchvision_cases() -> list:
    """Each file of specs/torchvision/ at its first builder's settings and small input."""
    seen, cases = set(), []
    with open(ROOT / "specs" / "torchvision" / "models.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["file"] in seen:
                continue
            seen.add(row["file"])
            params = parse_sets(row["settings"].split())   # as --set reads them: lists, strings too
            size = [int(v) for v in row["input"].split("x")]
            cases.append(pytest.param(ROOT / "specs" / "torchvision" / row["file"], row["network"], [3, *size],
                                      params, id=row["builder"]))
    return cases


def _spec_cases() -> list:
    return [pytest.param(spec, name, None, {}, id=f"{spec.stem}.{name}")
            for spec in SPECS for name in archlang.load(spec).networks]


@pytest.mark.parametrize("spec, network, input, params", _spec_cases() + _torchvision_cases())
def test_saved_activations_within_ten_percent_at_two_batch_sizes(spec, network, input, params):
    for batch in (2, 3):
        want = measured(spec, network, batch, input, params, device="meta")
        got = estimated(spec, network, batch, input, params).activations_saved
        assert abs(got - want) <= 0.10 * want, f"batch {batch}: estimated {got:,}, autograd keeps {want:,}"


@pytest.mark.parametrize("spec, network", [("specs/tv_resnet18.arch", None), ("specs/googlenet.arch", None),
                                           ("specs/lenet_bn.arch", None), ("specs/d2l_blocks.arch", "DenseAndTransition")])
def test_mixed_precision_against_autocast(spec, network):
    """bf16: 16-bit activations, 16-bit copies of conv and linear weights and of 32-bit inputs."""
    want = measured(ROOT / spec, network, 2, autocast=True)
    got = estimated(ROOT / spec, network, 2, dtype="bf16").activations_saved
    assert abs(got - want) <= 0.10 * want, f"estimated {got:,}, autograd keeps {want:,} under autocast"


# -- the step: properties of the peak ------------------------------------------------------------

def test_the_parts_and_the_peak_hold_together():
    graph = archlang.load(ROOT / "specs" / "tv_resnet18.arch").network()
    sgd, adam = (memory.estimate(graph, batch=8, optimizer=o) for o in ("sgd", "adam"))
    params = 4 * graph.params_total
    assert (sgd.params, sgd.grads, sgd.optimizer_state, adam.optimizer_state) == (params, params, 0, 2 * params)
    assert memory.estimate(graph, optimizer="sgd-momentum").optimizer_state == params
    for m in (sgd, adam):
        # at the end of the forward pass everything saved is held with the weights and their state
        assert m.peak_estimate >= m.params + m.optimizer_state + m.activations_saved
        assert m.peak_estimate <= m.total + m.params   # never more than all of it (plus a step's temporaries)
    assert adam.peak_estimate - sgd.peak_estimate >= 2 * params


def test_saved_activations_grow_linearly_with_the_batch():
    graph = archlang.load(ROOT / "specs" / "googlenet.arch").network()
    a, b, c = (memory.estimate(graph, batch=n).activations_saved for n in (1, 2, 5))
    assert b - a == (c - b) // 3 > 0


def test_largest_batch_is_the_last_that_fits():
    graph = archlang.load(ROOT / "specs" / "tv_resnet18.arch").network()
    m = memory.estimate(graph, batch=32, optimizer="adam")
    for budget in (10**9, 24 * 10**9, 3 * 10**8):
        n = m.largest_batch(budget)
        assert m.peak_at(n) <= budget < m.peak_at(n + 1)
    assert m.largest_batch(10**6) == 0             # the weights alone do not fit


def test_budget_sizes_parse():
    assert memory.parse_bytes("24GB") == 24 * 10**9
    assert memory.parse_bytes("24 GiB") == 24 * 2**30
    assert memory.parse_bytes("1.5tb") == 15 * 10**11
    for bad in ("", "GB", "24 parsecs", "0B", "-1GB"):
        with pytest.raises(ValueError):
            memory.parse_bytes(bad)


# -- the command ----------------------------------------------------------------------------------

def test_shapes_train_adds_saved_column_memory_object_and_budget_footer(cli):
    result = cli("shapes", "specs/lenet_bn.arch", "--train", "--batch", "64", "--optimizer", "adam",
                 "--budget", "1MB")
    assert result.code == 0, result
    assert "Saved" in result.out.splitlines()[2]
    assert "Training memory (batch 64, adam, fp32)" in result.out
    assert "Does NOT fit in the budget of 1.0 MB" in result.out
    fits = cli("shapes", "specs/lenet_bn.arch", "--train", "--budget", "24GiB")
    assert "Fits in the budget of 25.8 GB" in fits.out
    data = json.loads(cli("shapes", "specs/lenet_bn.arch", "-f", "json", "--train", "-b", "64", "--optimizer",
                          "adam", "--budget", "1MB").out)
    mem = data["memory"]
    assert list(mem) == ["settings", "params", "grads", "optimizer", "activations_saved", "peak_estimate", "total",
                         "budget", "fits", "largest_batch"]
    assert mem["settings"] == {"batch": 64, "optimizer": "adam", "dtype": "fp32", "device": "cuda"}
    assert mem["fits"] is False and mem["budget"] == 10**6
    assert mem["total"] == mem["params"] + mem["grads"] + mem["optimizer"] + mem["activations_saved"]
    layers = [r for r in data["layers"] if r["kind"] == "layer"]
    assert sum(r["saved"] for r in layers) == mem["activations_saved"]


@pytest.mark.parametrize("argv, message", [
    (["--batch", "8"], "--batch is for the training estimate: add --train"),
    (["--train", "--budget", "lots"], "--budget: expected a size"),
    (["--train", "--batch", "0"], "--batch must be at least 1"),
    (["--columns", "saved"], "the saved column needs --train"),
    (["--columns", "rff"], "no column 'rff' (did you mean 'rf'?)"),
])
def test_training_flags_usage_errors(cli, argv, message):
    result = cli("shapes", "specs/lenet.arch", *argv)
    assert result.code == 2 and message in result.err, result
