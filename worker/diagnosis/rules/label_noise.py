"""A large share of wrong labels.

Confirms (measured, not by an intervention: no probe can relabel data): the inputs carry signal
(a real-label run beats the majority class on validation data), the trained baseline splits the
training samples into a fit majority and a misfit share (``fit_share``, ``misfit_share``: few in
between, as when the model learned the rule and the wrong labels contradict it), the loss stalls
at PLATEAU of chance or more, and no intervention recovers the loss. Suggests only: a plateau
above zero. Rules out: any probe that recovers the loss (then its change is the cause); a probe
that changes only how the model is trained (lr, clipping, batch size) and ends MIN_GAIN of chance
below the baseline, recovered or not (wrong labels set a floor that no such change moves: the
plateau is the training's); a baseline cut short by the budget or still falling; a pre-check
that flagged the data, the output or frozen layers (a more specific cause is open); a model that
fits no clear majority of samples (underfitting everywhere: dropout, low lr, frozen or saturated
layers look like that).
"""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import MIN_GAIN, fmt, gain, recovers, score, signal_run, still_falling

CAUSE: RuleCause = "label_noise"

#: The baseline's final train loss must stay at least this share of chance.
PLATEAU = 0.25
#: At least this share of training samples must stay misfit (loss above chance)...
MISFIT = 0.12
#: ...while at least this share is fit (loss below half of chance)...
FIT = 0.4
#: ...and at most this share sits in between: the split is clear.
BETWEEN = 0.35
#: Probes that change only how the model is trained, not what it can fit (a bigger model or no
#: regularization may fit wrong labels by heart, so they are not among them).
TRAINING_ONLY = ("lr_sweep", "grad_clip", "larger_batch", "smaller_batch")
#: Pre-checks whose finding is a more specific cause than wrong labels.
OPEN_CHECKS = ("non_finite", "input_scale", "output_loss", "label_range", "frozen")


def rule(ev: Evidence) -> Finding | None:
    b = ev.baseline
    if ev.n_classes is None or b.fit_share is None or b.misfit_share is None or score(ev, b) < PLATEAU:
        return None
    if b.cut_short or b.nonfinite or still_falling(ev, b) or any(ev.flagged(c) for c in OPEN_CHECKS):
        return None
    signal = signal_run(ev)
    if signal is None or any(recovers(ev, p) for p in ev.probes if p.family != "overfit_batch"):
        return None
    if any(gain(ev, p) >= MIN_GAIN for p in ev.probes if p.family in TRAINING_ONLY and not p.cut_short):
        return None  # training alone moved the plateau: it is not the labels' floor
    between = 1.0 - b.fit_share - b.misfit_share
    if b.misfit_share < MISFIT or b.fit_share < FIT or between > BETWEEN:
        return None
    evidence = [
        f"the train loss stalled at {fmt(b.final)} ({score(ev, b):.2f}x chance) while validation accuracy "
        f"reached {signal.val_acc_final:.2f} against {ev.val_majority:.2f} for the majority class "
        f"(n = {ev.n_val}): the inputs do carry signal",
        f"the trained model fits {100 * b.fit_share:.0f}% of the training samples (loss under half of "
        f"chance) and misfits {100 * b.misfit_share:.0f}% (loss above chance), with "
        f"{100 * max(between, 0.0):.0f}% in between: the misfit ones contradict what the rest taught it",
    ]
    bigger = [p for p in ev.family("bigger_model") + ev.family("more_steps") if p.val_acc_final is not None]
    if bigger:
        accs = ", ".join(f"{p.name} {p.val_acc_final:.2f}" for p in bigger)
        evidence.append(f"a larger model or more steps did not recover the loss (validation accuracy {accs})")
    fix = {"data.y": f"audit and relabel: about {100 * b.misfit_share:.0f}% of the training labels look wrong"}
    return Finding(CAUSE, 0.7, evidence, fix, 0.0, False, "measured")
