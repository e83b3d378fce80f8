"""The fuzzer, CI-sized: a few thousand inputs, none may crash or hang.

The same inputs as bench/fuzz.py (which runs 100,000), fewer of them and
always the same ones (fixed seeds, derandomized hypothesis): mutants of every
.arch file in the repository, raw bytes, programs built from the language's
structure and texts derived from the grammar. Each goes through every stage
a user reaches (tests/fuzzing/harness.py). A failure lists each distinct
crash with the input that caused it, saved under the test's tmp folder; make
that input a case in tests/regressions/ when fixing it.
"""
from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from fuzzing import harness, strategies
from fuzzing.mutations import MUTATORS, Mutator, corpus

MUTANTS = 1200
RAW_BYTES = 600
STRUCTURED = 40
GRAMMAR = 30
CLI_EXAMPLES = 60


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    phases=[Phase.generate], suppress_health_check=list(HealthCheck))


class Findings:
    """Crashes and hangs, one example per distinct signature, inputs saved for replay."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: dict[str, str] = {}

    def add(self, outcome: harness.Outcome, data: bytes, origin: str) -> None:
        if outcome.status == "ok" or outcome.signature in self.seen:
            return
        path = self.folder / f"finding-{harness.digest(data)}.arch"
        path.write_bytes(data)
        self.seen[outcome.signature] = f"{outcome.error}\n    from {origin}, saved as {path}\n{outcome.trace[-1500:]}"

    def check(self) -> None:
        assert not self.seen, "\n\n".join(f"{sig}\n    {what}" for sig, what in self.seen.items())


@pytest.fixture
def findings(tmp_path) -> Findings:
    return Findings(tmp_path)


@pytest.fixture(scope="module")
def mutator() -> Mutator:
    return Mutator()


@pytest.fixture(scope="module", autouse=True)
def warm(tmp_path_factory):
    """torch's one-time costs paid before any input is timed."""
    harness.warm_up(tmp_path_factory.mktemp("warm"))


def test_the_warm_up_runs_every_op_of_the_table():
    import archlang
    from archlang import ops

    graph = archlang.load(harness.WARM_UP.decode()).network()
    missing = set(ops.OPS) - {node.op for node in graph.layers()}
    assert not missing, f"add {sorted(missing)} to harness.WARM_UP: their first call would be timed"


def test_the_corpus_is_every_spec_of_the_repository():
    names = {name for name, _ in corpus()}
    assert {"specs/resnet18.arch", "archlang/prelude.arch"} <= names
    assert any(n.startswith("tests/bad/") for n in names) and any(n.startswith("examples/") for n in names)


def test_seeds(tmp_path, findings):
    """The corpus itself, unmutated."""
    for name, text in corpus():
        data = text.encode("utf-8")
        findings.add(harness.run_input(data, tmp_path), data, name)
    findings.check()


def test_mutants(tmp_path, findings, mutator):
    used = set()
    for seed in range(MUTANTS):
        name, data, applied = mutator.mutant(seed)
        used.update(applied)
        findings.add(harness.run_input(data, tmp_path), data, f"mutation seed {seed}: {name} + {applied}")
    findings.check()
    assert used == set(MUTATORS)  # every mutator had its turn


def test_raw_bytes(tmp_path, findings):
    rng = random.Random(0)
    for i in range(RAW_BYTES):
        data = bytes(rng.randrange(256) if rng.random() < 0.3 else rng.randrange(32, 127)
                     for _ in range(rng.randint(0, 300)))
        findings.add(harness.run_input(data, tmp_path), data, f"raw bytes #{i}")
    findings.check()


def test_structured_programs(tmp_path, findings):
    @fuzz_settings(STRUCTURED)
    @given(strategies.specs())
    def run(text: str) -> None:
        data = text.encode("utf-8")
        findings.add(harness.run_input(data, tmp_path), data, "structured")

    run()
    findings.check()


def test_grammar_texts(tmp_path, findings):
    @fuzz_settings(GRAMMAR)
    @given(strategies.grammar_texts())
    def run(text: str) -> None:
        data = text.encode("utf-8", errors="surrogatepass")
        findings.add(harness.run_input(data, tmp_path), data, "grammar")

    run()
    findings.check()


def test_the_harness_catches_what_it_should(tmp_path, monkeypatch):
    """A crash, a hang and unusable generated code are findings, not passes."""
    from archlang.backends import torch_source

    ok = b"network Net {\n    input [3, 8, 8]\n    conv(4, k=3) relu\n}\n"
    assert harness.run_input(ok, tmp_path).status == "ok"
    assert harness.run_input(b"\xff\xfe", tmp_path).codes == ["usage"]

    def boom(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr("archlang.backends.table.render", boom)
    crash = harness.run_input(ok, tmp_path)
    assert crash.status == "crash" and crash.stage == "shapes" and "KeyError" in crash.error
    monkeypatch.undo()

    def forever(*args, **kwargs):
        while True:
            pass

    monkeypatch.setattr("archlang.backends.graphviz.to_dot", forever)
    hang = harness.run_input(ok, tmp_path, timeout=0.3)
    assert hang.status == "hang" and hang.stage == "render"
    monkeypatch.undo()

    def blocked(*args, **kwargs):   # spends no CPU: only the wall-clock backstop can end it
        while True:
            time.sleep(0.01)

    monkeypatch.setattr("archlang.backends.graphviz.to_dot", blocked)
    stuck = harness.run_input(ok, tmp_path, timeout=0.05)
    assert stuck.status == "hang" and stuck.stage == "render"
    monkeypatch.undo()

    real = torch_source.emit
    monkeypatch.setattr(torch_source, "emit", lambda g: type(real(g))("class (:\n", "Net"))
    broken = harness.run_input(ok, tmp_path)
    assert broken.status == "crash" and "SyntaxError" in broken.error


def test_command_line_arguments(cli):
    """Odd values of every option a command takes: exit 0, 1 or 2, never an internal error."""
    from hypothesis import strategies as st

    values = st.one_of(st.text(max_size=30), st.sampled_from(
        ["1e999", "-1", "0", "9" * 40, "[1,[2,[3]]]", "'x'", "\"", "3x", "x", "3xHxW", "[3, H, W]", "²", "nan",
         "true", "classes", "=", "==3", "-", "--", "\x00", "1_000"]))
    options = st.sampled_from(["--set", "--input", "--network", "--depth", "--format", "--max-depth", "--max-repeat",
                               "--max-params", "--max-file-bytes", "--direction"])
    commands = st.sampled_from([("check",), ("shapes",), ("render", "-o", "{tmp}/g.dot"), ("build",)])

    @fuzz_settings(CLI_EXAMPLES)
    @given(commands, st.lists(st.tuples(options, values), max_size=3))
    def run(command, pairs):
        argv = [*command[:1], "specs/lenet_bn.arch", *(a.replace("{tmp}", str(tmp)) for a in command[1:])]
        for option, value in pairs:
            if option == "--set" and "=" not in value:
                value = f"classes={value}"
            argv += [option, value]
        result = cli(*argv)
        assert result.code in (0, 1, 2), result
        assert "internal error" not in result.err and "Traceback" not in result.err, result

    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        run()
