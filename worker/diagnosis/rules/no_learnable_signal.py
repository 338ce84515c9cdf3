"""The labels carry nothing the inputs predict.

Confirms: no run on the real labels beats the majority class on validation data, not even at
the loose level HINT_P shared between the baseline, its continuation and the best-fitting run;
and either a real-label run fits the training data (or one batch is memorized) or shuffled labels
train just as well in a sound pipeline. Suggests only: a flat validation loss. Rules out: any run
on the real labels showing signal or recovering the loss; a baseline cut short by the budget, or
still falling with no continuation that settled; a best-fitting real-label run still falling; a
validation split too small to decide when shuffled labels do not train as well and no batch was
memorized.
"""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.dead_relus import DEAD_SHARE
from worker.diagnosis.rules.measures import (
    HINT_P,
    decidable,
    diverged,
    fmt,
    hints_signal,
    real_label_runs,
    recovers,
    score,
    signal_p,
    signal_run,
    still_falling,
)
from worker.diagnosis.rules.vanishing_gradients import VANISH_RATIO, grad_ratio

CAUSE: RuleCause = "no_learnable_signal"

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
    b = ev.baseline
    if b.cut_short or signal_run(ev) is not None:
        return None
    runs = [r for r in real_label_runs(ev) if r.val_loss and not r.cut_short]
    if not runs or any(recovers(ev, r) for r in runs[1:]):
        return None
    longer = ev.family("more_steps")
    if still_falling(ev, b) and (not longer or still_falling(ev, longer[0])):
        return None  # still learning when it stopped: more steps decide, not the labels
    shuffled = ev.family("shuffled_labels")
    s = shuffled[0] if shuffled else None
    best = min(runs, key=lambda r: score(ev, r))
    if still_falling(ev, best):
        return None  # the run that fits the real labels best was still learning: more steps decide
    # the runs that speak for the labels: the baseline, its continuation and the best fit; any of them
    # leaning to signal (at HINT_P shared between them) is not "no information"
    speakers = list({id(r): r for r in [b, *longer, best]}.values())
    if any(hints_signal(ev, r, HINT_P / len(speakers)) for r in speakers):
        return None
    batch = ev.family("overfit_batch")
    memorized = bool(batch and score(ev, batch[0]) <= FITS_BATCH)
    fits = score(ev, best) <= FITS or memorized
    alike = s is not None and score(ev, s) <= score(ev, b) + SAME_WITHIN
    # a flat validation loss says nothing about the labels when training itself is broken: it
    # needs a run that fits something, or shuffled labels doing as well in a sound pipeline
    if not fits and not (alike and _sound(ev)):
        return None
    if not decidable(ev) and not (alike or memorized):
        return None  # the validation split is too small to decide, and the train side does not
    evidence = []
    accs = [r.val_acc_final for r in runs if r.val_acc_final is not None]
    if ev.n_classes is not None and accs and ev.val_majority is not None:
        p = min(signal_p(ev, r) for r in runs)
        evidence.append(
            f"across {len(runs)} runs on the real labels the validation accuracy stayed between "
            f"{min(accs):.2f} and {max(accs):.2f} against {ev.val_majority:.2f} for always predicting "
            f"the majority class (best p = {p:.2g}, n = {ev.n_val})"
        )
        if not decidable(ev):
            evidence.append(
                f"{ev.n_val} validation samples are too few for the validation test to decide alone; "
                + (
                    "shuffled labels training as well decides it"
                    if alike
                    else "the model memorizes a batch, yet no run generalizes"
                )
            )
    else:
        evidence.append(
            f"across {len(runs)} runs on the real labels the best validation loss was "
            f"{fmt(min(r.val_best for r in runs))} against {fmt(ev.val_chance)} for predicting the mean "
            f"(n = {ev.n_val})"
        )
    if s is not None:
        evidence.append(
            f"with shuffled labels the train loss ended at {fmt(s.final)}, with the real labels at "
            f"{fmt(b.final)}" + (": training fits noise just as well" if alike else "")
        )
    fix = {"data": "check that the labels belong to the inputs (join keys, row order, label column)"}
    return Finding(CAUSE, 0.9 if alike else 0.75, evidence, fix, 0.0, True)
