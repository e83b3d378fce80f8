"""The argument binder's own table (archlang/binder.py), in the manner of mypy's testinfer.py.

`map_actuals_to_formals` is pure: each case is the names of the actuals as
written (None: positional), the formals (a trailing `=` marks a default) and
the expected mapping. `bind` is checked for what it reports.
"""
from __future__ import annotations

import pytest

from archlang.binder import Actual, Formal, Signature, bind, map_actuals_to_formals
from archlang.diagnostics import Collector
from archlang.source import Source


def sig(*formals: str, aliases: dict[str, tuple[str, ...]] | None = None, word: str = "parameter") -> Signature:
    aliases = aliases or {}
    made = tuple(Formal(f.rstrip("="), required=not f.endswith("="), aliases=aliases.get(f.rstrip("="), ()),
                        default_text="1") for f in formals)
    return Signature("B", made, word)


P = None  # a positional actual

# (actuals, formals, formal_to_actual, extra, unknown, repeated, missing)
TABLE = [
    # positional, by index: equal values never matter (there are none here: only positions)
    ((), (), [], [], [], [], []),
    ((P,), ("a",), [0], [], [], [], []),
    ((P, P), ("a", "b"), [0, 1], [], [], [], []),
    ((P, P), ("a", "b="), [0, 1], [], [], [], []),
    ((P,), ("a", "b="), [0, None], [], [], [], []),
    ((), ("a", "b="), [None, None], [], [], [], [0]),
    ((P, P, P), ("a", "b"), [0, 1], [2], [], [], []),
    ((P, P, P, P), ("a",), [0], [1, 2, 3], [], [], []),
    # keywords, in any order
    (("b", "a"), ("a", "b"), [1, 0], [], [], [], []),
    ((P, "b"), ("a", "b"), [0, 1], [], [], [], []),
    ((P, "c"), ("a", "b=", "c="), [0, None, 1], [], [], [], []),
    (("c",), ("a", "b=", "c="), [None, None, 0], [], [], [], [0]),
    # problems
    (("z",), ("a=",), [None], [], [0], [], []),
    ((P, "a"), ("a", "b="), [0, None], [], [], [1], []),
    (("a", "a"), ("a",), [0], [], [], [1], []),
    ((P, "zz", P), ("a", "b"), [0, 2], [], [1], [], []),
    ((P, P, "a"), ("a",), [0], [1], [], [2], []),
]


@pytest.mark.parametrize("actuals, formals, to_actual, extra, unknown, repeated, missing", TABLE)
def test_map_actuals_to_formals(actuals, formals, to_actual, extra, unknown, repeated, missing) -> None:
    found = map_actuals_to_formals(list(actuals), sig(*formals))
    assert (found.formal_to_actual, found.extra, found.unknown, found.repeated, found.missing) == \
        (to_actual, extra, unknown, repeated, missing)


def test_aliases_bind_like_the_name() -> None:
    s = sig("k", "s=", aliases={"k": ("kernel",), "s": ("stride",)})
    assert map_actuals_to_formals(["stride", "kernel"], s).formal_to_actual == [1, 0]
    assert map_actuals_to_formals([None, "kernel"], s).repeated == [1]


# -- what bind reports -----------------------------------------------------------------------------
SRC = Source("t.arch", "B(x)\nconv(out_channels=4, kk=3, in_channels=3)\n")
CALL = SRC.span(0, 4)


def at(text: str):
    start = SRC.text.index(text)
    return SRC.span(start, start + len(text))


def report(signature: Signature, actuals: list[Actual], call=CALL) -> tuple[list, list[str]]:
    col = Collector()
    binding = bind(signature, actuals, call, col)
    assert binding.ok == (not col.items)
    return [a and a.value for a in binding.formals], [f"{d.code} {d.message}" for d in col.items]


def test_bind_gives_the_actual_of_each_formal() -> None:
    values, diags = report(sig("a", "b="), [Actual(None, 4), Actual(None, 4)])
    assert (values, diags) == ([4, 4], [])


def test_bind_reports_each_problem_once() -> None:
    values, diags = report(sig("a", "b"), [Actual(None, 1), Actual("a", 2), Actual("c", 3), Actual(None, 4),
                                           Actual(None, 5)])
    assert values == [1, 4]   # the first binding stands
    assert diags == ["E214 B takes 2 parameters (a, b), got 3 positional arguments",
                     "E203 B has no parameter c", "E210 parameter a of B given twice"]


def test_missing_values_are_one_diagnostic_naming_them_all() -> None:
    _, diags = report(sig("a", "b", "c="), [])
    assert diags == ["E202 B needs parameters a and b"]


def test_an_unknown_keyword_close_to_a_missing_formal_is_one_mistake() -> None:
    _, diags = report(sig("kernel"), [Actual("kernal", 3)])
    assert diags == ["E203 B has no parameter kernal"]


def test_did_you_mean_and_renames() -> None:
    s = Signature("conv", (Formal("out"), Formal("k")), renames={"out_channels": "out"},
                  explained={"in_channels": "conv reads its input size from the tensor it receives"})
    col = Collector()
    bind(s, [Actual(name, 1, None, at(name)) for name in ("out_channels", "kk", "in_channels")], CALL, col)
    assert [(d.code, d.help) for d in col.items] == [
        ("E203", "did you mean `out`?"), ("E203", "did you mean `k`?"),
        ("E203", "conv reads its input size from the tensor it receives")]


def test_values_from_python_have_no_place_but_show_the_declaration() -> None:
    s = Signature("network N", (Formal("a", span=SRC.span(2, 3)),), "parameter", span=SRC.span(0, 1))
    col = Collector()
    bind(s, [Actual("b", 1), Actual("c", 2)], None, col)
    unknown = [d for d in col.items if d.code == "E203"]
    assert [d.message for d in unknown] == ["network N has no parameter b", "network N has no parameter c"]
    assert all(d.span is None and d.related[0][0].start == 0 for d in unknown)
    (missing,) = [d for d in col.items if d.code == "E202"]
    assert missing.span.start == 2   # no call to point at: the declaration
