"""Calls: a call's arguments evaluated, bound to an op's, a block's or a network's parameters.

Every binding goes through `binder.bind`, by position index; this module
makes the `Signature`s of blocks and networks, evaluates the arguments as
written, fills a block's defaults, and finds the did-you-mean of an unknown
layer (an op, a block, or a PyTorch class name typed from habit).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from . import binder, syntax as ast
from .binder import Actual, Formal, Signature
from .expressions import EvalContext, Evaluator
from .ops import OPS
from .reporter import Reporter
from .source import Span
from .values import FAIL, Env, TensorRef, from_python, out_of_range, show

_LITERALS = frozenset({ast.Num, ast.Str, ast.Bool})


def evaluate_arguments(call: ast.Call, context: Callable[[], EvalContext], evaluate: Evaluator,
                       report: Reporter, term: Callable[[Any], Any] | None = None) -> tuple[list[Actual], bool]:
    """The call's arguments as written, evaluated; False when one could not be (already reported).

    `context` is asked for only when an argument is more than a literal: most are.
    `term`, when given, writes an argument's expression as a term (`terms.py`).
    """
    actuals: list[Actual] = []
    ok = True
    ctx = None
    for arg in call.args:
        written = None
        if type(arg.value) in _LITERALS:
            value = arg.value.value
        else:
            ctx = ctx or context()
            value = evaluate(arg.value, ctx)
            if term is not None and value is not FAIL and not isinstance(value, TensorRef):
                written = term(arg.value)
        ok = ok and value is not FAIL
        actuals.append(Actual(arg.name.name if arg.name else None, value, arg.value.span,
                              arg.name.span if arg.name else None, written))
    return actuals, ok


def tensor_argument(ref: TensorRef, span: Span | None, report) -> None:
    """E204: a tensor where a value is wanted (a block's parameter, an op's number)."""
    report.error("E204", f"`{ref.name}` is a tensor, not an argument value", span,
                 help=f"use one of its sizes, like {ref.name}.c")


def shown(actuals: Iterable[Actual]) -> str:
    """The arguments of a block call as the table and the call stack show them: `64, s=2`."""
    return ", ".join(show(a.value) if a.name is None else f"{a.name}={show(a.value)}" for a in actuals)


# -- blocks ----------------------------------------------------------------------------------------
def _formals(params: tuple[ast.Param, ...]) -> tuple[Formal, ...]:
    return tuple(Formal(p.name.name, p.default is None,
                        default_text=ast.expr_text(p.default) if p.default is not None else "", span=p.name.span)
                 for p in params)


def block_signature(block: ast.BlockDef) -> Signature:
    return Signature(block.name.name, _formals(block.params), "parameter", span=block.name.span)


def bind_block(block: ast.BlockDef, actuals: list[Actual], call_span: Span, report: Reporter,
               defaults: EvalContext, evaluate: Evaluator,
               term: Callable[[Any, Env], Any] | None = None) -> dict[str, Any] | None:
    """The block's parameters' values for a call; None after errors.

    Defaults are evaluated in `defaults`, whose environment receives the
    values in declaration order, so a default may read an earlier parameter.
    With `term` (expression, environment -> term), the environment's `terms`
    receive each parameter's term too: the argument's, or its default's.
    """
    binding = binder.bind(block_signature(block), actuals, call_span, report)
    env = defaults.env
    values = env.vars
    ok = binding.ok
    for actual in actuals:
        if isinstance(actual.value, TensorRef):
            tensor_argument(actual.value, actual.span, report)
            ok = False
    for param, actual in zip(block.params, binding.formals):
        name = param.name.name
        if actual is not None:
            values[name] = actual.value
            if term is not None and actual.term is not None:
                env.set_term(name, actual.term)
        elif param.default is not None:
            values[name] = evaluate(param.default, defaults)
            ok = ok and values[name] is not FAIL
            if term is not None and values[name] is not FAIL:
                env.set_term(name, term(param.default, env))
    return values if ok else None


# -- networks ------------------------------------------------------------------------------------
def network_signature(net: ast.NetworkDef, header: Span) -> Signature:
    title = f"network {net.name.name}"

    def missing_help(formal: Formal) -> str:
        return f"give one: --set {formal.name}=... or network(..., {formal.name}=...)"

    return Signature(title, _formals(net.params), "parameter", missing_help=missing_help, span=header)


def bind_network(net: ast.NetworkDef, overrides: dict[str, Any], header: Span, constants: dict[str, Any],
                 report: Reporter, evaluate: Evaluator) -> Env:
    """The network's parameters: values from Python (`--set`, the API), else the defaults.

    A value from Python has no place in the spec; its problems are shown at
    the network's header.
    """
    env = Env(Env(None, constants))
    actuals = [Actual(name, from_python(value)) for name, value in overrides.items()]
    binding = binder.bind(network_signature(net, header), actuals, None, report)
    for param, actual in zip(net.params, binding.formals):
        name = param.name.name
        if actual is not None:
            why = out_of_range(actual.value)
            if why:
                report.error("E211", f"network {net.name.name}'s parameter {name}: {why}", None,
                             related=[(header, f"network {net.name.name} is declared here")])
            env.vars[name] = FAIL if why else actual.value
        elif param.default is not None:
            env.vars[name] = evaluate(param.default, EvalContext(env, report))
        else:
            env.vars[name] = FAIL
    return env


# -- unknown layers ---------------------------------------------------------------------------------
def _habit(name: str) -> str:
    return name.lower().replace("_", "")


_HABITS: dict[str, str] = {}   # a PyTorch class name users type from habit, as compared -> the op


def habit_name(name: str) -> str | None:
    """The op a name typed from habit means: `Conv2d` -> `conv`, `fc` -> `linear`; else None."""
    if not _HABITS:
        _HABITS.update({_habit(alias): op for op, spec in OPS.items() for alias in spec.torch_names})
    return _HABITS.get(_habit(name))
