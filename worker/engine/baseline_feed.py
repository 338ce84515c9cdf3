"""``baseline_epoch`` events: the baseline's per-epoch losses while it trains, for the live report.

Each event carries only the epochs since the previous one, so a job's events stay small however long
the baseline trains:

    {"type": "baseline_epoch", "from_epoch": 4, "epoch": 6, "epochs": 50,
     "train_loss": [0.91, 0.88, 0.86], "val_loss": [0.95, 0.93, null]}

``from_epoch`` is the 1-based epoch of the first value, ``epoch`` the last one, ``epochs`` the planned
count. Non-finite losses are ``null``. Events are sent at most every ``MIN_INTERVAL_SECONDS``, plus one
``flush`` when the baseline ends, so a fast baseline does not flood Redis with one write per epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from worker.engine.train.loop import RunRecord

#: Least time between two ``baseline_epoch`` events, in seconds.
MIN_INTERVAL_SECONDS = 0.5


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


class BaselineFeed:
    """Called with the baseline's record after each epoch; emits what is new at most every half second."""

    def __init__(
        self, emit: Callable[[dict[str, Any]], None], epochs: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.emit, self.epochs, self.clock = emit, epochs, clock
        self.sent = 0  # epochs already sent
        self.last_at = -math.inf  # clock() of the last event
        self.record: RunRecord | None = None

    def __call__(self, rec: RunRecord) -> None:
        """Note the baseline's record after an epoch; send if the last event is old enough."""
        self.record = rec
        if self.clock() - self.last_at >= MIN_INTERVAL_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Send the epochs not sent yet, if any."""
        rec = self.record
        if rec is None or len(rec.train_loss) <= self.sent:
            return
        n = len(rec.train_loss)
        self.emit(
            {
                "type": "baseline_epoch",
                "from_epoch": self.sent + 1,
                "epoch": n,
                "epochs": self.epochs,
                "train_loss": [_finite(v) for v in rec.train_loss[self.sent : n]],
                "val_loss": [_finite(v) for v in rec.val_loss[self.sent : n]],
            }
        )
        self.sent, self.last_at = n, self.clock()
