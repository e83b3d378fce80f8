"""The language features torchvision's zoo needs, through check and shapes: mul, chunk, crop,
resize (the oracles for their values are test_ops_vs_torch and tests/oracle)."""
from __future__ import annotations

from pathlib import Path

import archlang


def errors(text: str) -> list[str]:
    return [d.code for d in archlang.check(text) if d.is_error]


def test_chunk_of_a_width_that_depends_on_the_input_size_is_a_condition_not_a_crash():
    # Found by the differential test: `c % n` on a symbolic width raised TypeError. Test fails before the fix.
    spec = "network N {\n    input [2, H, W]\n    flatten\n    a, b, c = chunk(3)\n    cat(a, b, c)\n}\n"
    assert errors(spec) == []
    graph = archlang.load(spec).network()
    assert graph.smallest_input == [(2, 1, 3)]   # the first size up from 1x1 whose H * W splits in 3


UNET = Path(__file__).resolve().parent.parent / "specs" / "papers" / "unet.arch"
# Ronneberger et al. 2015, Fig. 1: the size of every map, in order (convs, pools, up-convs).
FIGURE = [570, 568, 284, 282, 280, 140, 138, 136, 68, 66, 64, 32, 30, 28,
          56, 54, 52, 104, 102, 100, 200, 198, 196, 392, 390, 388, 388]


def test_the_unet_has_the_figures_sizes_and_its_smallest_tile():
    program = archlang.load(UNET)
    figure = program.network("UNet")
    assert figure.diagnostics == []
    sizes = [n.shape[1] for n in figure.nodes if n.op in ("conv", "maxpool", "conv_transpose")]
    assert sizes == FIGURE and figure.output_shapes() == [(2, 388, 388)]
    crops = [n.shape[1:] for n in figure.nodes if n.op == "crop"]
    assert crops == [(56, 56), (104, 104), (200, 200), (392, 392)]
    any_tile = program.network("UNetAnyTile")
    assert any_tile.smallest_input == [(1, 188, 188)]
    assert "H % 16 == 12" in "; ".join(any_tile.conditions)
    at_figure = program.network("UNetAnyTile", input=[1, 572, 572])
    assert at_figure.output_shapes() == [(2, 388, 388)] and at_figure.params_total == figure.params_total
    # one size below and one off the grid of 16 have a crop with no centre (E311) or too small a map
    for size in (172, 190):
        assert {d.code for d in archlang.check(UNET, "UNetAnyTile", input=[1, size, size])} & {"E311", "E305"}
