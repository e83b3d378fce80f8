"""Print the parameter and MAC table of docs/torchvision.md, one row per line of
specs/torchvision/models.tsv (tests/test_torchvision_zoo.py checks each row).

    .venv/bin/python scripts/zoo_table.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import torch  # noqa: E402
import torchinfo  # noqa: E402

import test_torchvision_zoo as zoo  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    for builder, row in zoo.ROWS.items():
        ours, theirs, graph = zoo.on_meta(row)
        mult_adds = torchinfo.summary(theirs, input_size=(1, *graph.input_shapes()[0]), device="meta",
                                      verbose=0).total_mult_adds
        print(zoo.table_row(builder, graph, mult_adds))


if __name__ == "__main__":
    main()
