"""Checkpoints, written atomically: a crash while saving leaves the previous one.

    last.pt    everything `--resume` needs: model, optimizer, grad scaler, where in
               which epoch, the partial sums of an interrupted epoch, the metrics,
               the seed and every process's RNG state
    best.pt    the model's state_dict at the best test accuracy
    final.pt   the model's state_dict after the last epoch

best.pt and final.pt are plain state_dicts: `model.load_state_dict(torch.load(p))`.
Each is a zip archive whose members carry CRC-32 checksums; `load_last` checks
them before torch.load (which does not), so a damaged file is refused by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..backends import weights
from ..ops import Init
from ..fsutil import atomic_path, zip_damage
from ..source import shown_name
from .errors import SetupError, writing

FORMAT = "archlang-train/1"
LAST, BEST, FINAL = "last.pt", "best.pt", "final.pt"


@dataclass
class Position:
    """Where training stands: epoch `epoch` (0-based) has run `step` steps."""

    epoch: int = 0
    step: int = 0
    partial: list[float] | None = None   # [loss sum, correct, examples, seconds] of the epoch so far


def save(path: Path, obj) -> None:
    """torch.save, atomically; a failed write (a full disk) raises WriteError naming `path`."""
    with writing(path), atomic_path(path) as tmp, open(tmp, "wb") as f:
        try:
            torch.save(obj, f)
        except RuntimeError as exc:
            # torch reports a write that failed as a RuntimeError ("unexpected pos");
            # the OSError it arose from says why
            if isinstance(exc.__context__, OSError):
                raise exc.__context__ from None
            raise


def save_state_dict(path: Path, module: torch.nn.Module) -> None:
    save(path, {k: v.detach().cpu() for k, v in module.state_dict().items()})


def load_last(run_dir: Path) -> dict:
    path = run_dir / LAST
    if not path.is_file():
        raise SetupError(f"--resume: nothing to resume in {shown_name(run_dir)} (no {LAST})")
    damage = zip_damage(path)   # torch.load does not check the archive's checksums
    if damage is not None:
        raise SetupError(f"--resume: {shown_name(path)} is damaged: {damage}; nothing was loaded from it")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        raise SetupError(f"--resume: {shown_name(path)} cannot be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SetupError(f"--resume: {shown_name(path)} is not an archlang training checkpoint")
    return state


def restore_model(module: torch.nn.Module, state: dict, path: Path) -> None:
    # the checks `export --weights` makes: names, shapes, floating point, finite (a last.pt of an older
    # archlang may hold weights that are not: resumed, they would read as a divergence of this run)
    declared = {key: (tuple(t.shape), Init("fill", 0.0, "float32" if t.is_floating_point() else "int64"))
                for key, t in module.state_dict().items()}
    try:
        weights.fit(state["model"], declared, f"--resume: {shown_name(path)}")
    except weights.WeightsError as exc:
        raise SetupError(str(exc)) from None
    try:
        module.load_state_dict(state["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise SetupError(f"--resume: {shown_name(path)} holds a different network than {state.get('network')!r} "
                         f"built now ({first[1].strip() if len(first) > 1 else first[0]})") from None


def rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
