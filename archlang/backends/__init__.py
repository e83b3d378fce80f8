"""Backends: everything that reads a checked graph and produces something else.

table.py (layer tables, torch-free), graphviz.py (drawings, torch-free),
torch_module.py and torch_source.py (PyTorch), onnx.py (ONNX). Nothing is
imported here, so that `archlang shapes` loads only the table and never torch.
"""
