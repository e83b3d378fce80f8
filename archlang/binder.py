"""The one argument binder: a call's actuals to the callee's formals, by position index.

Ops (`conv(64, k=3)`), block calls (`Residual(128, s=2)`), network parameters
(`--set`, `Program.network(**params)`) all bind here, so they agree on what a
call means and report E202, E203, E210 and E214 alike.

`map_actuals_to_formals` is pure (mypy's `argmap.map_actuals_to_formals` is
the model): actual i is the i-th argument as written; positional actual i
goes to formal i, a keyword to the formal of that name or alias. Nothing is
found by comparing values or AST nodes, which compare equal without their
spans: `B(4, 4)` binds its second 4 to the second parameter because it is the
second argument. `bind` reports what the mapping found; checking and
converting the values is the caller's (the op table's kinds, a block's
defaults, a network's values from Python).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from .diagnostics import suggest
from .source import Span


@dataclass(frozen=True)
class Formal:
    """One declared parameter."""

    name: str
    required: bool = True
    aliases: tuple[str, ...] = ()
    default_text: str = ""        # as shown in a signature: "1", "k", "[16, 32]"
    doc: str = ""                 # "output channels", shown when it is missing
    span: Span | None = None      # where it is declared, if in a spec

    def shown(self) -> str:
        return self.name if self.required else f"{self.name}={self.default_text}"


class Actual(NamedTuple):
    """One argument as written: `name` is None for a positional one.

    `span` covers the value (None for values from Python: `--set`, the API);
    `name_span` the keyword; `term` the value as a term (`terms.py`), where the
    elaborator computed one. (A tuple: a spec of 10,000 layers makes as many.)
    """

    name: str | None
    value: Any
    span: Span | None = None
    name_span: Span | None = None
    term: Any = None              # the value written over a block's variables (`terms`); None: the value


@dataclass(frozen=True)
class Signature:
    """What a call is checked against, and how the callee is named in messages."""

    title: str                               # "conv", "Residual", "network ResNet"
    formals: tuple[Formal, ...]
    word: str = "argument"                   # "argument" (ops) or "parameter" (blocks, networks)
    # Other spellings users bring from PyTorch: out_channels -> out.
    renames: Mapping[str, str] = field(default_factory=dict)
    # Names that are no argument because the value comes from elsewhere, and why.
    explained: Mapping[str, str] = field(default_factory=dict)
    missing_help: Callable[[Formal], str] | None = None   # default: the signature
    span: Span | None = None                 # the callee's declaration (a network's header)
    spellings: dict[str, int] = field(init=False, repr=False, compare=False)   # name or alias -> index

    def text(self) -> str:
        """`out, k, s=1, p=0`."""
        return ", ".join(f.shown() for f in self.formals)

    def __post_init__(self) -> None:
        spellings = {alias: i for i, f in enumerate(self.formals) for alias in f.aliases}
        spellings.update({f.name: i for i, f in enumerate(self.formals)})
        object.__setattr__(self, "spellings", spellings)   # a frozen dataclass: set once, here

    def index(self, name: str) -> int | None:
        """The formal called `name` or one of its aliases."""
        return self.spellings.get(name)


@dataclass
class ArgMap:
    """What `map_actuals_to_formals` found; every list holds indices."""

    formal_to_actual: list[int | None]      # per formal: the actual bound to it
    extra: list[int] = field(default_factory=list)         # positionals past the last formal
    unknown: list[int] = field(default_factory=list)       # keywords that name no formal
    repeated: list[int] = field(default_factory=list)      # keywords for a formal already bound
    missing: list[int] = field(default_factory=list)       # required formals left unbound


def map_actuals_to_formals(actual_names: Sequence[str | None], signature: Signature) -> ArgMap:
    """Bind by index: positional actual i to formal i, keywords by name or alias.

    `actual_names[i]` is None for a positional actual. A keyword for a formal
    that a positional (or an earlier keyword) already filled is `repeated`;
    the first binding stands.
    """
    formals = signature.formals
    result = ArgMap([None] * len(formals))
    position = 0
    for ai, name in enumerate(actual_names):
        if name is None:
            if position < len(formals):
                result.formal_to_actual[position] = ai
            else:
                result.extra.append(ai)
            position += 1
            continue
        fi = signature.index(name)
        if fi is None:
            result.unknown.append(ai)
        elif result.formal_to_actual[fi] is not None:
            result.repeated.append(ai)
        else:
            result.formal_to_actual[fi] = ai
    result.missing = [fi for fi, f in enumerate(formals) if f.required and result.formal_to_actual[fi] is None]
    return result


class Binding(NamedTuple):
    """Per formal, the actual bound to it (None: none was, take the default); `ok` when the
    call had no binding problem (the values themselves are still to be checked)."""

    formals: list[Actual | None]
    ok: bool


def bind(signature: Signature, actuals: Sequence[Actual], call_span: Span | None, report) -> Binding:
    """Map a call's actuals to the formals and report every problem found.

    `report` is anything with `error(code, message, span, **kw)` (a Collector
    or the elaborator's Reporter). A call without a span (values from Python)
    reports a missing value at the formal's declaration.
    """
    found = map_actuals_to_formals([a.name for a in actuals], signature)
    if found.extra:
        _too_many(signature, actuals, found.extra, report)
    meant: set[int] = set()   # formals that an unknown keyword was probably meant to be
    for ai in found.unknown:
        close = _unknown(signature, actuals[ai], call_span, report)
        if close is not None:
            meant.add(close)
    for ai in found.repeated:
        _repeated(signature, actuals[ai], call_span, report)
    missing = [signature.formals[fi] for fi in found.missing if fi not in meant]  # `kernel_size=3`: one mistake
    if missing:
        _missing(signature, missing, call_span, report)
    ok = not (found.extra or found.unknown or found.repeated or found.missing)
    return Binding([None if ai is None else actuals[ai] for ai in found.formal_to_actual], ok)


# -- the reports -----------------------------------------------------------------------------
def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _too_many(sig: Signature, actuals: Sequence[Actual], extra: list[int], report) -> None:
    given = len(sig.formals) + len(extra)
    first = actuals[extra[0]]
    names = ", ".join(f.name for f in sig.formals) or f"no {sig.word}s"
    report.error("E214", f"{sig.title} takes {_plural(len(sig.formals), sig.word)} ({names}), got "
                         f"{_plural(given, 'positional argument')}", first.span,
                 label="one too many" if len(extra) == 1 else "too many")


def _unknown(sig: Signature, actual: Actual, call_span: Span | None, report) -> int | None:
    """E203 with a did-you-mean; the index of the formal it was probably meant to be."""
    name = actual.name
    target = sig.renames.get(name) or suggest(name, sig.spellings, cutoff=0.5)
    close = sig.index(target) if target is not None else None
    help = f"did you mean `{sig.formals[close].name}`?" if close is not None else None
    if name in sig.explained:
        help = sig.explained[name]
    takes = f"it takes {sig.text()}" if sig.formals else f"it takes no {sig.word}s"
    span = actual.name_span or call_span
    report.error("E203", f"{sig.title} has no {sig.word} {name}", span,
                 label=f"unknown {sig.word}" if actual.name_span is not None else "",
                 notes=[takes], help=help, related=_declared(sig, span))
    return close


def _repeated(sig: Signature, actual: Actual, call_span: Span | None, report) -> None:
    fi = sig.index(actual.name)
    canonical = sig.formals[fi].name
    also = f" (as {actual.name})" if actual.name != canonical else ""
    report.error("E210", f"{sig.word} {canonical}{also} of {sig.title} given twice", actual.name_span or call_span,
                 label="given again here" if actual.name_span is not None else "")


def _missing(sig: Signature, formals: list[Formal], call_span: Span | None, report) -> None:
    """E202: one for the call, naming every missing value; from Python, one at each declaration."""
    def described(f: Formal) -> str:
        return f"{f.name} ({f.doc})" if f.doc else f.name

    def help(f: Formal) -> str:
        return sig.missing_help(f) if sig.missing_help is not None else f"{sig.title}({sig.text()})"

    if call_span is None:   # no call in a spec (values from Python): point at each declaration
        for f in formals:
            report.error("E202", f"{sig.title} needs a value for its {sig.word} {described(f)}", f.span,
                         label="declared without a default", help=help(f))
        return
    names = [described(f) for f in formals]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    word = sig.word if len(names) == 1 else sig.word + "s"
    if len(formals) == 1 and formals[0].span is not None:
        related = [(formals[0].span, "declared here, without a default")]
    else:
        related = [(sig.span, f"{sig.title} is declared here")] if sig.span is not None else []
    report.error("E202", f"{sig.title} needs {word} {listed}", call_span, help=help(formals[0]), related=related)


def _declared(sig: Signature, span: Span | None) -> list:
    """A keyword from Python has no place in the spec: show where the callee is declared instead."""
    if span is not None or sig.span is None:
        return []
    return [(sig.span, f"{sig.title} is declared here")]
