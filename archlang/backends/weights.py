"""Weights as numpy arrays, checked against what a network declares. Torch-free.

A backend that writes weights (the ONNX emitter) declares each state_dict
entry it needs: key, shape and how PyTorch initialises it (`ops.Init`). The
weights then come from one of:

- `read(path)`: a `.safetensors` file (read with safetensors' numpy API, so
  no torch is needed), or a state_dict saved by `torch.save`, an
  `archlang train` checkpoint or a DistributedDataParallel state_dict (these
  are pickles of torch tensors: read by `torch_inference.read_state`, which
  needs torch);
- `from_tensors(state)`: a module's `state_dict()` (torch tensors or arrays);
- `fresh(declared)`: freshly drawn, as PyTorch's layers draw them (the same
  distributions as `archlang.compile`; numpy's generator, seeded, so the same
  spec always gives the same weights).

`fit(state, declared)` checks what was read against the declaration: the
missing, unexpected and mis-shaped keys are named, and weights that are not
floating point or not finite are refused rather than written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..ops import Init
from ..source import shown_name

SEED = 0


class WeightsError(Exception):
    """A weights file that cannot be read or does not fit the network; the message says which."""


def read(path: str | Path) -> dict[str, Any]:
    """The entries of a weights file (numpy arrays, or torch tensors for a torch.save file)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"--weights {shown_name(path)}: no such file")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        from .torch_inference import read_state
    except ImportError:
        raise WeightsError(f"--weights {shown_name(path)}: a file saved by torch.save needs torch to be read; "
                           f"install torch, or save the state_dict with safetensors (safetensors.torch.save_file)"
                           ) from None
    return read_state(path)


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise WeightsError(f"--weights {shown_name(path)}: reading .safetensors needs the safetensors package "
                           f"(pip install safetensors)") from None
    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        raise WeightsError(f"--weights {shown_name(path)}: not a safetensors file ({exc})") from None


def from_tensors(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A state_dict's torch tensors (or arrays) as numpy arrays; bfloat16 widens to float32."""
    out = {}
    for key, value in state.items():
        if hasattr(value, "detach"):                 # a torch tensor
            value = value.detach().cpu()
            if str(value.dtype) == "torch.bfloat16":
                value = value.float()
            value = value.numpy()
        value = np.asarray(value)
        if value.dtype.name == "bfloat16":   # ml_dtypes' type (onnx imports it), in which numpy reads bfloat16
            value = value.astype(np.float32)
        out[key] = value
    return out


def fit(state: Mapping[str, Any], declared: Mapping[str, tuple[tuple[int, ...], Init]], source: str) -> dict[str, np.ndarray]:
    """`state` checked against the declared entries (key -> (shape, init)); arrays of the declared types.

    `source` names where the weights come from, for messages.
    """
    state = from_tensors(state)
    if state and all(k.startswith("module.") for k in state) and not any(k.startswith("module.") for k in declared):
        state = {k[len("module."):]: v for k, v in state.items()}   # saved from DistributedDataParallel
    for key, (shape, init) in declared.items():     # older PyTorch saved batch norms without their counter,
        if key not in state and init.dtype == "int64":   # which load_state_dict fills in too
            state[key] = np.zeros(shape, dtype=np.int64)
    missing = [k for k in declared if k not in state]
    unexpected = [k for k in state if k not in declared]
    wrong = [f"{k} {tuple(state[k].shape)} (the network has {shape})"
             for k, (shape, _) in declared.items() if k in state and tuple(state[k].shape) != shape]
    if missing or unexpected or wrong:
        raise WeightsError(f"{source} does not fit this network: " + "; ".join(
            part for part in (_few("missing", missing), _few("unexpected", unexpected), _few("wrong shape", wrong))
            if part))
    out = {}
    for key, (_, init) in declared.items():
        value = state[key]
        if init.dtype == "int64":
            if value.dtype.kind not in "iu":
                raise WeightsError(f"{source}: {key} holds {value.dtype} values, where the network keeps a count")
            out[key] = value.astype(np.int64)
            continue
        if value.dtype.kind != "f":
            raise WeightsError(f"{source}: {key} holds {value.dtype} values, not floating-point weights")
        if not np.isfinite(value).all():
            bad = int(value.size - np.count_nonzero(np.isfinite(value)))
            raise WeightsError(f"{source}: {key} holds {bad} non-finite value{'s' if bad != 1 else ''} "
                               f"(NaN or infinity)")
        out[key] = value.astype(np.float32, copy=False)
    return out


def fresh(declared: Mapping[str, tuple[tuple[int, ...], Init]], seed: int = SEED) -> dict[str, np.ndarray]:
    """Weights drawn as PyTorch's layers draw them, in declaration (state_dict) order."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, (shape, init) in declared.items():
        if init.kind == "uniform":
            values = rng.random(shape, dtype=np.float32)
            values *= np.float32(2 * init.value)
            values -= np.float32(init.value)
            out[key] = values
        elif init.kind == "fill":
            out[key] = np.full(shape, init.value, dtype=np.int64 if init.dtype == "int64" else np.float32)
        else:
            raise ValueError(f"unknown initialisation {init.kind!r} for {key}")
    return out


def _few(what: str, items: list[str], shown: int = 3) -> str:
    if not items:
        return ""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return f"{what} {', '.join(items[:shown])}{more}"
