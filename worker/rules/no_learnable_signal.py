"""The labels carry nothing the inputs predict: no run on the real labels beats chance on
validation data, and shuffled labels train just as well."""

from __future__ import annotations

from worker.evidence import Evidence
from worker.rules.base import Finding
from worker.rules.dead_relus import DEAD_SHARE
from worker.rules.measures import diverged, fmt, real_label_runs, score, signal_p, signal_run
from worker.rules.vanishing_gradients import VANISH_RATIO, grad_ratio

#: Shuffled labels "train just as well" when their score is within this much (share of chance).
SAME_WITHIN = 0.15
#: A run "learns something" when its train loss ends at most this share of chance...
FITS = 0.95
#: ...or the one-batch probe ends at most this share of its own chance: the model can fit labels.
FITS_BATCH = 0.5


def _sound(ev: Evidence) -> bool:
    """Training ran normally: nothing diverged, frozen, dead or vanishing, data and output fit."""
    if diverged(ev, ev.baseline) or any(ev.flagged(c) for c in ("non_finite", "output_loss", "frozen")):
        return False
    if any(s and s[-1] is not None and s[-1] >= DEAD_SHARE for s in ev.dead_fraction.values()):
        return False
    ratio = grad_ratio(ev)
    return ratio is None or ratio[0] > VANISH_RATIO


def rule(ev: Evidence) -> Finding | None:
    if signal_run(ev) is not None:
        return None
    shuffled = ev.family("shuffled_labels")
    runs = [r for r in real_label_runs(ev) if r.val_loss]
    if not runs:
        return None
    b = ev.baseline
    s = shuffled[0] if shuffled else None
    best = min(runs, key=lambda r: score(ev, r))
    batch = ev.family("overfit_batch")
    fits = score(ev, best) <= FITS or bool(batch and score(ev, batch[0]) <= FITS_BATCH)
    alike = s is not None and score(ev, s) <= score(ev, b) + SAME_WITHIN
    # a flat validation loss says nothing about the labels when training itself is broken: it
    # needs a run that fits something, or shuffled labels doing as well in a sound pipeline
    if not fits and not (alike and _sound(ev)):
        return None
    evidence = []
    accs = [r.val_acc_final for r in runs if r.val_acc_final is not None]
    if ev.n_classes is not None and accs and ev.val_majority is not None:
        p = min(signal_p(ev, r) for r in runs)
        evidence.append(f"across {len(runs)} runs on the real labels the validation accuracy stayed between "
                        f"{min(accs):.2f} and {max(accs):.2f} against {ev.val_majority:.2f} for always predicting "
                        f"the majority class (best p = {p:.2g}, n = {ev.n_val})")
    else:
        evidence.append(f"across {len(runs)} runs on the real labels the best validation loss was "
                        f"{fmt(min(r.val_best for r in runs))} against {fmt(ev.val_chance)} for predicting the mean")
    if s is not None:
        evidence.append(f"with shuffled labels the train loss ended at {fmt(s.final)}, with the real labels at "
                        f"{fmt(b.final)}" + (": training fits noise just as well" if alike else ""))
    fix = {"data": "check that the labels belong to the inputs (join keys, row order, label column)"}
    return Finding("no_learnable_signal", 0.9 if alike else 0.75, evidence, fix, 0.0, True)
