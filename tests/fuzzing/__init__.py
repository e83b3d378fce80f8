"""The fuzzer's parts, shared by tests/test_fuzz.py (CI-sized) and bench/fuzz.py (100,000 inputs).

- `harness`: one input through every stage a user reaches (read, parse, link,
  elaborate, diagnostics, shapes table, PyTorch source, DOT), each input
  bounded in time; an `Outcome` says whether and where it crashed.
- `mutations`: the seed corpus (every .arch in the repository) and the
  mutators (deleted, doubled and swapped tokens, random bytes, huge numbers,
  deep nesting...).
- `strategies`: hypothesis strategies from the grammar (lark) and from the
  language's structure (real layers, blocks, paths, repeats, unparsed to text).
"""
