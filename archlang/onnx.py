"""The ONNX API for users: `archlang.onnx.session(path)`, `export(graph, path)`.

A short public name for what `archlang.backends.onnx` implements (importing
it imports torch, onnx and onnxruntime; `import archlang` alone does not).
"""
from __future__ import annotations

from .backends.onnx import Exported, ExportError, Verification, choose_providers, export, session

__all__ = ["ExportError", "Exported", "Verification", "choose_providers", "export", "session"]
