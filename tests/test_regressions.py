"""Every crash the fuzzer (or anyone) ever found, kept as an input: tests/regressions/.

A case is one file, or a folder whose entry is main.arch (for imports). Its
first comment lines say what went wrong and what archlang must answer now:

    # Regression: a 5,000-digit number made the parser raise ValueError
    # expect: E103                     the codes of every diagnostic, in any order
    # limits: max_depth=100000         optional: bounds other than the defaults
    # timeout: 20                      optional: seconds of CPU time (default 10)

Each case goes through every stage a user reaches (the fuzzer's harness:
load, elaborate, diagnostics, shapes, DOT, PyTorch source), and must finish
in time (CPU time, so a busy machine does not fail it), raise nothing, and
give exactly the expected diagnostics.
`expect: usage` is a file that cannot be read as a spec (a usage error).
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from fuzzing.harness import run_file
from archlang.limits import DEFAULT_LIMITS, Limits

REGRESSIONS = Path(__file__).parent / "regressions"
HEADER = re.compile(rb"^#\s*(regression|expect|limits|timeout)\s*:(.*)$", re.IGNORECASE)


def cases() -> list[Path]:
    entries = []
    for path in sorted(REGRESSIONS.iterdir()):
        if path.is_dir():
            entries.append(path / "main.arch")
        elif path.suffix == ".arch":
            entries.append(path)
    return entries


def header(path: Path) -> dict[str, str]:
    """The `# key: value` lines at the top (bytes: a case may not be UTF-8)."""
    found: dict[str, str] = {}
    for line in path.read_bytes().lstrip(b"\xef\xbb\xbf").splitlines()[:12]:
        m = HEADER.match(line.strip())
        if m:
            found[m.group(1).decode().lower()] = m.group(2).decode("utf-8", "replace").strip()
    return found


def limits_of(text: str | None) -> Limits:
    if not text:
        return DEFAULT_LIMITS
    settings = {k: int(v) for k, v in re.findall(r"(\w+)\s*=\s*(\d+)", text)}
    return Limits(**{**DEFAULT_LIMITS.__dict__, **settings})


@pytest.mark.parametrize("entry", cases(), ids=lambda p: p.parent.name if p.name == "main.arch" else p.stem)
def test_regression(entry: Path):
    meta = header(entry)
    assert "regression" in meta, f"{entry.name}: say what went wrong in a `# Regression:` line"
    assert "expect" in meta, f"{entry.name}: say what archlang must answer in an `# expect:` line"
    outcome = run_file(entry, limits_of(meta.get("limits")), timeout=float(meta.get("timeout", 10)))
    assert outcome.status == "ok", f"{outcome.status} at {outcome.signature}: {outcome.error}\n{outcome.trace}"
    assert Counter(outcome.codes) == Counter(meta["expect"].split()), \
        f"diagnostics {sorted(outcome.codes)}, expected {sorted(meta['expect'].split())}"


def test_there_are_regressions():
    assert len(cases()) >= 1
