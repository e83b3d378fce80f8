"""Resource bounds: what one spec may ask of the machine.

Defaults admit every real network (densenet201, vgg19 at 224, resnet152) with
room to spare, and reject a spec that would make the compiler or the user's
machine eat itself. Each bound has a command-line flag (see `cli.py`).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_params: int = 2_000_000_000          # E401: 2e9 parameters (8 GB in fp32)
    max_activations: int = 4_000_000_000     # E402: output elements per sample, all layers
    max_depth: int = 64                      # E403: nesting of bodies, blocks and calls
    max_repeat: int = 10_000                 # E404: one repeat's count
    max_layers: int = 200_000                # E404: nodes in one elaborated network
    max_file_bytes: int = 4_000_000          # E405: size of one .arch file
    max_import_depth: int = 32               # E406: chain of imports

    # flag name -> field, for the CLI and the docs' table
    FLAGS = {
        "--max-params": "max_params",
        "--max-activations": "max_activations",
        "--max-depth": "max_depth",
        "--max-repeat": "max_repeat",
        "--max-layers": "max_layers",
        "--max-file-bytes": "max_file_bytes",
        "--max-import-depth": "max_import_depth",
    }
    # The most two of them may be raised to: the compiler recurses once per
    # level of nesting and of imports, and deeper would exhaust Python's stack.
    CEILINGS = {"max_depth": 100, "max_import_depth": 100}

    def __post_init__(self) -> None:
        for field, ceiling in self.CEILINGS.items():
            if getattr(self, field) > ceiling:
                flag = "--" + field.replace("_", "-")
                raise ValueError(f"{flag} can be at most {ceiling} (deeper nesting would exhaust the "
                                 f"compiler's stack), got {getattr(self, field)}")


DEFAULT_LIMITS = Limits()

# Fixed bounds, with no flag: far beyond any real spec, and what keeps the
# compiler itself safe (its recursion, its integers) whatever a spec says.
MAX_INT = 2**63 - 1              # E103 / E212: integers are int64, as sizes are in PyTorch and ONNX
MAX_EXPRESSION_DEPTH = 50        # E403: operators and brackets nested in one expression
MAX_SEQUENCE = 10_000            # E404: items of a list or characters of a string made by `*` or `+`
MAX_SYMBOLIC_TERMS = 100         # E212: terms of a symbolic size computed in an expression
