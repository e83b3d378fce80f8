"""The oracle: what a spec means, computed without archlang's backends.

- `interpreter`: runs an `ir.Graph` node by node with torch's functional ops
  (out of place, parameters it holds itself, named by the IR's node names).
  It shares no code with `archlang/backends/torch_*`, so it is the reference
  for `archlang.compile`, the built file and onnxruntime.
- `generator`: random programs over the whole language, valid by
  construction or rejected for a reason it knows, with the layers each one
  must elaborate to (its own model of the language's meaning).
- `differential`: one generated program through every path (shapes JSON,
  the interpreter, `compile`, `build`, ONNX), every disagreement named.
- `shrink`: a disagreement made small, printed as a spec.
"""
