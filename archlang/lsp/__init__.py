"""`archlang lsp`: a Language Server for .arch specs (pygls, over stdio).

- `analysis.py`: one version of a document checked: its program, the graphs
  of its networks, its diagnostics, its syntax tree and what sits where.
- `positions.py`: character offsets <-> LSP positions (UTF-16 columns).
- `publish.py`: archlang diagnostics as LSP diagnostics (code, range,
  related locations, the quick fixes in `data`).
- `fixes.py`: the mechanical helps as edits (`p=1`, `flatten`, a rename).
- `navigation.py`: hover, go to definition, document symbols.
- `completion.py`: layer names with signatures, blocks, argument names.
- `server.py`: the pygls server: debounced checks, the request handlers.

Nothing here imports torch.
"""
