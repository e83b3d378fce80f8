"""Graph -> nn.Module at run time: what `archlang.compile` returns.

The module is built from the very source `archlang build` prints
(`torch_source.emit`), executed once into a real Python module registered in
`sys.modules`. So the runtime module is plain PyTorch: one class per block with
a straight-line `forward`, no graph walked per call, as fast as hand-written
code, and the same state_dict keys and outputs as the generated file.

The source is produced by archlang from validated identifiers and the op
table, never copied from spec text, so executing it runs nothing a spec wrote.

What makes it behave like an ordinary model class:

- the module is content-addressed (`_archlang_generated_<sha256>`), so
  compiling the same network twice reuses its classes;
- the text is registered with `linecache` and the module has a `__file__`,
  so tracebacks, `inspect.getsource` and TorchScript see the code;
- instances pickle as "this source, this class, this state": unpickling in a
  fresh process (DataLoader workers, `mp.spawn`, `torch.save(model)`)
  executes the source again there; it needs `archlang` importable, nothing else.
"""
from __future__ import annotations

import hashlib
import linecache
import sys
import types

from torch import nn

from ..diagnostics import SpecError
from ..ir import Graph
from . import torch_source

MODULE_PREFIX = "_archlang_generated_"


def build_module(graph: Graph) -> nn.Module:
    """A freshly initialised nn.Module for a checked graph.

    Raises SpecError if the graph carries errors, or when a layer's argument
    depends on a symbolic input size (give the input concrete sizes).
    """
    if not graph.ok:
        raise SpecError([d for d in graph.diagnostics if d.is_error])
    emitted = torch_source.emit(graph)
    module = load_source(emitted.source)
    return getattr(module, emitted.network_class)()


def load_source(source: str) -> types.ModuleType:
    """The Python module that `source` defines, executed once per distinct text."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:32]
    name = MODULE_PREFIX + digest
    module = sys.modules.get(name)
    if module is not None:
        return module
    filename = f"<archlang>/generated_{digest[:12]}.py"   # what tracebacks show
    module = types.ModuleType(name)
    module.__file__ = filename
    module.__archlang_source__ = source
    # linecache asks the loader again if its cache is cleared; mtime None keeps the
    # entry through linecache.checkcache although no such file exists.
    module.__loader__ = _SourceLoader(source)
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - our own generated code
    for value in list(vars(module).values()):
        if isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == name:
            value.__reduce_ex__ = _reduce_ex
    sys.modules[name] = module
    return module


class _SourceLoader:
    """Enough of a PEP 302 loader for linecache and inspect: the source of one module."""

    def __init__(self, source: str) -> None:
        self.source = source

    def get_source(self, name: str) -> str:
        return self.source


def _reduce_ex(self: nn.Module, protocol: int):
    """Pickle and deepcopy: rebuild from the source text, then restore the state."""
    cls = type(self)
    source = sys.modules[cls.__module__].__archlang_source__
    return _restore, (source, cls.__qualname__), self.__getstate__()


def _restore(source: str, qualname: str) -> nn.Module:
    cls = getattr(load_source(source), qualname)
    return cls.__new__(cls)  # nn.Module.__setstate__ then restores the state
