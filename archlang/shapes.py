"""Dimensions and shapes: ints, or symbolic expressions of the input's symbols.

A dimension (`Dim`) is an `int` or an `Expr`. An `Expr` is a polynomial with
integer coefficients over *atoms*: symbols (`H`), floor divisions (`x // n`)
and remainders (`x % n`). Arithmetic folds as it goes, so an `Expr` never
wraps a plain number (a constant result is an `int`), `H + 0` is `H`,
`2 * H // 2` is `H` and `(H // 2) // 2` is `H // 4`. `str()` is Python
syntax with the parentheses Python needs: `(H - 1) // 2 + 1`.

Symbols stand for input sizes, so they range over the integers >= 1. The
three-valued questions `compare_eq` and `at_least_one` are asked over that
domain: True (for every size), False (for no size) or None (it depends; the
caller records a constraint and `passes.solve` finds the sizes that work).
"""
from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterable, Mapping, Union

# --------------------------------------------------------------------------- atoms


@dataclass(frozen=True)
class Symbol:
    name: str

    def evaluate(self, env: Mapping[str, int]) -> int:
        try:
            return int(env[self.name])
        except KeyError:
            raise KeyError(f"no value for the symbol {self.name}") from None

    def key(self) -> tuple:
        return (0, self.name)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class FloorDiv:
    num: "Expr"
    den: "int | Expr"

    def evaluate(self, env: Mapping[str, int]) -> int:
        return self.num.evaluate(env) // evaluate(self.den, env)

    def key(self) -> tuple:
        return (1, _key_text(self.num), _key_text(self.den))

    def __str__(self) -> str:
        return f"{_operand(self.num)} // {_divisor(self.den)}"


@dataclass(frozen=True)
class Mod:
    num: "Expr"
    den: "int | Expr"

    def evaluate(self, env: Mapping[str, int]) -> int:
        return self.num.evaluate(env) % evaluate(self.den, env)

    def key(self) -> tuple:
        return (2, _key_text(self.num), _key_text(self.den))

    def __str__(self) -> str:
        return f"{_operand(self.num)} % {_divisor(self.den)}"


Atom = Union[Symbol, FloorDiv, Mod]


def _key_text(d: "int | Expr") -> str:
    """Text for ordering atoms: the expanded form, so that how a value prints never changes its order."""
    return str(d) if isinstance(d, int) else d.expanded()
Monomial = tuple  # sorted tuple of atoms; () is the constant term


def _operand(e: "Expr") -> str:
    """The left operand of `//` or `%`: a sum needs parentheses, a product does not."""
    return f"({e})" if len(e.terms) > 1 else str(e)


def _divisor(d: "int | Expr") -> str:
    if isinstance(d, int):
        return str(d)
    return str(d) if d.atom() is not None and isinstance(d.atom(), Symbol) else f"({d})"


# --------------------------------------------------------------------------- Expr


class Expr:
    """An immutable, hashable polynomial over atoms with int coefficients.

    `terms` is a sorted tuple of (monomial, coefficient), constant last, no
    zero coefficient. Build with `Expr.symbol` and arithmetic; never wraps a
    constant alone.
    """

    __slots__ = ("terms", "_hash", "_text")

    def __init__(self, terms: tuple, text: str | None = None) -> None:
        object.__setattr__(self, "terms", terms)
        object.__setattr__(self, "_hash", hash(terms))
        # A shorter way to print the same value (a product kept factored); not part of identity.
        object.__setattr__(self, "_text", text)

    def __setattr__(self, name, value):
        raise AttributeError("Expr is immutable")

    # -- construction ------------------------------------------------------
    @staticmethod
    def symbol(name: str) -> "Expr":
        return Expr((((Symbol(name),), 1),))

    @staticmethod
    def _from(poly: dict) -> "int | Expr":
        """A dict monomial -> coefficient as an int (if constant) or an Expr."""
        items = [(m, c) for m, c in poly.items() if c != 0]
        if not any(m for m, _ in items):
            return sum(c for _, c in items)
        items.sort(key=_term_order)
        return Expr(tuple(items))

    @staticmethod
    def _atom(atom: Atom) -> "Expr":
        return Expr((((atom,), 1),))

    def poly(self) -> dict:
        return dict(self.terms)

    # -- reading -------------------------------------------------------------
    @property
    def const(self) -> int:
        return dict(self.terms).get((), 0)

    def atom(self) -> Atom | None:
        """The atom when this Expr is exactly one atom with coefficient 1."""
        if len(self.terms) == 1 and len(self.terms[0][0]) == 1 and self.terms[0][1] == 1:
            return self.terms[0][0][0]
        return None

    def symbols(self) -> frozenset[str]:
        out: set[str] = set()
        for mono, _ in self.terms:
            for a in mono:
                out |= _atom_symbols(a)
        return frozenset(out)

    def evaluate(self, env: Mapping[str, int]) -> int:
        total = 0
        for mono, coef in self.terms:
            value = coef
            for a in mono:
                value *= a.evaluate(env)
            total += value
        return total

    def affine(self) -> tuple[dict[str, int], int] | None:
        """({symbol: coefficient}, constant) when this is a*H + b*W + c; else None."""
        coefs: dict[str, int] = {}
        const = 0
        for mono, c in self.terms:
            if not mono:
                const = c
            elif len(mono) == 1 and isinstance(mono[0], Symbol):
                coefs[mono[0].name] = c
            else:
                return None
        return coefs, const

    # -- arithmetic ------------------------------------------------------------
    def __add__(self, other):
        if not isinstance(other, (int, Expr)) or isinstance(other, bool):
            return NotImplemented
        poly = self.poly()
        for m, c in _poly_of(other).items():
            poly[m] = poly.get(m, 0) + c
        return Expr._from(poly)

    __radd__ = __add__

    def __neg__(self):
        return Expr._from({m: -c for m, c in self.terms})

    def __pos__(self):
        return self

    def __sub__(self, other):
        if not isinstance(other, (int, Expr)) or isinstance(other, bool):
            return NotImplemented
        return self + (-other)

    def __rsub__(self, other):
        if not isinstance(other, int) or isinstance(other, bool):
            return NotImplemented
        return (-self) + other

    def __mul__(self, other):
        if not isinstance(other, (int, Expr)) or isinstance(other, bool):
            return NotImplemented
        out: dict = {}
        for m1, c1 in self.terms:
            for m2, c2 in _poly_of(other).items():
                m = tuple(sorted(m1 + m2, key=_atom_key))
                out[m] = out.get(m, 0) + c1 * c2
        return Expr._from(out)

    __rmul__ = __mul__

    def __floordiv__(self, other):
        if not isinstance(other, (int, Expr)) or isinstance(other, bool):
            return NotImplemented
        return floordiv(self, other)

    def __rfloordiv__(self, other):
        if not isinstance(other, int) or isinstance(other, bool):
            return NotImplemented
        return floordiv(other, self)

    def __mod__(self, other):
        if not isinstance(other, (int, Expr)) or isinstance(other, bool):
            return NotImplemented
        return mod(self, other)

    def __rmod__(self, other):
        if not isinstance(other, int) or isinstance(other, bool):
            return NotImplemented
        return mod(other, self)

    # -- identity and text -----------------------------------------------------
    def __eq__(self, other) -> bool:
        """Structural equality (same normal form); `compare_eq` asks about values."""
        return isinstance(other, Expr) and self.terms == other.terms

    def __hash__(self) -> int:
        return self._hash

    def __bool__(self) -> bool:
        raise TypeError(f"the truth of {self} depends on the input size; use shapes.at_least_one or compare_eq")

    def __str__(self) -> str:
        return self._text if self._text is not None else self.expanded()

    def expanded(self) -> str:
        """The normal form as text, every product multiplied out."""
        out = ""
        for i, (mono, coef) in enumerate(self.terms):
            text = _term_text(mono, abs(coef), alone=(i == 0 and coef < 0))
            if i == 0:
                out = ("-" if coef < 0 else "") + text
            else:
                out += (" - " if coef < 0 else " + ") + text
        return out

    def __repr__(self) -> str:
        return f"Expr({str(self)!r})"


def _atom_key(a: Atom) -> tuple:
    return a.key()


def _term_order(item) -> tuple:
    mono, _ = item
    # Higher degree first, the constant last: "H * W + 2 * H + 1".
    return (0 if mono else 1, -len(mono), tuple(a.key() for a in mono))


def _term_text(mono: Monomial, coef: int, alone: bool) -> str:
    """One term without its sign. `alone`: a leading negated single atom (needs parentheses)."""
    if not mono:
        return str(coef)
    factors = [str(coef)] if coef != 1 else []
    several = len(mono) + len(factors) > 1 or alone
    for a in mono:
        s = str(a)
        # `2 * H // 2` would read as (2 * H) // 2 and `-H // 2` as (-H) // 2.
        factors.append(f"({s})" if several and not isinstance(a, Symbol) else s)
    return " * ".join(factors)


def _atom_symbols(a: Atom) -> set[str]:
    if isinstance(a, Symbol):
        return {a.name}
    out = set(a.num.symbols())
    if isinstance(a.den, Expr):
        out |= a.den.symbols()
    return out


def _poly_of(x: "int | Expr") -> dict:
    if isinstance(x, Expr):
        return x.poly()
    return {(): x} if x else {}


# --------------------------------------------------------------------------- // and %


def floordiv(num: "int | Expr", den: "int | Expr", canonical: bool = False) -> "int | Expr":
    """`num // den`, folded.

    Terms of `num` divisible by `den` come out of the division, a common
    factor cancels, and `(x // a + c) // b` becomes `(x + c*a) // (a*b)`.
    The constant left inside keeps |c| < den (truncation: `(H - 1) // 2 + 1`
    stays readable); `canonical=True` makes it 0 <= c < den instead, the
    normal form that `compare_eq` compares.
    """
    if isinstance(den, Expr):
        if isinstance(num, int) and num == 0:
            return 0
        return Expr._atom(FloorDiv(_as_expr(num), den))
    if den == 0:
        raise ZeroDivisionError("division by zero")
    if isinstance(num, int):
        return num // den
    if den < 0:  # a // -n == (-a) // n
        num, den = -num, -den
    if den == 1:
        return num
    whole: dict = {}
    rest: dict = {}
    for m, c in num.terms:
        if m and c % den == 0:
            whole[m] = c // den
        else:
            rest[m] = c
    const = rest.pop((), 0)
    outside = Expr._from(whole)
    if not rest:
        return outside + const // den
    # Pull whole multiples of den out of the constant.
    lift = const // den if canonical else (abs(const) // den) * (1 if const >= 0 else -1)
    const -= lift * den
    inner = Expr._from({**rest, (): const})
    return outside + lift + _floor_atom(inner, den, canonical)


def _floor_atom(inner: "Expr", den: int, canonical: bool) -> "int | Expr":
    g = math.gcd(den, *(c for _, c in inner.terms))
    if g > 1:  # floor(g*a / (g*b)) == floor(a / b)
        inner, den = Expr._from({m: c // g for m, c in inner.terms}), den // g
        if den == 1:
            return inner
    nested = _single_floor(inner)
    if nested is not None:  # (x // a + c) // b == (x + c*a) // (a*b)
        (x, a), c = nested
        return floordiv(x + c * a, a * den, canonical)
    return Expr._atom(FloorDiv(inner, den))


def _single_floor(e: "Expr"):
    """((x, a), c) when e is `x // a + c` with an int a; else None."""
    variable = [(m, c) for m, c in e.terms if m]
    if len(variable) != 1 or variable[0][1] != 1 or len(variable[0][0]) != 1:
        return None
    atom = variable[0][0][0]
    if isinstance(atom, FloorDiv) and isinstance(atom.den, int):
        return (atom.num, atom.den), e.const
    return None


def mod(num: "int | Expr", den: "int | Expr") -> "int | Expr":
    """`num % den` with Python's sign rule, folded."""
    if isinstance(den, Expr):
        if isinstance(num, int) and num == 0:
            return 0
        return Expr._atom(Mod(_as_expr(num), den))
    if den == 0:
        raise ZeroDivisionError("modulo by zero")
    if isinstance(num, int):
        return num % den
    if den < 0:  # a % -n == -((-a) % n)
        return -mod(-num, -den)
    rest = {m: c % den for m, c in num.terms}
    rest = {m: c for m, c in rest.items() if c}
    inner = Expr._from(rest)
    if isinstance(inner, int):
        return inner % den
    g = math.gcd(den, *(c for _, c in inner.terms))
    if g > 1:  # (g*a) % (g*b) == g * (a % b)
        reduced = Expr._from({m: c // g for m, c in inner.terms})
        return g * mod(reduced, den // g)
    return Expr._atom(Mod(inner, den))


def _as_expr(x: "int | Expr") -> "Expr":
    if isinstance(x, Expr):
        return x
    return _Const(x)


class _Const(Expr):
    """A constant dividend over a symbolic divisor (`8 // H`): the one place a number sits in an Expr."""

    __slots__ = ()

    def __init__(self, value: int) -> None:
        super().__init__((((), value),))


# --------------------------------------------------------------------------- normal form


def canonical(d: "int | Expr") -> "int | Expr":
    """A normal form for comparing values: `%` expanded, floors with 0 <= constant < divisor.

    Two dims with the same canonical form are equal for every size; the
    converse does not always hold (then `compare_eq` says None).
    """
    if isinstance(d, int):
        return d
    total: "int | Expr" = 0
    for mono, coef in d.terms:
        value: "int | Expr" = coef
        for a in mono:
            value = value * _canonical_atom(a)
        total = total + value
    return total


def _canonical_atom(a: Atom) -> "int | Expr":
    if isinstance(a, Symbol):
        return Expr._atom(a)
    num = canonical(a.num)
    den = canonical(a.den)
    if isinstance(a, Mod):  # x % n == x - n * (x // n)
        return num - den * floordiv(num, den, canonical=True)
    return floordiv(num, den, canonical=True)


# --------------------------------------------------------------------------- questions


def evaluate(d: "int | Expr", env: Mapping[str, int]) -> int:
    return d if isinstance(d, int) else d.evaluate(env)


def symbols_of(shape: Iterable["int | Expr"]) -> list[str]:
    """Symbols of a shape in order of appearance, each once."""
    out: list[str] = []
    for d in shape:
        if isinstance(d, Expr):
            for s in sorted(d.symbols()):
                if s not in out:
                    out.append(s)
    return out


def is_concrete(shape) -> bool:
    return isinstance(shape, tuple) and all(isinstance(d, int) for d in shape)


def compare_eq(a: "int | Expr", b: "int | Expr") -> bool | None:
    """Is a == b for every input size (True), for none (False), or for some (None)?"""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    diff = canonical(a - b)
    if isinstance(diff, int):
        return diff == 0
    if _zero_on_samples(diff):
        return None
    aff = diff.affine()
    if aff is not None:
        return False if not _affine_has_zero(*aff) else None
    lo, hi = _range(diff)
    return False if lo > 0 or hi < 0 else None


def at_least_one(d: "int | Expr") -> bool | None:
    """Is d >= 1 for every input size (True), for none (False), or for some (None)?"""
    if isinstance(d, int):
        return d >= 1
    aff = d.affine()
    if aff is not None:
        coefs, const = aff
        lowest = sum(coefs.values()) + const  # every symbol at 1
        if all(c > 0 for c in coefs.values()):
            return True if lowest >= 1 else None
        if all(c < 0 for c in coefs.values()):
            return False if lowest < 1 else None
        return None
    lo, hi = _range(d)
    if lo >= 1:
        return True
    if hi < 1:
        return False
    return None


# Sizes tried before attempting a proof: small ones, where networks break, and a few large.
_SAMPLE_SIZES = tuple(range(1, 65)) + (96, 127, 128, 224, 255, 256, 511, 512, 1000, 1024)


def _zero_on_samples(d: "Expr") -> bool:
    """Is d zero at one of a few hundred typical sizes? (A quick "it depends" before any proof.)"""
    names = sorted(d.symbols())
    if len(names) == 1:
        points = [(v,) for v in _SAMPLE_SIZES]
    elif len(names) == 2:
        points = list(itertools.product(_SAMPLE_SIZES[:16] + (32, 64, 224), repeat=2))
    else:
        rng = random.Random(0)
        points = [tuple(rng.choice(_SAMPLE_SIZES) for _ in names) for _ in range(1000)]
    value = compile_dims([d], names)
    for values in points:
        try:
            if value(values) == (0,):
                return True
        except ZeroDivisionError:
            continue
    return False


def _affine_has_zero(coefs: dict[str, int], const: int) -> bool:
    """Does sum(k_i * S_i) + const == 0 have a solution with every S_i >= 1?"""
    ks = list(coefs.values())
    g = math.gcd(*ks)
    if const % g:
        return False
    if any(k > 0 for k in ks) and any(k < 0 for k in ks):
        return True  # mixed signs: a positive kernel vector shifts any solution into range
    if ks[0] < 0:
        ks, const = [-k for k in ks], -const
    # sum k_i * S_i == -const with S_i >= 1: is -const - sum(k) a sum of k_i's (coin problem)?
    target = -const - sum(ks)
    if target < 0:
        return False
    step = [k // g for k in ks]
    target //= g
    bound = max(step) ** 2  # above the Frobenius number, every multiple of 1 is reachable
    if target > bound:
        return True
    reach = [True] + [False] * target
    for v in range(1, target + 1):
        reach[v] = any(v >= k and reach[v - k] for k in step)
    return reach[target]


def _range(d: "int | Expr") -> tuple[float, float]:
    """Bounds of d over every symbol >= 1, from three sound estimates, the tightest of each end.

    Monotone expressions take their extreme at every symbol = 1; floors of
    affine forms are within (n-1)/n of the exact quotient; interval
    arithmetic covers the rest. d is an integer, so the ends round inwards.
    """
    if isinstance(d, int):
        return d, d
    lo, hi = _interval(d)
    direction = _direction(d)
    if direction:
        at_one = d.evaluate({s: 1 for s in d.symbols()})
        lo, hi = (max(lo, at_one), hi) if direction > 0 else (lo, min(hi, at_one))
    relaxed = _relaxed_range(d)
    if relaxed is not None:
        lo, hi = max(lo, relaxed[0]), min(hi, relaxed[1])
    return (math.ceil(lo) if lo != -math.inf else lo), (math.floor(hi) if hi != math.inf else hi)


def _interval(d: "Expr") -> tuple[float, float]:
    lo = hi = 0.0
    for mono, coef in d.terms:
        t_lo, t_hi = float(coef), float(coef)
        for a in mono:
            t_lo, t_hi = _mul_range((t_lo, t_hi), _atom_range(a))
        lo, hi = lo + t_lo, hi + t_hi
    return lo, hi


def _relaxed_range(d: "Expr") -> tuple[float, float] | None:
    relaxed = _relax(d)
    if relaxed is None:
        return None
    coefs, lo, hi = relaxed
    at_one = sum(coefs.values())
    rising = any(c > 0 for c in coefs.values())
    falling = any(c < 0 for c in coefs.values())
    if rising and falling:
        return None
    return (-math.inf if falling else float(at_one + lo)), (math.inf if rising else float(at_one + hi))


def _relax(d: "int | Expr"):
    """d as an affine form of the symbols plus a constant in [lo, hi], or None.

    floor(x / n) lies in [x/n - (n-1)/n, x/n]; x % n in [0, n-1].
    """
    if isinstance(d, int):
        return {}, Fraction(d), Fraction(d)
    coefs: dict[str, Fraction] = {}
    lo = hi = Fraction(0)
    for mono, c in d.terms:
        if not mono:
            lo, hi = lo + c, hi + c
            continue
        if len(mono) != 1 or (not isinstance(mono[0], Symbol) and not isinstance(mono[0].den, int)):
            return None
        a = mono[0]
        if isinstance(a, Symbol):
            part, a_lo, a_hi = {a.name: Fraction(1)}, Fraction(0), Fraction(0)
        elif isinstance(a, Mod):
            part, a_lo, a_hi = {}, Fraction(0), Fraction(a.den - 1)
        else:
            inner = _relax(a.num)
            if inner is None:
                return None
            n = a.den
            part = {k: v / n for k, v in inner[0].items()}
            a_lo, a_hi = inner[1] / n - Fraction(n - 1, n), inner[2] / n
        for k, v in part.items():
            coefs[k] = coefs.get(k, Fraction(0)) + c * v
        lo, hi = (lo + c * a_lo, hi + c * a_hi) if c > 0 else (lo + c * a_hi, hi + c * a_lo)
    return {k: v for k, v in coefs.items() if v}, lo, hi


def _atom_range(a: Atom) -> tuple[float, float]:
    if isinstance(a, Symbol):
        return 1, math.inf
    if isinstance(a.den, int):
        if isinstance(a, Mod):
            return 0, a.den - 1
        lo, hi = _range(a.num)
        return (math.floor(lo / a.den) if lo != -math.inf else lo,
                math.floor(hi / a.den) if hi != math.inf else hi)
    return -math.inf, math.inf


def _mul_range(x: tuple[float, float], y: tuple[float, float]) -> tuple[float, float]:
    def times(p: float, q: float) -> float:
        return 0.0 if p == 0 or q == 0 else p * q
    products = [times(p, q) for p in x for q in y]
    return min(products), max(products)


def _direction(d: "Expr") -> int:
    """+1 if d never decreases as any symbol grows, -1 if it never increases, 0 if unknown."""
    seen = set()
    for mono, coef in d.terms:
        if not mono:
            continue
        if len(mono) == 1:
            step = _atom_direction(mono[0])
        else:  # a product of sizes grows with each of them
            step = 1 if all(isinstance(a, Symbol) for a in mono) else 0
        if step == 0:
            return 0
        seen.add(step if coef > 0 else -step)
    return seen.pop() if len(seen) == 1 else 0


def _atom_direction(a: Atom) -> int:
    if isinstance(a, Symbol):
        return 1
    if isinstance(a, FloorDiv) and isinstance(a.den, int):
        return _direction(a.num)
    return 0


# --------------------------------------------------------------------------- size formulas


def conv_out(size: "int | Expr", k: int, s: int = 1, p: int = 0, d: int = 1) -> "int | Expr":
    """Output size of a convolution: (size + 2p - d(k-1) - 1) // s + 1, PyTorch's formula."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def pool_out(size: "int | Expr", k: int, s: int, p: int = 0, ceil: bool = False, d: int = 1) -> "int | Expr":
    """Output size of max/avg pooling, exactly as PyTorch computes it.

    With ceil=True PyTorch rounds up, then drops the last window when it would
    start beyond the input and its left padding. That equals
    min(ceil((size + 2p - d(k-1) - 1) / s) + 1, ceil((size + p) / s)), and
    which of the two is smaller does not depend on the size: the second wins
    exactly when p + s - 1 >= d(k-1) + 1. So the result is one formula, also
    for symbolic sizes.
    """
    span = d * (k - 1) + 1
    if not ceil:
        return (size + 2 * p - span) // s + 1
    if isinstance(size, int):
        out = (size + 2 * p - span + s - 1) // s + 1
        if (out - 1) * s >= size + p:  # the last window starts outside: PyTorch drops it
            out -= 1
        return out
    if p + s - 1 >= span:
        return (size + p + s - 1) // s
    return (size + 2 * p - span + s - 1) // s + 1


# --------------------------------------------------------------------------- shapes


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
Dim = Union[int, Expr]
Shape = tuple  # tuple[Dim, ...], channels first, without the batch dimension
ShapeOrUnknown = Union[tuple, _Unknown]


def format_dim(d: Dim) -> str:
    return str(d)


def format_shape(shape: ShapeOrUnknown) -> str:
    """`[64, H, 28]`; `?` for a shape that could not be inferred."""
    if shape is UNKNOWN:
        return "?"
    return "[" + ", ".join(str(d) for d in shape) + "]"


def shape_json(shape: ShapeOrUnknown) -> list | None:
    """Ints stay ints, expressions become strings; None for an unknown shape."""
    if shape is UNKNOWN:
        return None
    return [d if isinstance(d, int) else str(d) for d in shape]


def numel(shape: Shape) -> "int | Expr":
    """The product of the dims; a symbolic product prints factored when that is shorter:
    `16 * (H // 4 - 2) * (W // 4 - 2)` rather than its nine expanded terms."""
    out: "int | Expr" = 1
    for d in shape:
        out = out * d
    if isinstance(out, int):
        return out
    const = math.prod(d for d in shape if isinstance(d, int))
    factors = ([str(const)] if const != 1 else []) + [_factor(d) for d in shape if isinstance(d, Expr)]
    factored = " * ".join(factors)
    expanded = out.expanded()
    return Expr(out.terms, factored) if len(factored) < len(expanded) else out


def _factor(d: "Expr") -> str:
    text = str(d)
    simple = len(d.terms) == 1 and d.terms[0][1] == 1 and all(isinstance(a, Symbol) for a in d.terms[0][0])
    return text if simple else f"({text})"


def evaluate_shape(shape: Shape, env: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(evaluate(d, env) for d in shape)


def parse_dim(text: str) -> "int | Expr":
    """Read back a dim printed by `str()` (ints, symbols, + - * // % and parentheses)."""
    import ast

    def walk(node) -> "int | Expr":
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            return Expr.symbol(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = walk(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(f"not a dimension expression: {text!r}")

    return walk(ast.parse(text, mode="eval"))


def _binops() -> dict:
    import ast
    import operator
    return {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
            ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}


_BINOPS = _binops()


def compile_dims(dims: Iterable["int | Expr"], names: list[str], rel: str | None = None) -> Callable:
    """A fast function of the symbols' values (a tuple in `names` order).

    Without `rel` it returns the dims' values as a tuple; with rel "==" or
    ">=" (and exactly two dims) it returns whether the relation holds. The
    solver calls these thousands of times, so they are compiled to Python
    once: `str()` of a dim is Python syntax whose only names are symbols.
    """
    index = {name: i for i, name in enumerate(names)}

    def source(d: "int | Expr") -> str:
        return _IDENT.sub(lambda m: f"_v[{index[m.group(0)]}]", f"({d})")

    parts = [source(d) for d in dims]
    body = f" {rel} ".join(parts) if rel else "(" + ", ".join(parts) + ",)"
    return eval(f"lambda _v: {body}", {"__builtins__": {}})  # noqa: S307 - text we printed ourselves


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
