"""The generator's own model of archlang: program templates, their text, and what they mean.

A generated program is a tree of the classes below (expressions, statements,
layers, blocks, one network). Each can print itself as archlang text and
execute itself: execution is this module's reading of docs/language.md,
written without archlang's elaborator. It yields the layers the program must
elaborate to, in creation order (op, bound arguments, inputs, output shape),
or a `Reject` with the diagnostic code the language gives the first mistake.

What it takes from archlang is the op table's argument declarations (names,
aliases, kinds, defaults): they are the language's definition of each call.
Shape rules, binding, names, scoping, blocks, repeat, if, paths and merges
are written here again, as PyTorch's documentation and the language guide
state them, so that a front-end bug shows up as a disagreement.

Shapes are concrete; a dimension that depends on an input symbol is marked in
`T.sym`, so the rules that the language refuses on symbolic sizes (a linear
layer's width) know it.
"""
from __future__ import annotations

import math
from collections import ChainMap
from dataclasses import dataclass, field, replace
from typing import Any

from archlang import ops

ATTRS = {1: ("f",), 2: ("c", "l"), 3: ("c", "h", "w"), 4: ("c", "d", "h", "w")}
UPSAMPLE_MODES = {2: ("nearest", "linear"), 3: ("nearest", "bilinear", "bicubic"), 4: ("nearest", "trilinear")}


class Reject(Exception):
    """The program is not valid: `code` is the diagnostic the language gives it."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(f"{code}: {why}")
        self.code = code
        self.why = why


@dataclass(frozen=True)
class T:
    """A tensor during execution: the layer that made it, its shape, which dims are symbolic,
    and which are exactly an input's symbol (`H`, not `H // 2`), as far as the model knows."""

    node: int
    shape: tuple[int, ...]
    sym: tuple[bool, ...]
    exact: tuple[str | None, ...] = ()
    param: bool = False      # a block's `parameter`: no batch, read only by mul and add


@dataclass
class Layer:
    """A layer the program must elaborate to (an IR node, in creation order)."""

    op: str
    args: dict
    inputs: tuple[int, ...]
    shape: tuple[int, ...]
    sym: tuple[bool, ...]
    label: str | None = None


# =========================================================================== expressions

def literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return repr(value)


class Expr:
    def text(self) -> str:
        raise NotImplementedError

    def value(self, b: "Body") -> Any:
        raise NotImplementedError


@dataclass
class Lit(Expr):
    v: Any

    def text(self) -> str:
        return literal(self.v)

    def value(self, b):
        return tuple(self.v) if isinstance(self.v, list) else self.v


@dataclass
class Name(Expr):
    id: str

    def text(self) -> str:
        return self.id

    def value(self, b):
        if self.id in b.names:
            return b.names[self.id]
        raise Reject("E209", f"unknown name {self.id}")


@dataclass
class Sym(Expr):
    """An input's symbol in the network's body: its size (the generator writes it only where the
    size is exactly the symbol, in `expect`, so it holds at symbolic sizes too)."""

    id: str

    def text(self) -> str:
        return self.id

    def value(self, b):
        if b.active or self.id not in b.run.symbol_sizes:
            raise Reject("E209", f"{self.id} is no symbol seen here")
        return b.run.symbol_sizes[self.id]


@dataclass
class Attr(Expr):
    tensor: str          # "cur" or "in"
    attr: str

    def text(self) -> str:
        return f"{self.tensor}.{self.attr}"

    def value(self, b):
        t = b.cur if self.tensor == "cur" else b.entry
        if t is None:
            raise Reject("E212", f"`{self.tensor}` has no tensor here")
        if self.attr == "shape":
            if any(t.sym):
                raise Reject("SYM", "a symbolic shape read as a value")
            return t.shape
        if self.attr == "rank":
            return len(t.shape)
        names = ATTRS[len(t.shape)]
        if self.attr not in names:
            raise Reject("E213", f"{self.tensor} has no .{self.attr}")
        i = names.index(self.attr)
        if t.sym[i]:   # a value of the symbols: fine at concrete sizes, E204 as an argument at symbolic ones
            raise Reject("SYM", "a symbolic size read as a value")
        return t.shape[i]


@dataclass
class Bin(Expr):
    op: str
    a: Expr
    b: Expr

    def text(self) -> str:
        return f"({self.a.text()} {self.op} {self.b.text()})"

    def value(self, b):
        x, y = self.a.value(b), self.b.value(b)
        if self.op in ("and", "or"):
            return (x and y) if self.op == "and" else (x or y)
        if self.op in ("//", "%") and y == 0:
            raise Reject("E212", "division by zero")
        return {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y, "//": lambda: x // y,
                "%": lambda: x % y, "/": lambda: x / y}[self.op]()


@dataclass
class Cmp(Expr):
    op: str
    a: Expr
    b: Expr

    def text(self) -> str:
        return f"({self.a.text()} {self.op} {self.b.text()})"

    def value(self, b):
        x, y = self.a.value(b), self.b.value(b)
        return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "==": x == y, "!=": x != y}[self.op]


@dataclass
class Not(Expr):
    a: Expr

    def text(self) -> str:
        return f"(not {self.a.text()})"

    def value(self, b):
        return not self.a.value(b)


@dataclass
class Cond(Expr):
    a: Expr
    test: Expr
    b: Expr

    def text(self) -> str:
        return f"({self.a.text()} if {self.test.text()} else {self.b.text()})"

    def value(self, b):
        return self.a.value(b) if self.test.value(b) else self.b.value(b)


@dataclass
class ListE(Expr):
    items: list[Expr]

    def text(self) -> str:
        return "[" + ", ".join(i.text() for i in self.items) + "]"

    def value(self, b):
        return tuple(i.value(b) for i in self.items)


@dataclass
class Index(Expr):
    a: Expr
    i: Expr

    def text(self) -> str:
        return f"{self.a.text()}[{self.i.text()}]"

    def value(self, b):
        seq, i = self.a.value(b), self.i.value(b)
        if not isinstance(seq, tuple):   # a block given an int where it indexes a list
            raise Reject("E212", "cannot index a value that is not a list")
        if not -len(seq) <= i < len(seq):
            raise Reject("E212", "index out of range")
        return seq[i]


@dataclass(frozen=True)
class Ref:
    """A tensor given as an argument (`crop(like=u4)`)."""

    name: str
    t: "T"


@dataclass
class TensorArg(Expr):
    """A tensor's name as an argument: the op reads that tensor's size."""

    name: str

    def text(self) -> str:
        return self.name

    def value(self, b):
        return Ref(self.name, start_of(b, self.name))


@dataclass
class SliceE(Expr):
    a: Expr
    lo: Expr | None
    hi: Expr | None

    def text(self) -> str:
        lo = self.lo.text() if self.lo is not None else ""
        hi = self.hi.text() if self.hi is not None else ""
        return f"{self.a.text()}[{lo}:{hi}]"

    def value(self, b):
        seq = self.a.value(b)
        return seq[None if self.lo is None else self.lo.value(b):None if self.hi is None else self.hi.value(b)]


# Python's functions, as the language guide says archlang's are (floor, ceil and log: math's).
BUILTINS = {"min": min, "max": max, "round": round, "int": int, "abs": abs, "len": len, "sum": sum,
            "floor": math.floor, "ceil": math.ceil, "log": math.log, "pow": pow}


@dataclass
class Call(Expr):
    """A function call: a built-in (Python's), or a function a `let` defines."""

    fn: str
    args: list[Expr]

    def text(self) -> str:
        return f"{self.fn}({', '.join(a.text() for a in self.args)})"

    def value(self, b):
        values = [a.value(b) for a in self.args]
        defined = b.names.get(self.fn)
        if isinstance(defined, Function):
            return defined.call(values)
        if self.fn not in BUILTINS:
            raise Reject("E209", f"unknown function {self.fn}")
        try:
            result = BUILTINS[self.fn](*values)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise Reject("E212", f"{self.fn}: {exc}") from None
        if isinstance(result, complex):  # pow(-8, 0.5)
            raise Reject("E212", f"{self.fn}: a complex result")
        return result


@dataclass
class Function:
    """A function a `let` defines: its parameters, its body, and the names it sees."""

    params: list[str]
    body: Expr
    names: ChainMap

    def call(self, values: list):
        if len(values) != len(self.params):
            raise Reject("E214" if len(values) > len(self.params) else "E202", "argument count")
        scope = Body(None, self.names.new_child(dict(zip(self.params, values))), ChainMap(), None, None, set(),
                     "nested", "main")
        return self.body.value(scope)


@dataclass
class Template:
    """A computed label, `"layer{i + 1}"`: text and expressions."""

    parts: list          # str or Expr

    def text(self) -> str:
        return '"' + "".join(p if isinstance(p, str) else "{" + p.text() + "}" for p in self.parts) + '"'

    def value(self, b) -> str:
        out = []
        for p in self.parts:
            v = p if isinstance(p, str) else p.value(b)
            if isinstance(v, bool) or not isinstance(v, (int, str)):
                raise Reject("E211", "a label part that is no int or string")
            out.append(str(v))
        text = "".join(out)
        if not text or "." in text or not (text[0].isalnum() or text[0] == "_") or \
                any(not (ch.isalnum() or ch in "_-") for ch in text):
            raise Reject("E211", f"label {text!r} cannot name a module")
        return text


def label_text(label) -> str:
    return label.text() if isinstance(label, Template) else label


def label_value(label, b) -> str | None:
    return label.value(b) if isinstance(label, Template) else label


# =========================================================================== execution context

@dataclass
class Run:
    """One network's execution: the layers made so far, the program's definitions."""

    program: "Program"
    layers: list[Layer] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    symbolic: bool = False
    max_elements: int | None = None     # the generator keeps tensors tiny (GEN-SIZE beyond)
    symbol_sizes: dict = field(default_factory=dict)    # an input's symbol -> its concrete size

    def add(self, op: str, args: dict, inputs: list[T], shape, sym, label: str | None,
            exact: tuple | None = None) -> T:
        if self.max_elements is not None and math.prod(shape) > self.max_elements:
            raise Reject("GEN-SIZE", f"{op} makes {list(shape)}, more than the generator keeps")
        self.layers.append(Layer(op, args, tuple(t.node for t in inputs), tuple(shape), tuple(sym), label))
        if exact is None:
            exact = exact_dims(op, inputs, shape)
        return T(len(self.layers) - 1, tuple(shape), tuple(sym), exact, op == "parameter")


# Ops whose output has the input's sizes (all but the channels) whatever the input's sizes are.
SIZE_KEEPING = frozenset({"relu", "relu6", "sigmoid", "tanh", "gelu", "hardswish", "hardsigmoid", "silu", "elu",
                          "leaky_relu", "softmax", "dropout", "stochastic_depth", "bn", "groupnorm", "layernorm",
                          "channel_linear", "channel_shuffle", "scale_shift", "lrn", "add", "concat"})


def exact_dims(op: str, inputs: list[T], shape) -> tuple:
    """Which sizes of a layer's output are exactly an input symbol: those of a size-keeping
    layer's inputs, where they all agree."""
    if op not in SIZE_KEEPING or not inputs or any(len(t.exact) != len(shape) for t in inputs):
        return (None,) * len(shape)
    first = inputs[0].exact
    return (None,) + tuple(e if all(t.exact[i] == e for t in inputs) else None
                           for i, e in enumerate(first) if i > 0)


@dataclass
class Body:
    """Where statements run: names, tensors, `cur`, `in`, the labels of the enclosing scope."""

    run: Run
    names: ChainMap
    tensors: ChainMap
    cur: T | None
    entry: T | None
    labels: set
    kind: str                  # "network", "block" or "nested"
    file: str                  # whose blocks a call resolves to: "main" or "lib"
    active: tuple[str, ...] = ()
    given: list | None = None  # a block's body: what its `output` gives, (name, tensor) in order

    def child(self, entry: T | None) -> "Body":
        return Body(self.run, self.names.new_child(), self.tensors.new_child(), entry, entry, self.labels,
                    "nested", self.file, self.active)

    def take_label(self, label: str) -> None:
        if label in self.labels:
            raise Reject("E207", f"label {label} used twice in one scope")
        if not can_name_a_module(label):
            raise Reject("E207", f"label {label} cannot be a module's name")
        self.labels.add(label)

    def snapshot(self):
        """What executing a statement here may change, to undo a rejected candidate."""
        return (len(self.run.layers), dict(self.names.maps[0]), dict(self.tensors.maps[0]), self.cur,
                set(self.labels), list(self.run.outputs), list(self.given or ()))

    def restore(self, snap) -> None:
        n, names, tensors, cur, labels, outputs, given = snap
        if self.given is not None:
            self.given[:] = given
        del self.run.layers[n:]
        self.names.maps[0].clear()
        self.names.maps[0].update(names)
        self.tensors.maps[0].clear()
        self.tensors.maps[0].update(tensors)
        self.cur = cur
        self.labels.clear()
        self.labels.update(labels)
        self.run.outputs[:] = outputs


def can_name_a_module(label: str) -> bool:
    """A label is the layer's module name, as written: not a `_` name, a keyword, an attribute
    every nn.Module has (`train`, `forward`), or one the generated class keeps for itself."""
    import keyword

    from torch import nn

    return not (label.startswith("_") or keyword.iskeyword(label) or hasattr(nn.Module(), label)
                or label in ("arch_params", "arch_inputs", "arch_outputs"))


# =========================================================================== layers (chain items)

class Item:
    def text(self, indent: str) -> str:
        raise NotImplementedError

    def exec(self, b: Body, x: T, label: str | None) -> T:
        raise NotImplementedError


@dataclass
class Arg:
    name: str | None          # None: positional
    value: Expr


def _args_text(args: list[Arg]) -> str:
    return ", ".join(a.value.text() if a.name is None else f"{a.name}={a.value.text()}" for a in args)


@dataclass
class OpCall(Item):
    op: str
    args: list[Arg]
    parens: bool = True

    def text(self, indent: str) -> str:
        return f"{self.op}({_args_text(self.args)})" if self.args or self.parens else self.op

    def exec(self, b, x, label):
        if self.op not in ops.OPS or ops.OPS[self.op].merge:
            raise Reject("E201" if self.op not in ops.OPS else "E218", f"no layer {self.op}")
        at = replace(b, cur=x)      # `cur` is the tensor this layer receives
        values = [(a.name, a.value.value(at)) for a in self.args]
        bound = bind_op(self.op, values)
        refs = [bound[a.name] for a in ops.OPS[self.op].args if a.kind == "tensor"]
        bound.update({a.name: bound[a.name].name for a in ops.OPS[self.op].args if a.kind == "tensor"})
        inputs = [] if self.op == "parameter" else [x, *(ref.t for ref in refs)]   # a parameter reads no tensor
        if any(t.param for t in inputs):
            raise Reject("E218", f"{self.op} reads a parameter, which has no batch")
        shape, sym = infer(self.op, bound, inputs, b.run.symbolic)
        if label is not None:
            b.take_label(label)
        return b.run.add(self.op, bound, inputs, shape, sym, label)


@dataclass
class Labelled(Item):
    """A label further along a chain: it names the one layer after it."""

    label: Any             # a name, a number as text, or a Template
    item: Item

    def text(self, indent: str) -> str:
        return f"{label_text(self.label)}: {self.item.text(indent)}"

    def exec(self, b, x, label):
        return self.item.exec(b, x, label_value(self.label, replace(b, cur=x)))


@dataclass
class Identity(Item):
    def text(self, indent: str) -> str:
        return "identity"

    def exec(self, b, x, label):
        if label is not None:
            b.take_label(label)
        return x


@dataclass
class BlockCall(Item):
    name: str
    args: list[Arg]

    def text(self, indent: str) -> str:
        return f"{self.name}({_args_text(self.args)})"

    def results(self, b, x, label) -> list[T]:
        """The tensors the block gives: those its `output` names, else its last."""
        block = b.run.program.resolve(self.name, b.file)
        if block is None:
            raise Reject("E201", f"unknown block {self.name}")
        if self.name in b.active:
            raise Reject("E208", "recursion")
        caller = Body(b.run, b.names, b.tensors, x, b.entry, b.labels, b.kind, b.file, b.active)
        given: dict[str, Any] = {}
        params = [p.name for p in block.params]
        positional = [a for a in self.args if a.name is None]
        if len(positional) > len(params):
            raise Reject("E214", f"{self.name} takes {len(params)} arguments")
        for index, arg in enumerate(positional):        # by position index, never by value
            given[params[index]] = arg.value.value(caller)
        for arg in self.args:
            if arg.name is None:
                continue
            if arg.name not in params:
                raise Reject("E203", f"{self.name} has no parameter {arg.name}")
            if arg.name in given:
                raise Reject("E210", f"{arg.name} given twice")
            given[arg.name] = arg.value.value(caller)
        values: dict[str, Any] = {}
        consts = b.run.program.constant_values
        for p in block.params:
            if p.name in given:
                values[p.name] = given[p.name]
            elif p.default is not None:
                env = Body(b.run, ChainMap(values, consts), ChainMap(), x, x, set(), "block", block.file)
                values[p.name] = p.default.value(env)
            else:
                raise Reject("E202", f"{self.name} needs argument {p.name}")
        if label is not None:
            b.take_label(label)
        inner = Body(b.run, ChainMap(values, consts), ChainMap({}), x, x, set(), "block", block.file,
                     b.active + (self.name,), [])
        for stmt in block.body:
            stmt.exec(inner)
        return [t for _, t in inner.given] or [inner.cur]

    def exec(self, b, x, label):
        results = self.results(b, x, label)
        if len(results) > 1:
            raise Reject("E218", "a block that gives several tensors where one is expected")
        return results[0]


@dataclass
class Paths(Item):
    op: str                        # "concat" or "add"
    paths: list[list["Stmt"]]

    def text(self, indent: str) -> str:
        lines = [f"{self.op} {{"]
        for path in self.paths:
            if not path:
                lines.append(f"{indent}  |")
                continue
            first, *rest = path
            lines.append(f"{indent}  | {first.text(indent + '    ')}")
            lines.extend(f"{indent}    {s.text(indent + '    ')}" for s in rest)
        lines.append(f"{indent}}}")
        return "\n".join(lines)

    def exec(self, b, x, label):
        results = [run_path(b, x, path) for path in self.paths]
        return merge(b, self.op, results, label)


@dataclass
class Residual(Item):
    body: list["Stmt"]
    shortcut: list["Stmt"] | None = None

    def text(self, indent: str) -> str:
        out = "residual " + body_text(self.body, indent)
        if self.shortcut is not None:
            out += " shortcut " + body_text(self.shortcut, indent)
        return out

    def exec(self, b, x, label):
        main = run_path(b, x, self.body)
        other = run_path(b, x, self.shortcut) if self.shortcut is not None else x
        return merge(b, "add", [main, other], label)


def run_path(b: Body, x: T, stmts: list["Stmt"]) -> T:
    inner = b.child(x)
    for stmt in stmts:
        stmt.exec(inner)
    return inner.cur


def merge(b: Body, op: str, inputs: list[T], label: str | None) -> T:
    params = [x.param for x in inputs]
    if any(params) and (op not in ("mul", "add") or all(params)):
        raise Reject("E218", f"{op} of a parameter without a tensor that has the batch")
    shape, sym = merge_shape(op, inputs)
    if label is not None:
        b.take_label(label)
    return b.run.add(op, {}, inputs, shape, sym, label)


def body_text(stmts: list["Stmt"], indent: str) -> str:
    if not stmts:
        return "{ }"
    inner = indent + "    "
    return "{\n" + "\n".join(inner + s.text(inner) for s in stmts) + f"\n{indent}}}"


# =========================================================================== statements

class Stmt:
    def text(self, indent: str) -> str:
        raise NotImplementedError

    def exec(self, b: Body) -> None:
        raise NotImplementedError


def chain_text(items: list[Item], indent: str, arrows: bool) -> str:
    return (" -> " if arrows else " ").join(i.text(indent) for i in items)


@dataclass
class Layers(Stmt):
    """A chain: from `start` (a tensor's name, or the current tensor), optionally labelled."""

    items: list[Item]
    label: str | None = None
    start: str | None = None
    arrows: bool = True

    def text(self, indent: str) -> str:
        head = [self.start] if self.start else []
        body = chain_text(self.items, indent, self.arrows)
        text = " -> ".join(head + ([body] if body else []))
        return f"{label_text(self.label)}: {text}" if self.label else text

    def exec(self, b):
        b.cur = run_chain(b, start_of(b, self.start), self.items, self.label)


def run_chain(b: Body, x: T, items: list[Item], label) -> T:
    """A chain's layers from `x`; a label names its one layer, or a group of several (or of one
    that carries a label of its own)."""
    label = label_value(label, replace(b, cur=x)) if label is not None else None
    if label is not None and (len(items) > 1 or (items and isinstance(items[0], Labelled))):
        b.take_label(label)
        group = Body(b.run, b.names, b.tensors, x, b.entry, set(), b.kind, b.file, b.active)
        for item in items:
            x = item.exec(group, x, None)
        return x
    for item in items:
        x = item.exec(b, x, label)
    return x


def start_of(b: Body, start: str | None) -> T:
    if start is None:
        if b.cur is None:
            raise Reject("E215", "a layer before the input")
        return b.cur
    if start == "cur":
        return b.cur
    if start == "in":
        if b.entry is None:
            raise Reject("E217", "no in here")
        return b.entry
    if start in b.tensors:
        return b.tensors[start]
    raise Reject("E217", f"no tensor {start}")


@dataclass
class Bind(Stmt):
    target: str
    items: list[Item]
    start: str | None = None
    label: Any = None

    def text(self, indent: str) -> str:
        head = [self.start] if self.start else []
        body = chain_text(self.items, indent, True)
        label = f"{label_text(self.label)}: " if self.label else ""
        return f"{self.target} = {label}" + " -> ".join(head + ([body] if body else []))

    def exec(self, b):
        if self.start is None and not self.items:
            raise Reject("E101", "a binding needs a tensor or a layer after `=`")
        bind_tensor(b, self.target, run_chain(b, start_of(b, self.start), self.items, self.label))


@dataclass
class Split(Stmt):
    """`a, b = [x ->] layers -> chunk(n)`: the names take the parts, in order."""

    targets: list[str]
    items: list[Item]
    chunks: Expr
    start: str | None = None

    def text(self, indent: str) -> str:
        head = [self.start] if self.start else []
        body = chain_text(self.items + [OpCall("chunk", [Arg(None, self.chunks)])], indent, True)
        return f"{', '.join(self.targets)} = " + " -> ".join(head + [body])

    def exec(self, b):
        x = run_chain(b, start_of(b, self.start), self.items, None)
        n = self.chunks.value(replace(b, cur=x))
        if x.param:
            raise Reject("E218", "chunk of a parameter, which has no batch")
        if n != len(self.targets):
            raise Reject("E218", "a chunk of another count than the names bound")
        for i, name in enumerate(self.targets):
            bound = bind_op("chunk", [(None, n), ("index", i)])
            shape, sym = infer("chunk", bound, [x], b.run.symbolic)
            bind_tensor(b, name, b.run.add("chunk", bound, [x], shape, sym, None))


@dataclass
class Unpack(Stmt):
    """`a, b = [x ->] layers -> Block(...)`: a block whose body says `output p, q`; the names
    take its tensors, in order."""

    targets: list[str]
    items: list[Item]
    call: "BlockCall"
    start: str | None = None

    def text(self, indent: str) -> str:
        head = [self.start] if self.start else []
        body = chain_text(self.items + [self.call], indent, True)
        return f"{', '.join(self.targets)} = " + " -> ".join(head + [body])

    def exec(self, b):
        x = run_chain(b, start_of(b, self.start), self.items, None)
        parts = self.call.results(b, x, None)
        if len(parts) != len(self.targets):
            raise Reject("E218", "a block that gives another count of tensors than the names bound")
        for name, part in zip(self.targets, parts):
            bind_tensor(b, name, part)


@dataclass
class ParamGate(Stmt):
    """`name = parameter([...], fill=v)`, then `[target =] mul(name, other)` (or add, either order):
    a block's learnable tensor, named by its binding (its state_dict key), read by a merge that
    broadcasts it over the batch."""

    name: str
    dims: list[Expr]
    fill: float
    op: str                  # "mul" or "add"
    other: str               # the tensor it meets ("cur" for the current one)
    first: bool = True       # the parameter is the merge's first input
    target: str | None = None

    def text(self, indent: str) -> str:
        dims = ", ".join(d.text() for d in self.dims)
        pair = [self.name, self.other] if self.first else [self.other, self.name]
        use = f"{self.op}({', '.join(pair)})"
        return (f"{self.name} = parameter([{dims}], fill={literal(self.fill)})\n{indent}" +
                (f"{self.target} = {use}" if self.target else use))

    def exec(self, b):
        bound = bind_op("parameter", [(None, tuple(d.value(b) for d in self.dims)), ("fill", self.fill)])
        shape, sym = infer("parameter", bound, [], b.run.symbolic)
        b.take_label(self.name)              # the binding's name is the parameter's
        param = b.run.add("parameter", bound, [], shape, sym, self.name)
        cur = b.cur
        bind_tensor(b, self.name, param)
        b.cur = cur                          # a declaration leaves `cur` where it was
        other = start_of(b, self.other)
        x = merge(b, self.op, [param, other] if self.first else [other, param], None)
        if self.target:
            bind_tensor(b, self.target, x)
        else:
            b.cur = x


def bind_tensor(b: Body, name: str, x: T) -> None:
    if name in b.tensors.maps[0]:
        raise Reject("E207", f"tensor {name} bound twice")
    b.tensors.maps[0][name] = x
    b.cur = x


@dataclass
class MergeStmt(Stmt):
    """`[target =] cat(a, b -> layers) -> layers`, or `add(a)`."""

    op: str                                   # "cat" or "add"
    inputs: list[tuple[str, list[Item]]]
    then: list[Item]
    target: str | None = None

    def text(self, indent: str) -> str:
        parts = [name if not items else f"{name} -> {chain_text(items, indent, True)}" for name, items in self.inputs]
        text = f"{self.op}({', '.join(parts)})"
        if self.then:
            text += " -> " + chain_text(self.then, indent, True)
        return f"{self.target} = {text}" if self.target else text

    def exec(self, b):
        results = []
        for name, items in self.inputs:
            x = start_of(b, name)
            for item in items:
                x = item.exec(b, x, None)
            results.append(x)
        x = merge(b, "concat" if self.op == "cat" else self.op, results, None)
        for item in self.then:
            x = item.exec(b, x, None)
        if self.target:
            bind_tensor(b, self.target, x)
        else:
            b.cur = x


@dataclass
class Repeat(Stmt):
    count: Expr
    var: str | None
    body: list[Stmt]

    def text(self, indent: str) -> str:
        var = f" as {self.var}" if self.var else ""
        return f"repeat {self.count.text()}{var} " + body_text(self.body, indent)

    def exec(self, b):
        n = self.count.value(b)
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise Reject("E212", "repeat count")
        for i in range(n):
            inner = b.child(b.cur)
            if self.var:
                inner.names[self.var] = i
            for stmt in self.body:
                stmt.exec(inner)
            b.cur = inner.cur


@dataclass
class If(Stmt):
    test: Expr
    then: list[Stmt]
    orelse: "list[Stmt] | If | None" = None

    def text(self, indent: str) -> str:
        out = f"if {self.test.text()} " + body_text(self.then, indent)
        if isinstance(self.orelse, If):
            out += " else " + self.orelse.text(indent)
        elif self.orelse is not None:
            out += " else " + body_text(self.orelse, indent)
        return out

    def exec(self, b):
        test = self.test.value(b)
        if not isinstance(test, bool):
            raise Reject("E212", "a condition that is not a bool")
        if test:
            chosen = self.then
        elif isinstance(self.orelse, If):
            return self.orelse.exec(b)
        else:
            chosen = self.orelse
        if chosen is None:
            return
        inner = b.child(b.cur)
        for stmt in chosen:
            stmt.exec(inner)
        b.cur = inner.cur


@dataclass
class Let(Stmt):
    name: str
    value: Expr
    params: list[str] | None = None      # `let f(a, b) = expr` defines a function

    def text(self, indent: str) -> str:
        params = f"({', '.join(self.params)})" if self.params is not None else ""
        return f"let {self.name}{params} = {self.value.text()}"

    def exec(self, b):
        if self.name in b.names.maps[0]:
            raise Reject("E207", f"{self.name} defined twice")
        b.names.maps[0][self.name] = self.value.value(b) if self.params is None else \
            Function(self.params, self.value, b.names)


@dataclass
class Expect(Stmt):
    dims: list[Expr | None]              # None: `_`

    def text(self, indent: str) -> str:
        return "expect [" + ", ".join("_" if d is None else d.text() for d in self.dims) + "]"

    def exec(self, b):
        want = [None if d is None else d.value(b) for d in self.dims]
        x = b.cur
        if len(want) != len(x.shape) or any(w is not None and w != s for w, s in zip(want, x.shape)):
            raise Reject("E307", f"expected {want}, got {x.shape}")


@dataclass
class Input(Stmt):
    name: str | None
    dims: list[int | str]                # a str is a symbol
    sizes: list[int]                     # the concrete sizes the case runs at

    def text(self, indent: str) -> str:
        shape = "[" + ", ".join(str(d) for d in self.dims) + "]"
        return f"input {self.name}: {shape}" if self.name else f"input {shape}"

    def exec(self, b):
        if not self.dims:
            raise Reject("E211", "an input without a shape")
        sym = tuple(isinstance(d, str) for d in self.dims)
        exact = tuple(d if isinstance(d, str) else None for d in self.dims)
        for d, size in zip(self.dims, self.sizes):
            if isinstance(d, str):
                b.run.symbol_sizes[d] = size
        x = b.run.add("input", {"shape": tuple(self.sizes)}, [], tuple(self.sizes), sym, None, exact)
        if self.name:
            bind_tensor(b, self.name, x)
        b.cur = x


@dataclass
class Output(Stmt):
    names: list[str]

    def text(self, indent: str) -> str:
        return "output " + ", ".join(self.names)

    def exec(self, b):
        if b.kind == "block":   # what the block gives, in order
            for n in self.names:
                if n in {name for name, _ in b.given}:
                    raise Reject("E207", f"{n} is output twice")
                b.given.append((n, start_of(b, n)))
            return
        outputs = [start_of(b, n) for n in self.names]
        if any(x.param for x in outputs):
            raise Reject("E218", "a parameter as an output")
        b.run.outputs.extend(x.node for x in outputs)


# =========================================================================== definitions

@dataclass
class Param:
    name: str
    default: Expr | None = None

    def text(self) -> str:
        return self.name if self.default is None else f"{self.name} = {self.default.text()}"


@dataclass
class BlockDef:
    name: str
    params: list[Param]
    body: list[Stmt]
    file: str = "main"              # "main", "lib" or "prelude"

    def text(self) -> str:
        params = f"({', '.join(p.text() for p in self.params)})" if self.params else ""
        return f"block {self.name}{params} " + body_text(self.body, "")


@dataclass
class Program:
    """Constants, blocks and one network; where each lives (main file, library, prelude)."""

    constants: list[Let]
    blocks: list[BlockDef]
    net_name: str
    net_params: list[Param]
    body: list[Stmt]
    settings: dict = field(default_factory=dict)     # --set
    library: bool = False                            # blocks with file "lib" and constants in lib.arch
    constant_values: dict = field(default_factory=dict)

    def resolve(self, name: str, file: str) -> BlockDef | None:
        """A call in `file` means that file's own block, else (in main) an imported one, else the prelude's."""
        own = [blk for blk in self.blocks if blk.name == name and blk.file == file]
        if own:
            return own[0]
        if file == "main":
            imported = [blk for blk in self.blocks if blk.name == name and blk.file == "lib"]
            if imported:
                return imported[0]
        return PRELUDE.get(name)

    def drop_unused_blocks(self) -> None:
        """Leave out the blocks no call reaches (drafts of rejected candidates, or cut by shrinking)."""
        used: set[str] = set()

        def walk(node) -> None:
            if isinstance(node, BlockCall):
                used.add(node.name)
            if isinstance(node, (list, tuple)):
                for n in node:
                    walk(n)
            elif hasattr(node, "__dataclass_fields__") and not isinstance(node, Expr):
                for f in node.__dataclass_fields__:
                    walk(getattr(node, f))

        walk(self.body)
        while True:
            before = len(used)
            for blk in self.blocks:
                if blk.name in used:
                    walk(blk.body)
            if len(used) == before:
                break
        self.blocks = [blk for blk in self.blocks if blk.name in used]

    def files(self) -> dict[str, str]:
        lib_items = [c.text("") for c in self.constants] if self.library else []
        lib_items += [blk.text() for blk in self.blocks if blk.file == "lib"]
        main_items = ['import "lib/blocks.arch"'] if lib_items else []
        main_items += [] if self.library else [c.text("") for c in self.constants]
        main_items += [blk.text() for blk in self.blocks if blk.file == "main"]
        params = f"({', '.join(p.text() for p in self.net_params)})" if self.net_params else ""
        main_items.append(f"network {self.net_name}{params} " + body_text(self.body, ""))
        files = {"main.arch": "\n\n".join(main_items) + "\n"}
        if lib_items:
            files["lib/blocks.arch"] = "\n\n".join(lib_items) + "\n"
        return files


@dataclass
class Outcome:
    layers: list[Layer]
    outputs: list[int]
    error: Reject | None


def execute(program: Program, symbolic: bool = False) -> Outcome:
    """What the program means: its layers and outputs, or the first mistake."""
    run = Run(program, symbolic=symbolic)
    try:
        consts: dict[str, Any] = {}
        program.constant_values = consts
        scratch = Body(run, ChainMap(consts), ChainMap(), None, None, set(), "network", "main")
        for let in program.constants:
            consts[let.name] = let.value.value(scratch)
        values: dict[str, Any] = {}
        for p in program.net_params:
            env = Body(run, ChainMap(values, consts), ChainMap(), None, None, set(), "network", "main")
            values[p.name] = program.settings[p.name] if p.name in program.settings else p.default.value(env)
        b = Body(run, ChainMap(values, consts), ChainMap({}), None, None, set(), "network", "main")
        for stmt in program.body:
            stmt.exec(b)
        if not run.outputs and b.cur is not None:
            if b.cur.param:
                raise Reject("E218", "a parameter as the output")
            run.outputs.append(b.cur.node)
    except Reject as err:
        return Outcome(run.layers, run.outputs, err)
    return Outcome(run.layers, run.outputs, None)


# =========================================================================== arguments

def bind_op(op: str, given: list[tuple[str | None, Any]]) -> dict:
    """Bind a call's values to the op's declared arguments, as the language reference says."""
    spec = ops.OPS[op]
    positional = [v for name, v in given if name is None]
    if len(positional) > len(spec.args):
        raise Reject("E214", f"{op} takes {len(spec.args)} positional arguments")
    chosen: dict[str, Any] = {a.name: v for a, v in zip(spec.args, positional)}
    for name, v in given:
        if name is None:
            continue
        arg = next((a for a in spec.args if a.name == name or name in a.aliases), None)
        if arg is None:
            raise Reject("E203", f"{op} has no argument {name}")
        if arg.name in chosen:
            raise Reject("E210", f"{arg.name} given twice")
        chosen[arg.name] = v
    bound = {}
    for arg in spec.args:
        if arg.name not in chosen:
            if arg.required:
                raise Reject("E202", f"{op} needs {arg.name}")
            bound[arg.name] = arg.default
            continue
        bound[arg.name] = _convert(op, arg, chosen[arg.name])
    _check_values(op, bound)
    return bound


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _convert(op: str, arg, v):
    kind = arg.kind
    if (kind == "tensor") != isinstance(v, Ref):   # a tensor where a value is wanted, or the other way
        raise Reject("E204", f"{op}'s {arg.name}: {v!r}")
    if kind == "tensor":
        return v
    ints = lambda x: _is_int(x) or (isinstance(x, tuple) and len(x) > 0 and all(_is_int(i) for i in x))  # noqa: E731
    number = lambda x: _is_int(x) or isinstance(x, float)  # noqa: E731
    ok = {"int": _is_int(v), "float": number(v), "number": number(v),
          "bool": isinstance(v, bool), "str": isinstance(v, str), "ints": ints(v), "size": ints(v),
          "padding": ints(v) or v in ("same", "valid"),
          "floats": number(v) or (isinstance(v, tuple) and len(v) > 0 and all(number(x) for x in v))}[kind]
    if not ok:
        raise Reject("E204", f"{op}'s {arg.name} has the wrong type: {v!r}")
    if kind == "float":
        v = float(v)
    if kind == "floats":
        v = tuple(float(x) for x in v) if isinstance(v, tuple) else float(v)
    if arg.choices is not None and v not in arg.choices:
        raise Reject("E211", f"{op}'s {arg.name} is not one of {arg.choices}")
    if arg.minimum is not None and not isinstance(v, str):
        if any(x < arg.minimum for x in (v if isinstance(v, tuple) else (v,))):
            raise Reject(arg.minimum_code, f"{op}'s {arg.name} below {arg.minimum}")
    return v


# Values that type-check but mean nothing (or NaN) in PyTorch: the language rejects them.
def _check_values(op: str, a: dict) -> None:
    if op == "conv":
        if a["out"] % a["groups"]:
            raise Reject("E308", "groups does not divide out")
        if a["p"] == "same" and any(s != 1 for s in _tuple(a["s"])):
            raise Reject("E310", "same padding with a stride")
    if op in ("maxpool", "avgpool"):
        k, p = _tuple(a["k"]), _tuple(a["p"])
        if len(k) != len(p):
            k, p = (k * len(p), p) if len(k) == 1 else (k, p * len(k)) if len(p) == 1 else (k, p)
        if any(pi > ki // 2 for ki, pi in zip(k, p)):
            raise Reject("E310", "pool padding more than half the window")
    if op == "conv_transpose":
        if a["out"] % a["groups"]:
            raise Reject("E308", "groups does not divide out")
        extra, st, d = _tuple(a["output_padding"]), _tuple(a["s"]), _tuple(a["d"])
        width = max(len(extra), len(st), len(d))
        widen = lambda v: v * width if len(v) == 1 else v  # noqa: E731
        if any(e >= max(si, di) for e, si, di in zip(widen(extra), widen(st), widen(d))):
            raise Reject("E310", "output_padding not below the stride or the dilation")
    if op == "stochastic_depth" and not 0 <= a["p"] <= 1:
        raise Reject("E211", "stochastic_depth probability outside [0, 1]")
    if op == "dropout" and not 0 <= a["p"] <= 1:
        raise Reject("E211", "dropout probability outside [0, 1]")
    if op == "upsample" and a["scale"] <= 0:
        raise Reject("E211", "upsample scale not positive")
    if op == "bn" and not 0 <= a["momentum"] <= 1:
        raise Reject("E211", "bn momentum must be in [0, 1]")
    if op in ("bn", "groupnorm", "layernorm") and a["eps"] <= 0:
        raise Reject("E211", f"{op}'s eps must be positive (it is added to the variance)")
    if op == "lrn" and (a["k"] <= 0 or a["alpha"] < 0):
        raise Reject("E211", "lrn's k must be positive (a window of zeros gives NaN) and alpha not negative")
    if op == "resize" and a["align_corners"] and a["mode"] == "nearest":
        raise Reject("E211", "align_corners with nearest")
    if op == "chunk":
        if a["index"] is None:
            raise Reject("E218", "chunk without an index in a chain of one tensor")
        if a["index"] >= a["chunks"]:
            raise Reject("E211", "chunk's index beyond its parts")


def _tuple(v) -> tuple:
    return tuple(v) if isinstance(v, tuple) else (v,)


# =========================================================================== shapes

def conv_size(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def pool_size(n: int, k: int, s: int, p: int, ceil: bool) -> int:
    if not ceil:
        return (n + 2 * p - k) // s + 1
    out = -(-(n + 2 * p - k) // s) + 1
    if (out - 1) * s >= n + p:   # PyTorch: the last window must start inside the input or left padding
        out -= 1
    return out


def _per_axis(v, n: int) -> tuple:
    t = _tuple(v)
    if len(t) == 1 and not isinstance(v, tuple):
        return t * n
    if len(t) != n:
        raise Reject("E310", "per-axis values for the wrong number of axes")
    return t


def _spatial(x: T) -> int:
    if len(x.shape) not in (2, 3, 4):
        raise Reject("E302", "needs [C, L], [C, H, W] or [C, D, H, W]")
    return len(x.shape) - 1


def _sizes(out: list[int]) -> None:
    if any(o < 1 for o in out):
        raise Reject("E305", f"a size below 1: {out}")


def infer(op: str, a: dict, xs: list[T], symbolic: bool) -> tuple[tuple, tuple]:
    if op == "parameter":   # the declared shape, of numbers
        shape = (a["shape"],) if isinstance(a["shape"], int) else tuple(a["shape"])
        return shape, (False,) * len(shape)
    x = xs[0]
    c, sizes, sym = x.shape[0], x.shape[1:], x.sym
    if op == "conv":
        n = _spatial(x)
        k, s, d = _per_axis(a["k"], n), _per_axis(a["s"], n), _per_axis(a["d"], n)
        p = None if a["p"] == "same" else (0,) * n if a["p"] == "valid" else _per_axis(a["p"], n)
        if c % a["groups"]:
            raise Reject("E308", "groups does not divide the input channels")
        out = list(sizes) if p is None else [conv_size(*t) for t in zip(sizes, k, s, p, d)]
        _sizes(out)
        return (a["out"], *out), (False, *sym[1:])
    if op in ("bn", "groupnorm", "layernorm", "channel_linear") and symbolic and sym[0]:
        raise Reject("E309", f"{op}'s parameters on a width that depends on the input size")
    if op == "conv_transpose":
        n = _spatial(x)
        k, s, p, d, extra = (_per_axis(a[name], n) for name in ("k", "s", "p", "d", "output_padding"))
        if c % a["groups"]:
            raise Reject("E308", "groups does not divide the input channels")
        out = [(size - 1) * si - 2 * pi + di * (ki - 1) + ei + 1 for size, ki, si, pi, di, ei in zip(sizes, k, s, p, d, extra)]
        _sizes(out)
        return (a["out"], *out), (False, *sym[1:])
    if op == "bn":
        if len(x.shape) > 4:
            raise Reject("E302", "bn rank")
        return x.shape, sym
    if op in ("groupnorm", "channel_shuffle"):
        if op == "channel_shuffle" and len(x.shape) < 2:
            raise Reject("E302", "channel_shuffle on [F]")
        if c % a["groups"]:
            raise Reject("E308", f"{op}'s groups do not divide the channels")
        if op == "groupnorm" and math.prod(x.shape) // a["groups"] == 1:   # torch refuses it at batch 1
            raise Reject("E308", "groupnorm of one value per group")
        return x.shape, sym
    if op == "channel_linear":
        return (a["out"], *sizes), (False, *sym[1:])
    if op in ("crop", "resize"):     # the first input at the second's spatial size
        n = _spatial(x)
        like = xs[1]
        if len(like.shape) != len(x.shape):
            raise Reject("E302", f"{op} to a tensor of another rank")
        if op == "resize" and a["mode"] not in UPSAMPLE_MODES[n + 1]:
            raise Reject("E302", "resize mode for this rank")
        if op == "crop":
            if any(sym[1:]) or any(like.sym[1:]):
                raise Reject("SYM", "crop on symbolic sizes")
            if any(have < want or (have - want) % 2 for have, want in zip(sizes, like.shape[1:])):
                raise Reject("E311", "crop to a larger size, or with no centre")
        return (c, *like.shape[1:]), (sym[0], *like.sym[1:])
    if op == "chunk":     # equal parts of the channels, as x.chunk(n, dim=1) when n divides them
        if c % a["chunks"]:
            raise Reject("E308", "chunk's parts do not divide the channels")
        return (c // a["chunks"], *sizes), sym
    if op == "scale_shift":
        for name in ("scale", "shift"):
            if symbolic and sym[0] and isinstance(a[name], tuple) and len(a[name]) != 1:
                raise Reject("E301", f"scale_shift's {name} per channel on a width that depends on the input size")
            if isinstance(a[name], tuple) and len(a[name]) not in (1, c):
                raise Reject("E301", f"scale_shift's {name} has a value per channel of another width")
        return x.shape, sym
    if op == "lrn":
        if len(x.shape) < 2:
            raise Reject("E302", "lrn on [F]")
        return x.shape, sym
    if op in ("maxpool", "avgpool"):
        n = _spatial(x)
        k = _per_axis(a["k"], n)
        s = k if a["s"] is None else _per_axis(a["s"], n)
        p = _per_axis(a["p"], n)
        out = [pool_size(*t, a["ceil"]) for t in zip(sizes, k, s, p)]
        _sizes(out)
        if op == "avgpool" and n == 3 and any(size < ki for size, ki in zip(sizes, k)):
            raise Reject("E305", "PyTorch's avg_pool3d needs every input size, padding left out, >= the window")
        return (c, *out), sym
    if op == "gap":
        n = _spatial(x)
        return (c,) + (1,) * n, (False,) * (n + 1)
    if op == "adaptive_avgpool":
        n = _spatial(x)
        out = _tuple(a["out"]) * n if not isinstance(a["out"], tuple) else a["out"]
        if len(out) != n:
            raise Reject("E211", "adaptive_avgpool out for the wrong number of axes")
        return (c, *out), (False,) * (n + 1)
    if op == "flatten":
        return (math.prod(x.shape),), (any(sym),)
    if op == "linear":
        if len(x.shape) != 1:
            raise Reject("E306", "linear needs [F]")
        if symbolic and sym[0]:
            raise Reject("E309", "linear on a width that depends on the input size")
        return (a["out"],), (False,)
    if op == "upsample":
        n = _spatial(x)
        if a["mode"] not in UPSAMPLE_MODES[n + 1]:
            raise Reject("E302", "upsample mode for this rank")
        out = [math.floor(float(v) * a["scale"]) for v in sizes]
        _sizes(out)
        return (c, *out), sym
    # activations, dropout, softmax: the shape passes through
    return x.shape, sym


def merge_shape(op: str, xs: list[T]) -> tuple[tuple, tuple]:
    if op == "mul":    # PyTorch's broadcasting, at one rank: per dimension equal sizes, or 1
        if len({len(x.shape) for x in xs}) > 1:
            raise Reject("E304", "mul of different ranks")
        if any(any(x.sym) for x in xs):   # a symbolic size may or may not be 1: kept out of the programs
            raise Reject("SYM", "mul on symbolic sizes")
        shape = []
        for column in zip(*(x.shape for x in xs)):
            sizes = {s for s in column if s != 1}
            if len(sizes) > 1:
                raise Reject("E304", "mul of sizes that do not broadcast")
            shape.append(sizes.pop() if sizes else 1)
        return tuple(shape), (False,) * len(shape)
    keyed = [(len(x.shape), x.shape if op == "add" else x.shape[1:]) for x in xs]
    ref = max(range(len(keyed)), key=lambda i: (keyed.count(keyed[i]), -i))
    want = xs[ref].shape
    channels_only = False
    for i, x in enumerate(xs):
        if i == ref:
            continue
        if len(x.shape) != len(want):
            raise Reject("E304" if op == "add" else "E303", "merge of different ranks")
        if op == "add":
            if len(want) > 1 and x.shape[0] != want[0] and x.shape[1:] == want[1:]:
                channels_only = True
                continue
            if x.shape != want:
                raise Reject("E304", "add of different shapes")
        elif x.shape[1:] != want[1:]:
            raise Reject("E303", "concat of different sizes")
    if channels_only:
        raise Reject("E301", "add of different channels")
    sym = tuple(any(col) for col in zip(*(x.sym for x in xs)))
    if op == "add":
        return want, sym
    return (sum(x.shape[0] for x in xs), *want[1:]), sym


# =========================================================================== the prelude, as the guide states it

def _prelude() -> dict[str, BlockDef]:
    conv = lambda out, **kw: OpCall("conv", [Arg(None, out)] + [Arg(k, Lit(v)) for k, v in kw.items()])  # noqa: E731
    relu, bn = OpCall("relu", [], False), OpCall("bn", [], False)
    idx = lambda name, i: Index(Name(name), Lit(i))  # noqa: E731
    dense = BlockDef("dense", [Param("n"), Param("growth")], [Repeat(Name("n"), None, [Layers([Paths("concat", [
        [Layers([Identity()])], [Layers([bn, relu, conv(Name("growth"), k=3, p=1)])]])])])], "prelude")
    transition = BlockDef("transition", [Param("c")], [Layers([bn, relu, conv(Name("c"), k=1),
                                                                  OpCall("avgpool", [Arg(None, Lit(2))])])], "prelude")
    inception = BlockDef("inception", [Param("c1"), Param("c2"), Param("c3"), Param("c4")], [Layers([Paths("concat", [
        [Layers([conv(Name("c1"), k=1), relu])],
        [Layers([conv(idx("c2", 0), k=1), relu, conv(idx("c2", 1), k=3, p=1), relu])],
        [Layers([conv(idx("c3", 0), k=1), relu, conv(idx("c3", 1), k=5, p=2), relu])],
        [Layers([OpCall("maxpool", [Arg(None, Lit(3)), Arg("s", Lit(1)), Arg("p", Lit(1))]),
                 conv(Name("c4"), k=1), relu])],
    ])])], "prelude")
    return {b.name: b for b in (dense, transition, inception)}


PRELUDE = _prelude()
