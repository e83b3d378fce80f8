"""Random programs over the whole language agree on every path (CI's share of bench/differential.py).

Each program (tests/oracle/generator.py, fixed seeds) must elaborate to the
layers the generator's model says, or be rejected with the code it says;
`shapes` JSON, the reference interpreter, `archlang.compile` (eval and
training: values of every layer, outputs, gradients, running statistics,
the input untouched) and, for a share, `archlang build`, onnxruntime and
the real CLI must agree (tests/oracle/differential.py). A disagreement is
shrunk to a small spec and printed, ready to become a regression test.
"""
from __future__ import annotations

import json
from collections import Counter

import pytest

from oracle.differential import Invocation, check, write
from oracle.generator import Config, features, generate
from oracle.shrink import shrink

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CASES = 2000
CHUNKS = 8            # spread over the xdist workers
BUILD_EVERY = 4       # `archlang build` for one case in 4
ONNX_SEEDS = range(4)  # exports take a few seconds each
CLI_SEEDS = range(2)


def report(failures: list[tuple]) -> str:
    lines = [f"{len(failures)} disagreement(s); the first, shrunk:"]
    for seed, disagreement, small in failures[:3]:
        lines += ["", f"seed {seed}: {disagreement}", small.describe() if small else "(not shrunk)"]
    return "\n".join(lines)


def run_seeds(seeds, tmp_path, shrink_first: bool = True, **paths) -> list[tuple]:
    failures = []
    for seed in seeds:
        case = generate(seed)
        found = check(case, tmp_path / str(seed), **paths)
        if found:
            small = shrink(case, found[0].kind, tmp_path / f"{seed}-shrink", **paths) if not failures else None
            failures.append((seed, found[0], small))
    return failures


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_generated_programs_agree_on_every_path(chunk, tmp_path):
    seeds = range(chunk, CASES, CHUNKS)
    built = lambda seed: (seed // CHUNKS) % BUILD_EVERY == 0  # noqa: E731 - spread over the chunks
    failures = run_seeds([s for s in seeds if not built(s)], tmp_path, build=False)
    failures += run_seeds([s for s in seeds if built(s)], tmp_path, build=True)
    assert not failures, report(failures)


def test_blocks_that_give_several_tensors_agree_on_every_path(tmp_path):
    """The generator with `p, q = Block()` on (Config.results_rate): each program with such a
    binding, against the interpreter, compile and (every other one) the built file."""
    config = Config(results_rate=0.3)
    cases = [c for c in (generate(s, config) for s in range(80)) if any(
        f.startswith("block giving") for f in features(c))][:12]
    assert len(cases) == 12
    failures = []
    for k, case in enumerate(cases):
        found = check(case, tmp_path / str(case.seed), build=k % 2 == 0)
        if found:
            failures.append((case.seed, found[0], None))
    assert not failures, report(failures)


def test_onnxruntime_agrees_with_the_interpreter(tmp_path):
    seeds = [s for s in range(CASES, CASES + 200) if generate(s).error is None][:len(ONNX_SEEDS)]
    failures = run_seeds(seeds[::2], tmp_path, build=False, onnx=True)
    failures += run_seeds(seeds[1::2], tmp_path, build=False, onnx=True, fold_bn=True)
    assert not failures, report(failures)


def test_the_real_cli_prints_the_apis_table(tmp_path, archlang_process):
    seeds = [s for s in range(CASES, CASES + 200) if generate(s).error is None][:len(CLI_SEEDS)]
    failures = run_seeds(seeds, tmp_path, build=False, cli=True)
    assert not failures, report(failures)
    rejected = next(generate(s) for s in range(CASES, CASES + 400) if generate(s).error)
    path = write(rejected.files, tmp_path / "rejected")
    inv = Invocation(rejected.network, rejected.input, tuple(rejected.params.items()))
    r = archlang_process("check", path, *inv.args(), "--format", "json")
    assert r.code == 1, r
    assert rejected.error in {d["code"] for d in json.loads(r.out)["diagnostics"]}, r


def test_the_generator_reaches_the_whole_language():
    # What CI's share covers: every op, every construct, and a share of rejected programs.
    counts = Counter(f for seed in range(0, CASES, 5) for f in features(generate(seed)))
    constructs = {
        "block call", "prelude call", "positional block argument", "keyword block argument", "equal block arguments",
        "parameter default", "repeat", "repeat as", "if", "if else", "if else if", "let", "index", "cond", "expect",
        "label", "group", "bind", "tensor alone", "output", "cat() of 1", "cat() of 2", "add() of 1", "add() of 2",
        "concat paths", "add paths", "empty path", "identity", "residual", "residual shortcut", "one-input add",
        "one-input concat", "nested merges", "cur.c", "in.c", "cur.size", "in.size", "import", "symbolic sizes",
        "--set", "two inputs", "symbol in the body", "label near a reserved name", "prelude override",
        "prelude override another file does not see",   # issue 10, case 5: a library's call keeps the prelude's
        # issue 10's front-end cases, planted: each must be rejected
        "fault op bad-value", "fault empty input", "fault unnameable label", "fault op symbolic-width",
        "number label", "computed label", "keyword label", "chain label", "bind label", "mul paths", "mul() of 2",
        "split into 2", "function max", "function min", "function round", "function sum", "function len", "slice",
        "defined function",
    }
    from archlang import ops
    constructs |= {f"op {name}" for name in ops.OPS}
    assert constructs - set(counts) == set()
    rejected = sum(v for k, v in counts.items() if k.startswith("rejected"))
    assert rejected >= 0.05 * (CASES // 5)
    assert len([k for k in counts if k.startswith("rejected")]) >= 8
