"""The loss and accuracy curves as a PNG, x in epochs as in the notes' `d2l.Animator`:
train loss five times an epoch in the left panel, train accuracy five times an epoch
and test accuracy at each epoch's end in the right one. Two panels, because a loss
(2.3 at the start, no upper bound) and an accuracy (0 to 1) on one axis squash one
of them flat."""
from __future__ import annotations

from pathlib import Path

from ..fsutil import atomic_path
from .metrics import History

# (panel, history key, label, style): panel 0 the loss, panel 1 the accuracies
SERIES = ((0, "train_loss", "train loss", "-"), (1, "train_acc", "train acc", "m--"),
          (1, "test_acc", "test acc", "g-."))
PANELS = (("loss", None), ("accuracy", (0.0, 1.0)))


def curves_figure(history: History, epochs: int, title: str = ""):
    """The matplotlib Figure of the curves (the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")   # no display needed, and none is opened
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=100)
    for panel, key, label, style in SERIES:
        points = [(p["epoch"], p[key]) for p in history.curve if p.get(key) is not None]
        if points:
            xs, ys = zip(*points)
            axes[panel].plot(xs, ys, style, label=label, marker="o" if len(points) == 1 else None)
    for ax, (name, limits) in zip(axes, PANELS):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_xlim(0, max(epochs, 1))
        if limits is not None:
            ax.set_ylim(*limits)
        ax.grid(True)
        if ax.lines:          # a run stopped before its first point has nothing to label
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_curves(history: History, path: Path, epochs: int, title: str = "") -> None:
    import matplotlib.pyplot as plt

    fig = curves_figure(history, epochs, title)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
