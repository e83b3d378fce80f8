"""FLOPs (OpSpec.flops, passes.count) and the counters users compare them with.

archlang's convention (docs/design.md, "FLOPs"): 2 per MAC, one per output
element for a bias, the norms, activations, pooling and adds by their own
rules. Checked two ways:

- per op, on the case of every op of the table (tests/test_memory.py's
  CASES): torch.utils.flop_counter.FlopCounterMode, which counts the
  convolutions and matrix products of the compiled module, equals
  2 x archlang's MACs, and archlang's FLOPs are at least that;
- the explanations the docs give for torchinfo, fvcore and ptflops, on a
  small network with every kind of difference (biases, batch norm, ReLU,
  max and adaptive pooling): each counter's total equals the formula the
  docs state, computed from archlang's per-layer rows.
"""
from __future__ import annotations

import contextlib
import io
import logging

import pytest

torch = pytest.importorskip("torch")

import archlang  # noqa: E402
from archlang.shapes import numel  # noqa: E402
from test_memory import CASES, case_spec  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("op", sorted(CASES))
def test_flop_counter_sees_two_flops_per_mac(op):
    from torch.utils.flop_counter import FlopCounterMode

    for case in CASES[op]:
        spec = case_spec(case)
        graph = archlang.load(spec).network()
        model = archlang.compile(spec).eval()
        inputs = [torch.randn((2, *shape)) for _, shape in model.arch_inputs]
        with FlopCounterMode(display=False) as counter:
            model(*inputs)
        assert counter.get_total_flops() == 2 * 2 * graph.macs_total, case   # batch 2
        for node in graph.layers():
            assert node.flops >= 2 * node.macs, (case, node.name)


SMALL = """network Small {
  input [3, 32, 32]
  conv(16, k=3, p=1) bn relu maxpool(3, s=2, p=1)
  add { | conv(16, k=3, p=1, bias=false) bn relu | identity }
  adaptive_avgpool(2) flatten linear(10)
}
"""


def _parts(graph) -> dict[str, int]:
    """The sums each explanation in the docs uses, from archlang's rows."""
    out = {"macs": graph.macs_total, "bias": 0, "bn_elements": 0, "bn_params": 0, "relu": 0, "pool_inputs": 0}
    for node in graph.layers():
        if node.op in ("conv", "linear") and node.args.get("bias"):
            out["bias"] += numel(node.shape)
        elif node.op == "bn":
            out["bn_elements"] += numel(node.shape)
            out["bn_params"] += node.params
        elif node.op == "relu":
            out["relu"] += numel(node.shape)
        elif node.op in ("maxpool", "adaptive_avgpool"):
            out["pool_inputs"] += numel(graph[node.inputs[0]].shape)
    return out


@pytest.fixture(scope="module")
def small():
    graph = archlang.load(SMALL).network()
    model = archlang.compile(SMALL).eval()
    return graph, model, _parts(graph)


def test_torchinfo_counts_biases_and_batch_norm_parameters(small):
    torchinfo = pytest.importorskip("torchinfo")
    graph, model, p = small
    stats = torchinfo.summary(model, (1, 3, 32, 32), verbose=0)
    assert stats.total_mult_adds == p["macs"] + p["bias"] + p["bn_params"]


def test_fvcore_counts_batch_norm_and_adaptive_pooling(small):
    fvcore = pytest.importorskip("fvcore.nn")
    graph, model, p = small
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    analysis = fvcore.FlopCountAnalysis(model, torch.randn(1, 3, 32, 32))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    adaptive = numel(next(graph[n.inputs[0]].shape for n in graph.layers() if n.op == "adaptive_avgpool"))
    assert analysis.total() == p["macs"] + 2 * p["bn_elements"] + adaptive


def test_ptflops_counts_relu_and_pooling_twice_with_its_pytorch_backend(small):
    ptflops = pytest.importorskip("ptflops")
    graph, model, p = small

    def count(backend: str) -> int:
        with contextlib.redirect_stdout(io.StringIO()):
            macs, _ = ptflops.get_model_complexity_info(model, (3, 32, 32), as_strings=False,
                                                        print_per_layer_stat=False, backend=backend)
        return int(macs)

    assert count("aten") == p["macs"] + p["bias"]
    # the module's hook, then the hook on the functional the module calls (F.relu, F.max_pool2d)
    assert count("pytorch") == (p["macs"] + p["bias"] + 2 * p["bn_elements"]
                                + 2 * p["relu"] + 2 * p["pool_inputs"])
