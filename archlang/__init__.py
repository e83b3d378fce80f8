"""archlang: a small language for CNN architectures, with a static shape checker.

    prog  = archlang.load("specs/resnet18.arch")       # parse, resolve imports; SpecError on errors
    net   = prog.network("ResNet18", classes=10)        # the checked graph; SpecError on errors
    diags = archlang.check("specs/resnet18.arch")       # every diagnostic, never raises SpecError
    model = archlang.compile("specs/resnet18.arch")     # a torch.nn.Module
    text  = archlang.import_module(torchvision.models.resnet50(), input=[3, 224, 224])   # a spec
    table = archlang.summary("specs/resnet18.arch", batch=32)  # rows as data; prints as the table

Importing archlang is cheap and never imports torch: the front end loads on
first use, and torch only inside `compile`.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .diagnostics import Diagnostic, SpecError, UsageError, unique

if TYPE_CHECKING:  # pragma: no cover
    from .limits import Limits
    from .program import Program

__all__ = ["load", "check", "compile", "import_module", "summary", "Program", "SpecError", "UsageError",
           "Diagnostic"]


def load(path_or_text: "str | os.PathLike", limits: "Limits | None" = None, *, text: str | None = None) -> "Program":
    """Parse a spec (a path, or the text itself) and resolve its imports.

    Raises SpecError (with `.diagnostics`) on syntax, import and name errors;
    UsageError when the file cannot be read. Warnings found while loading are
    in `program.diagnostics`. `text` with a path: that file's unsaved text (an
    editor's buffer), named by the path, its imports relative to it.
    """
    from .program import load as _load
    return _load(path_or_text, limits, text=text)


def check(path_or_text: "str | os.PathLike", network: str | None = None, input: list | None = None,
          limits: "Limits | None" = None, **params: Any) -> list[Diagnostic]:
    """Every diagnostic of a spec: loading, then each network (or only `network`).

    Never raises SpecError; a file that cannot be read is a UsageError.
    """
    from .program import build
    program = build(path_or_text, limits)
    diags = list(program.diagnostics)
    if program.ok:
        for name in [network] if network is not None else program.networks:
            diags.extend(program.elaborate(name, input=input, **params).diagnostics)
    return unique(diags)


def compile(path_or_text: "str | os.PathLike", network: str | None = None, input: list | None = None,
            limits: "Limits | None" = None, **params: Any):
    """The spec's network as a torch.nn.Module (`arch_inputs`, `arch_outputs` give its ports).

    Raises SpecError when the spec has errors.
    """
    from .backends import torch_module  # torch is imported here, and only here
    graph = load(path_or_text, limits).network(network, input=input, **params)
    return torch_module.build_module(graph)


def import_module(module, input: list | tuple = (3, 224, 224), network: str | None = None) -> str:
    """The spec of a torch.nn.Module, as text (`archlang import` in Python): its layers as ops,
    its module names as labels, repeated parts as blocks and repeats.

    Raises archlang.importer.ImportFailure (with `.diagnostics`, E701) for what cannot be imported.
    """
    from .importer import import_module as _import
    return _import(module, input=input, network=network)


def summary(spec, network: str | None = None, batch: int = 1, **options: Any):
    """The layer table of one network as an object: rows as data, printed as the table,
    an HTML table in notebooks, `to_json()`; with the training memory at `batch`.

    Options: input, depth, optimizer, dtype, budget, and the network's parameters.
    Raises SpecError when the spec has errors.
    """
    from .layer_summary import summary as _summary
    return _summary(spec, network, batch, **options)


def __getattr__(name: str):
    if name == "Program":
        from .program import Program
        return Program
    raise AttributeError(f"module 'archlang' has no attribute {name!r}")
