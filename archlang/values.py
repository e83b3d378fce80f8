"""Compile-time values and the environments that name them.

An archlang expression evaluates to an int, a float, a bool, a string, a tuple
(a list), a symbolic size (`shapes.Expr`), a `TensorRef` (`cur`, `in`), or
`FAIL` when it could not be evaluated (its error is already reported).
Values given from Python (`--set`, `Program.network(**params)`) come in
through `from_python` and `out_of_range`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .limits import MAX_INT, MAX_SEQUENCE
from .shapes import Expr


class _Fail:
    """An expression that could not be evaluated; its error is already reported."""

    def __repr__(self) -> str:
        return "FAIL"


FAIL: Any = _Fail()


@dataclass(frozen=True)
class TensorRef:
    """The value of `cur`, `in` or a bound tensor's name: its shape attributes, or an
    argument of an op that reads a tensor (`crop(like=u4)`)."""

    name: str
    shape: Any  # a shape tuple, or UNKNOWN
    flow: Any = None  # the elaborator's handle on the tensor (`elaborate.Flow`)


@dataclass(frozen=True, eq=False)
class FunctionValue:
    """A function a spec defines, `let make_divisible(v, d = 8) = ...`: its parameters
    (`syntax.Param`s), its body and the names it was defined among."""

    name: str
    params: tuple
    body: Any            # a syntax expression
    env: "Env"


def show(value) -> str:
    """A value as archlang text: `[96, 128]`, `true`, `"same"`, `1e-05`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, TensorRef):
        return value.name
    if isinstance(value, FunctionValue):
        return f"function {value.name}"
    return str(value)


def type_name(value) -> str:
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, tuple):
        return "a list"
    if isinstance(value, Expr):
        return "a symbolic size"
    if isinstance(value, TensorRef):
        return "a tensor"
    if isinstance(value, FunctionValue):
        return "a function"
    return type(value).__name__


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def from_python(value) -> Any:
    """A value given from Python (`--set`, `Program.network(**params)`) as an archlang value."""
    if isinstance(value, list):
        return tuple(from_python(v) for v in value)
    return value


def out_of_range(value) -> str | None:
    """Why a value is no archlang value (a huge int, inf, a dict...), or None.

    The parser and the evaluator never make one; values from Python (`--set`,
    keyword arguments of the API) are checked with this.
    """
    if isinstance(value, bool) or isinstance(value, str):
        return None
    if isinstance(value, int):
        return None if -MAX_INT <= value <= MAX_INT else f"{value} is out of range (integers are at most 2**63 - 1)"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a finite number"
    if isinstance(value, tuple):
        if len(value) > MAX_SEQUENCE:
            return f"a list of {len(value):,} items is longer than {MAX_SEQUENCE:,}"
        return next((why for why in map(out_of_range, value) if why), None)
    return f"{value!r} is not an archlang value (numbers, true/false, strings and lists of them)"


class Env:
    """Names and their values: constants, parameters, `let`s, loop variables.

    Each body has its own (a `let` in a repeat is local to that iteration);
    lookups go outwards.
    """

    __slots__ = ("vars", "terms", "parent")

    def __init__(self, parent: "Env | None" = None, values: dict | None = None) -> None:
        self.vars: dict[str, Any] = values if values is not None else {}
        # The names whose value is written over variables (`terms`): parameters, loop
        # counters, `let`s of them. A name without one is a constant: its value.
        self.terms: dict[str, Any] | None = None   # made on the first `set_term`: most bodies have none
        self.parent = parent

    def set_term(self, name: str, term: Any) -> None:
        if self.terms is None:
            self.terms = {}
        self.terms[name] = term

    def term(self, name: str, default: Any) -> Any:
        """This environment's own term of `name`, else `default`."""
        return default if self.terms is None else self.terms.get(name, default)

    def lookup(self, name: str):
        env = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        raise KeyError(name)

    def lookup_term(self, name: str) -> tuple[bool, Any]:
        """(True, the name's term) where it is defined, else (False, None)."""
        env = self
        while env is not None:
            if name in env.vars:
                return True, env.term(name, env.vars[name])
            env = env.parent
        return False, None

    def names(self) -> set[str]:
        out: set[str] = set()
        env = self
        while env is not None:
            out.update(env.vars)
            env = env.parent
        return out
