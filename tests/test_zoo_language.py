"""The language features torchvision's zoo needs, through check and shapes: mul, chunk, crop,
resize (the oracles for their values are test_ops_vs_torch and tests/oracle)."""
from __future__ import annotations

import archlang


def errors(text: str) -> list[str]:
    return [d.code for d in archlang.check(text) if d.is_error]


def test_chunk_of_a_width_that_depends_on_the_input_size_is_a_condition_not_a_crash():
    # Found by the differential test: `c % n` on a symbolic width raised TypeError. Test fails before the fix.
    spec = "network N {\n    input [2, H, W]\n    flatten\n    a, b, c = chunk(3)\n    cat(a, b, c)\n}\n"
    assert errors(spec) == []
    graph = archlang.load(spec).network()
    assert graph.smallest_input == [(2, 1, 3)]   # the first size up from 1x1 whose H * W splits in 3
