"""What a run measured: one record per epoch, the curve points, CSV and JSON.

The numbers are the notes' (`train_ch6`): the training loss and accuracy are
averages over the epoch's examples as the weights changed during it; the test
accuracy is measured after the epoch; examples/sec counts training steps only.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field, fields


@dataclass
class EpochRecord:
    epoch: int              # 1-based
    train_loss: float
    train_acc: float
    test_acc: float
    examples: int           # training examples seen in the epoch, all processes
    seconds: float          # training time of the epoch (evaluation excluded)
    lr: float

    @property
    def examples_per_sec(self) -> float:
        return self.examples / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "examples_per_sec": round(self.examples_per_sec, 1)}


CSV_FIELDS = [f.name for f in fields(EpochRecord)] + ["examples_per_sec"]


@dataclass
class History:
    epochs: list[EpochRecord] = field(default_factory=list)
    # the animator's points: train loss/acc five times an epoch, test acc at its end
    curve: list[dict] = field(default_factory=list)

    def add_point(self, x: float, **values: float) -> None:
        self.curve.append({"epoch": round(x, 4), **values})

    @property
    def best(self) -> EpochRecord | None:
        return max(self.epochs, key=lambda r: r.test_acc, default=None)

    @property
    def last(self) -> EpochRecord | None:
        return self.epochs[-1] if self.epochs else None

    def examples_per_sec(self) -> float:
        """Over every epoch, as the notes' summary line reports it."""
        seconds = sum(r.seconds for r in self.epochs)
        return sum(r.examples for r in self.epochs) / seconds if seconds > 0 else 0.0

    # -- files -------------------------------------------------------------------
    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for r in self.epochs:
            writer.writerow(r.to_json())
        return out.getvalue()

    def to_json(self, **about) -> str:
        best = self.best
        doc = {**about,
               "epochs": [r.to_json() for r in self.epochs],
               "best": {"epoch": best.epoch, "test_acc": best.test_acc} if best else None,
               "examples_per_sec": round(self.examples_per_sec(), 1),
               "curve": self.curve}
        return json.dumps(doc, indent=2) + "\n"

    # -- checkpoints -----------------------------------------------------------------
    def state(self) -> dict:
        return {"epochs": [asdict(r) for r in self.epochs], "curve": list(self.curve)}

    @classmethod
    def from_state(cls, state: dict) -> "History":
        return cls([EpochRecord(**r) for r in state["epochs"]], list(state["curve"]))
