"""The data-driven error corpus: tests/bad/.

Each bad spec carries its expected diagnostics inline, on the line where the
diagnostic points, as a comment:

    conv(8, k=3)            # error[E303]
    linear(10)              # error[E306] warning[W503]

A case is one file in tests/bad/, or a folder tests/bad/<name>/ whose entry
is main.arch (imports, cycles); expectations may sit in any file of the
folder. The runner checks the entry and compares the set of
(file, line, code) found with the set written, exactly: nothing missing,
nothing extra. A diagnostic inside the prelude (a prelude block called
wrongly) is filed under the line of the call in the case's own file.

A comment on the first lines sets what a case needs beyond the defaults:

    # limits: max_repeat=100, max_depth=4     (small bounds instead of huge specs)
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import archlang
from archlang.cli import main as cli_main
from archlang.diagnostics import CODES
from archlang.limits import DEFAULT_LIMITS, Limits

BAD = Path(__file__).parent / "bad"

EXPECTATION = re.compile(r"\b(error|warning)\[([EW]\d{3})\]")
DIRECTIVE = re.compile(r"^#\s*limits\s*:(.*)$")
SETTING = re.compile(r"(\w+)\s*=\s*(\d+)")

# Codes no spec text can trigger, with the reason; every other code in CODES
# must have a case in the corpus (test_corpus_covers_every_code).
NOT_FROM_A_SPEC: dict[str, str] = {
    "E216": "an unknown network is named by --network or the API, not in the spec's text",
    "E601": "`export` reports it for the opset and sizes it is asked for; `check` does not export",
    "E701": "`import` reports it about a PyTorch model or an ONNX file, never about a spec",
}

Key = tuple[str, int, str]  # (file relative to the case, line, code)


@dataclass
class Case:
    name: str
    entry: Path
    root: Path                       # the folder the case's files live in
    files: list[Path]
    expected: set[Key] = field(default_factory=set)
    limits: dict[str, int] = field(default_factory=dict)


def _case_file(case: Case, path: str | Path) -> str | None:
    """`path` relative to the case's folder; None when it lies outside (the prelude)."""
    try:
        return Path(path).resolve().relative_to(case.root.resolve()).as_posix()
    except ValueError:
        return None


def _where(case: Case, span, frames: list) -> tuple[str, int]:
    """(file, line) a diagnostic is filed under. One inside the prelude (a
    prelude block called wrongly) goes under the innermost call in the case's
    files, since no expectation can be written in the prelude."""
    if span is None:
        return ("<no location>", 0)
    for s in [span, *reversed(frames)]:
        rel = _case_file(case, s.file)
        if rel is not None:
            return (rel, s.line)
    return (str(span.file), span.line)


def _read_expectations(case: Case) -> None:
    for file in case.files:
        for lineno, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            comment = line[line.index("#"):] if "#" in line else ""
            directive = DIRECTIVE.match(line.strip()) if file == case.entry else None
            if directive:
                for name, value in SETTING.findall(directive.group(1)):
                    case.limits[name] = int(value)
            for severity, code in EXPECTATION.findall(comment):
                want = "warning" if code.startswith("W") else "error"
                assert severity == want, f"{file}:{lineno}: {code} is a {want}, the corpus says {severity}"
                assert code in CODES, f"{file}:{lineno}: {code} is not a code in archlang.diagnostics.CODES"
                case.expected.add((_case_file(case, file), lineno, code))


def collect_cases() -> list[Case]:
    cases = []
    for path in sorted(BAD.iterdir()):
        if path.is_file() and path.suffix == ".arch":
            case = Case(path.stem, path, BAD, [path])
        elif path.is_dir() and (path / "main.arch").exists():
            case = Case(path.name, path / "main.arch", path, sorted(path.rglob("*.arch")))
        else:
            continue
        _read_expectations(case)
        cases.append(case)
    return cases


CASES = collect_cases()


def _limits(case: Case) -> Limits:
    unknown = set(case.limits) - set(Limits.FLAGS.values())
    assert not unknown, f"{case.name}: unknown limits {sorted(unknown)}"
    return Limits(**{**DEFAULT_LIMITS.__dict__, **case.limits})


def _report(case: Case, expected: set[Key], found: dict[Key, str]) -> str:
    missing = sorted(expected - found.keys())
    extra = sorted(found.keys() - expected)
    lines = [f"bad spec {case.entry.relative_to(BAD.parent)}: diagnostics differ from the inline expectations"]
    lines += [f"  expected   {f}:{l}: {c}" for f, l, c in sorted(expected)] or ["  expected   nothing"]
    lines += [f"  found      {f}:{l}: {c}  {found[(f, l, c)]}" for f, l, c in sorted(found)] or ["  found      nothing"]
    lines += [f"  MISSING    {f}:{l}: {c}" for f, l, c in missing]
    lines += [f"  UNEXPECTED {f}:{l}: {c}  {found[(f, l, c)]}" for f, l, c in extra]
    return "\n".join(lines)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_spec(case: Case) -> None:
    assert case.expected, f"{case.entry}: a bad spec must say what it expects (# error[E...])"
    diags = archlang.check(str(case.entry), limits=_limits(case))
    found = {_where(case, d.span, [f.span for f in d.call_stack]) + (d.code,): d.message for d in diags}
    assert found.keys() == case.expected, _report(case, case.expected, found)


class _JsonSpan:
    """The file and line of a JSON diagnostic or call-stack frame, read like a Span."""

    def __init__(self, file: str, line: int) -> None:
        self.file, self.line = file, line

    @classmethod
    def of(cls, d: dict) -> "_JsonSpan | None":
        return cls(d["file"], d["line"]) if d.get("file") else None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cli_json_agrees(case: Case, capsys) -> None:
    """`archlang check --format json` reports the same diagnostics, and exits 1
    exactly when one of them is an error."""
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in case.limits.items()]
    code = cli_main(["check", str(case.entry), "--format", "json", *flags])
    out = json.loads(capsys.readouterr().out)
    found = {_where(case, _JsonSpan.of(d), [_JsonSpan.of(f) for f in d["call_stack"]]) + (d["code"],): d["message"]
             for d in out["diagnostics"]}
    assert found.keys() == case.expected, _report(case, case.expected, found)
    has_error = any(c.startswith("E") for _, _, c in case.expected)
    assert code == (1 if has_error else 0)
    assert out["ok"] is not has_error


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40, f"only {len(CASES)} bad specs"


def test_corpus_covers_every_code() -> None:
    covered = {code for case in CASES for _, _, code in case.expected}
    uncovered = set(CODES) - covered - set(NOT_FROM_A_SPEC)
    assert not uncovered, f"codes with no bad spec in tests/bad/: {sorted(uncovered)}"
    assert not covered & set(NOT_FROM_A_SPEC), "a code listed as untriggerable has a case: update NOT_FROM_A_SPEC"
