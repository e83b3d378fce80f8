"""One input through every stage a user can reach, bounded in time.

`run_input(data)` writes the bytes to a file (so reading, BOMs, CRLF and
non-UTF-8 bytes take the real path), then does what `check`, `shapes`,
`build` and `render` do: load the program, elaborate each network, render the
diagnostics in every form, make the layer table in every format, draw the
DOT text, and generate the PyTorch source: it must compile and define the
network's class, and (for small networks) build and run on the meta device
with the shapes archlang computed. Only `SpecError` and `UsageError` are
answers; any other exception escaping archlang is a crash, and an input that
runs past its time is a hang.

Each input runs under a wall-clock alarm raising `Timeout`, a BaseException so
that no `except Exception` in archlang can swallow it.
"""
from __future__ import annotations

import ast as python_ast
import contextlib
import hashlib
import json
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from archlang import program
from archlang.backends import graphviz as graphviz_backend
from archlang.backends import table
from archlang.diagnostics import SpecError, UsageError, render_json, render_pretty, render_short
from archlang.limits import Limits

MAX_NETWORKS = 3   # a fuzzed file may hold many networks; the first few are elaborated
# The default bounds but fewer layers: a mutant that repeats a 1,000-layer body
# twenty times is a valid 20,000-layer network, and building and drawing it
# takes seconds on a busy machine. Work is linear in layers; a hang is what is
# not, and the E404 at the bound is exercised the same at 5,000.
FUZZ_LIMITS = Limits(max_layers=5_000)
# Generated modules are run (on the meta device) up to this size; bigger ones
# (mutants of DenseNet-121) are compiled only: running them adds a tenth of a
# second each and finds nothing a small network would not.
RUN_MAX_LAYERS = 120


class Timeout(BaseException):
    """The input ran past its time."""


@dataclass
class Outcome:
    status: str                  # "ok", "crash" or "hang"
    seconds: float
    codes: list[str] = field(default_factory=list)   # the diagnostics' codes, in order
    stage: str = ""              # where it crashed or hung
    error: str = ""              # "ValueError: ..." for a crash
    where: str = ""              # the innermost archlang frame of the crash: "parser.py:512 in _number_value"
    trace: str = ""

    @property
    def signature(self) -> str:
        """What makes two crashes the same bug: the exception type and where it was raised."""
        return f"{self.stage} | {self.error.split(':')[0]} | {self.where}"


class _Stage:
    """Remembers which stage is running, for the report."""

    def __init__(self) -> None:
        self.name = "start"

    def __call__(self, name: str) -> "_Stage":
        self.name = name
        return self


# Every op at every rank, built and run once before any input is timed: torch
# pays for its imports and for the first call of each meta kernel (a second
# and more in all), which under load would read as a hang of whatever input
# came first.
WARM_UP = b"""
network Warm {
    input a: [4, 16]
    input b: [4, 8, 8]
    input c: [4, 4, 4, 4]
    x = a -> conv(4, k=3, p=1) bn relu relu6 sigmoid tanh gelu silu elu leaky_relu softmax dropout(0.1) maxpool(2)
    x2 = x -> avgpool(2, s=1) upsample(2, mode="linear") lrn(3) gap flatten linear(4) bn
    y = b -> conv(4, k=3, p="same") bn maxpool(2, ceil=true) avgpool(2, p=1) adaptive_avgpool([3, 3]) upsample(2)
    y2 = y -> upsample(1.5, mode="bilinear") upsample(2, mode="bicubic") lrn(3) gap flatten linear(4)
    z = c -> conv(4, k=1, groups=2) bn maxpool(2) avgpool(2, s=1) upsample(2, mode="trilinear") adaptive_avgpool(1)
    z2 = z -> flatten linear(4)
    w = cat(x2, y2, z2) -> linear(4)
    v = add(x2, y2, z2) -> layernorm channel_linear(4)
    p = a -> conv_transpose(4, k=2, s=2) groupnorm(2) layernorm channel_linear(4) hardswish hardsigmoid
    p2 = p -> gelu(approximate="tanh") channel_shuffle(2) stochastic_depth(0.1) scale_shift(2.0, 1.0)
    q = b -> conv_transpose(4, k=2, s=2) groupnorm(2) layernorm channel_linear(4) hardswish hardsigmoid
    q2 = q -> gelu(approximate="tanh") channel_shuffle(2) stochastic_depth(0.1) scale_shift(2.0, 1.0)
    r = c -> conv_transpose(4, k=2, s=2) groupnorm(2) layernorm channel_linear(4) hardswish hardsigmoid
    r2 = r -> gelu(approximate="tanh") channel_shuffle(2) stochastic_depth(0.1) scale_shift(2.0, 1.0)
    s1 = a -> crop(like=x) resize(like=a, mode="linear")
    s2 = b -> crop(like=y) resize(like=b)
    c4 = c -> maxpool(2)
    s3 = c -> crop(like=c4) resize(like=c, mode="trilinear")
    m = mul(b, b -> gap sigmoid)
    e, f = b -> chunk(2)
    g = parameter([4, 1, 1], fill=0.5)
    m2 = mul(g, b)
    output w, v, p2, q2, r2, s1, s2, s3, m, e, f, m2
}
"""


def warm_up(workdir: Path) -> None:
    outcome = run_input(WARM_UP, workdir, timeout=600)
    if outcome.status != "ok" or any(c.startswith("E") for c in outcome.codes):
        raise RuntimeError(f"the warm-up spec failed: {outcome.codes} {outcome.error}\n{outcome.trace}")


def run_input(data: bytes, workdir: Path, limits: Limits | None = None, timeout: float = 10.0,
              build: bool = True) -> Outcome:
    """Write `data` to workdir/spec.arch and run it; never raises (but KeyboardInterrupt)."""
    spec = workdir / "spec.arch"
    spec.write_bytes(data)
    return run_file(spec, limits, timeout, build)


def run_file(spec: Path, limits: Limits | None = None, timeout: float = 10.0, build: bool = True) -> Outcome:
    """Run the spec at `spec` (its imports relative to it) through every stage."""
    stage = _Stage()
    codes: list[str] = []
    start = time.perf_counter()
    try:
        with _alarm(timeout):
            _stages(spec, limits or FUZZ_LIMITS, stage, codes, build)
    except Timeout:
        return Outcome("hang", time.perf_counter() - start, codes, stage.name, f"Timeout: over {timeout} s of CPU time")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - anything else escaping archlang is the finding
        return Outcome("crash", time.perf_counter() - start, codes, stage.name,
                       f"{type(exc).__name__}: {_short(str(exc))}", _innermost(exc), _trace(exc))
    return Outcome("ok", time.perf_counter() - start, codes)


def _stages(spec: Path, limits: Limits, stage: _Stage, codes: list[str], build: bool) -> None:
    stage("load")
    try:
        prog = program.build(spec, limits)
    except UsageError:
        codes.append("usage")
        return
    _diagnostics(prog.diagnostics, codes, stage)
    if not prog.ok:
        return
    for name in prog.networks[:MAX_NETWORKS]:
        stage("elaborate")
        graph = prog.elaborate(name)
        _diagnostics(graph.diagnostics, codes, stage)
        stage("shapes")
        for fmt in table.FORMATS:
            table.render(graph, fmt)
        table.render(graph, "table", depth=1)
        json.dumps(table.to_json(graph))
        stage("render")
        graphviz_backend.to_dot(graph)
        graphviz_backend.to_dot(graph, depth=1, direction="LR")
        if build and graph.ok:
            _build(graph, stage, codes)


def _diagnostics(diags, codes: list[str], stage: _Stage) -> None:
    """Every rendering of every diagnostic: spans, excerpts and JSON must hold up."""
    stage("diagnostics")
    codes.extend(d.code for d in diags)
    render_pretty(diags, color=True)
    render_short(diags)
    json.loads(render_json(diags))


def _build(graph, stage: _Stage, codes: list[str]) -> None:
    from archlang.backends import torch_source  # imports torch once per process

    stage("build")
    try:
        emitted = torch_source.emit(graph)
    except SpecError as err:  # a layer argument that depends on a symbolic size
        codes.extend(d.code for d in err.diagnostics)
        return
    stage("build: compile the generated source")
    tree = python_ast.parse(emitted.source)
    compile(tree, "<generated>", "exec")
    classes = [n.name for n in tree.body if isinstance(n, python_ast.ClassDef)]
    if emitted.network_class not in classes:
        raise AssertionError(f"the generated source defines no class {emitted.network_class}")
    if len(graph.nodes) <= RUN_MAX_LAYERS:
        stage("build: run the generated module on the meta device")
        _run_generated(emitted, graph)


def _run_generated(emitted, graph) -> None:
    """Execute the source, build the module and run it on meta tensors (no memory, no arithmetic):
    it must construct, and give the shapes the spec promises."""
    import torch

    namespace: dict = {}
    exec(compile(emitted.source, "<generated>", "exec"), namespace)  # noqa: S102 - archlang's own output
    cls = namespace[emitted.network_class]
    if any(not isinstance(d, int) for _, shape in cls.arch_inputs for d in shape):
        return  # symbolic sizes: nothing to run it on
    with torch.device("meta"):
        model = cls()
        out = model(*(torch.empty(2, *shape) for _, shape in cls.arch_inputs))
    outs = out if isinstance(out, tuple) else (out,)
    got = [tuple(o.shape[1:]) for o in outs]
    want = [tuple(shape) for _, shape in cls.arch_outputs]
    if got != want:
        raise AssertionError(f"the module makes {got}, the spec says {want}")


WALL_FACTOR = 20   # the wall-clock backstop, in multiples of the CPU-time bound


@contextlib.contextmanager
def _alarm(seconds: float):
    """Raise Timeout once this process has spent `seconds` of CPU time, or many times that on the clock.

    The bound is CPU time (ITIMER_PROF) so that a machine busy with other jobs cannot turn a
    fast case into a "hang": wall-clock bounds failed under a load average of 14 on two cores.
    A wall-clock backstop, WALL_FACTOR times longer, still catches a case that blocks
    without spending CPU.
    """
    def ring(signum, frame):
        raise Timeout()

    previous = {sig: signal.signal(sig, ring) for sig in (signal.SIGPROF, signal.SIGALRM)}
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, seconds * WALL_FACTOR)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _innermost(exc: BaseException) -> str:
    """The deepest frame inside archlang/ (else the deepest of all): file:line in function."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/archlang/" in f.filename.replace("\\", "/")] or frames
    if not ours:
        return "?"
    f = ours[-1]
    return f"{Path(f.filename).name}:{f.lineno} in {f.name}"


def _trace(exc: BaseException) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(lines)
    return text if len(text) < 20_000 else text[:5_000] + "\n...\n" + text[-10_000:]


def _short(text: str, width: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]
