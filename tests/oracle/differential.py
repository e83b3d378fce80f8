"""One generated program through every path, each compared with the oracle.

`check(case, workdir)` returns the disagreements, each a `Disagreement`
(a stable `kind` for counting and shrinking, and the details). Paths:

- the front end (`archlang.load`, `Program.elaborate`, what `archlang check`
  runs): accepted exactly when the model accepts, else the first error is
  the model's code; the layers, their order, inputs, arguments and shapes are
  the model's; at symbolic sizes, every shape evaluates to the concrete one
  and every recorded condition holds;
- `archlang shapes --format json` (in process; the real CLI with
  `cli=True`): op, output shape, params and MACs of every layer, params
  equal to the interpreter's tensors;
- the reference interpreter: every node's actual shape is the IR's; a
  checked spec that torch cannot run is a disagreement;
- `archlang.compile`: loads the interpreter's weights with
  `load_state_dict(strict=True)`, every layer's module is called once and
  gives the interpreter's value, outputs agree in eval and train mode
  (train where nothing is random), running statistics agree after a
  training step, the input is untouched, and a training-mode backward works
  and gives the interpreter's gradients;
- `archlang build` (`build=True`): the file, executed, loads the same
  weights and gives the same outputs;
- `archlang export` (`onnx=True`, `fold_bn=True` for `--fold-bn`): the file,
  run in onnxruntime with the interpreter's weights (batch-norm statistics far
  from 0 and 1), gives the interpreter's outputs.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import runpy
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

import archlang
from archlang import cli, ops
from archlang.backends import table
from archlang.diagnostics import SpecError
from archlang.shapes import evaluate, shape_json

from term_check import check_terms

from .generator import Case
from .interpreter import Interpreter, key as state_key
from .model import Input, literal

ROOT = Path(__file__).resolve().parents[2]
RTOL, ATOL = 1e-7, 1e-9          # float64 against float64: the same ops, maybe another order of sums
ONNX_TOL = 1e-4                  # float32 in onnxruntime against the float64 oracle


@dataclass(frozen=True)
class Disagreement:
    kind: str          # stable: what to count and what a shrunk case must still show
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class _Found(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.disagreement = Disagreement(kind, detail)


@dataclass(frozen=True)
class Invocation:
    """Which network of the file, at which sizes and settings (`--network`, `--input`, `--set`)."""

    network: str | None = None
    input: list | None = None
    params: tuple = ()                 # (name, value) pairs

    def args(self) -> list[str]:
        """The options that run it from the command line."""
        out = ["--network", self.network] if self.network else []
        if self.input:
            out += ["--input", "x".join(str(v) for v in self.input)]
        for k, v in self.params:
            out += ["--set", f"{k}={literal(v).replace(' ', '')}"]
        return out


def write(files: dict[str, str], workdir: Path) -> Path:
    for rel, text in files.items():
        path = workdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return workdir / "main.arch"


def check(case: Case, workdir: Path, build: bool = True, onnx: bool = False, cli: bool = False,
          fold_bn: bool = False) -> list[Disagreement]:
    """Every disagreement between the paths and the oracle (and the model) for one generated case."""
    found: list[Disagreement] = []
    path = write(case.files, workdir)
    inv = Invocation(case.network, case.input, tuple(case.params.items()))
    try:
        graph = _front_end(case, path, found)
        if graph is None:
            return found
        _symbolic(case, path, found)
        _runtime(graph, path, workdir, inv, found, build, onnx, cli, fold_bn)
    except _Found as stop:
        found.append(stop.disagreement)
    return found


def check_spec(spec: str | dict[str, str], workdir: Path, inv: Invocation = Invocation(), build: bool = True,
               onnx: bool = False, cli: bool = False, fold_bn: bool = False) -> list[Disagreement]:
    """Every disagreement between the paths and the interpreter for a written spec (no model)."""
    found: list[Disagreement] = []
    path = write({"main.arch": spec} if isinstance(spec, str) else spec, workdir)
    try:
        graph = archlang.load(path).network(inv.network, input=inv.input, **dict(inv.params))
        _runtime(graph, path, workdir, inv, found, build, onnx, cli, fold_bn)
    except _Found as stop:
        found.append(stop.disagreement)
    return found


def _runtime(graph, path: Path, workdir: Path, inv: Invocation, found: list[Disagreement], build: bool,
             onnx: bool, cli: bool, fold_bn: bool = False) -> None:
    interp = _interpreter(graph)
    _shapes_json(graph, interp, found)
    if cli:
        _shapes_cli(inv, path, graph, found)
    _compiled(inv, path, graph, interp, found)
    if build:
        _built(inv, path, workdir, graph, interp, found)
    if onnx:
        _exported(inv, path, workdir, graph, interp, found, fold_bn)


# -- the front end ----------------------------------------------------------------------------------

def _front_end(case: Case, path: Path, found: list[Disagreement]):
    """The checked graph at the case's sizes, or None when the spec is (rightly or not) rejected."""
    try:
        program = archlang.load(path)
    except SpecError as err:
        codes = [d.code for d in err.diagnostics if d.is_error]
        _judge_rejection(case, codes, err.diagnostics, found)
        return None
    graph = program.elaborate(case.network, input=case.input, **case.params)
    errors = [d for d in graph.diagnostics if d.is_error]
    if errors:
        _judge_rejection(case, [d.code for d in errors], errors, found)
        return None
    if case.error is not None:
        try:
            _interpreter(graph)
            runs = "torch runs it"
        except _Found as found_torch:
            runs = found_torch.disagreement.detail
        raise _Found("check accepts", f"the model rejects it with {case.outcome.error}, archlang accepts it ({runs})")
    _compare_layers(case, graph)
    return graph


def _judge_rejection(case: Case, codes: list[str], diags, found: list[Disagreement]) -> None:
    first = diags[0]
    text = f"{first.code} {first.message} at {first.span.location() if first.span else '?'}"
    if case.error is None:
        found.append(Disagreement("check rejects", f"the model accepts it; archlang says {text}"))
    elif case.error not in codes:   # archlang reports every independent error, sorted by place
        found.append(Disagreement("rejected otherwise", f"the model expects {case.outcome.error}; archlang says {text}"))


def _compare_layers(case: Case, graph) -> None:
    want = case.outcome.layers
    got = graph.nodes
    for i, (w, g) in enumerate(zip(want, got)):
        shape = tuple(g.shape)
        args = g.args if g.op != "input" else {"shape": tuple(g.args["shape"])}
        if (w.op, w.inputs, w.shape) != (g.op, tuple(g.inputs), shape) or _norm(w.args) != _norm(args):
            raise _Found("layers differ", f"node {i} ({g.name}): the model makes {w.op}{_norm(w.args)} of "
                                          f"{list(w.inputs)} -> {list(w.shape)}; archlang {g.op}{_norm(args)} of "
                                          f"{list(g.inputs)} -> {list(shape)}")
    if len(want) != len(got):
        raise _Found("layers differ", f"the model makes {len(want)} nodes, archlang {len(got)}")
    outputs = [p.node for p in graph.outputs]
    if outputs != case.outcome.outputs:
        raise _Found("outputs differ", f"the model's outputs are nodes {case.outcome.outputs}, archlang's {outputs}")


def _norm(args: dict) -> dict:
    """Arguments compared by value and kind (1 and 1.0 and True differ)."""
    def one(v):
        if isinstance(v, (list, tuple)):
            return tuple(one(x) for x in v)
        return (type(v).__name__, v)
    return {k: one(v) for k, v in sorted(args.items())}


def _symbolic(case: Case, path: Path, found: list[Disagreement]) -> None:
    """At symbolic sizes: the same verdict, shapes that evaluate to the concrete ones, conditions that hold."""
    if case.symbolic is None:
        return
    graph = archlang.load(path).elaborate(case.network, **case.params)
    errors = [d for d in graph.diagnostics if d.is_error]
    want = case.symbolic.error
    if want is not None or errors:
        if want is None:
            found.append(Disagreement("symbolic check rejects", f"{errors[0].code} {errors[0].message}"))
        elif not errors:
            found.append(Disagreement("symbolic check accepts", f"the model rejects it with {want}"))
        elif want.code not in [d.code for d in errors]:
            found.append(Disagreement("symbolic rejected otherwise", f"model {want}; archlang {errors[0].code} "
                                                                     f"{errors[0].message}"))
        return
    inputs = [s for s in case.program.body if isinstance(s, Input)]
    env = {d: v for s in inputs for d, v in zip(s.dims, s.sizes) if isinstance(d, str)}
    for layer, node in zip(case.outcome.layers, graph.nodes):
        got = tuple(evaluate(d, env) for d in node.shape)
        if got != layer.shape:
            found.append(Disagreement("symbolic shape", f"{node.name}: {list(node.shape)} at {env} is {list(got)}, "
                                                        f"the network has {list(layer.shape)} there"))
            return
    for constraint in graph.constraints:
        if not constraint.holds(env):
            found.append(Disagreement("symbolic condition", f"`{constraint.text}` fails at {env}, where the "
                                                            f"network works"))
            return


# -- the interpreter and the table ------------------------------------------------------------------------

def _interpreter(graph) -> Interpreter:
    try:
        interp = Interpreter(graph, seed=0)
        trace = interp.run(interp.inputs(), training=False)
    except Exception as exc:  # noqa: BLE001 - torch refusing a checked spec is the finding
        raise _Found("torch cannot run it", f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from None
    for node in graph.nodes:
        actual = tuple(trace.values[node.id].shape[1:])
        if actual != tuple(node.shape):
            raise _Found("shape differs from torch", f"{node.name} ({node.op}): archlang says {list(node.shape)}, "
                                                     f"torch computes {list(actual)}")
    return interp


def _macs(node, graph, interp: Interpreter) -> int:
    """Multiply-accumulates of the layers with weights (torchinfo's convention: norms count none):
    a conv's every output element reads its weights of one output channel, a linear layer's every
    position all of them, a transposed conv's every input position all of them."""
    weight = interp.tensors.get(f"{node.name}.weight")
    if node.op == "conv":
        return math.prod(node.shape) * math.prod(weight.shape[1:])
    if node.op in ("linear", "channel_linear"):
        return math.prod(node.shape[1:]) * weight.numel()
    if node.op == "conv_transpose":
        return math.prod(graph.nodes[node.inputs[0]].shape[1:]) * weight.numel()
    return 0


def _shapes_json(graph, interp: Interpreter, found: list[Disagreement]) -> None:
    data = table.to_json(graph)
    layers = [n for n in graph.nodes if n.op != "input"]
    rows = [row for row in data["layers"] if row["kind"] == "layer"]   # the block and input rows aside
    if [row["name"] for row in rows] != [n.name for n in layers]:
        found.append(Disagreement("shapes json", "layer names or order differ from the IR"))
        return
    for row, node in zip(rows, layers):
        params, macs = interp.params_of(node), _macs(node, graph, interp)
        if (row["op"], row["output"], row["params"], row["macs"]) != (node.op, shape_json(node.shape), params, macs):
            found.append(Disagreement("shapes json", f"{node.name}: the table says {row['op']} {row['output']} "
                                                     f"params {row['params']} macs {row['macs']}; the oracle "
                                                     f"{node.op} {list(node.shape)} params {params} macs {macs}"))
            return
    total = sum(interp.params_of(n) for n in layers)
    if data["params"] != total:
        found.append(Disagreement("shapes json", f"total params {data['params']}, the oracle's tensors {total}"))


def _shapes_cli(inv: Invocation, path: Path, graph, found: list[Disagreement]) -> None:
    proc = subprocess.run([sys.executable, "-m", "archlang", "shapes", "--format", "json", str(path),
                           *inv.args()], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    if proc.returncode != 0:
        found.append(Disagreement("cli shapes", f"exit {proc.returncode}: {proc.stderr.strip()[:300]}"))
    elif json.loads(proc.stdout) != json.loads(table.dump_json(table.to_json(graph))):
        found.append(Disagreement("cli shapes", "`archlang shapes --format json` differs from the API's table"))


# -- compile --------------------------------------------------------------------------------------------------

def _has_randomness(graph) -> bool:
    return any(n.op in ("dropout", "stochastic_depth") and n.args["p"] > 0 for n in graph.nodes)


def _compiled(inv: Invocation, path: Path, graph, interp: Interpreter, found: list[Disagreement]) -> None:
    try:
        model = archlang.compile(path, inv.network, input=inv.input, **dict(inv.params)).double()
    except Exception as exc:  # noqa: BLE001
        raise _Found("compile fails", f"{type(exc).__name__}: {exc}") from None
    _load(model, interp, "compile")
    _eval_values(model, graph, interp, "compile", found)
    _train_step(model, graph, interp, found)


def _load(model, interp: Interpreter, path_name: str) -> None:
    try:
        model.load_state_dict(interp.state_dict(), strict=True)
    except RuntimeError as exc:
        raise _Found("state_dict keys", f"{path_name}: {str(exc).splitlines()[0]} "
                                        f"{_key_diff(model.state_dict(), interp.tensors)}") from None


def _key_diff(own: dict, oracle: dict) -> str:
    missing = sorted(set(oracle) - set(own))[:3]
    extra = sorted(set(own) - set(oracle))[:3]
    return f"(the IR names {missing} are not in the module; the module has {extra})"


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = RTOL, atol: float = ATOL) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def _eval_values(model, graph, interp: Interpreter, path_name: str, found: list[Disagreement]) -> None:
    """Every layer's output and the network's outputs, in eval mode; the input untouched."""
    model.eval()
    xs = interp.inputs()
    kept = [x.clone() for x in xs]
    seen: dict[str, list[torch.Tensor]] = {}
    handles = []
    for node in graph.nodes:
        if not _has_module(node):
            continue
        try:
            module = model.get_submodule(node.name)
        except AttributeError:
            raise _Found("module names", f"{path_name}: no module {node.name} (the IR's name of a {node.op})") from None
        handles.append(module.register_forward_hook(
            lambda m, i, out, name=node.name: seen.setdefault(name, []).append(out.detach().clone())))
    try:
        with torch.no_grad():
            outputs = _as_list(model(*xs))
    except Exception as exc:  # noqa: BLE001
        raise _Found("module fails", f"{path_name} forward: {type(exc).__name__}: {exc}") from None
    finally:
        for h in handles:
            h.remove()
    for x, k in zip(xs, kept):
        if not torch.equal(x, k):
            raise _Found("input modified", f"{path_name}: forward wrote into the caller's input")
    trace = interp.run(kept, training=False)
    atol = ATOL + _forward_rounding(trace, _norm_gain(graph, trace))
    for node in graph.nodes:
        if not _has_module(node):
            continue
        calls = seen.get(node.name, [])
        if len(calls) != 1:
            raise _Found("layer calls", f"{path_name}: {node.name} ran {len(calls)} times")
        if not _close(calls[0], trace.values[node.id], atol=atol):
            raise _Found("layer value", f"{path_name}: {node.name} ({node.op}) differs by "
                                        f"{_diff(calls[0], trace.values[node.id])}")
    _compare_outputs(outputs, trace.outputs, f"{path_name} eval", found, atol=atol)


def _has_module(node) -> bool:
    """Inputs, merges and views (`OpSpec.expression`) are computed in `forward`, not by a module;
    a block's parameter is a tensor of its module."""
    return node.op != "input" and ops.OPS[node.op].expression is None and not ops.OPS[node.op].parameter


def _as_list(out) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _diff(a: torch.Tensor, b: torch.Tensor) -> str:
    if a.shape != b.shape:
        return f"shape {list(a.shape)} vs {list(b.shape)}"
    return f"{(a - b).abs().max().item():.3g}"


def _compare_outputs(got: list, want: list, where: str, found: list[Disagreement], rtol=RTOL, atol=ATOL) -> None:
    if len(got) != len(want):
        raise _Found("output values", f"{where}: {len(got)} outputs, the oracle {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        g = g.detach().to(w.dtype)
        if not _close(g, w, rtol, atol):
            raise _Found("output values", f"{where}: output {i} differs by {_diff(g, w)}")


def _train_step(model, graph, interp: Interpreter, found: list[Disagreement]) -> None:
    """Training mode: outputs, running statistics, a backward and its gradients, the input untouched."""
    model.train()
    model.load_state_dict(interp.state_dict(), strict=True)
    oracle = copy.copy(interp)
    oracle.tensors = interp.state_dict()
    learnable = {state_key(n, s) for n in graph.nodes for s in interp.slots.get(n.id, []) if s.learnable}
    for key in learnable:
        oracle.tensors[key].requires_grad_(True)
    xs = [x.requires_grad_(True) for x in interp.inputs(seed=2)]
    xs_oracle = [x.detach().clone().requires_grad_(True) for x in xs]
    kept = [x.detach().clone() for x in xs]
    torch.manual_seed(0)
    try:
        outputs = _as_list(model(*xs))
        weights = [torch.randn(o.shape, dtype=o.dtype, generator=torch.Generator().manual_seed(i))
                   for i, o in enumerate(outputs)]
        sum((o * w).sum() for o, w in zip(outputs, weights)).backward()
    except Exception as exc:  # noqa: BLE001
        raise _Found("backward fails", f"training-mode forward and backward: {type(exc).__name__}: "
                                       f"{str(exc).splitlines()[0][:300]}") from None
    for x, k in zip(xs, kept):
        if not torch.equal(x.detach(), k):
            raise _Found("input modified", "compile: the training-mode forward wrote into the caller's input")
    if _has_randomness(graph):
        return
    torch.manual_seed(0)
    trace = oracle.run(xs_oracle, training=True)
    want = trace.outputs
    gain = _norm_gain(graph, trace)   # what the norms amplify rounding by, for the values and the gradients
    _compare_outputs(outputs, want, "compile train", found, atol=ATOL + _forward_rounding(trace, gain))
    for value in trace.values.values():
        if value.requires_grad:
            value.retain_grad()
    sum((o * w).sum() for o, w in zip(want, weights)).backward()
    _compare_gradients(model, oracle, xs, xs_oracle, learnable, _rounding(trace) * gain)
    state = model.state_dict()
    for key, value in oracle.tensors.items():
        if not _close(state[key].to(value.dtype), value.detach(), 1e-6, 1e-8):
            raise _Found("running statistics", f"compile: after a training step {key} differs from the oracle's")


NORMS = frozenset({"bn", "layernorm", "groupnorm"})   # the norms that subtract a mean


def _forward_rounding(trace, gain: float) -> float:
    """How far two correct forward passes may differ in a value: float64's rounding of the largest
    value in every layer, which is nothing in a network of ordinary scale, times what the norms
    amplify it by. A norm divides the noise in its input by sqrt(var + eps): 1 on ordinary data,
    but about 1/sqrt(eps) where what it normalises is one value up to rounding, and its output is
    then noise the next norm amplifies again (seed 2997: norms after a groupnorm of one value per
    group, 6.8e-9 apart after a training step)."""
    values = [v.detach() for v in trace.values.values() if v.numel() and v.is_floating_point()]
    largest = max((float(v.abs().max()) for v in values), default=0.0)
    return largest * len(values) * torch.finfo(torch.float64).eps * gain


def _norm_gain(graph, trace) -> float:
    """What the norms multiply rounding noise by: 1/sqrt(var + eps) each, where that is above 1."""
    gain = 1.0
    for node in graph.nodes:
        if node.op in NORMS and node.inputs and node.inputs[0] in trace.values:
            var = _smallest_variance(trace.values[node.inputs[0]], node.op, node.args)
            gain *= max(1.0, 1.0 / math.sqrt(var + node.args.get("eps", 1e-5)))
    return gain


def _smallest_variance(x: torch.Tensor, op: str, args: dict) -> float:
    """The smallest variance among the sets of values the norm takes a mean and variance over."""
    x = x.detach().double()
    if x.dim() < 2 or not x.numel():
        return math.inf
    if op == "bn":         # per channel, over the batch and the positions
        rows = x.movedim(1, 0).reshape(x.shape[1], -1)
    elif op == "layernorm":  # per sample and position, over the channels
        rows = x.movedim(1, -1).reshape(-1, x.shape[1])
    else:                  # per sample and group of channels
        rows = x.reshape(x.shape[0] * args["groups"], -1)
    return float(rows.var(dim=1, unbiased=False).min())


def _rounding(trace) -> float:
    """How far two correct backward passes may differ in a gradient: float64's rounding of the
    largest gradient of any layer's output, summed over a tensor, in every layer. It is nothing in
    a network of ordinary scale. A norm over equal values (a channel a ReLU zeroed, then its bias) divides their
    rounding noise by sqrt(eps), and a chain of them makes gradients of 1e20 whose differences
    cancel to a bias gradient that is 0 in exact arithmetic: 32768 in one order of summation and
    0 in another are then both right. (The caller multiplies it by what the norms amplify noise
    by: a layernorm over one feature makes its normalised values 0 up to rounding, divided by
    sqrt(eps), and its weight's gradient sums them: seed 76582, 2.9e-8 against 0.)"""
    largest = max((float(v.grad.abs().max()) for v in trace.values.values() if v.grad is not None and v.numel()),
                  default=0.0)
    elements = max((v.numel() for v in trace.values.values()), default=1)
    return largest * elements * len(trace.values) * torch.finfo(torch.float64).eps


def _compare_gradients(model, oracle: Interpreter, xs, xs_oracle, learnable: set[str], rounding: float) -> None:
    atol = 1e-8 + rounding
    for i, (x, y) in enumerate(zip(xs, xs_oracle)):
        if (x.grad is None) != (y.grad is None) or (x.grad is not None and not _close(x.grad, y.grad, 1e-6, atol)):
            raise _Found("gradients", f"compile: the gradient of input {i} differs from the oracle's")
    params = dict(model.named_parameters())
    for key in learnable:
        g, w = params[key].grad, oracle.tensors[key].grad
        if (g is None) != (w is None) or (g is not None and not _close(g, w, 1e-6, atol)):
            raise _Found("gradients", f"compile: the gradient of {key} differs from the oracle's")


# -- build and export --------------------------------------------------------------------------------------------

def _run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(argv)
    return code, err.getvalue()


def _built(inv: Invocation, path: Path, workdir: Path, graph, interp: Interpreter, found: list[Disagreement]) -> None:
    try:   # the terms the built classes compute, at this instance's values, are what elaboration found
        check_terms(graph)
    except AssertionError as wrong:
        raise _Found("terms", str(wrong)[:300]) from None
    out = workdir / "built_model.py"
    code, err = _run_cli(["build", str(path), "-o", str(out), *inv.args()])
    if code != 0:
        raise _Found("build fails", f"exit {code}: {err.strip()[:300]}")
    namespace = runpy.run_path(str(out))
    classes = [v for v in namespace.values() if isinstance(v, type) and hasattr(v, "arch_inputs")]
    model = classes[-1]().double()
    _load(model, interp, "build")
    _eval_values(model, graph, interp, "build", found)


def _exported(inv: Invocation, path: Path, workdir: Path, graph, interp: Interpreter, found: list[Disagreement],
              fold_bn: bool = False) -> None:
    import numpy as np

    from archlang.onnx import session

    weights = workdir / "weights.pt"
    torch.save({k: (v.float() if v.is_floating_point() else v) for k, v in interp.state_dict().items()}, weights)
    out = workdir / "model.onnx"
    fold = ["--fold-bn"] if fold_bn else []
    code, err = _run_cli(["export", str(path), "--onnx", str(out), "--weights", str(weights), *fold, *inv.args()])
    if code != 0:
        raise _Found("export fails", f"exit {code}{' (--fold-bn)' if fold_bn else ''}: {err.strip()[:300]}")
    sess = session(out, ["CPUExecutionProvider"], threads=1)
    xs = interp.inputs(batch=3, seed=3)
    feeds = {i.name: x.float().numpy() for i, x in zip(sess.get_inputs(), xs)}
    got = [torch.from_numpy(np.asarray(o)) for o in sess.run(None, feeds)]
    want = interp.run(xs, training=False).outputs
    scale = max([1.0] + [w.abs().max().item() for w in want if w.numel()])
    where = "onnxruntime" + (" (--fold-bn)" if fold_bn else "")
    _compare_outputs(got, want, where, found, rtol=ONNX_TOL, atol=ONNX_TOL * scale)
