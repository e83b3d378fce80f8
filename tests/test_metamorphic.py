"""Rewrites that must not change a network (metamorphic tests), on generated programs.

The programs come from tests/oracle/generator.py: values from tiny domains
({1, 2} for most integers), so equal values are everywhere (`B(2, 2)`,
`conv(2, 2)`). Each rewrite (tests/oracle/transforms.py) prints a second
text; both are elaborated and compared:

- a positional call equals the keyword call, and the keyword call the call in
  declared order (the layers, their names, arguments, inputs and shapes);
- a block call equals its body inlined, parameters bound by `let` (the layers,
  arguments, inputs and shapes; names differ, the block's scope is gone);
- `repeat n` equals n copies of its body (names too);
- renaming every label changes no shape, parameter count or MAC count;
- `expect` of the shape archlang computed after each statement, written as
  archlang prints it (symbols and all), never fails.
"""
from __future__ import annotations

import functools

import pytest

import archlang
from oracle.generator import generate
from oracle.transforms import (inline_calls, keyword_calls, positional_calls, rename_labels, unroll_repeats,
                               with_expects)

SEEDS = range(20_000, 20_300)    # elaboration only: a few milliseconds each


def graph_of(program, case, symbolic: bool = False):
    files = program.files()
    if "lib/blocks.arch" in files:
        return None   # a library needs files on disk; these run on texts
    prog = archlang.load(files["main.arch"])
    return prog.elaborate(case.network, input=None if symbolic else case.input, **case.params)


def layers(graph, names: bool = True) -> list[tuple]:
    return [((n.name,) if names else ()) + (n.op, n.args, n.inputs, tuple(n.shape), n.params, n.macs)
            for n in graph.nodes]


def errors(graph) -> list[str]:
    return [d.code for d in graph.diagnostics if d.is_error]


@functools.cache
def valid_cases() -> list:
    cases = [generate(seed) for seed in SEEDS]
    return [c for c in cases if c.error is None and "lib/blocks.arch" not in c.files]


@pytest.mark.parametrize("rewrite", [keyword_calls, positional_calls], ids=["keyword", "positional"])
def test_how_arguments_are_written_changes_nothing(rewrite):
    compared = 0
    for case in valid_cases():
        before = graph_of(case.program, case)
        after = graph_of(rewrite(case.program), case)
        assert errors(after) == [], f"seed {case.seed}:\n{rewrite(case.program).files()['main.arch']}"
        assert layers(after) == layers(before), f"seed {case.seed}:\n{rewrite(case.program).files()['main.arch']}"
        compared += 1
    assert compared >= 200


def test_a_call_equals_its_inlined_body():
    inlined = 0
    for case in valid_cases():
        program = inline_calls(case.program)
        if program.files() == case.program.files():
            continue
        before, after = graph_of(case.program, case), graph_of(program, case)
        text = program.files()["main.arch"]
        assert errors(after) == [], f"seed {case.seed}:\n{text}"
        assert layers(after, names=False) == layers(before, names=False), f"seed {case.seed}:\n{text}"
        inlined += 1
    assert inlined >= 40


def test_repeat_n_equals_n_copies():
    unrolled = 0
    for case in valid_cases():
        program = unroll_repeats(case.program)
        if program.files() == case.program.files():
            continue
        before, after = graph_of(case.program, case), graph_of(program, case)
        text = program.files()["main.arch"]
        assert errors(after) == [], f"seed {case.seed}:\n{text}"
        assert layers(after) == layers(before), f"seed {case.seed}:\n{text}"
        unrolled += 1
    # 28 of the cases: since functions came, a third of the counts are expressions (`ceil(0.5)`),
    # which this rewrite leaves alone
    assert unrolled >= 25


def test_renaming_labels_changes_no_count():
    renamed = 0
    for case in valid_cases():
        program = rename_labels(case.program)
        if program.files() == case.program.files():
            continue
        before, after = graph_of(case.program, case), graph_of(program, case)
        assert errors(after) == []
        assert layers(after, names=False) == layers(before, names=False)
        assert (after.params_total, after.macs_total) == (before.params_total, before.macs_total)
        renamed += 1
    assert renamed >= 80


def test_expect_of_the_computed_shape_never_fails():
    checked = symbolic = 0
    for case in valid_cases():
        at_symbols = case.symbolic is not None and case.symbolic.error is None
        graph = graph_of(case.program, case, symbolic=at_symbols)
        program = with_expects(case.program, lambda node: [str(d) for d in graph.nodes[node].shape])
        after = graph_of(program, case, symbolic=at_symbols)
        assert errors(after) == [], f"seed {case.seed}:\n{program.files()['main.arch']}\n{after.diagnostics[0]}"
        checked += 1
        symbolic += at_symbols
    assert checked >= 200 and symbolic >= 20
