"""Function and method calls of a traced forward as calls of the op table.

A call whose function names a layer class (`F.relu`, `torch.flatten`,
`x.sigmoid()`) is that layer (`torch_ops.function_as_module`). The rest are
here, each by what it computes:

- `a + b`, `a * b` of two tensors: the `add` and `mul` merges; `torch.cat`
  along the channels: `concat`;
- `x + 3`, `x * 0.5`, `x / 6`, `x - 1` (a tensor and a number):
  `scale_shift`, the per-channel affine map;
- `x.mean([2, 3])`: `gap`, then `flatten` unless `keepdim`;
- `x.view(n, -1)` and `x.reshape(...)` that flatten: `flatten`; one that
  keeps the shape: nothing;
- `x.contiguous()`, `x.clone()`: nothing (the same values).
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import torch
import torch.fx as fx

from .. import ops
from . import reverse, torch_ops
from .torch_ops import NotAnOp


def convert(conv, node: fx.Node) -> Any:
    """The call id (or ids) of a call_function / call_method node that yields tensors."""
    name = _name(node)
    handler = HANDLERS.get(name) or HANDLERS.get(name.rstrip("_"))
    if handler is not None:
        return handler(conv, node)
    function = node.target if node.op == "call_function" else getattr(torch, name.rstrip("_"), None)
    if function is not None and torch_ops.layer_class_of(function) is not None:
        return _as_layer(conv, node, function)
    raise NotAnOp(f"archlang has no op for {torch_ops.function_name(node.target if node.op == 'call_function' else name)}",
                  needed="an op for it in the op table")


def _name(node: fx.Node) -> str:
    return node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))


def _as_layer(conv, node: fx.Node, function: Callable) -> int:
    module = torch_ops.function_as_module(function, conv.value(node.args), conv.value(node.kwargs))
    source = _tensor_args(node)[0]
    layer = torch_ops.read_layer(module, conv.shape(source))
    return conv.add(node, layer.op, layer.args, [conv.tensor(source)])


def _tensor_args(node: fx.Node) -> list[fx.Node]:
    return [a for a in [*node.args, *node.kwargs.values()] if isinstance(a, fx.Node)]


# --------------------------------------------------------------------------- arithmetic

def _operands(conv, node: fx.Node) -> tuple[Any, Any]:
    args = list(node.args) + [v for k, v in node.kwargs.items() if k in ("other", "input")]
    if len(args) != 2 or set(node.kwargs) - {"other", "input"}:
        raise NotAnOp(f"{_name(node)} with arguments {sorted(node.kwargs)}", needed="a plain binary operation")
    return tuple(_operand(conv, a) for a in args)


def _operand(conv, arg: Any) -> Any:
    """A tensor (its fx node) or a number; a size computed from a tensor is neither."""
    if isinstance(arg, fx.Node):
        value = conv.values.get(arg)
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return arg
        raise NotAnOp(f"an operand computed from sizes or scalars ({arg.name})",
                      needed="numbers known when the model is built")
    if isinstance(arg, numbers.Real) and not isinstance(arg, bool):
        return float(arg)
    raise NotAnOp(f"an operand {arg!r}", needed="a tensor or a number")


def _arith(kind: str) -> Callable:
    def handle(conv, node: fx.Node) -> int:
        a, b = _operands(conv, node)
        if isinstance(a, fx.Node) and isinstance(b, fx.Node):
            return _merge(conv, node, kind, [a, b])
        tensor, number = (a, b) if isinstance(a, fx.Node) else (b, a)
        reversed_operands = tensor is b
        args = reverse.scale_shift_args(kind, number, reversed_operands)
        if args is None:
            raise NotAnOp(reverse.arithmetic_refused(kind, number, reversed_operands),
                          needed="an op for it in the op table")
        return conv.add(node, "scale_shift", args, [conv.tensor(tensor)])
    return handle



def _merge(conv, node: fx.Node, kind: str, operands: list[fx.Node]) -> int:
    if kind not in ("add", "mul"):
        raise NotAnOp(f"{kind} of two tensors", needed=f"a {kind} merge")
    if kind not in ops.OPS:
        raise NotAnOp(f"a product of two tensors ({' * '.join(str(list(conv.shape(o))) for o in operands)})",
                      needed="a mul merge")
    shapes = [conv.shape(o) for o in operands]
    if kind == "add" and len(set(shapes)) > 1:
        raise NotAnOp(f"add of {' and '.join(str(list(s)) for s in shapes)}: archlang's add takes equal shapes",
                      needed="equal shapes (no broadcasting) in every add")
    return conv.add(node, kind, {}, [conv.tensor(o) for o in operands])


def _cat(conv, node: fx.Node) -> int:
    tensors = node.args[0] if node.args else node.kwargs.get("tensors")
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    rank = len(conv.shape(tensors[0])) + 1
    if dim % rank != 1:
        raise NotAnOp(f"torch.cat along dimension {dim}", needed="a concat along another dimension than the channels")
    if len(tensors) == 1:
        return conv.tensor(tensors[0])                  # torch.cat of one tensor: the same values
    return conv.add(node, "concat", {}, [conv.tensor(t) for t in tensors])


# --------------------------------------------------------------------------- pooling and reshaping

def _mean(conv, node: fx.Node) -> int:
    source = node.args[0]
    dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    keepdim = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
    rank = len(conv.shape(source)) + 1
    dims = [dims] if isinstance(dims, int) else list(dims or [])
    if sorted(d % rank for d in dims) != list(range(2, rank)) or rank < 3:
        raise NotAnOp(f"a mean over dimensions {dims} of a rank-{rank} tensor",
                      needed="a mean over other dimensions than all the spatial ones")
    pooled = conv.add(node, "gap", {}, [conv.tensor(source)], shape=(conv.shape(source)[0],) + (1,) * (rank - 2))
    if keepdim:
        return pooled
    return conv.add(node, "flatten", {}, [pooled], shape=(conv.shape(source)[0],))


def _reshape(conv, node: fx.Node) -> int:
    source = node.args[0]
    before, after = conv.shape(source), conv.shape(node)
    if after == before:
        return conv.tensor(source)
    if after == (math.prod(before),):
        return conv.add(node, "flatten", {}, [conv.tensor(source)])
    raise NotAnOp(f"a reshape of {list(before)} to {list(after)}", needed="a reshape op")


def _chunk(conv, node: fx.Node) -> tuple[int, ...]:
    """x.chunk(n, dim=1): one chunk call per part (`chunk(n, index=k)`), picked by getitem."""
    source = node.args[0]
    n = node.args[1] if len(node.args) > 1 else node.kwargs.get("chunks")
    dim = node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", 0)
    rank = len(conv.shape(source)) + 1
    if dim % rank != 1:
        raise NotAnOp(f"a chunk along dimension {dim}", needed="a chunk along another dimension than the channels")
    parts = conv.values[node]
    if len(parts) != n or len({p.shape[1] for p in parts}) != 1:
        raise NotAnOp(f"chunk({n}) of {conv.shape(source)[0]} channels: parts of unequal sizes",
                      needed="chunks of unequal sizes")
    return tuple(conv.add(node, "chunk", {"chunks": n, "index": k}, [conv.tensor(source)],
                          shape=tuple(parts[k].shape[1:])) for k in range(n))


def _getitem(conv, node: fx.Node) -> int:
    parts, index = node.args
    ids = conv.ids.get(parts)
    if not isinstance(ids, tuple) or not isinstance(index, int):
        raise NotAnOp(f"an item {index!r} of {parts.name}", needed="indexing of tensors")
    return ids[index]


def _same(conv, node: fx.Node) -> int:
    return conv.tensor(node.args[0])


HANDLERS: dict[str, Callable] = {
    "add": _arith("add"), "iadd": _arith("add"), "radd": _arith("add"),
    "mul": _arith("mul"), "imul": _arith("mul"), "rmul": _arith("mul"),
    "sub": _arith("sub"), "isub": _arith("sub"),
    "truediv": _arith("div"), "itruediv": _arith("div"), "div": _arith("div"),
    "cat": _cat, "concat": _cat, "concatenate": _cat,
    "mean": _mean,
    "view": _reshape, "reshape": _reshape,
    "contiguous": _same, "clone": _same,
    "chunk": _chunk, "getitem": _getitem,
}
