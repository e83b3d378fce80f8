"""The loss and accuracy curves as a PNG, drawn like the notes' `d2l.Animator`:
one axis, x in epochs, train loss and train accuracy five times an epoch, test
accuracy at each epoch's end."""
from __future__ import annotations

from pathlib import Path

from ..fsutil import atomic_path
from .metrics import History

SERIES = (("train_loss", "train loss", "-"), ("train_acc", "train acc", "m--"), ("test_acc", "test acc", "g-."))


def plot_curves(history: History, path: Path, epochs: int, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")   # no display needed, and none is opened
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    try:
        for key, label, style in SERIES:
            points = [(p["epoch"], p[key]) for p in history.curve if p.get(key) is not None]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, style, label=label, marker="o" if len(points) == 1 else None)
        ax.set_xlabel("epoch")
        ax.set_xlim(0, max(epochs, 1))
        ax.grid(True)
        if ax.lines:          # a run stopped before its first point has nothing to label
            ax.legend()
        if title:
            ax.set_title(title)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
