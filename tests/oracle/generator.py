"""Random archlang programs over the whole language, valid by construction (Csmith's idea).

`generate(seed)` builds a program as a `model` tree: one network with one or
two inputs (some with symbolic sizes, run at concrete `--input` sizes),
parameters (some overridden with `--set`), chains of every op of the op
table with arguments drawn from its argument space, named tensors, `cat` and
`add` merges (one input, several, nested), `concat`/`add`/`residual`/
`shortcut` paths (empty and `identity` paths), blocks with defaults called
by position and by keyword, `repeat ... as i`, `if`/`else if`/`else`,
`let`, top-level lists and indexing, `in.*`/`cur.*`, labels and groups,
`expect`, the prelude's blocks and blocks imported from a library file.

Values come from tiny domains ({1, 2} for most integers, channels 1..4,
sizes up to 12), so equal values occur: `B(2, 2)`, `conv(2, 2)`, a
parameter equal to a loop variable. Each statement is a candidate that the
model executes at once; a candidate the model rejects is drawn again. So
the program is valid, and the model knows every layer it must elaborate to.

A share of programs (`fault_rate`) then gets one mistake planted anywhere
in the tree (a kernel too large, a path that changes channels, an unknown
keyword, a missing argument, a value that means nothing such as
`bn(eps=-1)`, `input []`, a label that cannot be a module's name, `bn` on a
width that depends on a symbol...): the model says which diagnostic it must
produce, or that the change happened to keep it valid.

At symbolic sizes the model knows which sizes are exactly an input's symbol,
so `expect [c, H, W]` names them; the case runs at concrete `--input` sizes
too, where `H` is a number.

"""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from archlang import ops

from .model import (PRELUDE, Arg, Attr, Bin, Bind, BlockCall, BlockDef, Body, Call, Cmp, Cond, Expect, Expr, Function,
                    Identity, If, Index, Input, Item, Labelled, Layers, Let, Lit, ListE, MergeStmt, Name, Not, OpCall,
                    Outcome, Output, Param, ParamGate, Paths, Program, Reject, Repeat, Residual, SliceE, Split, Stmt,
                    Sym, T, Template, TensorArg, Unpack, execute)

OPS_KNOWN = ("conv", "conv_transpose", "bn", "groupnorm", "layernorm", "relu", "relu6", "sigmoid", "tanh", "gelu",
             "hardswish", "hardsigmoid", "silu", "elu", "leaky_relu", "softmax", "dropout", "stochastic_depth",
             "maxpool", "avgpool", "gap", "adaptive_avgpool", "flatten", "linear", "channel_linear",
             "channel_shuffle", "scale_shift", "upsample", "lrn", "chunk", "crop", "resize", "parameter")
TENSOR_NAMES = ("a", "b", "t", "skip", "e1", "e2", "y", "z", "feat")
VALUE_NAMES = ("c", "k", "n", "s", "m", "w", "g")
LABELS = ("stem", "head", "features", "fc", "out", "conv1", "relu1", "proj", "layer1")
LABELS_NEAR_RESERVED = ("train_", "forward_", "eval_", "float_")     # fine, each its module's name (case 6)
UNNAMEABLE_LABELS = ("train", "forward", "eval", "cuda", "training", "_m", "float", "arch_params")   # E207
NUMBER_LABELS = ("0", "1", "2", "10")
KEYWORD_LABELS = ("block", "add", "mul", "input", "repeat", "concat")   # words before `:` are names
MAX_ELEMENTS = 4096      # per tensor and sample: every run stays in milliseconds
BLOCK_NAMES = ("B", "Unit", "Stage", "Res", "Cell", "Down", "Mix", "Tail")


@dataclass
class Case:
    """One generated program and what it must mean."""

    seed: int
    program: Program
    files: dict[str, str]
    network: str
    input: list | None            # the concrete input sizes (`--input`) when the spec has symbols
    params: dict                  # `--set`
    outcome: Outcome              # the model's layers and outputs at the concrete sizes, or its Reject
    symbolic: Outcome | None      # the model at symbolic sizes (only where the spec has symbols)
    fault: str | None = None      # the mistake planted, if any

    @property
    def error(self) -> str | None:
        return self.outcome.error.code if self.outcome.error else None

    @property
    def spec(self) -> str:
        return self.files["main.arch"]

    def describe(self) -> str:
        """The spec as a reader needs it: every file, and how it is run."""
        parts = []
        for path, text in self.files.items():
            parts.append(f"# --- {path}\n{text}")
        how = []
        if self.input:
            how.append("--input " + "x".join(str(v) for v in self.input))
        how += [f"--set {k}={_arch(v)}" for k, v in self.params.items()]
        if how:
            parts.append("# run with: " + " ".join(how))
        return "\n".join(parts)


def _arch(v) -> str:
    from .model import literal
    return literal(v).replace(" ", "")


@dataclass
class Config:
    fault_rate: float = 0.12
    symbolic_rate: float = 0.2
    library_rate: float = 0.15
    max_depth: int = 3
    max_layers: int = 40
    # A share of the block calls bound to several names (`p, q = Block()`, a block whose body says
    # `output a, b`). 0 by default, so the suite's seeds give the programs they gave before:
    # with it on, seed 38 finds receptive.py's extents too wide for a chunk of a concat (docs note).
    results_rate: float = 0.0


def generate(seed: int, config: Config | None = None) -> Case:
    return _Generator(random.Random(seed), config or Config(), random.Random(f"parameter {seed}"),
                      random.Random(f"results {seed}")).case(seed)


class _Generator:
    def __init__(self, rng: random.Random, config: Config, params_rng: random.Random | None = None,
                 results_rng: random.Random | None = None) -> None:
        self.rng = rng
        # Parameters are drawn from a stream of their own, so that programs without one are the
        # ones the seeds gave before parameters came (the suite's share keeps its coverage).
        self.params_rng = params_rng or random.Random(0)
        # Likewise blocks that give several tensors (`output a, b`, bound by `a, b = Block()`).
        self.results_rng = results_rng or random.Random(0)
        self.config = config
        self.program: Program | None = None
        self.symbolic = False
        self.prelude_called: set[tuple[str, str]] = set()   # (name, file): a block of that name defined
        # later where those calls see it would change them

    # -- choices ------------------------------------------------------------------------------------
    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, seq):
        return self.rng.choice(list(seq))

    def weighted(self, table: dict[Any, float]):
        keys = list(table)
        return self.rng.choices(keys, weights=[table[k] for k in keys])[0]

    # -- the case -------------------------------------------------------------------------------------
    def case(self, seed: int) -> Case:
        rng = self.rng
        constants = self.constants()
        net_params = [Param(n, Lit(self.pick((1, 2)))) for n in rng.sample(("n", "w"), rng.randint(0, 2))]
        self.program = Program(constants, [], self.pick(("N", "Net", "Tiny")), net_params, [],
                               library=self.chance(self.config.library_rate))
        settings = {p.name: self.pick((1, 2, 3)) for p in net_params if self.chance(0.4)}
        self.program.settings = settings
        self.symbolic = self.chance(self.config.symbolic_rate)
        self.program.constant_values = {}
        scratch = Body(None, self.program.constant_values, None, None, None, set(), "network", "main")
        for let in constants:
            self.program.constant_values[let.name] = let.value.value(scratch)
        body = self.network_body()
        self.program.body = body
        self.program.drop_unused_blocks()
        fault = None
        if self.chance(self.config.fault_rate):
            fault = self.plant_fault()
        outcome = execute(self.program)
        sym_outcome = execute(self.program, symbolic=True) if self._has_symbols() else None
        inputs = [s for s in self.program.body if isinstance(s, Input)]
        concrete = list(inputs[0].sizes) if len(inputs) == 1 and self._has_symbols() else None
        return Case(seed, self.program, self.program.files(), self.program.net_name, concrete, settings, outcome,
                    sym_outcome, fault)

    def _has_symbols(self) -> bool:
        return any(isinstance(s, Input) and any(isinstance(d, str) for d in s.dims) for s in self.program.body)

    def constants(self) -> list[Let]:
        out = []
        if self.chance(0.4):
            out.append(Let("widths", Lit([self.pick((1, 2, 3, 4)) for _ in range(3)])))
        if self.chance(0.3):
            out.append(Let("base", Lit(self.pick((1, 2)))))
        return out

    # -- the network body ---------------------------------------------------------------------------
    def network_body(self) -> list[Stmt]:
        from collections import ChainMap

        from .model import Run
        run = Run(self.program, symbolic=self.symbolic, max_elements=MAX_ELEMENTS)
        values = {p.name: self.program.settings.get(p.name, p.default.value(None)) for p in self.program.net_params}
        b = Body(run, ChainMap(values, self.program.constant_values), ChainMap({}), None, None, set(), "network",
                 "main")
        stmts: list[Stmt] = []
        n_inputs = 2 if self.chance(0.2) else 1
        self.symbolic = self.symbolic and n_inputs == 1    # --input overrides a single input only
        run.symbolic = self.symbolic
        for i in range(n_inputs):
            stmt = self.input_stmt(named=n_inputs > 1 or self.chance(0.7), index=i)
            stmt.exec(b)
            stmts.append(stmt)
        self.body(b, stmts, depth=0, count=self.rng.randint(2, 7))
        if self.chance(0.25):
            named = [n for n in b.tensors if isinstance(b.tensors[n], T)]
            if named:
                chosen = self.rng.sample(named, min(len(named), self.rng.randint(1, 2)))
                stmts.append(Output(chosen))
        return stmts

    def input_stmt(self, named: bool, index: int) -> Input:
        rank = self.weighted({3: 6, 2: 2, 4: 1, 1: 1})
        c = self.rng.randint(1, 4)
        top = {2: 12, 3: 10, 4: 5, 1: 1}[rank]
        sizes = [self.rng.randint(3, top) for _ in range(rank - 1)] if rank > 1 else []
        dims: list = [c, *sizes]
        if self.symbolic and rank > 1 and index == 0:
            symbols = {2: ["L"], 3: ["H", "W"], 4: ["D", "H", "W"]}[rank]
            dims = [c] + [sym if self.chance(0.8) else size for sym, size in zip(symbols, sizes)]
        name = ("x", "img")[index] if named else None
        return Input(name, dims, [c, *sizes])

    def body(self, b: Body, stmts: list[Stmt], depth: int, count: int) -> None:
        """Append `count` statements valid in `b`, executing each (so `b` moves on)."""
        for _ in range(count):
            if len(b.run.layers) > self.config.max_layers:
                return
            stmt = self.candidate(b, lambda: self.statement(b, depth))
            if stmt is not None:
                stmts.append(stmt)

    def candidate(self, b: Body, make: Callable[[], Stmt], tries: int = 6) -> Stmt | None:
        for _ in range(tries):
            blocks = len(self.program.blocks)
            snap = b.snapshot()
            try:
                stmt = make()
            except Reject:
                b.restore(snap)
                del self.program.blocks[blocks:]
                continue
            b.restore(snap)   # the candidate was drafted by running parts of it; run it whole now
            try:
                stmt.exec(b)
            except Reject as err:
                if err.code == "GEN":
                    raise
                b.restore(snap)
                del self.program.blocks[blocks:]
                continue
            return stmt
        return None

    # -- statements ----------------------------------------------------------------------------------
    def statement(self, b: Body, depth: int) -> Stmt:
        deep = depth < self.config.max_depth
        kind = self.weighted({"chain": 8, "label": 2, "bind": 3, "merge": 3 if b.tensors else 0,
                              "head": 1 if b.tensors else 0, "repeat": 2 if deep else 0, "if": 2 if deep else 0,
                              "let": 1, "expect": 1.5, "block": 3 if deep else 0, "split": 0.7, "function": 0.4})
        if kind == "let" and self.params_rng.random() < 0.3:   # a share of the lets become parameters
            return self.param_gate(b)
        if kind == "split":
            return self.split(b, depth)
        if kind == "block" and self.results_rng.random() < self.config.results_rate:
            return self.unpack(b, depth)
        if kind == "function":
            name = self.pick([n for n in ("f", "g", "half") if n not in b.names.maps[0]] or ["h"])
            params, body = self.pick(((["a"], Bin("+", Name("a"), Lit(self.pick((0, 1))))),
                                      (["a", "b"], Call("max", [Name("a"), Name("b")])),
                                      (["a"], Bin("//", Name("a"), Lit(2)))))
            return Let(name, body, params)
        if kind in ("chain", "label"):
            items = self.items(b, b.cur, depth, self.weighted({1: 3, 2: 1, 3: 1}))
            if not items:
                raise Reject("GEN-RETRY", "no layer fits here")
            if kind == "label":
                if self.chance(0.2) and not isinstance(items[0], Labelled):   # `a: b: conv(...)`
                    items[0] = Labelled(self.label(b), items[0])
                return Layers(items, label=self.label(b))
            return Layers(items, arrows=self.chance(0.7))
        if kind == "bind":
            start = self.pick(list(b.tensors) + ["cur"]) if b.tensors and self.chance(0.6) else None
            x = b.tensors[start] if start in b.tensors else b.cur
            items = self.items(b, x, depth, self.rng.randint(0, 2)) if start else \
                self.items(b, x, depth, self.rng.randint(1, 2))
            if not start and not items:   # `a =` with nothing after it is not a statement
                raise Reject("GEN-RETRY", "no layer fits here")
            label = self.label(b) if items and self.chance(0.15) else None
            return Bind(self.tensor_name(b), items, start, label)
        if kind == "merge":
            return self.merge_stmt(b, depth)
        if kind == "head":
            return Layers([], start=self.pick(list(b.tensors)))
        if kind == "repeat":
            return self.repeat(b, depth)
        if kind == "if":
            return self.if_stmt(b, depth)
        if kind == "let":
            name = self.pick([n for n in VALUE_NAMES if n not in b.names.maps[0]] or ["q"])
            target = self.pick((1, 2, 3)) if self.chance(0.8) else [self.pick((1, 2)), self.pick((2, 3))]
            return Let(name, self.expr(b, target))
        if kind == "expect":
            dims: list[Expr | None] = []
            exact = b.cur.exact or (None,) * len(b.cur.shape)
            for size, sym, symbol in zip(b.cur.shape, b.cur.sym, exact):
                if symbol is not None and not b.active and self.chance(0.7):
                    dims.append(Sym(symbol))   # the input's symbol itself, also at concrete `--input` sizes
                else:
                    dims.append(None if sym or self.chance(0.3) else self.expr(b, size))
            return Expect(dims)
        return Layers([self.block_call(b, b.cur, depth)], label=self.label(b) if self.chance(0.2) else None)

    def label(self, b: Body | None = None):
        """A name (keywords too), a number, or a computed label ("layer{i}")."""
        kind = self.weighted({"name": 6, "number": 2, "keyword": 1, "computed": 2 if b is not None else 0})
        if kind == "number":
            return self.pick(NUMBER_LABELS)
        if kind == "keyword":
            return self.pick(KEYWORD_LABELS)
        if kind == "computed":
            ints = [k for k, v in b.names.items() if type(v) is int]
            part = Name(self.pick(ints)) if ints and self.chance(0.7) else Bin("+", Lit(1), Lit(self.pick((0, 1))))
            return Template(self.pick(([self.pick(("layer", "block", "s")), part], [part], [part, "-", Lit(0)])))
        return self.pick(LABELS + LABELS_NEAR_RESERVED)

    def binding_head(self, b: Body, depth: int, from_tensor: float) -> tuple[str | None, list, Any]:
        """What a several-name binding starts from (a named tensor, with this chance, else cur), up
        to one layer after it, and the tensor they make (run on a copy of `b`, which stays as it was)."""
        start = self.pick(list(b.tensors)) if b.tensors and self.chance(from_tensor) else None
        x = b.tensors[start] if start in b.tensors else b.cur
        items = self.items(b, x, depth, self.rng.randint(0, 1))
        snap = b.snapshot()
        for item in items:
            x = item.exec(b, x, None)
        b.restore(snap)
        return start, items, x

    def split(self, b: Body, depth: int) -> Split:
        """`a, b = [x ->] layers -> chunk(n)`."""
        start, items, x = self.binding_head(b, depth, 0.5)
        divisors = [n for n in (2, 3, 4) if x.shape[0] % n == 0] if self.chance(0.9) else [2, 3]
        if not divisors:
            raise Reject("GEN-RETRY", "no chunk count divides the channels")
        n = self.pick(divisors)
        names = self.rng.sample([t for t in TENSOR_NAMES if t not in b.tensors.maps[0]], min(n, 3))
        if len(names) < n:
            raise Reject("GEN-RETRY", "not enough free names")
        return Split(names, items, self.expr(b, n), start)

    def unpack(self, b: Body, depth: int) -> Unpack:
        """`p, q = [x ->] layers -> Block(...)`, a block whose body ends in `output a, b`."""
        start, items, x = self.binding_head(b, depth, 0.4)
        several = [blk for blk in self.program.blocks if gives(blk) > 1 and blk.name not in b.active
                   and self.program.resolve(blk.name, b.file) is blk]
        block = self.pick(several) if several and self.chance(0.4) else self.new_block(b, x, depth, several=True)
        names = self.rng.sample([t for t in TENSOR_NAMES if t not in b.tensors.maps[0]], gives(block))
        return Unpack(names, items, self.call_of(b, block), start)

    def param_gate(self, b: Body) -> ParamGate:
        """A learnable tensor declared and read by a mul (a size of 1 here and there) or an add (the
        other's shape), as convnext's layer_scale * block(x)."""
        rng = self.params_rng
        others = [n for n, t in b.tensors.items() if not t.param and not any(t.sym)]
        if b.cur is not None and not b.cur.param and not any(b.cur.sym) and rng.random() < 0.3:
            others = ["cur"]
        if not others:
            raise Reject("GEN-RETRY", "no tensor of concrete sizes to meet a parameter")
        other = rng.choice(others)
        shape = (b.cur if other == "cur" else b.tensors[other]).shape
        op = rng.choice(("mul", "add"))
        dims = [size if op == "add" or rng.random() < 0.5 else 1 for size in shape]
        names = [n for n in ("scale", "gamma", "layer_scale", "shift") if n not in b.tensors.maps[0]]
        free = [n for n in TENSOR_NAMES if n not in b.tensors.maps[0]]
        if not names or not free:
            raise Reject("GEN-RETRY", "no free parameter name")
        return ParamGate(rng.choice(names), [Lit(d) for d in dims], rng.choice((0.5, 1.0, 1e-6)), op, other,
                         rng.random() < 0.5, rng.choice(free) if rng.random() < 0.5 else None)

    def tensor_name(self, b: Body) -> str:
        free = [n for n in TENSOR_NAMES if n not in b.tensors.maps[0]]
        return self.pick(free or ["u"])

    def merge_stmt(self, b: Body, depth: int) -> MergeStmt:
        op = self.pick(("cat", "add", "mul"))
        if op == "mul":    # a gate: one tensor times another pooled to size 1 (or the same shape)
            name = self.pick(list(b.tensors))
            gate = [OpCall("gap", [], False), OpCall("sigmoid", [], False)] if self.chance(0.7) else []
            other = self.pick([n for n in b.tensors if b.tensors[n].shape == b.tensors[name].shape])
            inputs = [(name, []), (other, gate)]
            if self.chance(0.5):
                inputs.reverse()
            return MergeStmt(op, inputs, [], self.tensor_name(b) if self.chance(0.6) else None)
        names = list(b.tensors)
        count = self.weighted({1: 2, 2: 4, 3: 1})
        picked = [self.pick(names) for _ in range(count)]
        if op == "add" and count > 1:   # most adds should type-check: start from one tensor's shape
            first = b.tensors[picked[0]]
            same = [n for n in names if b.tensors[n].shape == first.shape]
            picked = [picked[0]] + [self.pick(same) for _ in range(count - 1)]
        inputs = []
        for name in picked:
            items = self.items(b, b.tensors[name], depth, self.rng.randint(0, 1)) if self.chance(0.4) else []
            inputs.append((name, items))
        target = self.tensor_name(b) if self.chance(0.6) else None
        x = MergeStmt(op, inputs, [], None)
        snap = b.snapshot()
        x.exec(b)
        then = self.items(b, b.cur, depth, self.rng.randint(0, 2))
        b.restore(snap)
        return MergeStmt(op, inputs, then, target)

    def repeat(self, b: Body, depth: int) -> Repeat:
        n = self.weighted({0: 1, 1: 3, 2: 4, 3: 2})
        var = self.pick(("i", "j")) if self.chance(0.6) and "i" not in b.names and "j" not in b.names else None
        count = self.expr(b, n)
        inner = b.child(b.cur)
        if var:
            inner.names[var] = 0
        stmts: list[Stmt] = []
        self.body(inner, stmts, depth + 1, self.rng.randint(1, 3))
        return Repeat(count, var, stmts)

    def if_stmt(self, b: Body, depth: int) -> If:
        test = self.condition(b)
        branches = []
        for _ in range(2):
            inner = b.child(b.cur)
            stmts: list[Stmt] = []
            self.body(inner, stmts, depth + 1, self.rng.randint(0, 2))
            branches.append(stmts)
        orelse: Any = self.weighted({"none": 2, "body": 3, "elif": 1})
        if orelse == "none":
            orelse = None
        elif orelse == "body":
            orelse = branches[1]
        else:
            orelse = If(self.condition(b), branches[1], None)
        return If(test, branches[0], orelse)

    def condition(self, b: Body) -> Expr:
        ints = [v for v in self._int_names(b)]
        left: Expr
        if ints and self.chance(0.5):
            left = Name(self.pick(ints))
        else:
            left = Attr("cur", "c")
        value = left.value(b)
        right = self.expr(b, self.pick((value, value + 1, max(value - 1, 0), 2)))
        test: Expr = Cmp(self.pick(("<", "<=", ">", ">=", "==", "!=")), left, right)
        if self.chance(0.2):
            test = Not(test)
        if self.chance(0.15):
            test = Bin(self.pick(("and", "or")), test, Cmp("==", Lit(1), Lit(self.pick((1, 2)))))
        return test

    def _int_names(self, b: Body) -> list[str]:
        return [k for k, v in b.names.items() if isinstance(v, int) and not isinstance(v, bool)]

    # -- chains ---------------------------------------------------------------------------------------
    def items(self, b: Body, x: T, depth: int, count: int) -> list[Item]:
        """`count` layers valid one after the other from `x` (drafted by running them)."""
        out: list[Item] = []
        for _ in range(count):
            for _attempt in range(6):
                blocks = len(self.program.blocks)
                snap = b.snapshot()
                try:
                    item = self.item(replace(b, cur=x), x, depth)   # `cur` is what the layer receives
                    b.restore(snap)
                    y = item.exec(b, x, None)
                except Reject as err:
                    if err.code == "GEN":
                        raise
                    b.restore(snap)
                    del self.program.blocks[blocks:]
                    continue
                if out and self.chance(0.15):     # `x -> conv(...) fc1: conv(...)`: the layer's own name
                    labelled = Labelled(self.label(b), item)
                    snap = b.snapshot()
                    try:
                        y = labelled.exec(b, x, None)
                    except Reject:
                        b.restore(snap)
                    else:
                        b.restore(snap)
                        item = labelled
                out.append(item)
                x = y
                break
        return out

    def item(self, b: Body, x: T, depth: int) -> Item:
        deep = depth < self.config.max_depth
        kind = self.weighted({"op": 12, "identity": 0.5, "paths": 2.5 if deep else 0, "residual": 1.5 if deep else 0,
                              "block": 1.5 if deep else 0})
        if kind == "op":
            return self.op_call(b, x)
        if kind == "identity":
            return Identity()
        if kind == "block":
            return self.block_call(b, x, depth)
        if kind == "residual":
            main = self.path(b, x, depth, self.rng.randint(1, 2))
            shortcut = self.path(b, x, depth, self.rng.randint(0, 1)) if self.chance(0.35) else None
            return Residual(main, shortcut)
        op = self.pick(("concat", "add", "mul"))
        if op == "mul" and len(x.shape) > 1:   # squeeze-excitation: the input times a gate of its channels
            gate = [Layers([OpCall("gap", [], False)]), Layers([OpCall("sigmoid", [], False)])]
            return Paths(op, [[Layers([Identity()])] if self.chance(0.5) else [], gate])
        count = self.weighted({1: 3, 2: 4, 3: 2})
        paths = []
        for _ in range(count):
            shape = self.weighted({"identity": 1, "empty": 1, "layers": 4})
            if shape == "identity":
                paths.append([Layers([Identity()])])
            elif shape == "empty":
                paths.append([])
            else:
                paths.append(self.path(b, x, depth, self.rng.randint(1, 2)))
        return Paths(op, paths)

    def path(self, b: Body, x: T, depth: int, count: int) -> list[Stmt]:
        inner = b.child(x)
        stmts: list[Stmt] = []
        self.body(inner, stmts, depth + 1, count)
        return stmts

    # -- ops -------------------------------------------------------------------------------------------
    def op_call(self, b: Body, x: T) -> OpCall:
        rank = len(x.shape)
        table = {op: 1.0 for op in OPS_KNOWN}
        table.update(conv=6 if rank > 1 else 0.2, conv_transpose=1.5 if rank > 1 else 0.1, channel_shuffle=0.7,
                     bn=2, relu=3, maxpool=2 if rank > 1 else 0.2,
                     avgpool=1.5 if rank > 1 else 0.2, linear=3 if rank == 1 else 0.3,
                     flatten=1.5 if rank > 1 else 0.3, upsample=1 if rank > 1 else 0.1, lrn=0.7,
                     adaptive_avgpool=0.7, gap=0.7, chunk=0.5, crop=0.6 if rank > 1 else 0,
                     resize=0.6 if rank > 1 else 0,
                     parameter=0)   # never in a chain, which would read it: `param` statements declare one
        op = self.weighted(table)
        values = self.op_values(op, x, b)
        return OpCall(op, self.arguments(b, op, values), parens=bool(values) or self.chance(0.2))

    def op_values(self, op: str, x: T, b: Body) -> dict[str, Any]:
        """Argument values for `op` at `x`, only those to be written (the rest take defaults)."""
        rng, n = self.rng, max(len(x.shape) - 1, 1)
        small = lambda lo, hi: rng.randint(lo, hi)  # noqa: E731
        per_axis = lambda lo, hi: [small(lo, hi) for _ in range(n)] if self.chance(0.15) else small(lo, hi)  # noqa: E731
        v: dict[str, Any] = {}
        if op == "conv":
            v["out"] = small(1, 4)
            v["k"] = per_axis(1, 3)
            if self.chance(0.4):
                v["s"] = per_axis(1, 2)
            if self.chance(0.5):
                v["p"] = self.weighted({0: 1, 1: 3, "same": 1, "valid": 0.5}) if "s" not in v or v["s"] == 1 else \
                    small(0, 1)
            if self.chance(0.2):
                v["d"] = small(1, 2)
            if self.chance(0.2):
                v["groups"] = self.pick((1, 2))
            if self.chance(0.2):
                v["bias"] = self.chance(0.5)
        elif op == "conv_transpose":
            v["out"] = small(1, 4)
            v["k"] = per_axis(1, 3)
            if self.chance(0.5):
                v["s"] = per_axis(1, 2)
            if self.chance(0.3):
                v["p"] = small(0, 1)
            if self.chance(0.2):
                v["d"] = small(1, 2)
            if self.chance(0.3):
                v["output_padding"] = small(0, 1)
            if self.chance(0.2):
                v["groups"] = self.pick((1, 2))
            if self.chance(0.2):
                v["bias"] = self.chance(0.5)
        elif op in ("groupnorm", "channel_shuffle"):
            c = x.shape[0]
            v["groups"] = self.pick([g for g in (1, 2, 3, 4) if c % g == 0] if self.chance(0.9) else (1, 2, 3))
            if op == "groupnorm" and self.chance(0.3):
                v["eps"] = self.pick((1e-5, 0.1))
            if op == "groupnorm" and self.chance(0.2):
                v["affine"] = self.chance(0.5)
        elif op == "layernorm":
            if self.chance(0.3):
                v["eps"] = self.pick((1e-5, 0.1))
            if self.chance(0.2):
                v["affine"] = self.chance(0.5)
        elif op == "channel_linear":
            v["out"] = small(1, 4)
            if self.chance(0.2):
                v["bias"] = self.chance(0.5)
        elif op == "scale_shift":
            c = x.shape[0]
            for name in ("scale", "shift"):
                if self.chance(0.7):
                    v[name] = [self.pick((0.5, 2.0, -1.0, 1)) for _ in range(c)] if self.chance(0.5) else \
                        self.pick((0.5, 2.0, 3, -1.0))
        elif op == "stochastic_depth":
            v["p"] = self.pick((0.0, 0.2, 0.5, 1.0))
            if self.chance(0.3):
                v["mode"] = self.pick(("row", "batch"))
        elif op == "gelu":
            if self.chance(0.4):
                v["approximate"] = self.pick(("none", "tanh"))
        elif op == "bn":
            if self.chance(0.3):
                v["eps"] = self.pick((1e-5, 1e-3, 0.1))
            if self.chance(0.3):
                v["momentum"] = self.pick((0.1, 0.5, 1.0, 0))
            if self.chance(0.2):
                v["affine"] = self.chance(0.5)
        elif op == "leaky_relu":
            if self.chance(0.5):
                v["slope"] = self.pick((0.01, 0.2, 2))
        elif op == "dropout":
            if self.chance(0.7):
                v["p"] = self.pick((0.5, 0.25, 0.1, 0.0, 1.0))
        elif op in ("maxpool", "avgpool"):
            v["k"] = per_axis(1, 3)
            if self.chance(0.4):
                v["s"] = per_axis(1, 2)
            if self.chance(0.3):
                k = v["k"] if isinstance(v["k"], int) else min(v["k"])
                v["p"] = small(0, k // 2)
            if self.chance(0.2):
                v["ceil"] = self.chance(0.5)
        elif op == "adaptive_avgpool":
            v["out"] = per_axis(1, 3)
        elif op == "linear":
            v["out"] = small(1, 4)
            if self.chance(0.2):
                v["bias"] = self.chance(0.5)
        elif op == "upsample":
            v["scale"] = self.pick((2, 2, 1.5, 0.5, 3))
            modes = {2: ("nearest", "linear"), 3: ("nearest", "bilinear", "bicubic"), 4: ("nearest", "trilinear")}
            if self.chance(0.5) and len(x.shape) in modes:
                v["mode"] = self.pick(modes[len(x.shape)])
        elif op == "lrn":
            v["size"] = small(1, 3)
            if self.chance(0.3):
                v["alpha"] = self.pick((1e-4, 0.1))
            if self.chance(0.3):
                v["beta"] = self.pick((0.75, 0.5))
            if self.chance(0.3):
                v["k"] = self.pick((1.0, 2.0, 2))
        elif op in ("crop", "resize"):
            same_rank = [n for n in list(b.tensors) + ["cur", "in"]
                         if n in ("cur", "in") or len(b.tensors[n].shape) == len(x.shape)]
            if op == "crop":   # the tensors this one holds the centre of: smaller by an even number
                same_rank = [n for n in same_rank if n != "in" and all(
                    h >= w and (h - w) % 2 == 0 for h, w in zip(x.shape[1:], self._tensor(b, n, x).shape[1:]))]
            v["like"] = TensorArg(self.pick(same_rank or ["cur"]))
            if op == "resize":
                modes = {2: ("nearest", "linear"), 3: ("nearest", "bilinear", "bicubic"), 4: ("nearest", "trilinear")}
                if self.chance(0.6) or len(x.shape) != 3:
                    v["mode"] = self.pick(modes[len(x.shape)])
                if self.chance(0.3) and v.get("mode", "bilinear") != "nearest":
                    v["align_corners"] = self.chance(0.5)
        elif op == "chunk":
            c = x.shape[0]
            v["chunks"] = self.pick([n for n in (1, 2, 3, 4) if c % n == 0] if self.chance(0.9) else (2, 3))
            v["index"] = self.rng.randrange(v["chunks"])
        elif op in ops.OPS and op not in OPS_KNOWN:
            raise Reject("GEN", f"the generator has no rule for op {op}")
        return v

    @staticmethod
    def _tensor(b: Body, name: str, x: T) -> T:
        return x if name == "cur" else b.entry if name == "in" else b.tensors[name]

    def arguments(self, b: Body, op: str, values: dict[str, Any]) -> list[Arg]:
        """Positional in declared order for a prefix, keywords (by name or alias) for the rest."""
        spec = ops.OPS[op]
        args: list[Arg] = []
        positional = True
        for decl in spec.args:
            if decl.name not in values:
                positional = False if not decl.required else positional
                continue
            positional = positional and (decl.required or self.chance(0.4))
            value = values[decl.name] if isinstance(values[decl.name], Expr) else self.expr(b, values[decl.name])
            if positional:
                args.append(Arg(None, value))
            else:
                args.append(Arg(self.pick((decl.name,) + decl.aliases), value))
        if not positional and self.chance(0.3):
            keywords = [a for a in args if a.name is not None]
            self.rng.shuffle(keywords)
            args = [a for a in args if a.name is None] + keywords
        return args

    # -- blocks ----------------------------------------------------------------------------------------
    def block_call(self, b: Body, x: T, depth: int) -> BlockCall:
        visible = [blk for blk in self.program.blocks if self.program.resolve(blk.name, b.file) is blk
                   and blk.name not in b.active]
        prelude_ok = len(x.shape) == 3 and x.shape[1] >= 1
        # The main file's override of a prelude block must not reach a library's call (issue 10, case 5).
        overridden = [blk.name for blk in self.program.blocks if blk.name in PRELUDE and blk.file != b.file]
        choice = self.weighted({"old": 3 if visible else 0, "new": 3,
                                "prelude": (3 if overridden else 1) if prelude_ok else 0})
        visible = [blk for blk in visible if gives(blk) <= 1]   # one that gives several is bound (`unpack`)
        if choice == "old" and not visible:
            choice = "new"
        if choice == "prelude":
            return self.prelude_call(b, x, self.pick(overridden) if overridden and self.chance(0.7) else None)
        block = self.pick(visible) if choice == "old" else self.new_block(b, x, depth)
        return self.call_of(b, block)

    def call_of(self, b: Body, block: BlockDef) -> BlockCall:
        values = {p.name: self.param_value(p.name) for p in block.params}
        args: list[Arg] = []
        positional = True
        for p in block.params:
            if p.default is not None and self.chance(0.4):
                positional = False
                continue
            positional = positional and self.chance(0.7)
            expr = self.expr(b, values[p.name])
            args.append(Arg(None if positional else p.name, expr))
        return BlockCall(block.name, args)

    def param_value(self, name: str) -> Any:
        return self.pick((1, 2)) if self.chance(0.7) else self.pick((1, 2, 3, 4))

    def new_block(self, b: Body, x: T, depth: int, several: bool = False) -> BlockDef:
        overridden = [blk.name for blk in self.program.blocks if blk.name in PRELUDE and blk.file == "main"]
        to_lib = self.chance(0.9 if overridden else 0.6)
        file = "lib" if self.program.library and to_lib and b.file != "lib" else b.file
        taken = {blk.name for blk in self.program.blocks}
        names = [n for n in BLOCK_NAMES if n not in taken]
        # A block named like the prelude's overrides it in its own file only (issue 10, case 5: a
        # library's call must still mean the prelude's), so more of them where there is a library.
        overrides = [n for n in ("dense", "transition") if n not in taken and not self.overrides_a_call(n, file)]
        if overrides and self.chance(0.4 if self.program.library else 0.1):
            names = overrides
        if not names:
            raise Reject("GEN-RETRY", "no block name left")
        name = self.pick(names)
        param_names = self.rng.sample(VALUE_NAMES, self.rng.randint(0, 3))
        params: list[Param] = []
        values: dict[str, Any] = {}
        from collections import ChainMap
        for i, pname in enumerate(param_names):
            default = None
            if i > 0 and self.chance(0.5):
                default = self.weighted({"lit": 3, "param": 1, "in": 1})
                if default == "lit":
                    default = Lit(self.pick((1, 2)))
                elif default == "param":
                    default = Name(param_names[i - 1])
                else:
                    default = Attr("in", "c")
            elif params and params[-1].default is not None:
                default = Lit(self.pick((1, 2)))    # parameters with defaults come last
            params.append(Param(pname, default))
            values[pname] = self.param_value(pname)
        block = BlockDef(name, params, [], file)
        consts = self.program.constant_values
        inner = Body(b.run, ChainMap(dict(values), consts), ChainMap({}), x, x, set(), "block", file,
                     b.active + (name,), [])
        stmts: list[Stmt] = []
        shape = self.weighted({"body": 6, "one-add": 1, "empty": 0.3,
                               "prelude": 12 if file == "lib" and overridden and len(x.shape) == 3 else 0})
        if shape == "one-add":   # the block whose body is `add { | identity }` (issue 10, case 2)
            stmts.append(Layers([Paths("add", [[Layers([Identity()])]])]))
            inner.cur = Paths("add", [[Layers([Identity()])]]).exec(inner, x, None)
        if shape == "prelude":   # the prelude's block that the main file overrides (issue 10, case 5)
            call = self.candidate(inner, lambda: Layers([self.prelude_call(inner, inner.cur, self.pick(overridden))]))
            stmts += [call] if call else []
        if shape != "empty":
            self.body(inner, stmts, depth + 1, self.rng.randint(1, 3))
        if several:   # what it gives: two or three of its tensors (`cur` and `in` among them), in order
            named = [n for n in inner.tensors.maps[0]] + ["cur", "in"]
            if len(named) < 2:
                raise Reject("GEN-RETRY", "a block with too few tensors to give several")
            output = Output(self.rng.sample(named, min(len(named), self.rng.randint(2, 3))))
            output.exec(inner)
            stmts.append(output)
        block.body = stmts
        self.program.blocks.append(block)
        return block

    def overrides_a_call(self, name: str, file: str) -> bool:
        """Would a block `name` defined in `file` change a prelude call made already? It would in
        its own file, and a library's block in the main file that imports it too."""
        return (name, file) in self.prelude_called or (file == "lib" and (name, "main") in self.prelude_called)

    def prelude_call(self, b: Body, x: T, name: str | None = None) -> BlockCall:
        name = name or self.pick(("dense", "transition", "inception"))
        self.prelude_called.add((name, b.file))
        if name == "dense":
            vals = [self.pick((1, 2)), self.pick((1, 2))]
        elif name == "transition":
            vals = [self.pick((1, 2, 3))]
        else:
            vals = [self.pick((1, 2)), [self.pick((1, 2)), self.pick((1, 2))], [self.pick((1, 2)), self.pick((1, 2))],
                    self.pick((1, 2))]
        params = [p.name for p in PRELUDE[name].params]
        args = []
        positional = True
        for pname, v in zip(params, vals):
            positional = positional and self.chance(0.8)
            args.append(Arg(None if positional else pname, self.expr(b, v)))
        return BlockCall(name, args)

    # -- expressions -------------------------------------------------------------------------------------
    def expr(self, b: Body, target: Any, depth: int = 0) -> Expr:
        """An expression that evaluates to `target` in `b`: a literal, or a name, `cur.c`, `widths[1]`,
        arithmetic or a conditional that comes to the same value."""
        if isinstance(target, (list, tuple)):
            return ListE([self.expr(b, v, depth + 1) for v in target])
        if isinstance(target, bool) or isinstance(target, str) or isinstance(target, float) or depth > 1:
            same = [Name(k) for k, v in b.names.items() if type(v) is type(target) and v == target]
            return self.pick(same) if same and self.chance(0.3) else Lit(target)
        ways: list[Callable[[], Expr]] = [lambda: Lit(target)] * 3
        same = [k for k, v in b.names.items() if type(v) is int and v == target]
        if same:
            ways += [lambda: Name(self.pick(same))] * 3
        attrs = self._attrs(b, target)
        if attrs:
            ways += [lambda: self.pick(attrs)] * 2
        lists = [(k, i) for k, v in b.names.items() if isinstance(v, tuple) for i, item in enumerate(v)
                 if type(item) is int and item == target]
        if lists:
            ways.append(lambda: Index(Name(self.pick(lists)[0]), Lit(self.pick(lists)[1]))
                        if len({k for k, _ in lists}) == 1 else Index(Name(lists[0][0]), Lit(lists[0][1])))
        ints = [k for k, v in b.names.items() if type(v) is int]
        if ints:
            def offset() -> Expr:
                name = self.pick(ints)
                delta = target - b.names[name]
                return Bin("+" if delta >= 0 else "-", Name(name), Lit(abs(delta)))
            ways.append(offset)
        ways.append(lambda: Bin("//", self.expr(b, target * 2 + self.pick((0, 1)), depth + 1), Lit(2)))
        def extreme() -> Expr:
            inner = self.expr(b, target, depth + 1)
            if self.chance(0.5):
                return Call("max", [inner, Lit(self.pick((target, max(target - 1, 0))))])
            return Call("min", [Lit(self.pick((target, target + 1))), inner])
        ways.append(extreme)
        ways.append(lambda: Call(self.pick(("int", "round", "floor")), [Lit(target + self.pick((0.25, 0.0)))]))
        ways.append(lambda: Call("ceil", [Lit(target - 0.5)]) if target > 0 else Lit(target))
        ways.append(lambda: Call("sum", [SliceE(ListE([Lit(target), Lit(1), Lit(2)]), None, Lit(1))]))
        ways.append(lambda: Call("len", [ListE([Lit(0)] * target)]) if target < 5 else Lit(target))
        functions = [k for k, v in b.names.items() if isinstance(v, Function) and len(v.params) == 1]
        if functions:
            def defined() -> Expr:
                name = self.pick(functions)
                for arg in range(0, 2 * target + 2):
                    try:
                        if b.names[name].call([arg]) == target:
                            return Call(name, [Lit(arg)])
                    except Reject:
                        break
                return Lit(target)
            ways += [defined] * 3
        ways.append(lambda: Cond(self.expr(b, target, depth + 1), Cmp("<", Lit(1), Lit(2)), Lit(target + 1)))
        expr = self.pick(ways)()
        if expr.value(b) != target:   # a lambda's late binding would show here, not as a wrong network
            raise Reject("GEN", f"expression {expr.text()} is not {target}")
        return expr

    def _attrs(self, b: Body, target: int) -> list[Expr]:
        out: list[Expr] = []
        for which, t in (("cur", b.cur), ("in", b.entry)):
            if t is None:
                continue
            from .model import ATTRS
            for attr, size, sym in zip(ATTRS[len(t.shape)], t.shape, t.sym):
                if size == target and not sym:
                    out.append(Attr(which, attr))
        return out

    # -- faults ----------------------------------------------------------------------------------------------
    def plant_fault(self) -> str | None:
        """One mistake somewhere in the tree; returns what was planted."""
        sites = list(_sites(self.program))
        if not sites:
            return None
        weight = {OpCall: 1.0, BlockCall: 1.0, Expect: 1.5, Paths: 4.0, Input: 0.5, Layers: 1.0}
        for _ in range(4):
            owner, key, node = self.rng.choices(sites, weights=[weight[type(s[2])] for s in sites])[0]
            fault = self._mutate(node)
            if fault is None:
                continue
            new, what = fault
            _replace(owner, key, new)
            return what
        return None

    def _mutate(self, node) -> tuple[Any, str] | None:
        rng = self.rng
        if isinstance(node, OpCall):
            spec = ops.OPS.get(node.op)
            kinds = ["unknown-kw", "bad-type", "too-many", "rename"]
            if spec and spec.args and any(a.required for a in spec.args):
                kinds.append("missing")
            if node.op in ("conv", "maxpool", "avgpool"):
                kinds += ["huge-kernel"] * 4 + ["groups"] * 2
            if node.args:
                kinds.append("twice")
            kinds.append("bad-value")
            if self.symbolic:
                kinds += ["symbolic-width"] * 3
            kind = self.pick(kinds)
            new = copy.deepcopy(node)
            if kind == "unknown-kw":
                new.args.append(Arg(self.pick(("kernel_size", "strides", "padd", "out_channels")), Lit(1)))
            elif kind == "bad-type":
                if not new.args:
                    return None
                i = rng.randrange(len(new.args))
                decl = spec.arg(new.args[i].name) if new.args[i].name else spec.args[min(i, len(spec.args) - 1)]
                wrong = {"int": (True, 2.5, "x"), "float": (True, "x", [1, 2]), "number": (True, "x"),
                         "bool": (1, "x"), "str": (1, True), "ints": (True, 2.5, "x"), "size": (True, 2.5),
                         "padding": (True, 2.5, "x"), "floats": (True, "x", [True]),
                         "tensor": (1, "x")}[decl.kind]
                new.args[i] = Arg(new.args[i].name, Lit(self.pick(wrong)))
            elif kind == "too-many":
                new.args = [a for a in new.args if a.name is None] + [Arg(None, Lit(1))] * (len(spec.args) + 1 if spec
                                                                                          else 1)
            elif kind == "rename":
                new.op = self.pick(("Conv2d", "batchnorm", "maxpool2d", "relu_", "dense_layer"))
            elif kind == "missing":
                new.args = [a for a in new.args if a.name is not None and not spec.arg(a.name).required]
            elif kind == "huge-kernel":
                new.args = [a for a in new.args if a.name is None][:1] + [Arg("k", Lit(13))]
            elif kind == "groups":
                new.args = [a for a in new.args if a.name is None][:1] + [Arg("k", Lit(1)), Arg("groups", Lit(3))]
            elif kind == "twice":
                first = new.args[0]
                name = first.name or spec.args[0].name
                new.args.append(Arg(name, first.value))
            elif kind == "symbolic-width":   # a layer sized by a width that depends on the input size
                new = Paths("concat", [[Layers([OpCall("flatten", [], False),
                                                self.pick((OpCall("bn", [], False), OpCall("linear", [Arg(None, Lit(2))]),
                                                           OpCall("layernorm", [], False)))])]])
            elif kind == "bad-value":
                new = self.pick((OpCall("bn", [Arg("eps", Lit(-1))]), OpCall("bn", [Arg("momentum", Lit(2))]),
                                 OpCall("lrn", [Arg(None, Lit(2)), Arg("k", Lit(0))]),
                                 OpCall("groupnorm", [Arg(None, Lit(1)), Arg("eps", Lit(0))]),
                                 OpCall("dropout", [Arg(None, Lit(1.5))])))
            return new, f"op {kind}"
        if isinstance(node, BlockCall):
            new = copy.deepcopy(node)
            kind = self.pick(("extra", "unknown", "drop"))
            if kind == "extra":
                new.args = [a for a in new.args if a.name is None] + [Arg(None, Lit(1))] * 4
            elif kind == "unknown":
                new.args.append(Arg("zz", Lit(1)))
            else:
                new.args = []
            return new, f"block call {kind}"
        if isinstance(node, Expect):
            new = copy.deepcopy(node)
            new.dims = new.dims + [Lit(1)] if self.chance(0.3) else [Lit(99)] + new.dims[1:]
            return new, "expect"
        if isinstance(node, Paths):
            new = copy.deepcopy(node)
            new.paths.append([Layers([self.pick((OpCall("conv", [Arg(None, Lit(7)), Arg("k", Lit(1))]),
                                                  OpCall("maxpool", [Arg(None, Lit(2))]),
                                                  OpCall("flatten", [], False)))])])
            return new, f"{node.op} path"
        if isinstance(node, Input):
            return Input(node.name, [], []), "empty input"
        if isinstance(node, Layers) and node.label:
            new = copy.deepcopy(node)
            new.label = self.pick(UNNAMEABLE_LABELS)
            return new, "unnameable label"
        return None


def _label_kind(label) -> str:
    if isinstance(label, Template):
        return "computed label"
    if label.isdigit():
        return "number label"
    return "keyword label" if label in KEYWORD_LABELS else "name label"


def _sites(program: Program):
    """(owner, key, node) for every op call, block call, expect, paths item, input and labelled
    chain, anywhere."""
    def walk(owner, key, node):
        if isinstance(node, (OpCall, BlockCall, Expect, Paths, Input)) or isinstance(node, Layers) and node.label:
            yield owner, key, node
        if isinstance(node, list):
            for i, n in enumerate(node):
                yield from walk(node, i, n)
        elif isinstance(node, tuple):
            for n in node:
                yield from walk(None, None, n)
        elif hasattr(node, "__dataclass_fields__") and not isinstance(node, Expr):
            for f in node.__dataclass_fields__:
                yield from walk(node, f, getattr(node, f))

    for blk in program.blocks:
        yield from walk(blk, "body", blk.body)
    yield from walk(program, "body", program.body)


def _replace(owner, key, new) -> None:
    if isinstance(owner, list):
        owner[key] = new
    else:
        setattr(owner, key, new)


# -- what a batch of cases covers ------------------------------------------------------------------------

def gives(block: BlockDef) -> int:
    """How many tensors a block gives: those of its `output`s, else one."""
    return sum(len(s.names) for s in block.body if isinstance(s, Output)) or 1


def features(case: Case) -> set[str]:
    """The constructs a case uses, for the tests that keep the generator honest about its reach."""
    found: set[str] = set()
    program = case.program

    def walk(node) -> None:
        if isinstance(node, (list, tuple)):
            for n in node:
                walk(n)
            return
        kind = type(node).__name__
        if isinstance(node, BlockCall):
            values = [a.value.text() for a in node.args]
            found.add("prelude call" if node.name in PRELUDE and program.resolve(node.name, "main") is
                      PRELUDE[node.name] else "block call")
            if any(a.name is None for a in node.args):
                found.add("positional block argument")
            if any(a.name is not None for a in node.args):
                found.add("keyword block argument")
            if len(set(values)) < len(values):
                found.add("equal block arguments")
        elif isinstance(node, Repeat):
            found.add("repeat as" if node.var else "repeat")
        elif isinstance(node, If):
            found.add("if else if" if isinstance(node.orelse, If) else "if else" if node.orelse else "if")
        elif isinstance(node, Sym):
            found.add("symbol in the body")
        elif isinstance(node, Layers):
            if node.label:
                found.add("group" if len(node.items) > 1 else "label")
                found.add(_label_kind(node.label))
            if node.label in LABELS_NEAR_RESERVED:
                found.add("label near a reserved name")
            if node.start and not node.items:
                found.add("tensor alone")
        elif isinstance(node, Labelled):
            found.add("chain label")
            found.add(_label_kind(node.label))
        elif isinstance(node, Split):
            found.add(f"split into {len(node.targets)}")
        elif isinstance(node, Unpack):
            found.add(f"block giving {len(node.targets)}")
        elif isinstance(node, ParamGate):
            found.add(f"parameter read by {node.op}")
        elif isinstance(node, Call):
            found.add("defined function" if node.fn not in ("min", "max", "round", "int", "abs", "len", "sum",
                                                            "floor", "ceil", "log", "pow") else f"function {node.fn}")
        elif isinstance(node, SliceE):
            found.add("slice")
        elif isinstance(node, Bind) and node.label is not None:
            found.add("bind label")
        elif isinstance(node, Let) and node.params is not None:
            found.add("function definition")
        elif isinstance(node, Paths):
            found.add(f"{node.op} paths")
            if any(not p for p in node.paths):
                found.add("empty path")
        elif isinstance(node, Residual):
            found.add("residual shortcut" if node.shortcut is not None else "residual")
        elif isinstance(node, MergeStmt):
            found.add(f"{node.op}() of {min(len(node.inputs), 2)}")
        elif isinstance(node, Attr):
            found.add(f"{node.tensor}.{node.attr}" if node.attr in ("c", "shape") else f"{node.tensor}.size")
        elif kind in ("Index", "Cond", "Let", "Bind", "Expect", "Output", "Identity"):
            found.add(kind.lower())
        if hasattr(node, "__dataclass_fields__"):
            for f in node.__dataclass_fields__:
                walk(getattr(node, f))

    walk(program.body)
    for blk in program.blocks:
        walk(blk.body)
        if any(p.default is not None for p in blk.params):
            found.add("parameter default")
        if blk.name in PRELUDE:
            found.add("prelude override")
            if any(f"{blk.name}(" in other.text() for other in program.blocks if other.file != blk.file):
                found.add("prelude override another file does not see")
    if case.fault:
        found.add(f"fault {case.fault}")
    layers = case.outcome.layers
    found.update(f"op {layer.op}" for layer in layers)
    found.update(f"one-input {layer.op}" for layer in layers if layer.op in ("add", "concat") and len(layer.inputs) == 1)
    if any(layer.op in ("add", "concat") and any(layers[i].op in ("add", "concat") for i in layer.inputs)
           for layer in layers):
        found.add("nested merges")
    if "lib/blocks.arch" in case.files:
        found.add("import")
    if case.symbolic is not None:
        found.add("symbolic sizes")
    if case.params:
        found.add("--set")
    if sum(isinstance(s, Input) for s in program.body) > 1:
        found.add("two inputs")
    if case.error:
        found.add(f"rejected {case.error}")
    return found
