"""PyTorch's layers and functions as ops of the table.

A layer (an nn.Module fx keeps whole) is recognised by the class the op
table's constructors make (`reverse.candidates`) and read from its
attributes; the op's module is then built again and compared with it,
attribute by attribute and state_dict entry by entry, so whatever archlang
cannot express is named rather than lost.

A function (`F.relu`, `torch.flatten`, `x.sigmoid()`) is the module class of
the same name (`ReLU`, `Flatten`, `Sigmoid`: compared without case and
underscores), built from the call's own arguments, and then read as a layer.
The few calls that are not layers (merges, arithmetic with a number, means
and reshapes that pool or flatten) are `torch_calls`' business.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import torch
from torch import nn
from torch.fx.operator_schemas import ArgsKwargsPair, normalize_function

from .. import ops
from ..backends import torch_layers
from . import reverse

# torchvision's classes whose code torch_layers copies: the same layer by another name.
SAME_AS = {
    "torchvision.ops.stochastic_depth.StochasticDepth": "StochasticDepth",
    "torchvision.models.convnext.LayerNorm2d": "ChannelLayerNorm",
}
# Call arguments that change nothing about the layer a function stands for.
NOT_LAYER_ARGUMENTS = ("input", "inplace", "training", "train", "_stacklevel")
# Constructor parameters that are no property of the layer.
NOT_PROPERTIES = ("self", "device", "dtype", "inplace", "args", "kwargs")
# Functions named otherwise than their module class.
ALSO = {"interpolate": "Upsample"}


class NotAnOp(Exception):
    """A layer or call no op of the table expresses: `reason` says what would be needed."""

    def __init__(self, reason: str, needed: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.needed = needed


@dataclass(frozen=True)
class Layer:
    """A recognised layer: the op, its arguments (non-default ones) and its state_dict entries."""

    op: str
    args: dict[str, Any]
    state: tuple[str, ...]


def class_name(module: nn.Module) -> str:
    """The class an op's constructor would name for this module."""
    cls = type(module)
    return SAME_AS.get(f"{cls.__module__}.{cls.__qualname__}", cls.__name__)


def is_layer_class(module: nn.Module) -> bool:
    """True when fx should keep the module whole: a class the op table's constructors make."""
    name = class_name(module)
    return any(reverse.candidates(name, rank) for rank in reverse.SAMPLE_SHAPES)


def read_layer(module: nn.Module, shape: tuple[int, ...]) -> Layer:
    """The op a layer is, given its input's shape (without the batch). Raises NotAnOp."""
    name = class_name(module)
    found = reverse.candidates(name, len(shape))
    if not found:
        raise NotAnOp(f"no op of archlang makes {_shown(module)} on an input of rank {len(shape)}",
                      needed=f"an op whose PyTorch layer is {name}")
    problems = []
    for reading in found:
        try:
            args = reverse.arguments(reading, _attributes(module))
        except LookupError as exc:
            problems.append(str(exc))
            continue
        differences = _differences(module, reading.op, shape, args)
        if not differences:
            state = tuple(module.state_dict(keep_vars=True))
            return Layer(reading.op, reverse.nondefault(reading.op, args), state)
        problems.append(f"{ops.format_call(reading.op, args)} makes {'; '.join(differences)}")
    raise NotAnOp("it differs from what archlang's " + " or ".join(r.op for r in found) +
                  " makes: " + "; ".join(problems),
                  needed="arguments of " + " or ".join(r.op for r in found) + " for these attributes")


def _attributes(module: nn.Module) -> dict[str, Any]:
    return {k: v for k, v in vars(module).items() if not k.startswith("_")} | {
        k: getattr(module, k) for k in _properties(type(module)) if hasattr(module, k)}


def _properties(cls: type) -> list[str]:
    """The constructor's parameter names: the attributes that say what the layer is."""
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return []
    return [p for p in params if p not in NOT_PROPERTIES]


def _differences(original: nn.Module, op: str, shape: tuple[int, ...], args: dict) -> list[str]:
    """How the op's module differs from the original: attributes and state_dict entries."""
    cls_name, kwargs = ops.OPS[op].torch([shape], args)
    with torch.device("meta"):
        rebuilt = torch_layers.layer_class(cls_name)(**kwargs)
    out = []
    for prop in _properties(type(original)):
        mine, theirs = getattr(rebuilt, prop, _ABSENT), getattr(original, prop, _ABSENT)
        if _normal(mine) != _normal(theirs):
            out.append(f"{prop}={_value(mine)}, not {_value(theirs)}")
    mine = {k: tuple(v.shape) for k, v in rebuilt.state_dict(keep_vars=True).items()}
    theirs = {k: tuple(v.shape) for k, v in original.state_dict(keep_vars=True).items()}
    if mine != theirs:
        out.append(f"state {_state(mine)}, not {_state(theirs)}")
    return out


_ABSENT = object()


def _normal(value: Any) -> Any:
    """A value compared for what it means: (3, 3) is 3, a tensor by its shape."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape))
    if isinstance(value, (tuple, list)):
        values = tuple(_normal(v) for v in value)
        return values[0] if values and all(v == values[0] for v in values) else values
    return value


def _value(value: Any) -> str:
    if value is _ABSENT:
        return "(none)"
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)}"
    return repr(value)


def _state(entries: dict) -> str:
    return "{" + ", ".join(f"{k}: {list(v)}" for k, v in entries.items()) + "}" if entries else "{}"


def _shown(module: nn.Module) -> str:
    extra = module.extra_repr()
    return f"nn.{type(module).__name__}({extra})" if type(module).__module__.startswith("torch.nn") \
        else f"{type(module).__qualname__}({extra})"


# --------------------------------------------------------------------------- functions as layers

@lru_cache(maxsize=None)
def _classes_by_word() -> dict[str, str]:
    """Each class the op table makes, by its name without case and underscores."""
    found: dict[str, str] = {}
    for op in ops.OPS:
        for rank in reverse.SAMPLE_SHAPES:
            r = reverse.reading(op, rank)
            if r is not None:
                found.setdefault(_word(r.cls), r.cls)
    return found


def _word(name: str) -> str:
    return name.replace("_", "").lower()


def layer_class_of(function: Callable | str) -> str | None:
    """The module class a function or method (by name) stands for: `F.max_pool2d` -> MaxPool2d."""
    name = function if isinstance(function, str) else getattr(function, "__name__", "")
    name = ALSO.get(name, name)
    return _classes_by_word().get(_word(name))


def function_as_module(function: Callable, args: tuple, kwargs: dict) -> nn.Module:
    """The module a function call is: `F.max_pool2d(x, 3, stride=2)` -> nn.MaxPool2d(3, stride=2).

    The call's arguments are bound by name (fx's schemas) and given to the
    class; one the class has no parameter for must be at its default.
    Raises NotAnOp.
    """
    cls_name = layer_class_of(function)
    bound = normalize_function(function, args, kwargs, normalize_to_only_use_kwargs=True)
    if bound is None and inspect.isfunction(function):       # a model's own function: by its signature
        try:
            bound = ArgsKwargsPair((), dict(inspect.signature(function).bind(*args, **kwargs).arguments))
        except TypeError:
            bound = None
    if cls_name is None or bound is None:
        raise NotAnOp(f"archlang has no op for {function_name(function)}")
    cls = torch_layers.layer_class(cls_name)
    accepted = set(_properties(cls))
    kw = {}
    for name, value in bound.kwargs.items():
        if name in NOT_LAYER_ARGUMENTS or isinstance(value, torch.Tensor):   # the data, not the layer
            continue
        if name in accepted:
            kw[name] = value
        elif value not in (None, False):
            raise NotAnOp(f"{function_name(function)} with {name}={value!r}: archlang's layer has no such "
                          f"argument", needed=f"an argument of the op for {name}")
    try:
        with torch.device("meta"):
            return cls(**kw)
    except (TypeError, ValueError) as exc:
        raise NotAnOp(f"{function_name(function)}({', '.join(f'{k}={v!r}' for k, v in kw.items())}) "
                      f"is no {cls_name}: {exc}") from None


def function_name(function: Callable | str) -> str:
    if isinstance(function, str):
        return f"Tensor.{function}"
    module = getattr(function, "__module__", None) or ""
    name = getattr(function, "__name__", repr(function))
    if module.startswith("torch.nn.functional"):
        return f"F.{name}"
    if module.startswith("torch") or module == "":
        return f"torch.{name}"
    return f"{module}.{name}"

