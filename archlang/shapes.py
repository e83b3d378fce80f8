"""Dimensions and shapes: ints, or symbolic expressions of the input's symbols.

(Being written: see docs/internals.md for the contract of this module.)
"""
from __future__ import annotations

from typing import Union


class _Unknown:
    """The shape of a node whose shape could not be inferred. Rules skip it."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Unknown"

    def __bool__(self) -> bool:
        return False


UNKNOWN = _Unknown()
Dim = Union[int, "Expr"]
Shape = tuple
ShapeOrUnknown = Union[tuple, _Unknown]
