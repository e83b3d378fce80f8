"""Weights files that only torch can read.

`read_state(path)` reads what users save with torch: a state_dict saved by
`torch.save`, or an `archlang train` checkpoint (a dict with a "model"
state_dict), loaded with `weights_only=True` so that no pickled code runs,
after the CRC-32 of every member of its zip archive is checked (torch.load
does not check them: a flipped byte would load as a wrong weight).
Checking the entries against a network (names, shapes, dtypes, finite
values) and reading .safetensors need no torch: see `weights.py`.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..fsutil import zip_damage
from ..source import shown_name
from .weights import WeightsError


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict in a file saved by torch.save (a bare state_dict or an `archlang train` checkpoint)."""
    path = Path(path)
    damage = zip_damage(path)
    if damage is not None:
        raise WeightsError(f"--weights {shown_name(path)} is damaged: {damage}; nothing was loaded from it")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        raise WeightsError(f"--weights {shown_name(path)}: not a state_dict saved by torch.save "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]  # an `archlang train` checkpoint (last.pt)
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"--weights {shown_name(path)}: expected a state_dict (names to tensors) "
                           f"or a checkpoint with a 'model' state_dict")
    return obj
