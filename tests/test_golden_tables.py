"""Golden layer tables: `archlang shapes` on every network of every spec in specs/.

One file per network under tests/golden/tables/: `<spec>.<Network>.txt` for
the table, and `<spec>.<Network>.json` for a few specs. A change in any shape,
count, name or layout shows up as a diff here. After an intended change:

    .venv/bin/python -m pytest tests/test_golden_tables.py --update-golden

which also removes the golden files of networks that no longer exist.
"""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "tables"
SPECS = sorted((ROOT / "specs").glob("*.arch"))
JSON_FOR = {"lenet_bn", "resnet18", "googlenet", "densenet"}  # a few specs get a JSON golden too


def networks(spec: Path) -> list[str]:
    import archlang
    return list(archlang.load(spec).networks)


def expected_files() -> set[Path]:
    files = set()
    for spec in SPECS:
        for name in networks(spec):
            files.add(GOLDEN / f"{spec.stem}.{name}.txt")
            if spec.stem in JSON_FOR:
                files.add(GOLDEN / f"{spec.stem}.{name}.json")
    return files


def test_there_are_specs():
    assert SPECS, "specs/*.arch is empty: the golden tables have nothing to check"


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_golden_table(cli, golden, spec):
    relative = spec.relative_to(ROOT)
    names = networks(spec)
    assert names, f"{relative} holds no network"
    for name in names:
        result = cli("shapes", relative, "--network", name)
        assert result.code == 0, result
        golden(GOLDEN / f"{spec.stem}.{name}.txt", result.out)
        if spec.stem in JSON_FOR:
            result = cli("shapes", relative, "--network", name, "--format", "json")
            assert result.code == 0, result
            golden(GOLDEN / f"{spec.stem}.{name}.json", result.out)


def test_no_orphan_golden_files(request):
    """A golden file whose spec or network is gone would silently stop being checked."""
    present = set(GOLDEN.glob("*.txt")) | set(GOLDEN.glob("*.json"))
    orphans = sorted(present - expected_files())
    if request.config.getoption("--update-golden"):
        for path in orphans:
            path.unlink()
        return
    assert not orphans, ("golden files with no spec network (remove them, or run --update-golden): "
                         + ", ".join(p.name for p in orphans))
