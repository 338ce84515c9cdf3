"""The train loss keeps falling while the validation loss rises from its best epoch.

Confirms: the run's own history is the intervention: stopping at the best epoch (the same run,
shorter) gives the lower validation loss, read from the validation curve itself. Suggests only:
a gap between train and validation loss (it may be the data's noise). Rules out: a validation
loss within ``RISE`` of its best at the end, a train loss that did not fall after that best epoch,
or too few epochs after the best one to call it a trend.
"""

from __future__ import annotations

from worker.evidence import Evidence
from worker.rules.base import Finding
from worker.rules.measures import fmt

#: The final validation loss must be at least this factor above its best...
RISE = 1.25
#: ...with at least this many epochs after the best one.
AFTER_BEST = 2


def rule(ev: Evidence) -> Finding | None:
    b = ev.baseline
    vals = [v for v in b.val_loss if v is not None]
    trains = [v for v in b.train_loss if v is not None]
    if b.nonfinite or len(vals) != len(b.val_loss) or len(vals) < AFTER_BEST + 2 or len(trains) != len(vals):
        return None
    best = min(range(len(vals)), key=lambda i: vals[i])
    if len(vals) - 1 - best < AFTER_BEST or not vals[-1] >= RISE * vals[best] or not trains[-1] < trains[best]:
        return None
    evidence = [f"the validation loss was lowest at epoch {best + 1} ({fmt(vals[best])}) and rose to "
                f"{fmt(vals[-1])} by epoch {len(vals)}, while the train loss fell from {fmt(trains[best])} to "
                f"{fmt(trains[-1])}"]
    fix = {"training.epochs": best + 1, "training": "or more regularization (weight_decay, dropout) or more data"}
    return Finding("overfitting", 0.8, evidence, fix)
