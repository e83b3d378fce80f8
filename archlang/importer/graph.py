"""The network an importer reads, before it becomes a spec: calls of the op table.

Both readers (`from_torch`, `from_onnx`) produce an `ImportedGraph`: the
network's input, then one `Call` per layer or merge in topological order,
each naming the op of the table it is, its arguments as a spec writes them,
the module it was (its state_dict path) and the module instances whose code
made it (the hierarchy `structure` turns into blocks). Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MERGES = ("add", "concat", "mul")


@dataclass(frozen=True)
class Scope:
    """One module instance whose forward made some calls: its path and class.

    `cls` is the class's name (`Bottleneck`, `Sequential`), or "" when the
    source does not say (an ONNX file whose node names give only paths).
    """

    path: tuple[str, ...]
    cls: str = ""

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Origin:
    """Where a call came from, for errors: the module path, the torch (or ONNX) op, a
    source line when the reader knows it."""

    module: str                      # "layer1.0.conv1", or "" for the top level
    op: str                          # "nn.Conv2d(3, 64, kernel_size=(7, 7), ...)", "torch.cat", "Conv"
    file: str | None = None
    line: int | None = None

    def where(self) -> str:
        module = f"module {self.module}" if self.module else "the top-level forward"
        return f"{self.op} in {module}"


@dataclass(eq=False)
class Call:
    """One layer (an op of the table), a merge (add, concat, mul) or the input."""

    id: int
    op: str                          # "input", an op of ops.OPS, or a merge
    args: dict[str, Any]             # the op's arguments by canonical name, non-default ones only
    inputs: list[int]                # the calls it reads, in order
    shape: tuple[int, ...]           # its output, without the batch
    scopes: tuple[Scope, ...]        # the module instances whose forward made it, outermost first
    origin: Origin
    module: tuple[str, ...] | None = None   # the module it is (its state_dict prefix), if it has one
    state: tuple[str, ...] = ()      # its state_dict entries, relative to `module` (weight, bias, ...)

    @property
    def owner(self) -> Scope | None:
        """The innermost module instance whose code made this call (None: the top level)."""
        return self.scopes[-1] if self.scopes else None


@dataclass(eq=False)
class ImportedGraph:
    """A network as calls: `calls[0]` is the input; `output` is the call it returns."""

    name: str                        # the network's name in the spec
    calls: list[Call] = field(default_factory=list)
    output: int = -1
    root_class: str = ""             # the class of the model (its scope is the network)

    def add(self, op: str, args: dict, inputs: list[int], shape: tuple, scopes: tuple, origin: Origin,
            module: tuple[str, ...] | None = None, state: tuple[str, ...] = ()) -> Call:
        call = Call(len(self.calls), op, dict(args), list(inputs), tuple(shape), tuple(scopes), origin,
                    module, tuple(state))
        self.calls.append(call)
        return call

    def consumers(self) -> dict[int, list[int]]:
        """Call id -> the calls that read it, in order (a call read twice is listed twice)."""
        out: dict[int, list[int]] = {c.id: [] for c in self.calls}
        for c in self.calls:
            for i in c.inputs:
                out[i].append(c.id)
        return out

    def state_keys(self) -> list[str]:
        """Every state_dict key the network's calls hold, in call order."""
        return [".".join((*c.module, key)) for c in self.calls if c.module is not None for key in c.state]
