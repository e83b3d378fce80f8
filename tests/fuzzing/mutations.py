"""Mutations of real specs: the seed corpus and what is done to it.

The corpus is every .arch file of the repository (specs/, examples/,
tests/, bench/specs/, the prelude). A mutant is a seed with one to three
mutations applied, each chosen at random from `MUTATORS`: deleted, doubled,
swapped and replaced tokens, random bytes, huge and odd numbers, deep nesting
of bodies, brackets and operators, long lines, repeated lines, names that
Python or PyTorch reserve, and the byte-level accidents of real files (BOM,
CRLF, tabs, NUL, cut-off text). Everything is drawn from a `random.Random`,
so a mutant is reproduced by its seed.
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
CORPUS_DIRS = ("specs", "examples", "tests", "bench/specs", "archlang")
MAX_SEED_BYTES = 16_000   # larger seeds (the regressions' huge inputs) are slow to mutate and add little

# Tokens as the lexer sees them, roughly: names, numbers, strings, operators, brackets, newlines.
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d[\w.]*|\"[^\"\n]*\"|'[^'\n]*'|->|//|==|!=|<=|>=|\S|\n")

# Names that generated Python, nn.Module or DOT might trip over.
HOSTILE_NAMES = (
    "class", "def", "return", "None", "True", "False", "self", "super", "forward", "__init__", "torch",
    "nn", "x", "y", "t3", "training", "train", "eval", "_modules", "arch_params", "ValueError", "print",
    "import", "lambda", "cat", "add", "in", "cur", "_", "__class__", "Module", "Sequential", "node",
    "graph", "edge", "subgraph", "strict", "digraph", "cluster_x",
)
HUGE_NUMBERS = ("0", "-1", "1000000000", "100000 * 100000", "1e999", "9" * 30, "9" * 5000, "1e-400",
                "0.5", "2.5", "-0.0", "1_000", "00", "0x10", "1e308 * 10", "2 // 0", "7 % 0")
ODD_STRINGS = ('"same"', '"valid"', '"nearest"', '"bilinear"', '"bicubic"', '"\\"', '"\'"', '"""',
               '"a\tb"', '"\x00"', '"\u2028"', '"); import os #"', '"%s{}\\n"', "''", '"' + "a" * 300 + '"')


def corpus() -> list[tuple[str, str]]:
    """(path relative to the repository, text) of every seed, sorted by path."""
    seeds = []
    for d in CORPUS_DIRS:
        for path in sorted((ROOT / d).rglob("*.arch")):
            if path.stat().st_size > MAX_SEED_BYTES:
                continue
            seeds.append((path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8", errors="replace")))
    return seeds


def tokens(text: str) -> list[tuple[int, int]]:
    """(start, end) of each token of `text`."""
    return [m.span() for m in TOKEN.finditer(text)]


# -- the mutators: (rng, text, vocabulary) -> text ------------------------------------

def delete_token(rng: random.Random, text: str, vocab: list[str]) -> str:
    spans = tokens(text)
    if not spans:
        return text
    a, b = rng.choice(spans)
    return text[:a] + text[b:]


def double_token(rng: random.Random, text: str, vocab: list[str]) -> str:
    spans = tokens(text)
    if not spans:
        return text
    a, b = rng.choice(spans)
    return text[:b] + rng.choice(("", " ")) + text[a:b] + text[b:]


def swap_tokens(rng: random.Random, text: str, vocab: list[str]) -> str:
    spans = tokens(text)
    if len(spans) < 2:
        return text
    i = rng.randrange(len(spans) - 1)
    j = i + 1 if rng.random() < 0.7 else rng.randrange(i + 1, len(spans))
    (a, b), (c, d) = spans[i], spans[j]
    return text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]


def replace_token(rng: random.Random, text: str, vocab: list[str]) -> str:
    spans = tokens(text)
    if not spans:
        return text
    a, b = rng.choice(spans)
    return text[:a] + rng.choice(vocab) + text[b:]


def insert_token(rng: random.Random, text: str, vocab: list[str]) -> str:
    pos = rng.randrange(len(text) + 1)
    return text[:pos] + " " + rng.choice(vocab) + " " + text[pos:]


def random_bytes(rng: random.Random, text: str, vocab: list[str]) -> str:
    """Characters from anywhere: ASCII controls, Latin-1, CJK, astral planes, lone surrogates excluded."""
    pos = rng.randrange(len(text) + 1)
    pools = (lambda: chr(rng.randrange(0, 32)), lambda: chr(rng.randrange(32, 127)),
             lambda: chr(rng.randrange(128, 0x800)), lambda: chr(rng.randrange(0x3000, 0xA000)),
             lambda: chr(rng.choice((0xFEFF, 0x2028, 0x2029, 0x85, 0x0B, 0x0C, 0x1C, 0x200B, 0xFF08, 0x201C))),
             lambda: chr(rng.randrange(0x10000, 0x10FFFF)))
    noise = "".join(rng.choice(pools)() for _ in range(rng.randint(1, 8)))
    return text[:pos] + noise + text[pos:]


def huge_number(rng: random.Random, text: str, vocab: list[str]) -> str:
    numbers = [m.span() for m in re.finditer(r"(?<![\w.])\d[\w.]*", text)]
    value = rng.choice(HUGE_NUMBERS)
    if not numbers:
        return insert_token(rng, text, [value])
    a, b = rng.choice(numbers)
    return text[:a] + value + text[b:]


def odd_string(rng: random.Random, text: str, vocab: list[str]) -> str:
    strings = [m.span() for m in re.finditer(r"\"[^\"\n]*\"", text)]
    value = rng.choice(ODD_STRINGS)
    if strings and rng.random() < 0.5:
        a, b = rng.choice(strings)
        return text[:a] + value + text[b:]
    # as an argument of some call
    calls = [m.end() - 1 for m in re.finditer(r"\w\(", text)]
    if not calls:
        return insert_token(rng, text, [value])
    pos = rng.choice(calls) + 1
    return text[:pos] + value + ", " + text[pos:]


def hostile_name(rng: random.Random, text: str, vocab: list[str]) -> str:
    """Rename every occurrence of one name (a label, block, network, parameter...) to a reserved word."""
    names = sorted(set(re.findall(r"\b[A-Za-z_]\w*\b", text)))
    if not names:
        return text
    old, new = rng.choice(names), rng.choice(HOSTILE_NAMES)
    return re.sub(rf"\b{re.escape(old)}\b", new, text)


def deep_nesting(rng: random.Random, text: str, vocab: list[str]) -> str:
    """Wrap a line in many bodies, or an expression in many brackets or operators."""
    depth = rng.choice((10, 70, 150, 400, 1500, 6000))
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    kind = rng.choice(("repeat", "if", "concat", "residual", "paren", "list", "unary", "not", "sum", "attr",
                       "index", "cond"))
    line = lines[i]
    if kind in ("repeat", "if", "concat", "residual"):
        opener = {"repeat": "repeat 1 {", "if": "if true {", "concat": "concat { |", "residual": "residual {"}[kind]
        lines[i] = opener * depth + " " + line + " " + "}" * depth
        return "\n".join(lines)
    numbers = [m.span() for m in re.finditer(r"(?<![\w.])\d+\b", line)]
    expr = {
        "paren": lambda v: "(" * depth + v + ")" * depth,
        "list": lambda v: "[" * depth + v + "]" * depth,
        "unary": lambda v: "-" * depth + v,
        "not": lambda v: "not " * depth + v,
        "sum": lambda v: " + ".join([v] * depth),
        "attr": lambda v: "cur" + ".c" * depth,
        "index": lambda v: "[" + v + "]" + "[0]" * depth,
        "cond": lambda v: f" if true else {v}".join([v] * depth),
    }[kind]
    if not numbers:
        lines[i] = line + " " + expr("1")
    else:
        a, b = rng.choice(numbers)
        lines[i] = line[:a] + expr(line[a:b]) + line[b:]
    return "\n".join(lines)


def long_line(rng: random.Random, text: str, vocab: list[str]) -> str:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    lines[i] = lines[i] + " " + " ".join(rng.choice(("relu", "identity", "bn", "# " + "x" * 200)) for _ in
                                         range(rng.choice((100, 2000, 20000))))
    return "\n".join(lines)


def repeat_lines(rng: random.Random, text: str, vocab: list[str]) -> str:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    j = min(len(lines), i + rng.randint(1, 4))
    return "\n".join(lines[:j] + lines[i:j] * rng.choice((2, 10, 200)) + lines[j:])


def delete_lines(rng: random.Random, text: str, vocab: list[str]) -> str:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    return "\n".join(lines[:i] + lines[i + rng.randint(1, 5):])


def splice(rng: random.Random, text: str, vocab: list[str], other: str = "") -> str:
    """Half of this spec, half of another (set by `mutate`)."""
    a = rng.randrange(len(text) + 1)
    b = rng.randrange(len(other) + 1)
    return text[:a] + other[b:]


def byte_accident(rng: random.Random, text: str, vocab: list[str]) -> str:
    kind = rng.choice(("bom", "crlf", "cr", "tabs", "nul", "cut", "trailing", "formfeed"))
    if kind == "bom":
        return "\ufeff" + text
    if kind == "crlf":
        return text.replace("\n", "\r\n")
    if kind == "cr":
        return text.replace("\n", "\r")
    if kind == "tabs":
        return re.sub(r"(?m)^ +", lambda m: "\t" * rng.randint(1, 3), text)
    if kind == "nul":
        pos = rng.randrange(len(text) + 1)
        return text[:pos] + "\x00" + text[pos:]
    if kind == "cut":
        return text[: rng.randrange(len(text) + 1)]
    if kind == "formfeed":
        return text.replace(" ", "\x0c", rng.randint(1, 5))
    return text + rng.choice(("\n" * 50, " " * 1000, "#", "\\"))


MUTATORS: dict[str, Callable] = {
    "delete_token": delete_token, "double_token": double_token, "swap_tokens": swap_tokens,
    "replace_token": replace_token, "insert_token": insert_token, "random_bytes": random_bytes,
    "huge_number": huge_number, "odd_string": odd_string, "hostile_name": hostile_name,
    "deep_nesting": deep_nesting, "long_line": long_line, "repeat_lines": repeat_lines,
    "delete_lines": delete_lines, "splice": splice, "byte_accident": byte_accident,
}


class Mutator:
    """Mutants of the corpus, reproducible from (seed, index)."""

    def __init__(self, seeds: list[tuple[str, str]] | None = None) -> None:
        self.seeds = seeds if seeds is not None else corpus()
        words = sorted({self_text[a:b] for _, self_text in self.seeds for a, b in tokens(self_text)})
        self.vocab = words + list(HOSTILE_NAMES) + list(HUGE_NUMBERS) + list(ODD_STRINGS)

    def mutant(self, seed: int) -> tuple[str, bytes, list[str]]:
        """(seed file, the mutant's bytes, the mutations applied)."""
        rng = random.Random(seed)
        name, text = rng.choice(self.seeds)
        applied = []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            which = rng.choice(sorted(MUTATORS))
            applied.append(which)
            if which == "splice":
                text = splice(rng, text, self.vocab, rng.choice(self.seeds)[1])
            else:
                text = MUTATORS[which](rng, text, self.vocab)
        data = text.encode("utf-8", errors="surrogatepass")
        if rng.random() < 0.02:  # bytes that are not UTF-8 at all
            pos = rng.randrange(len(data) + 1)
            data = data[:pos] + bytes(rng.randrange(128, 256) for _ in range(rng.randint(1, 4))) + data[pos:]
        return name, data, applied
