"""The train loss keeps falling while the validation loss rises from its best epoch.

Shows (measured): the run's own history holds the intervention: stopping at the best epoch (the
same run, shorter) gives the lower validation loss, read off the validation curve itself. Suggests only:
a gap between train and validation loss (it may be the data's noise). Rules out: a validation
loss within ``RISE`` of its best at the end or less than ``MIN_RISE`` of chance above it, a best
epoch that did not generalize (its validation loss not below ``VAL_BELOW`` of chance: stopping
there would fix nothing), a validation accuracy that kept improving (the loss grew on a few
confident mistakes while the predictions got better), a train loss that did not fall after the
best epoch, or too few epochs after it to call it a trend.
"""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import VAL_BELOW, fmt

CAUSE: RuleCause = "overfitting"

#: The final validation loss must be at least this factor above its best...
RISE = 1.25
#: ...with at least this many epochs after the best one...
AFTER_BEST = 2
#: ...while the train loss fell to at most this share of its value at the best epoch.
TRAIN_FELL = 0.9
#: The rise must be at least this share of the validation chance level: a material loss.
MIN_RISE = 0.2


def rule(ev: Evidence) -> Finding | None:
    b = ev.baseline
    vals = [v for v in b.val_loss if v is not None]
    trains = [v for v in b.train_loss if v is not None]
    if b.nonfinite or len(vals) != len(b.val_loss) or len(vals) < AFTER_BEST + 2 or len(trains) != len(vals):
        return None
    best = min(range(len(vals)), key=lambda i: vals[i])
    if (
        len(vals) - 1 - best < AFTER_BEST
        or not vals[-1] >= RISE * vals[best]
        or not trains[-1] <= TRAIN_FELL * trains[best]
    ):
        return None
    rise = (vals[-1] - vals[best]) / ev.val_chance if ev.val_chance and ev.val_chance > 0 else 0.0
    if rise < MIN_RISE or not vals[best] < VAL_BELOW * ev.val_chance:
        return None
    accs = [a for a in b.val_acc if a is not None]
    accs = accs if len(accs) == len(vals) else []
    if accs and accs[-1] > accs[best]:
        return None
    evidence = [
        f"the validation loss was lowest at epoch {best + 1} ({fmt(vals[best])}) and rose to "
        f"{fmt(vals[-1])} by epoch {len(vals)}, while the train loss fell from {fmt(trains[best])} to "
        f"{fmt(trains[-1])}"
    ]
    fix = {"training.epochs": best + 1, "training": "or more regularization (weight_decay, dropout) or more data"}
    if accs:
        evidence.append(
            f"validation accuracy went from {accs[best]:.2f} at that epoch to {accs[-1]:.2f} (n = {ev.n_val})"
        )
    return Finding(CAUSE, 0.8, evidence, fix, rise, False, "measured")
